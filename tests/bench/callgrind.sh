#!/usr/bin/env bash
# tests/bench/callgrind.sh — instructions per kmalloc and per kfree on the
# fast path, measured with valgrind --tool=callgrind.
#
# usage: tests/bench/callgrind.sh [build/bench/callgrind_driver [build/libgomalloc.so build/bench/w/cg_fastpath]]
#
# With the library and tests/bench/cg_fastpath.c's driver it also prints
# the counts through the LD_PRELOAD library (malloc/free of 64 B, pair and
# batch-64; each includes ~3 instructions for the call itself), the figures
# `make bench` reports per allocator.
#
# For each shape (pair: kmalloc(16)+kfree; lifo / fifo: batches of 64
# objects of 16 B) the driver runs twice, with N1 and N2 operations, and
# the script prints (Ir(N2) - Ir(N1)) / (N2 - N1) for the inclusive
# instruction counts of kmalloc and kfree (callgrind_annotate
# --inclusive=yes): start-up and warm-up cancel, refills and sweeps are
# amortised in.  The heap window is 16 GiB (valgrind cannot reserve the
# default 1 TiB): HOST_HEAP_WINDOW_GB=16.
set -eu
DRIVER=$(readlink -f "${1:-build/bench/callgrind_driver}")
N1=${N1:-65536}
N2=${N2:-262144}
OUT=$(dirname "$DRIVER")/callgrind
mkdir -p "$OUT"
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind not installed" >&2; exit 1; }

. "$(dirname "$0")/callgrind_lib.sh" # incl FILE FN

run() { # shape n -> file
    local f="$OUT/callgrind.out.$1.$2"
    HOST_HEAP_WINDOW_GB=16 valgrind --tool=callgrind --callgrind-out-file="$f" \
        "$DRIVER" "$1" "$2" >/dev/null 2>"$f.log" || { cat "$f.log" >&2; exit 1; }
    echo "$f"
}

printf '%-6s %14s %14s\n' shape "Ir/kmalloc" "Ir/kfree"
for shape in pair lifo fifo; do
    a=$(run $shape $N1); b=$(run $shape $N2)
    m1=$(incl "$a" kmalloc); m2=$(incl "$b" kmalloc)
    f1=$(incl "$a" kfree);   f2=$(incl "$b" kfree)
    awk -v s=$shape -v m1="$m1" -v m2="$m2" -v f1="$f1" -v f2="$f2" -v n=$((N2 - N1)) \
        'BEGIN { printf "%-6s %14.2f %14.2f\n", s, (m2 - m1) / n, (f2 - f1) / n }'
done

a=$(run mallocgc $N1); b=$(run mallocgc $N2)
m1=$(incl "$a" mallocgc); m2=$(incl "$b" mallocgc)
awk -v m1="$m1" -v m2="$m2" -v n=$((N2 - N1)) \
    'BEGIN { printf "\n%-8s %12.2f   (48 B noscan, GOGC off)\n", "Ir/mallocgc", (m2 - m1) / n }'

LIB=${2:-}
CG=${3:-}
if [ -n "$LIB" ] && [ -x "$CG" ]; then
    printf '\nthrough %s (64 B, incl. the call)\n' "$(basename "$LIB")"
    printf '%-8s %14s %14s\n' shape "Ir/malloc" "Ir/free"
    for shape in pair batch64; do
        line=$shape
        for fn in cg_malloc cg_free; do
            f="$OUT/cg.preload.$shape.$fn"
            calls=$(LD_PRELOAD=$(readlink -f "$LIB") valgrind --tool=callgrind --callgrind-out-file="$f" \
                --toggle-collect=$fn "$CG" $shape 2>/dev/null | awk '/^calls/ {print $2}')
            tot=$(awk '/^(summary|totals):/ {print $2; exit}' "$f")
            line="$line $(awk -v t="$tot" -v c="$calls" 'BEGIN { printf "%.2f", t / c }')"
        done
        printf '%-8s %14s %14s\n' $line
    done
fi
