#!/usr/bin/env bash
# tests/bench/callgrind_barrier.sh — instructions per GC_WB pointer store,
# with the collector idle and inside a mark (barrier on), counted with
# valgrind --tool=callgrind.
#
# usage: tests/bench/callgrind_barrier.sh [build/bench/bench_barrier]
#
# bench_barrier --one plain|idle|mark N runs N stores in loop_plain (plain
# pointer stores: the loop's own instructions, index arithmetic and the
# loads of the two nodes) or loop_wb (GC_WB; noinline, the barrier's buffer
# flushes, which grey what it recorded, are inside it); each mode runs with
# N1 and N2 stores and the script prints (Ir(N2) - Ir(N1)) / (N2 - N1) of
# the loop's inclusive count.  The barrier's own cost is a row minus plain.  The heap window is 16 GiB (valgrind cannot
# reserve the default 1 TiB).
set -eu
BIN=$(readlink -f "${1:-build/bench/bench_barrier}")
N1=${N1:-65536}
N2=${N2:-262144}
OUT=$(dirname "$BIN")/callgrind
mkdir -p "$OUT"
command -v valgrind >/dev/null || { echo "callgrind_barrier.sh: valgrind not installed" >&2; exit 1; }

. "$(dirname "$0")/callgrind_lib.sh" # incl FILE FN

run() { # mode n -> file
    local f="$OUT/callgrind.out.wb.$1.$2"
    HOST_HEAP_WINDOW_GB=16 valgrind --tool=callgrind --callgrind-out-file="$f" \
        "$BIN" --one "$1" "$2" >/dev/null 2>"$f.log" || { cat "$f.log" >&2; exit 1; }
    echo "$f"
}

printf '%-6s %14s\n' mode "Ir/store"
for mode in plain idle mark; do
    fn=loop_wb; [ $mode = plain ] && fn=loop_plain
    a=$(run $mode $N1); b=$(run $mode $N2)
    x1=$(incl "$a" $fn); x2=$(incl "$b" $fn)
    awk -v m=$mode -v x1="$x1" -v x2="$x2" -v n=$((N2 - N1)) \
        'BEGIN { printf "%-6s %14.2f\n", m, (x2 - x1) / n }'
done
