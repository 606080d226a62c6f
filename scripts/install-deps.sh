#!/bin/bash
# install-deps.sh [bench|fuzz] — install the Debian packages the project
# needs, only those missing, and say which.  Without an argument: what
# `make run` / `make test` need (QEMU, OVMF, GNU-EFI, mtools, xorriso, gdb,
# valgrind, binutils, fdisk for sfdisk: `make usb`'s GPT, Go for go tool pprof: make
# pprof and the heap-profile boot of make test, gnuplot: make heapmap/gcplot and
# their check in make test).  With `bench`: what `make bench` adds (the peer
# allocators, Go for the anchor, gnuplot for the chart, valgrind, GNU time).
# With `fuzz`: what `make fuzz` needs (clang-14, and libclang-rt-14-dev for
# libFuzzer and the sanitizer runtimes: clang-14 only recommends it, and we
# install without recommends).  Uses sudo
# when not root; runs apt-get update first because a fresh machine's
# package lists may be empty.
set -euo pipefail

L=/usr/lib/x86_64-linux-gnu
# package -> a file it provides (how we tell it is installed)
declare -A need
if [ "${1:-}" = bench ]; then
    name=install-bench-deps
    need=(
        [libjemalloc2]=$L/libjemalloc.so.2
        [libtcmalloc-minimal4]=$L/libtcmalloc_minimal.so.4
        [libmimalloc2.0]=$L/libmimalloc.so.2
        [golang-go]=/usr/bin/go
        [gnuplot-nox]=/usr/bin/gnuplot
        [valgrind]=/usr/bin/valgrind
        [time]=/usr/bin/time
    )
elif [ "${1:-}" = fuzz ]; then
    name=install-fuzz-deps
    need=(
        [clang-14]=/usr/bin/clang-14
        [libclang-rt-14-dev]='/usr/lib/llvm-14/lib/clang/14*/lib/linux/libclang_rt.fuzzer-x86_64.a'
    )
else
    name=install-deps
    need=(
        [qemu-system-x86]=/usr/bin/qemu-system-x86_64
        [ovmf]=/usr/share/OVMF/OVMF_CODE_4M.fd
        [gnu-efi]=/usr/lib/crt0-efi-x86_64.o
        [mtools]=/usr/bin/mcopy
        [xorriso]=/usr/bin/xorriso
        [fdisk]=/usr/sbin/sfdisk
        [gdb]=/usr/bin/gdb
        [valgrind]=/usr/bin/valgrind
        [binutils]=/usr/bin/objcopy
        [golang-go]=/usr/bin/go
        [gnuplot-nox]=/usr/bin/gnuplot
    )
fi

missing=()
# a path may be a glob (the clang runtime's directory names the point release)
have() { compgen -G "$1" >/dev/null; }
for p in "${!need[@]}"; do
    have "${need[$p]}" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "$name: installing missing packages: ${missing[*]}"
SUDO=
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null; then SUDO=sudo; else
        echo "$name: error: not root and no sudo; install: ${missing[*]}" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
for p in "${missing[@]}"; do
    have "${need[$p]}" || { echo "$name: error: $p installed but ${need[$p]} is missing" >&2; exit 1; }
done
echo "$name: done"
