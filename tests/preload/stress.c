/*
 * stress.c — multi-threaded stress of the C allocation API under the
 * preload, with heap_verify at quiescent points.
 *
 *   stress [threads] [phases] [ops-per-thread-per-phase]   (default 4 6 30000)
 *
 * Each thread keeps 256 object slots and, per operation, at random:
 * malloc, calloc (checked zero), realloc (old contents checked in the new
 * block), free, posix_memalign (16 B .. 64 KiB alignments, checked), or a
 * hand-off: the object is exchanged into a shared ring of 1024 cells
 * (atomic exchange) and whatever it displaces — usually another thread's
 * object — is checked and freed here (cross-thread frees).  Sizes: mostly
 * small, some up to 32 KiB, 1 % large (up to 256 KiB).
 *
 * Every object carries its size in its first word and a byte pattern
 * derived from its address and size (the whole object up to 1 KiB, else
 * the first and last 256 bytes), checked on every free, realloc and
 * hand-off: an object handed out twice, or overlapping another, shows up
 * as a wrong pattern.
 *
 * After each phase all threads park at a barrier and the main thread runs
 * gomalloc_heap_verify (dlsym; skipped without the preload); at the end the
 * threads free everything, the ring is drained and the heap verified again.
 * Prints "stress: T threads, P phases, N operations, V verifies ok" and
 * exits 0, or names the first failure and exits 1.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 256
#define RING 1024
#define CHECKED 256 /* bytes checked at each end of a large object */

typedef int (*verify_fn)(char *, size_t);
static verify_fn verify;
static void *ring[RING];
static int nthreads = 4, nphases = 6, nops = 30000;
static pthread_barrier_t park, resume;
static int failed;

static void fail(const char *what, const void *p, size_t n)
{
    fprintf(stderr, "stress: %s (%p, %zu B)\n", what, p, n);
    __atomic_store_n(&failed, 1, __ATOMIC_RELAXED);
    abort(); /* the heap is not to be trusted any more */
}

static unsigned char pat(const void *p, size_t n) { return (unsigned char)(((uintptr_t)p >> 3) * 31 + n * 7 + 1); }

/* Fill [8, n) of p (n >= 16) with p's pattern; word 0 = n. */
static void fill(void *p, size_t n)
{
    *(size_t *)p = n;
    unsigned char b = pat(p, n), *c = p;
    if (n <= 4 * CHECKED) {
        memset(c + 8, b, n - 8);
    } else {
        memset(c + 8, b, CHECKED - 8);
        memset(c + n - CHECKED, b, CHECKED);
    }
}

/* Bytes [8, upto) of an object of size n filled with pattern byte b
 * (after realloc moved it, the old block's pattern). */
static void check_range(const void *p, unsigned char b, size_t n, size_t upto)
{
    const unsigned char *c = p;
    size_t lo_end = n <= 4 * CHECKED ? n : CHECKED;
    if (lo_end > upto)
        lo_end = upto;
    for (size_t i = 8; i < lo_end; i++)
        if (c[i] != b)
            fail("pattern broken at the start", p, n);
    if (n > 4 * CHECKED)
        for (size_t i = n - CHECKED; i < n && i < upto; i++)
            if (c[i] != b)
                fail("pattern broken at the end", p, n);
}

static void check(const void *p)
{
    size_t n = *(const size_t *)p;
    if (n < 16 || n > (1u << 20))
        fail("size word overwritten", p, n);
    check_range(p, pat(p, n), n, n);
}

static void obj_free(void *p)
{
    if (!p)
        return;
    check(p);
    free(p);
}

static unsigned rnd(unsigned *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static size_t pick_size(unsigned *s)
{
    unsigned r = rnd(s) % 100;
    if (r < 70)
        return 16 + rnd(s) % 240;
    if (r < 95)
        return 256 + rnd(s) % 3840;
    if (r < 99)
        return 4096 + rnd(s) % 28672;
    return 32768 + rnd(s) % 229376;
}

static void *do_alloc(unsigned *s, int kind)
{
    size_t n = pick_size(s);
    void *p = NULL;
    if (kind == 0) {
        p = malloc(n);
    } else if (kind == 1) {
        p = calloc(1, n);
        if (p) {
            const unsigned char *c = p;
            for (size_t i = 0; i < n && i < 4096; i++)
                if (c[i])
                    fail("calloc memory not zero", p, n);
        }
    } else {
        size_t al = (size_t)16 << (rnd(s) % 13); /* 16 B .. 64 KiB */
        if (posix_memalign(&p, al, n) != 0)
            p = NULL;
        else if ((uintptr_t)p & (al - 1))
            fail("posix_memalign result not aligned", p, al);
    }
    if (!p)
        fail("allocation failed", NULL, n);
    fill(p, n);
    return p;
}

static void *do_realloc(void *p, unsigned *s)
{
    size_t old = *(size_t *)p, n = pick_size(s);
    unsigned char b = pat(p, old);
    check(p);
    void *q = realloc(p, n);
    if (!q)
        fail("realloc failed", NULL, n);
    check_range(q, b, old, n < old ? n : old);
    fill(q, n);
    return q;
}

static void one_op(void **v, unsigned *s)
{
    int k = (int)(rnd(s) % SLOTS);
    unsigned r = rnd(s) % 100;
    if (!v[k]) {
        v[k] = do_alloc(s, r < 70 ? 0 : r < 95 ? 1 : 2);
    } else if (r < 30) {
        obj_free(v[k]);
        v[k] = NULL;
    } else if (r < 50) {
        v[k] = do_realloc(v[k], s);
    } else if (r < 75) {
        void *old = __atomic_exchange_n(&ring[rnd(s) % RING], v[k], __ATOMIC_ACQ_REL);
        v[k] = NULL;
        obj_free(old);
    } else {
        obj_free(v[k]);
        v[k] = do_alloc(s, r < 90 ? 0 : r < 98 ? 1 : 2);
    }
}

static void *worker(void *arg)
{
    unsigned s = 2463534242u + (unsigned)(uintptr_t)arg * 7919u;
    void *v[SLOTS] = {0};
    for (int ph = 0; ph < nphases; ph++) {
        for (int i = 0; i < nops; i++)
            one_op(v, &s);
        pthread_barrier_wait(&park);   /* main verifies */
        pthread_barrier_wait(&resume);
    }
    for (int k = 0; k < SLOTS; k++)
        obj_free(v[k]);
    return NULL;
}

static int verifies;

static void verify_now(const char *when)
{
    char err[1024];
    if (!verify)
        return;
    if (!verify(err, sizeof err)) {
        fprintf(stderr, "stress: heap_verify %s: %s\n", when, err);
        failed = 1;
    }
    verifies++;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        nthreads = atoi(argv[1]);
    if (argc > 2)
        nphases = atoi(argv[2]);
    if (argc > 3)
        nops = atoi(argv[3]);
    if (nthreads < 1 || nthreads > 256 || nphases < 1 || nops < 1) {
        fprintf(stderr, "usage: stress [threads 1..256] [phases] [ops]\n");
        return 2;
    }
    verify = (verify_fn)dlsym(RTLD_DEFAULT, "gomalloc_heap_verify");
    pthread_barrier_init(&park, NULL, (unsigned)nthreads + 1);
    pthread_barrier_init(&resume, NULL, (unsigned)nthreads + 1);
    pthread_t *th = calloc((size_t)nthreads, sizeof *th);
    for (int i = 0; i < nthreads; i++)
        if (pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i) != 0) {
            fprintf(stderr, "stress: pthread_create failed\n");
            return 1;
        }
    for (int ph = 0; ph < nphases; ph++) {
        pthread_barrier_wait(&park);
        char when[64];
        snprintf(when, sizeof when, "after phase %d", ph + 1);
        verify_now(when);
        pthread_barrier_wait(&resume);
    }
    for (int i = 0; i < nthreads; i++)
        pthread_join(th[i], NULL);
    free(th);
    verify_now("with the ring still full");
    for (int i = 0; i < RING; i++) {
        obj_free(ring[i]);
        ring[i] = NULL;
    }
    verify_now("at the end");
    if (failed) {
        printf("stress: FAILED\n");
        return 1;
    }
    printf("stress: %d threads, %d phases, %ld operations, %d verifies ok%s\n", nthreads, nphases,
           (long)nthreads * nphases * nops, verifies, verify ? "" : " [no heap_verify]");
    return 0;
}
