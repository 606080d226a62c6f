/*
 * larson_churn.c — cross-thread frees under larson-style churn, through
 * the preload, with content checks and heap_verify at quiescent points.
 *
 *   larson_churn [threads] [generations] [phases] [ops] [slots] [break]
 *                (default 4 8 8 1000 1000)
 *
 * `threads` lanes of `slots` blocks.  Each generation starts `threads` new
 * threads; within it, phases separated by a barrier, and in phase f of
 * generation g thread t works on lane (t + g + f) mod threads: picks a
 * random slot, checks and frees its block, mallocs a new one.  So blocks
 * are freed by another thread than the one that allocated them, both while
 * that thread is still allocating (the next phase) and after it exited
 * (the next generation) — the larson server pattern.  Sizes: 90 % 8..1000
 * B, 9 % up to 16 KiB, 1 % 32..128 KiB (large objects).
 *
 * Every block holds a tag from (lane, slot, sequence number) in its first
 * word and the tag's top byte in every other byte (up to 1 KiB; larger
 * blocks: the first and last 256 bytes).  Checked before each free: a block
 * handed out twice, overlapping another, or written by the allocator shows
 * up as "larson_churn: lane L slot K: ..." and exit 1.  After every
 * generation (all its threads joined) the main thread checks every live
 * block and runs gomalloc_heap_verify (dlsym; skipped without the preload).
 *
 * `break` (negative control): after generation 1 the main thread
 * flips the last byte of a live block, as an allocator that
 * handed the memory to someone else would; the next check must catch it
 * (exit 1).  Without `break`: prints "larson_churn: T threads, G
 * generations, N operations, N remote, V verifies ok" and exits 0.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECKED 256 /* bytes checked at each end of a block over 1 KiB */
#define MAX_THREADS 64

typedef int (*verify_fn)(char *, size_t);
static verify_fn verify;
static int nthreads = 4, ngens = 8, nphases = 8, nops = 1000, nslots = 1000;
static int generation_no;
static pthread_barrier_t phase_barrier;
static __thread uint32_t thread_id; /* 0: main; generation * threads + t + 1 */

/* Protocol: lane[i] is touched in phase f of generation g only by thread
 * (i - g - f) mod T; pthread_barrier_wait between phases and
 * pthread_join between generations order one owner's writes before the
 * next owner's reads. */
struct lane {
    unsigned char **blk;
    uint32_t *size, *seq;
    uint64_t remote; /* frees of a block another thread allocated */
    uint32_t *owner; /* per slot: id of the thread that allocated it */
} lane[MAX_THREADS];

static uint64_t tag_of(int l, int k, uint32_t seq)
{
    return ((uint64_t)l << 48 | (uint64_t)k << 24 | (seq & 0xffffff)) * 0x9E3779B97F4A7C15ull | 1;
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
    if (r < 90)
        return 8 + rnd(s) % 993;
    if (r < 99)
        return 1001 + rnd(s) % 15384;
    return 32768 + rnd(s) % 98304;
}

static void fill(int l, int k, size_t n)
{
    struct lane *ln = &lane[l];
    unsigned char *p = malloc(n);
    if (!p) {
        fprintf(stderr, "larson_churn: malloc(%zu) failed\n", n);
        exit(1);
    }
    uint64_t t = tag_of(l, k, ++ln->seq[k]);
    memcpy(p, &t, 8);
    unsigned char b = (unsigned char)(t >> 56);
    if (n <= 4 * CHECKED) {
        memset(p + 8, b, n - 8);
    } else {
        memset(p + 8, b, CHECKED - 8);
        memset(p + n - CHECKED, b, CHECKED);
    }
    ln->blk[k] = p;
    ln->size[k] = (uint32_t)n;
    ln->owner[k] = thread_id;
}

static void check(int l, int k)
{
    struct lane *ln = &lane[l];
    const unsigned char *p = ln->blk[k];
    size_t n = ln->size[k];
    uint64_t t = tag_of(l, k, ln->seq[k]), got;
    memcpy(&got, p, 8);
    unsigned char b = (unsigned char)(t >> 56);
    size_t bad = 0;
    for (size_t i = 8; i < n && !bad; i++) {
        if (n > 4 * CHECKED && i == CHECKED)
            i = n - CHECKED;
        if (p[i] != b)
            bad = i;
    }
    if (got != t || bad) {
        fprintf(stderr, "larson_churn: lane %d slot %d: block %p (%zu B, generation %d): %s "
                "(byte %zu is %02x, want %02x; tag %016lx, want %016lx)\n", l, k, (const void *)p,
                n, generation_no, got != t ? "tag overwritten" : "pattern broken", bad,
                bad ? p[bad] : 0, b, (unsigned long)got, (unsigned long)t);
        exit(1);
    }
}

static void churn(int l, unsigned *s)
{
    struct lane *ln = &lane[l];
    for (int i = 0; i < nops; i++) {
        int k = (int)(rnd(s) % (unsigned)nslots);
        check(l, k);
        if (ln->owner[k] != thread_id)
            ln->remote++;
        free(ln->blk[k]);
        fill(l, k, pick_size(s));
    }
}

static void *worker(void *arg)
{
    int t = (int)(uintptr_t)arg;
    thread_id = (uint32_t)(generation_no * nthreads + t + 1);
    unsigned s = 2463534242u + (unsigned)(t * 7919 + generation_no * 104729);
    for (int f = 0; f < nphases; f++) {
        churn((t + generation_no + f) % nthreads, &s);
        pthread_barrier_wait(&phase_barrier);
    }
    return NULL;
}

static int verifies;

/* blocks: also check every live block first */
static void verify_now(const char *when, int blocks)
{
    for (int l = 0; blocks && l < nthreads; l++)
        for (int k = 0; k < nslots; k++)
            check(l, k);
    char err[1024];
    if (!verify)
        return;
    if (!verify(err, sizeof err)) {
        fprintf(stderr, "larson_churn: heap_verify %s: %s\n", when, err);
        exit(1);
    }
    verifies++;
}

static void setup(void)
{
    unsigned s = 88172645u;
    for (int l = 0; l < nthreads; l++) {
        lane[l].blk = calloc((size_t)nslots, sizeof *lane[l].blk);
        lane[l].size = calloc((size_t)nslots, sizeof *lane[l].size);
        lane[l].seq = calloc((size_t)nslots, sizeof *lane[l].seq);
        lane[l].owner = calloc((size_t)nslots, sizeof *lane[l].owner);
        if (!lane[l].blk || !lane[l].size || !lane[l].seq || !lane[l].owner) {
            fprintf(stderr, "larson_churn: out of memory for the lanes\n");
            exit(1);
        }
        for (int k = 0; k < nslots; k++)
            fill(l, k, pick_size(&s));
    }
}

int main(int argc, char **argv)
{
    int *opt[] = {&nthreads, &ngens, &nphases, &nops, &nslots}, breakit = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "break"))
            breakit = 1;
        else if (i <= 5)
            *opt[i - 1] = atoi(argv[i]);
    }
    if (nthreads < 1 || nthreads > MAX_THREADS || ngens < 1 || nphases < 1 || nops < 1 ||
        nslots < 1) {
        fprintf(stderr, "usage: larson_churn [threads 1..%d] [generations] [phases] [ops] "
                "[slots] [break]\n", MAX_THREADS);
        return 2;
    }
    verify = (verify_fn)dlsym(RTLD_DEFAULT, "gomalloc_heap_verify");
    pthread_barrier_init(&phase_barrier, NULL, (unsigned)nthreads);
    setup();
    verify_now("after the setup", 1);
    pthread_t th[MAX_THREADS];
    for (generation_no = 0; generation_no < ngens; generation_no++) {
        for (int t = 0; t < nthreads; t++)
            if (pthread_create(&th[t], NULL, worker, (void *)(uintptr_t)t) != 0) {
                fprintf(stderr, "larson_churn: pthread_create failed\n");
                return 1;
            }
        for (int t = 0; t < nthreads; t++)
            pthread_join(th[t], NULL);
        if (breakit && generation_no == 1) {
            struct lane *ln = &lane[0];
            int k = nslots / 2;
            ln->blk[k][ln->size[k] - 1] ^= 0x5a; /* always a checked byte */
        }
        char when[64];
        snprintf(when, sizeof when, "after generation %d", generation_no + 1);
        verify_now(when, 1);
    }
    uint64_t remote = 0;
    for (int l = 0; l < nthreads; l++) {
        remote += lane[l].remote;
        for (int k = 0; k < nslots; k++) {
            check(l, k);
            free(lane[l].blk[k]);
        }
        free(lane[l].blk);
        free(lane[l].size);
        free(lane[l].seq);
        free(lane[l].owner);
    }
    generation_no = ngens;
    verify_now("at the end", 0);
    printf("larson_churn: %d threads, %d generations, %ld operations, %lu remote, %d verifies "
           "ok%s\n", nthreads, ngens, (long)nthreads * ngens * nphases * nops,
           (unsigned long)remote, verifies, verify ? "" : " [no heap_verify]");
    return 0;
}
