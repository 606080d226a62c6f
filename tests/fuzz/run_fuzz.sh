#!/bin/bash
# run_fuzz.sh FUZZER SECONDS CORPUS_DIR [libFuzzer options...] — `make fuzz`.
#
# Runs the libFuzzer binary on one core (nice) for SECONDS over CORPUS_DIR
# (new inputs are added there; tests/fuzz/corpus is read as a second seed
# directory), keeps the full log in build/fuzz/last.log and prints its
# progress lines, the harness's counters, libFuzzer's final statistics and
# the time.  Exit status: libFuzzer's (0 = no finding).
set -uo pipefail
fuzzer=$1 secs=$2 corpus=$3
shift 3
dir=$(dirname "$fuzzer")
log=$dir/last.log
start=$(date +%s.%N)
nice -n 10 "$fuzzer" -max_total_time="$secs" -max_len=4096 -len_control=0 -use_value_profile=1 \
    -print_final_stats=1 -artifact_prefix="$dir/" "$@" "$corpus" tests/fuzz/corpus >"$log" 2>&1 &
pid=$!
# live progress: libFuzzer's pulse lines and the harness's counters
tail -n +1 -f "$log" --pid=$pid 2>/dev/null |
    grep --line-buffered -E '^#[0-9]+[[:space:]]+(INITED|pulse|DONE)|^fuzz_alloc: ([0-9]+ s: inputs|FAIL)|ERROR|^SUMMARY'
wait $pid
rc=$?
end=$(date +%s.%N)
grep -E '^stat::|^  cpu|^Test unit written|^artifact_prefix' "$log"
ops=$(grep -E '^fuzz_alloc: [0-9]+ s: inputs' "$log" | tail -1 | awk '{for(i=1;i<NF;i++) if($i=="ops") print $(i+1)}')
execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
awk -v s="$start" -v e="$end" -v ops="${ops:-0}" -v ex="${execs:-0}" -v rc=$rc 'BEGIN {
    t = e - s; if (t <= 0) t = 1
    printf "fuzz: exit %d after %.0f s: %d execs (%.0f/s), %d allocator calls (%.0f/s); log %s\n",
        rc, t, ex, ex / t, ops, ops / t, "'"$log"'" }'
exit $rc
