# tests/bench/callgrind_lib.sh — shared by callgrind.sh and
# callgrind_barrier.sh (sourced, not run).

# incl FILE FN: the inclusive instruction count of function FN in callgrind
# output FILE.  Run from / and without auto-annotation: relative source
# paths make callgrind_annotate split inlined lines off the function total.
incl() {
    (cd / && callgrind_annotate --inclusive=yes --auto=no --threshold=99.999 "$1" 2>/dev/null) |
        awk -v fn="$2" '{ for (i = 2; i < NF; i++)
                            if ($i ~ (":" fn "$") && $(i + 1) ~ /^\[/) { gsub(",", "", $1); print $1; exit } }'
}
