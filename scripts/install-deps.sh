#!/bin/bash
# install-deps.sh — install the Debian packages the build and tests need,
# only those missing.  Uses sudo when not root; runs apt-get update first
# (once) because a fresh machine's package lists may be empty.
set -euo pipefail

# package -> a file it provides (how we tell it is installed)
declare -A need=(
    [qemu-system-x86]=/usr/bin/qemu-system-x86_64
    [ovmf]=/usr/share/OVMF/OVMF_CODE_4M.fd
    [gnu-efi]=/usr/lib/crt0-efi-x86_64.o
    [mtools]=/usr/bin/mcopy
    [xorriso]=/usr/bin/xorriso
    [gdb]=/usr/bin/gdb
    [valgrind]=/usr/bin/valgrind
    [binutils]=/usr/bin/objcopy
)
missing=()
for p in "${!need[@]}"; do
    [ -e "${need[$p]}" ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
echo "install-deps: installing missing packages: ${missing[*]}"
SUDO=
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null; then SUDO=sudo; else
        echo "install-deps: error: not root and no sudo; install: ${missing[*]}" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
for p in "${missing[@]}"; do
    [ -e "${need[$p]}" ] || { echo "install-deps: error: $p installed but ${need[$p]} is missing" >&2; exit 1; }
done
echo "install-deps: done"
