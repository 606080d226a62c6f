/*
 * bench_alloc.c — host micro-benchmark of alloc/'s kmalloc / kfree, linked
 * with alloc/ directly (no preload, no sanitizers, -O2; see alloc_bench.mk).
 *
 *   pair  N x { p = kmalloc(size); kfree(p); }           size 16, 64, 256, 2048
 *   batch allocate B objects, free them LIFO or FIFO,     B 64, 1024, 100000
 *         repeated until about OPS objects went through   size 16, 256
 *
 * Prints ns per operation: for pairs one kmalloc + one kfree; for batches
 * per object (its kmalloc and its kfree).  Each cell is the median of RUNS
 * timed runs after one warm-up run.  One simulated CPU (host_set_ncpu(1)).
 *
 * Usage: bench_alloc [RUNS [OPS]]   (defaults 7 and 4000000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "malloc.h"
#include "platform_host.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Keep p alive in the compiler's eyes without touching memory. */
#define OPAQUE(p) __asm__ volatile("" : : "r"(p) : "memory")

static void *slots[100000];

static uint64_t run_pair(size_t size, uint64_t n)
{
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < n; i++) {
        void *p = kmalloc(size);
        OPAQUE(p);
        kfree(p);
    }
    return now_ns() - t0;
}

static uint64_t run_batch(size_t size, uint32_t b, int fifo, uint64_t rounds)
{
    uint64_t t0 = now_ns();
    for (uint64_t r = 0; r < rounds; r++) {
        for (uint32_t i = 0; i < b; i++) {
            slots[i] = kmalloc(size);
            OPAQUE(slots[i]);
        }
        if (fifo) {
            for (uint32_t i = 0; i < b; i++)
                kfree(slots[i]);
        } else {
            for (uint32_t i = b; i-- > 0;)
                kfree(slots[i]);
        }
    }
    return now_ns() - t0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Median over `runs` of ns per op, in hundredths (no floating point needed,
 * but the host has it: print with two decimals). */
static double median_ns(uint64_t *t, int runs, uint64_t ops)
{
    qsort(t, (size_t)runs, sizeof *t, cmp_u64);
    uint64_t m = runs % 2 ? t[runs / 2] : (t[runs / 2 - 1] + t[runs / 2]) / 2;
    return (double)m / (double)ops;
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 7;
    uint64_t ops = argc > 2 ? strtoull(argv[2], 0, 10) : 4000000;
    if (runs < 1 || runs > 101 || ops < 100000) {
        fprintf(stderr, "usage: %s [RUNS (1-101) [OPS (>= 100000)]]\n", argv[0]);
        return 2;
    }
    host_set_ncpu(1);
    host_set_phys_limit(8ull << 30);
    malloc_init();
    uint64_t t[101];

    printf("# bench_alloc: alloc/ kmalloc+kfree, median of %d runs, %llu objects per run\n",
           runs, (unsigned long long)ops);
    printf("%-8s %-6s %7s %-5s %10s\n", "shape", "bytes", "batch", "order", "ns/op");
    static const size_t pair_sizes[] = {16, 64, 256, 2048};
    for (unsigned k = 0; k < sizeof pair_sizes / sizeof *pair_sizes; k++) {
        size_t sz = pair_sizes[k];
        run_pair(sz, ops / 4); /* warm */
        for (int r = 0; r < runs; r++)
            t[r] = run_pair(sz, ops);
        printf("%-8s %-6zu %7s %-5s %10.2f\n", "pair", sz, "-", "-", median_ns(t, runs, ops));
    }
    static const size_t batch_sizes[] = {16, 256};
    static const uint32_t batches[] = {64, 1024, 100000};
    for (unsigned k = 0; k < 2; k++) {
        for (unsigned j = 0; j < 3; j++) {
            for (int fifo = 0; fifo < 2; fifo++) {
                size_t sz = batch_sizes[k];
                uint32_t b = batches[j];
                uint64_t rounds = ops / b ? ops / b : 1;
                run_batch(sz, b, fifo, rounds / 4 ? rounds / 4 : 1);
                for (int r = 0; r < runs; r++)
                    t[r] = run_batch(sz, b, fifo, rounds);
                printf("%-8s %-6zu %7u %-5s %10.2f\n", "batch", sz, b, fifo ? "FIFO" : "LIFO",
                       median_ns(t, runs, rounds * b));
            }
        }
    }
    char err[300];
    if (!heap_verify(err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    return 0;
}
