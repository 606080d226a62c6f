# tests/bench/alloc_bench.mk — host micro-benchmarks of alloc/ (included by
# the top Makefile).
#
#   make bench-alloc       build/bench/bench_alloc: ns per malloc+free pair and
#                          per object in LIFO/FIFO batches (median of runs)
#   make bench-barrier     builds and runs build/bench/bench_barrier: ns per
#                          GC_WB store and per mallocgc object with the
#                          collector idle and inside a mark (barrier on,
#                          allocate black); BARRIER_ARGS='RUNS STORES';
#                          then, with valgrind, instructions per GC_WB store
#                          (tests/bench/callgrind_barrier.sh)
#   make bench-callgrind   instructions per kmalloc / kfree on the fast path,
#                          linked directly and through the LD_PRELOAD library
#                          (tests/bench/callgrind.sh, needs valgrind)
#
# alloc/ is compiled here again, -O2 without sanitizers, with the host's
# inline per-CPU hooks (PLAT_INLINE_HEADER = tests/host/platform_inline.h).
# BENCH_INLINE=0 builds with the out-of-line hooks instead (into build/bench/noinline/).  The code is
# not position independent, like the kernel's (-mcmodel=kernel): tables and
# thread-locals are one direct access; BENCH_PIE=1 builds PIE (Debian's
# default) into build/bench/pie/ for comparison.

BENCH_INLINE ?= 1
BENCH_PIE    ?= 0
BENCH_DIR    := $(BUILD)/bench$(if $(filter 0,$(BENCH_INLINE)),/noinline)$(if $(filter 1,$(BENCH_PIE)),/pie)
BENCH_ALLOC_CFLAGS := -std=gnu11 -O2 -g $(WARN) -fno-omit-frame-pointer -I. -Itests/host \
	$(if $(filter 0,$(BENCH_PIE)),-fno-pie -no-pie,) \
	-Ikernel -Ialloc -DGOKERNEL_HOST=1 -pthread \
	$(if $(filter 0,$(BENCH_INLINE)),,-DPLAT_INLINE_HEADER='"tests/host/platform_inline.h"')
BENCH_ALLOC_LIB  := $(ALLOC_SRCS) tests/host/platform_host.c
BENCH_ALLOC_OBJS := $(patsubst %.c,$(BENCH_DIR)/o/%.o,$(BENCH_ALLOC_LIB))

.PHONY: bench-alloc bench-callgrind bench-barrier
bench-alloc: $(BENCH_DIR)/bench_alloc $(BENCH_DIR)/callgrind_driver $(BENCH_DIR)/bench_barrier
bench-barrier: $(BENCH_DIR)/bench_barrier
	@$(BENCH_DIR)/bench_barrier $(BARRIER_ARGS)
	@if command -v valgrind >/dev/null; then echo; \
		bash tests/bench/callgrind_barrier.sh $(BENCH_DIR)/bench_barrier; \
	else echo "bench-barrier: valgrind not installed: no instruction counts"; fi

$(BENCH_DIR)/o/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,BENCHCC,$<)$(CC) $(BENCH_ALLOC_CFLAGS) $(DEPFLAGS) -c $< -o $@
$(BENCH_DIR)/bench_alloc: $(BENCH_DIR)/o/tests/bench/bench_alloc.o $(BENCH_ALLOC_OBJS)
	$(call say,BENCHLD,$@)$(CC) $(BENCH_ALLOC_CFLAGS) -o $@ $^
$(BENCH_DIR)/bench_barrier: $(BENCH_DIR)/o/tests/bench/bench_barrier.o $(BENCH_ALLOC_OBJS)
	$(call say,BENCHLD,$@)$(CC) $(BENCH_ALLOC_CFLAGS) -o $@ $^
$(BENCH_DIR)/callgrind_driver: $(BENCH_DIR)/o/tests/bench/callgrind_driver.o $(BENCH_ALLOC_OBJS)
	$(call say,BENCHLD,$@)$(CC) $(BENCH_ALLOC_CFLAGS) -o $@ $^

bench-callgrind: $(BENCH_DIR)/callgrind_driver $(LIB_SO) $(BUILD)/bench/w/cg_fastpath
	@bash tests/bench/callgrind.sh $(BENCH_DIR)/callgrind_driver $(LIB_SO) $(BUILD)/bench/w/cg_fastpath
