/*
 * test_api.c — the C allocation API of build/libgomalloc.so (linked with
 * -lgomalloc, so malloc & co resolve to it; the first test proves that).
 * TAP through tests/host/tap.c; ends with "N passed, N failed".
 */
#define _GNU_SOURCE
#include "tap.h"

#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Run fn with stderr captured into buf. */
static void capture_stderr(void (*fn)(void *), void *arg, char *buf, size_t n)
{
    FILE *tmp = tmpfile();
    fflush(stderr);
    int saved = dup(2);
    dup2(fileno(tmp), 2);
    fn(arg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    size_t got = fread(buf, 1, n - 1, tmp);
    buf[got] = 0;
    fclose(tmp);
}

static long rss_kib(void)
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

static void t_loaded(void)
{
    const char *(*ver)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "gomalloc_version");
    REQUIRE(ver != NULL);
    CHECK(strstr(ver(), "gomalloc") != NULL);
    /* malloc itself is ours: the symbol malloc resolves into libgomalloc */
    Dl_info di;
    void *m = dlsym(RTLD_DEFAULT, "malloc");
    REQUIRE(m && dladdr(m, &di));
    CHECKF(strstr(di.dli_fname, "libgomalloc") != NULL, "malloc is from %s", di.dli_fname);
}

static void t_malloc_zero_and_null(void)
{
    void *a = malloc(0), *b = malloc(0);
    CHECK(a && b && a != b);
    CHECK(malloc_usable_size(a) >= 1);
    free(a);
    free(b);
    free(NULL);
    CHECK(malloc_usable_size(NULL) == 0);
}

static void t_sizes_roundtrip(void)
{
    static const size_t sizes[] = {1, 7, 8, 9, 15, 16, 17, 24, 25, 31, 32, 33, 48, 64, 100, 127,
                                   128, 129, 255, 256, 1000, 1024, 2048, 4095, 4096, 8192,
                                   10000, 32767, 32768, 32769, 65536, 100000, 1 << 20,
                                   (5 << 20) + 3, 64 << 20};
    void *p[TAP_COUNT(sizes)];
    for (int i = 0; i < TAP_COUNT(sizes); i++) {
        p[i] = malloc(sizes[i]);
        REQUIRE(p[i]);
        CHECKF(((uintptr_t)p[i] & 7) == 0, "size %zu at %p", sizes[i], p[i]);
        if (sizes[i] >= 16 && sizes[i] != 24 && sizes[i] > 24)
            CHECKF(((uintptr_t)p[i] & 15) == 0, "size %zu at %p not 16-aligned", sizes[i], p[i]);
        CHECKF(malloc_usable_size(p[i]) >= sizes[i], "usable %zu < %zu",
               malloc_usable_size(p[i]), sizes[i]);
        memset(p[i], (int)i + 1, sizes[i]);
    }
    for (int i = 0; i < TAP_COUNT(sizes); i++) {
        unsigned char *c = p[i];
        CHECKF(c[0] == (unsigned char)(i + 1) && c[sizes[i] - 1] == (unsigned char)(i + 1),
               "size %zu corrupted", sizes[i]);
        free(p[i]);
    }
}

static void t_calloc(void)
{
    for (size_t n = 1; n < 200000; n = n * 3 + 1) {
        unsigned char *p = malloc(n);
        memset(p, 0xAB, n);
        free(p);
        p = calloc(n, 1);
        REQUIRE(p);
        size_t bad = 0;
        for (size_t i = 0; i < n; i++)
            bad += p[i] != 0;
        CHECKF(bad == 0, "calloc(%zu): %zu nonzero bytes", n, bad);
        free(p);
    }
    errno = 0;
    CHECK(calloc(SIZE_MAX / 2, 3) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(calloc((size_t)1 << 33, (size_t)1 << 33) == NULL && errno == ENOMEM);
    void *z = calloc(0, 0);
    CHECK(z != NULL);
    free(z);
}

static void t_realloc(void)
{
    char *p = realloc(NULL, 10);
    REQUIRE(p);
    memcpy(p, "123456789", 10);
    for (size_t n = 16; n <= (8u << 20); n *= 4) {
        p = realloc(p, n);
        REQUIRE(p);
        CHECK(memcmp(p, "123456789", 10) == 0);
        CHECK(malloc_usable_size(p) >= n);
    }
    p = realloc(p, 5);
    REQUIRE(p);
    CHECK(memcmp(p, "12345", 5) == 0);
    CHECK(malloc_usable_size(p) < 4096); /* a shrunk big block moves */
    errno = 0;
    CHECK(realloc(p, 0) == NULL); /* glibc: frees, returns NULL */
    p = malloc(8);
    errno = 0;
    CHECK(reallocarray(p, SIZE_MAX / 4, 8) == NULL && errno == ENOMEM);
    char *q = reallocarray(p, 100, 8);
    CHECK(q != NULL);
    free(q);
    /* failure leaves the block alone */
    p = malloc(100);
    memset(p, 7, 100);
    errno = 0;
    CHECK(realloc(p, SIZE_MAX / 2) == NULL && errno == ENOMEM);
    CHECK(p[99] == 7);
    free(p);
}

static void t_enomem(void)
{
    errno = 0;
    CHECK(malloc(SIZE_MAX) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(malloc((size_t)1 << 47) == NULL && errno == ENOMEM);
}

static void t_posix_memalign(void)
{
    void *p = (void *)1;
    CHECK(posix_memalign(&p, 0, 10) == EINVAL);
    CHECK(posix_memalign(&p, 3, 10) == EINVAL);
    CHECK(posix_memalign(&p, 4, 10) == EINVAL); /* not a multiple of sizeof(void *) */
    CHECK(posix_memalign(&p, 24, 10) == EINVAL);
    CHECK(p == (void *)1);
    static const size_t sizes[] = {0, 1, 8, 24, 100, 1000, 5000, 8192, 40000, 1 << 20};
    for (size_t al = 8; al <= ((size_t)4 << 20); al *= 2) {
        for (int i = 0; i < TAP_COUNT(sizes); i++) {
            void *q = NULL;
            int r = posix_memalign(&q, al, sizes[i]);
            REQUIRE(r == 0 && q);
            CHECKF(((uintptr_t)q & (al - 1)) == 0, "align %zu size %zu: %p", al, sizes[i], q);
            CHECKF(malloc_usable_size(q) >= sizes[i], "align %zu size %zu: usable %zu", al,
                   sizes[i], malloc_usable_size(q));
            if (sizes[i])
                memset(q, 0x5A, sizes[i]);
            if (i % 2) {
                char *r2 = realloc(q, sizes[i] + 50000);
                REQUIRE(r2);
                if (sizes[i])
                    CHECK(r2[sizes[i] - 1] == 0x5A);
                q = r2;
            }
            free(q);
        }
    }
    void *q;
    CHECK(posix_memalign(&q, 64, SIZE_MAX / 2) == ENOMEM);
}

/* Many live over-aligned blocks at once: the side table that maps them to
 * their objects grows (it was a fixed 4096 entries: 3172 live 1 MiB-aligned
 * blocks, then ENOMEM).  Returns the number of bad blocks; also called from
 * threads (no REQUIRE). */
static int memalign_many(size_t al, int n, void **p)
{
    int bad = 0;
    for (int i = 0; i < n; i++) {
        if (posix_memalign(&p[i], al, 100) != 0) {
            tap_fail(__FILE__, __LINE__, "align %zu: block %d: ENOMEM", al, i);
            for (int k = 0; k < i; k++)
                free(p[k]);
            return 1;
        }
        bad += ((uintptr_t)p[i] & (al - 1)) != 0 || malloc_usable_size(p[i]) < 100;
        memset(p[i], i & 0xff, 100);
    }
    for (int i = 0; i < n; i += 7) { /* realloc looks the block up too */
        char *q = realloc(p[i], 300);
        if (!q) { /* p[i] still allocated: no REQUIRE (threads) */
            tap_fail(__FILE__, __LINE__, "align %zu: realloc of block %d failed", al, i);
            bad++;
            continue;
        }
        bad += q[99] != (char)(i & 0xff);
        memset(q, i & 0xff, 100);
        p[i] = q;
    }
    for (int i = 0; i < n; i++) {
        bad += ((char *)p[i])[0] != (char)(i & 0xff);
        free(p[i]);
    }
    return bad;
}

static void t_memalign_many(void)
{
    enum { N = 5000 };
    static void *p[N];
    CHECK(memalign_many((size_t)1 << 20, N, p) == 0);
    CHECK(memalign_many((size_t)64 << 10, N, p) == 0);
    CHECK(memalign_many((size_t)1 << 20, N, p) == 0); /* again, after tombstones */
}

struct ma_arg {
    int seed, bad;
};

static void *memalign_worker(void *arg)
{
    struct ma_arg *m = arg;
    void *p[1500];
    for (int r = 0; r < 3; r++) {
        size_t al = (size_t)16384 << ((m->seed + r) % 7); /* 16 KiB .. 1 MiB */
        m->bad += memalign_many(al, 1500, p);
    }
    return NULL;
}

static void t_memalign_threads(void)
{
    pthread_t t[4];
    struct ma_arg m[4];
    for (int i = 0; i < 4; i++) {
        m[i] = (struct ma_arg){i, 0};
        REQUIRE(pthread_create(&t[i], NULL, memalign_worker, &m[i]) == 0);
    }
    int bad = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        bad += m[i].bad;
    }
    CHECK(bad == 0);
}

static void t_aligned_alloc_memalign(void)
{
    errno = 0;
    CHECK(aligned_alloc(3, 10) == NULL && errno == EINVAL);
    errno = 0;
    CHECK(aligned_alloc(0, 10) == NULL && errno == EINVAL);
    errno = 0;
    CHECK(memalign(48, 10) == NULL && errno == EINVAL);
    for (size_t al = 1; al <= 65536; al *= 2) {
        void *a = aligned_alloc(al, al * 3);
        void *m = memalign(al, 7);
        REQUIRE(a && m);
        CHECK(((uintptr_t)a & (al - 1)) == 0 && ((uintptr_t)m & (al - 1)) == 0);
        free(a);
        free(m);
    }
    void *v = valloc(100), *pv = pvalloc(100), *pv0 = pvalloc(0);
    REQUIRE(v && pv && pv0);
    CHECK(((uintptr_t)v & 4095) == 0 && ((uintptr_t)pv & 4095) == 0);
    CHECK(malloc_usable_size(pv) >= 4096 && malloc_usable_size(pv0) >= 4096);
    free(v);
    free(pv);
    free(pv0);
}

static void do_free(void *p) { free(p); }
static void *realloc_result = (void *)1;
static void do_realloc(void *p) { realloc_result = realloc(p, 100); }

static void t_bad_free_reported(void)
{
    char buf[2048];
    int local;
    capture_stderr(do_free, &local, buf, sizeof buf);
    CHECKF(strstr(buf, "gomalloc: kfree:") && strstr(buf, "not in the heap"), "got: %s", buf);

    char *p = malloc(64);
    capture_stderr(do_free, p + 8, buf, sizeof buf);
    CHECKF(strstr(buf, "interior pointer"), "got: %s", buf);
    free(p);
    capture_stderr(do_free, p, buf, sizeof buf);
    CHECKF(strstr(buf, "double free"), "got: %s", buf);

    capture_stderr(do_realloc, &local, buf, sizeof buf);
    CHECKF(realloc_result == NULL && strstr(buf, "gomalloc: ") && strstr(buf, "not in the heap"),
           "realloc of a foreign pointer: %p, got: %s", realloc_result, buf);

    char *big = malloc(1 << 20);
    free(big);
    capture_stderr(do_free, big, buf, sizeof buf);
    CHECKF(strstr(buf, "gomalloc: kfree:"), "large double free not reported: %s", buf);
    /* the heap still works */
    void *q = malloc(64);
    CHECK(q != NULL);
    free(q);
}

static size_t usable_result;
static void do_usable(void *p) { usable_result = malloc_usable_size(p); }
static int realloc_errno;
static void do_realloc_e(void *p)
{
    errno = 0;
    realloc_result = realloc(p, 100);
    realloc_errno = errno;
}

/* The exact line for each misuse of realloc and malloc_usable_size: it
 * names the call, and a freed pointer is not a "double free" there. */
static void t_misuse_messages(void)
{
    char buf[2048], want[512];
    int local;
    /* three consecutive 48-byte objects (class 5, one-page spans): freeing
     * the middle one leaves a pending free (not the slot last handed out) */
    char *a = NULL, *b = NULL, *c = NULL;
    for (int tries = 0; tries < 200; tries++) {
        a = malloc(48), b = malloc(48), c = malloc(48);
        if (b == a + 48 && c == b + 48 && ((uintptr_t)a & ~8191ul) == ((uintptr_t)c & ~8191ul))
            break;
    }
    REQUIRE(b == a + 48 && c == b + 48);
    unsigned long span = (uintptr_t)b & ~8191ul;
    free(b);

    capture_stderr(do_usable, b, buf, sizeof buf);
    snprintf(want, sizeof want, "gomalloc: malloc_usable_size: %p is not an allocated object: "
             "already freed (span 0x%lx class 5, 48 B)\n", (void *)b, span);
    CHECKF(usable_result == 0 && !strcmp(buf, want), "got %zu \"%s\" want \"%s\"", usable_result,
           buf, want);
    capture_stderr(do_realloc_e, b, buf, sizeof buf);
    snprintf(want, sizeof want, "gomalloc: realloc: %p is not an allocated object: "
             "already freed (span 0x%lx class 5, 48 B)\n", (void *)b, span);
    CHECKF(realloc_result == NULL && realloc_errno == EINVAL && !strcmp(buf, want),
           "got %p errno %d \"%s\" want \"%s\"", realloc_result, realloc_errno, buf, want);
    capture_stderr(do_free, b, buf, sizeof buf);
    snprintf(want, sizeof want, "gomalloc: kfree: double free of %p (span 0x%lx class 5, 48 B)\n",
             (void *)b, span);
    CHECKF(!strcmp(buf, want), "got \"%s\" want \"%s\"", buf, want);

    /* the last object handed out, freed: it waits in this thread's
     * freed-object cache, and it is known to be freed */
    free(c);
    capture_stderr(do_usable, c, buf, sizeof buf);
    snprintf(want, sizeof want, "gomalloc: malloc_usable_size: %p is not an allocated object: "
             "already freed (span 0x%lx class 5, 48 B)\n", (void *)c, span);
    CHECKF(!strcmp(buf, want), "got \"%s\" want \"%s\"", buf, want);

    capture_stderr(do_usable, &local, buf, sizeof buf);
    snprintf(want, sizeof want, "gomalloc: malloc_usable_size: %p is not in the heap\n",
             (void *)&local);
    CHECKF(!strcmp(buf, want), "got \"%s\" want \"%s\"", buf, want);
    capture_stderr(do_realloc_e, &local, buf, sizeof buf);
    snprintf(want, sizeof want, "gomalloc: realloc: %p is not in the heap\n", (void *)&local);
    CHECKF(realloc_result == NULL && !strcmp(buf, want), "got \"%s\" want \"%s\"", buf, want);
    capture_stderr(do_realloc_e, a + 8, buf, sizeof buf);
    snprintf(want, sizeof want, "gomalloc: realloc: interior pointer %p (object %p in span 0x%lx "
             "class 5, 48 B)\n", (void *)(a + 8), (void *)a, span);
    CHECKF(realloc_result == NULL && !strcmp(buf, want), "got \"%s\" want \"%s\"", buf, want);
    CHECK(malloc_usable_size(a) == 48); /* a is untouched */
    free(a);

    /* a freed large object (its span struct may have been reused since:
     * then the memory is simply free) */
    char *big = malloc(100000);
    REQUIRE(big);
    free(big);
    capture_stderr(do_usable, big, buf, sizeof buf);
    char want2[512];
    snprintf(want, sizeof want, "gomalloc: malloc_usable_size: %p is not an allocated object: "
             "already freed (span %p class 0, 106496 B)\n", (void *)big, (void *)big);
    snprintf(want2, sizeof want2, "gomalloc: malloc_usable_size: %p is in free heap memory "
             "(no span)\n", (void *)big);
    CHECKF(!strcmp(buf, want) || !strcmp(buf, want2), "got \"%s\" want \"%s\"", buf, want);
}

struct xarg {
    void **slots;
    int n, seed;
};

static void *worker(void *arg)
{
    struct xarg *x = arg;
    unsigned s = (unsigned)x->seed;
    for (int r = 0; r < 20000; r++) {
        s = s * 1103515245u + 12345u;
        int i = (int)((s >> 8) % (unsigned)x->n);
        free(x->slots[i]);
        size_t sz = 1 + (s >> 20) % 2000;
        x->slots[i] = malloc(sz);
        memset(x->slots[i], (int)sz, sz < 16 ? sz : 16);
    }
    return NULL;
}

/* More threads than exclusive slots (56): the rest share locked slots; each
 * frees objects another thread allocated. */
static void t_many_threads(void)
{
    enum { T = 80, N = 256 };
    static void *slots[T][N];
    pthread_t th[T];
    struct xarg xa[T];
    for (int round = 0; round < 2; round++) {
        for (int t = 0; t < T; t++) {
            xa[t] = (struct xarg){slots[(t + round) % T], N, t * 7 + round};
            REQUIRE(pthread_create(&th[t], NULL, worker, &xa[t]) == 0);
        }
        for (int t = 0; t < T; t++)
            pthread_join(th[t], NULL);
    }
    for (int t = 0; t < T; t++)
        for (int i = 0; i < N; i++)
            free(slots[t][i]);
}

static void *short_thread(void *arg)
{
    void *p[50];
    for (int i = 0; i < 50; i++)
        p[i] = malloc(16 + (size_t)i * 8);
    for (int i = 0; i < 50; i++)
        free(p[i]);
    return arg;
}

static void t_thread_churn(void)
{
    for (int i = 0; i < 3000; i++) {
        pthread_t t;
        REQUIRE(pthread_create(&t, NULL, short_thread, NULL) == 0);
        pthread_join(t, NULL);
    }
    CHECK(1);
}

static void t_rss_falls(void)
{
    enum { N = 200000 };
    void **p = malloc(N * sizeof *p);
    long before = rss_kib();
    for (int i = 0; i < N; i++) {
        p[i] = malloc(1024);
        memset(p[i], 1, 1024);
    }
    long peak = rss_kib();
    for (int i = 0; i < N; i++)
        free(p[i]);
    void *big = malloc(100 << 20);
    memset(big, 1, 100 << 20);
    free(big);
    long after = rss_kib();
    free(p);
    CHECKF(peak - before > 150000, "peak %ld before %ld", peak, before);
    CHECKF(after < before + (peak - before) / 2, "RSS before %ld peak %ld after free %ld KiB",
           before, peak, after);
}

static const struct tap_test tests[] = {
    {"loaded", t_loaded},
    {"malloc_zero_and_null", t_malloc_zero_and_null},
    {"sizes_roundtrip", t_sizes_roundtrip},
    {"calloc", t_calloc},
    {"realloc", t_realloc},
    {"enomem", t_enomem},
    {"posix_memalign", t_posix_memalign},
    {"aligned_alloc_memalign", t_aligned_alloc_memalign},
    {"memalign_many", t_memalign_many},
    {"memalign_threads", t_memalign_threads},
    {"bad_free_reported", t_bad_free_reported},
    {"misuse_messages", t_misuse_messages},
    {"many_threads", t_many_threads},
    {"thread_churn", t_thread_churn},
    {"rss_falls", t_rss_falls},
};

int main(int argc, char **argv) { return tap_main(argc, argv, tests, TAP_COUNT(tests)); }
