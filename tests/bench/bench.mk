# tests/bench/bench.mk — the comparative benchmark suite (included by the top
# Makefile, next to lib/lib.mk).
#
#   make bench   installs the peers (scripts/install-deps.sh bench), builds the
#                workloads and runs tests/bench/run_bench.py: every workload
#                with glibc, jemalloc, tcmalloc, mimalloc and libgomalloc
#                (W10: the larson-style table, --larson-reps repetitions),
#                round-robin, BENCH_REPS repetitions; callgrind instructions per
#                malloc/free; the Go anchor.  Writes build/bench/results.md,
#                results.csv and chart.png.  Then the collector's benchmarks
#                on 1 and 2 CPUs with their Go anchor (tests/bench/gcbench.mk).
#   BENCH_REPS=5 (default)  BENCH_ARGS=... extra run_bench.py options

BENCH_REPS ?= 5
BENCH_W_NAMES := w1_pair w2_batch w3_workset w4_server w5_prodcons w6_falseshare w7_frag \
	w8_large w9_thread_churn w10_larson cg_fastpath
BENCH_W_BINS := $(addprefix $(BUILD)/bench/w/,$(BENCH_W_NAMES))
BENCH_W_CFLAGS := -std=gnu11 -O2 -g $(WARN) -pthread -fno-builtin-malloc -fno-builtin-free \
	-fno-builtin-calloc -fno-builtin-realloc

.PHONY: bench bench-deps bench-build
$(BUILD)/bench/w/%: tests/bench/%.c tests/bench/wl.h
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(BENCH_W_CFLAGS) -o $@ $< -lm

# our mallocgc on the Go anchor's shapes: the library's own objects, linked in
$(BUILD)/bench/w/gc_anchor: tests/bench/gc_anchor.c tests/bench/wl.h $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(BENCH_W_CFLAGS) -I$(LIB_ALLOC_DIR) -o $@ $< $(LIB_OBJS)

$(BUILD)/bench/w/go_alloc: tests/bench/go/alloc.go
	@mkdir -p $(dir $@) $(abspath $(BUILD))/bench/gocache
	$(call say,GO,$<)GO111MODULE=off GOCACHE=$(abspath $(BUILD))/bench/gocache \
		go build -o $@ $<

bench-deps:
	@bash scripts/install-deps.sh bench

bench-build: $(LIB_SO) $(BENCH_W_BINS) $(BUILD)/bench/w/gc_anchor
	@command -v go >/dev/null && $(MAKE) --no-print-directory $(BUILD)/bench/w/go_alloc || \
		echo "bench: go not installed, no Go anchor"

bench: bench-deps
	@$(MAKE) --no-print-directory bench-build
	@$(PYTHON) tests/bench/run_bench.py --build $(BUILD) --reps $(BENCH_REPS) $(BENCH_ARGS)
	@$(MAKE) --no-print-directory gcbench-build
	@$(PYTHON) tests/bench/gcbench.py --cpus '1 2' --go-bin $(GCBENCH_GO) --out $(BUILD)/gcbench
