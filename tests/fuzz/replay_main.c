/*
 * replay_main.c — the fuzz harness without libFuzzer: feeds inputs to
 * LLVMFuzzerTestOneInput and prints TAP, for `make test` (gcc, ASan and
 * UBSan, no clang needed).
 *
 *   build/host/test_fuzz_replay              every file of tests/fuzz/corpus,
 *                                            then RANDOM_INPUTS random inputs
 *                                            from a fixed seed, in batches
 *   build/host/test_fuzz_replay FILE|DIR...  those inputs only (e.g. a crash
 *                                            file libFuzzer saved)
 *
 * One TAP line per corpus file and per random batch, then "N passed, N
 * failed".  A harness failure (fuzz_fail_hook) longjmps back here and
 * fails that test; the heap may then be broken, so the random batches stop.
 */
#define _GNU_SOURCE
#include "fuzz_alloc.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define RANDOM_INPUTS 400 /* default; $FUZZ_REPLAY_RANDOM overrides */
#define RANDOM_BATCH 100
#define RANDOM_SEED 0x5eed0f0a110cull

static jmp_buf jb;
static char why[1000];
static int num, passed, failed;

static void on_fail(const char *w)
{
    snprintf(why, sizeof why, "%s", w);
    longjmp(jb, 1);
}

static void report(const char *name, bool ok)
{
    num++;
    if (ok) {
        printf("ok %d - %s\n", num, name);
        passed++;
    } else {
        printf("not ok %d - %s\n# %s\n", num, name, why);
        failed++;
    }
}

/* One input; false when the harness failed. */
static bool run_input(const uint8_t *d, size_t n)
{
    if (setjmp(jb))
        return false;
    LLVMFuzzerTestOneInput(d, n);
    return true;
}

static bool run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, sizeof why, "cannot open %s", path);
        return false;
    }
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return run_input(buf, n);
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Every regular file of dir, in name order. */
static void run_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(why, sizeof why, "cannot open directory %s", dir);
        report(dir, false);
        return;
    }
    char *names[4096];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 4096)
        if (e->d_name[0] != '.')
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], cmp);
    for (int i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        report(path, run_file(path));
        free(names[i]);
    }
}

static uint64_t rng_state = RANDOM_SEED;
static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static void run_random(void)
{
    static uint8_t buf[4096];
    const char *e = getenv("FUZZ_REPLAY_RANDOM");
    int total = e ? atoi(e) : RANDOM_INPUTS;
    for (int b = 0; b < total; b += RANDOM_BATCH) {
        bool ok = true;
        int end = b + RANDOM_BATCH < total ? b + RANDOM_BATCH : total;
        for (int k = b; k < end && ok; k++) {
            size_t n = 16 + rng() % (sizeof buf - 16);
            for (size_t i = 0; i < n; i++)
                buf[i] = (uint8_t)rng();
            ok = run_input(buf, n);
            if (!ok)
                snprintf(why + strlen(why), sizeof why - strlen(why), " (random input %d)", k);
        }
        char name[80];
        snprintf(name, sizeof name, "random inputs %d-%d (seed 0x%llx)", b, end - 1,
                 (unsigned long long)RANDOM_SEED);
        report(name, ok);
        if (!ok)
            return;
    }
}

int main(int argc, char **argv)
{
    setvbuf(stdout, 0, _IOLBF, 0);
    LLVMFuzzerInitialize(&argc, &argv);
    fuzz_fail_hook = on_fail;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (argc > 1) {
        for (int i = 1; i < argc; i++) {
            struct stat st;
            if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
                run_dir(argv[i]);
            else
                report(argv[i], run_file(argv[i]));
        }
    } else {
        run_dir("tests/fuzz/corpus");
        if (!failed)
            run_random();
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("# %lu inputs, %lu allocator calls (%lu bad) in %.1f s\n",
           (unsigned long)fuzz_counts.inputs, (unsigned long)fuzz_counts.ops,
           (unsigned long)fuzz_counts.bad, s);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
