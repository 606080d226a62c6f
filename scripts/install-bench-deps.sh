#!/bin/bash
# install-bench-deps.sh — Debian packages `make bench` needs (the peer
# allocators, Go for the anchor, gnuplot for the chart, valgrind for
# instruction counts), only those missing.  Root or sudo; apt-get update once.
set -euo pipefail
L=/usr/lib/x86_64-linux-gnu
declare -A need=(
    [libjemalloc2]=$L/libjemalloc.so.2
    [libtcmalloc-minimal4]=$L/libtcmalloc_minimal.so.4
    [libmimalloc2.0]=$L/libmimalloc.so.2
    [golang-go]=/usr/bin/go
    [gnuplot-nox]=/usr/bin/gnuplot
    [valgrind]=/usr/bin/valgrind
    [time]=/usr/bin/time
)
missing=()
for p in "${!need[@]}"; do
    [ -e "${need[$p]}" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-bench-deps: installing: ${missing[*]}"
SUDO=
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null; then SUDO=sudo; else
        echo "install-bench-deps: error: not root and no sudo; install: ${missing[*]}" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
for p in "${missing[@]}"; do
    [ -e "${need[$p]}" ] || { echo "install-bench-deps: error: $p installed but ${need[$p]} is missing" >&2; exit 1; }
done
echo "install-bench-deps: done"
