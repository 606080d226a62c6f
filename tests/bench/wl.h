/*
 * wl.h — shared helpers for the workload binaries tests/bench/w*.c: timing,
 * a seeded RNG, the allocator actually serving the process (from
 * /proc/self/maps), RSS, and the one-line report
 *   <workload> alloc=<name> threads=<n> ops=<n> seconds=<s> ops/s=<r> [extra]
 */
#ifndef BENCH_WL_H
#define BENCH_WL_H

#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* xorshift64*; state must be nonzero */
static inline uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}
static inline uint64_t rng_seed(uint64_t k) { return 0x9E3779B97F4A7C15ull * (k + 1) | 1; }
static inline double rng_unit(uint64_t *s) { return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0); }

/* Keep the compiler from eliding an allocation. */
static inline void escape(void *p) { __asm__ volatile("" : : "r"(p) : "memory"); }

static inline const char *detect_alloc(void)
{
    static char name[32];
    if (name[0])
        return name;
    strcpy(name, "glibc");
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    static const char *libs[][2] = {{"libjemalloc", "jemalloc"}, {"libtcmalloc", "tcmalloc"},
                                    {"libmimalloc", "mimalloc"}, {"libgomalloc", "gomalloc"}};
    while (f && fgets(line, sizeof line, f))
        for (unsigned i = 0; i < sizeof libs / sizeof libs[0]; i++)
            if (strstr(line, libs[i][0]))
                strcpy(name, libs[i][1]);
    if (f)
        fclose(f);
    return name;
}

static inline long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static inline void report(const char *workload, int threads, uint64_t ops, uint64_t ns, const char *extra)
{
    double s = (double)ns / 1e9;
    printf("%s alloc=%s threads=%d ops=%lu seconds=%.6f ops/s=%.0f%s%s\n", workload,
           detect_alloc(), threads, (unsigned long)ops, s, s > 0 ? (double)ops / s : 0.0,
           extra && *extra ? " " : "", extra ? extra : "");
    fflush(stdout);
}

static inline void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "out of memory (%zu)\n", n);
        exit(2);
    }
    return p;
}

static inline int arg_int(int argc, char **argv, int i, int dflt)
{
    return argc > i ? atoi(argv[i]) : dflt;
}

#endif
