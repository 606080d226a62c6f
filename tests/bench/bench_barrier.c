/*
 * bench_barrier.c — what a mark costs the mutator (GC.md's "mutator cost";
 * issue 11's benchmarks): ns per GC_WB pointer store with the collector
 * idle and with the barrier on, and ns per mallocgc object outside a cycle
 * and during the mark (allocate black).  Host, alloc/ linked directly,
 * -O2, no sanitizers (alloc_bench.mk), one simulated CPU.
 *
 * "During the mark" is real: gc_collect() with the mark-start hook
 * (mbarrier.h gc_debug_set_mark_start_hook), which runs the timed loop on
 * the collecting CPU after the mark set gc_phase = MARK and turned the
 * barrier on — the state a mutator meets under a concurrent mark.  There
 * every GC_WB records the old and new pointer in the CPU's buffer and every
 * 256th flushes 512 values into the mark queue (most already marked after
 * the first pass over the 4096 nodes); every object mallocgc makes is
 * marked black.  GOGC is off, so no heap trigger starts a cycle; before
 * each timed run a cycle frees the previous run's objects.
 *
 * Rows (each the median of RUNS runs, off and on interleaved):
 *   store      plain pointer store (the floor)
 *   GC_WB      idle: one load and a branch; mark: the buffered barrier
 *   newobject  a 32-byte node with 2 pointer words (zeroed, heap bits)
 *   mallocgc   64 B and 1 KiB pointer-free objects
 *   tiny       8-byte pointer-free objects (the tiny allocator)
 *
 * Usage: bench_barrier [RUNS [STORES]]   (defaults 7 and 4000000; mallocgc
 * rows use STORES / 20 objects per run)
 *        bench_barrier --one plain|idle|mark N  one run of N plain stores
 *        (loop_plain) or GC_WB stores (loop_wb), untimed: tests/bench/callgrind_barrier.sh counts its
 *        instructions per store with callgrind
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "malloc.h"
#include "mbarrier.h"
#include "mgc.h"
#include "platform_host.h"

#define K 4096 /* nodes the stores go between */
#define OPAQUE(p) __asm__ volatile("" : : "r"(p) : "memory")

struct node {
    struct node *a, *b;
    uint64_t id, pad;
};
static const uint8_t node_mask[1] = {0x3};
static const gotype node_type = {sizeof(struct node), 16, node_mask, "node"};
static const gotype bytes_type = {1, 0, 0, "uint8"};
static struct node *nodes[K]; /* a root */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

enum shape { PLAIN, WB, NEWOBJ, MAL64, MAL1K, TINY, NSHAPES };
static const char *const names[NSHAPES] = {"store", "GC_WB", "newobject", "mallocgc",
                                           "mallocgc", "tiny"};
static const char *const sizes[NSHAPES] = {"8 B", "8 B", "32 B", "64 B", "1 KiB", "8 B"};

static __attribute__((noinline)) void loop_plain(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        nodes[i & (K - 1)]->a = nodes[(i * 7 + 1) & (K - 1)];
        OPAQUE(nodes[i & (K - 1)]);
    }
}

static __attribute__((noinline)) void loop_wb(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        GC_WB(nodes[i & (K - 1)]->a, nodes[(i * 7 + 1) & (K - 1)]);
}

static __attribute__((noinline)) void loop_alloc(enum shape s, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        void *p = s == NEWOBJ  ? newobject(&node_type)
                  : s == MAL64 ? mallocgc(64, &bytes_type, false)
                  : s == MAL1K ? mallocgc(1024, &bytes_type, false)
                               : mallocgc(8, &bytes_type, false);
        OPAQUE(p);
    }
}

struct job {
    enum shape s;
    uint64_t n, ns;
    uint32_t phase; /* gc_phase seen by the loop */
};

static void run_job(void *p)
{
    struct job *j = p;
    j->phase = gc_phase;
    uint64_t t0 = now_ns();
    if (j->s == PLAIN)
        loop_plain(j->n);
    else if (j->s == WB)
        loop_wb(j->n);
    else
        loop_alloc(j->s, j->n);
    j->ns = now_ns() - t0;
}

/* One timed run, outside a cycle (mark = 0) or inside one's mark. */
static uint64_t timed(enum shape s, uint64_t n, int mark)
{
    struct job j = {s, n, 0, 0};
    if (!gc_collect()) /* the previous run's garbage goes; a fresh sweep */
        exit(1);
    if (mark) {
        gc_debug_set_mark_start_hook(run_job, &j);
        if (!gc_collect())
            exit(1);
    } else {
        run_job(&j);
    }
    if ((j.phase != GC_OFF) != mark || !j.ns) {
        fprintf(stderr, "bench_barrier: the loop ran in phase %u, want %s\n", j.phase,
                mark ? "mark" : "off");
        exit(1);
    }
    return j.ns;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double median_per(uint64_t *t, int runs, uint64_t n)
{
    qsort(t, (size_t)runs, sizeof *t, cmp_u64);
    uint64_t m = runs % 2 ? t[runs / 2] : (t[runs / 2 - 1] + t[runs / 2]) / 2;
    return (double)m / (double)n;
}

static void setup(void)
{
    host_set_ncpu(1);
    host_set_phys_limit(8ull << 30);
    malloc_init();
    gc_set_percent(-1); /* only the benchmark's own cycles */
    if (!gc_add_root(nodes, sizeof nodes))
        exit(1);
    for (int i = 0; i < K; i++)
        nodes[i] = newobject(&node_type);
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "--one")) {
        uint64_t n = strtoull(argv[3], 0, 10);
        setup();
        if (!strcmp(argv[2], "plain"))
            timed(PLAIN, n, 0);
        else
            timed(WB, n, !strcmp(argv[2], "mark"));
        return 0;
    }
    int runs = argc > 1 ? atoi(argv[1]) : 7;
    uint64_t stores = argc > 2 ? strtoull(argv[2], 0, 10) : 4000000;
    if (runs < 1 || runs > 101 || stores < 100000) {
        fprintf(stderr, "usage: %s [RUNS (1-101) [STORES (>= 100000)]]\n", argv[0]);
        return 2;
    }
    setup();
    printf("# bench_barrier: ns per op, median of %d runs; GC idle vs inside a mark (barrier "
           "on, allocate black); %llu stores, %llu objects per run\n",
           runs, (unsigned long long)stores, (unsigned long long)(stores / 20));
    printf("%-10s %-6s %10s %10s %8s\n", "op", "size", "idle", "mark", "mark/idle");
    for (int s = 0; s < NSHAPES; s++) {
        uint64_t n = s <= WB ? stores : stores / 20;
        uint64_t off[101], on[101];
        timed((enum shape)s, n / 4, 0); /* warm */
        for (int r = 0; r < runs; r++) {
            off[r] = timed((enum shape)s, n, 0);
            on[r] = timed((enum shape)s, n, 1);
        }
        double a = median_per(off, runs, n), b = median_per(on, runs, n);
        printf("%-10s %-6s %10.2f %10.2f %8.2f\n", names[s], sizes[s], a, b, b / a);
    }
    char err[300];
    if (!gc_collect() || !heap_verify(err, sizeof err)) {
        fprintf(stderr, "bench_barrier: %s\n", err);
        return 1;
    }
    return 0;
}
