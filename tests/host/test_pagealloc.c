/*
 * test_pagealloc.c — the page allocator (alloc/mpagealloc.c).
 *
 * Each test builds its own pageAlloc over fresh address space taken with
 * plat_reserve (the allocator never touches heap pages itself; back() and
 * unback() here only record their calls).
 */
#include "mpagealloc.h"
#include "platform.h"
#include "platform_host.h"
#include "tap.h"

#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#define ARENA (64ull << 20)
#define PG PAGE_SIZE

/* ------------------------------------------------------------ helpers */

#define VERIFY(p)                                                        \
    do {                                                                 \
        char verr_[256];                                                 \
        bool vok_ = pagealloc_verify((p), verr_, sizeof verr_);          \
        CHECKF(vok_, "verify: %s", verr_);                               \
        if (!vok_)                                                       \
            tap_abort_test();                                            \
    } while (0)

struct call {
    uintptr_t base;
    uint64_t bytes;
};
static struct call backs[64], unbacks[64];
static int nbacks, nunbacks;
static uint64_t backed_bytes, unbacked_bytes;
static int back_fail_at = -1; /* the call number (0-based) that fails */

static bool rec_back(uintptr_t base, uint64_t bytes)
{
    if (nbacks == back_fail_at) {
        nbacks++;
        return false;
    }
    if (nbacks < 64)
        backs[nbacks] = (struct call){base, bytes};
    nbacks++;
    backed_bytes += bytes;
    return true;
}

static void rec_unback(uintptr_t base, uint64_t bytes)
{
    if (nunbacks < 64)
        unbacks[nunbacks] = (struct call){base, bytes};
    nunbacks++;
    unbacked_bytes += bytes;
}

static void reset_calls(void)
{
    nbacks = nunbacks = 0;
    backed_bytes = unbacked_bytes = 0;
    back_fail_at = -1;
}

/* Fresh pageAlloc with `narenas` contiguous arenas grown; returns the base. */
static uintptr_t setup(pageAlloc *p, uint64_t narenas)
{
    pagealloc_init(p);
    uintptr_t base = plat_reserve(narenas * ARENA, ARENA);
    if (!base) {
        tap_fail(__FILE__, __LINE__, "plat_reserve failed");
        tap_abort_test();
    }
    if (!pagealloc_grow(p, base, narenas * ARENA)) {
        tap_fail(__FILE__, __LINE__, "pagealloc_grow failed");
        tap_abort_test();
    }
    reset_calls();
    return base;
}

static uintptr_t A(pageAlloc *p, uint64_t n)
{
    bool oom = true;
    uintptr_t r = pagealloc_alloc(p, n, rec_back, &oom);
    if (r)
        CHECK(!oom);
    return r;
}

/* Panic interception. */
static jmp_buf panic_jb;
static char panic_msg[512];
static void catch_panic(const char *msg)
{
    snprintf(panic_msg, sizeof panic_msg, "%s", msg);
    longjmp(panic_jb, 1);
}

static int free_panics(pageAlloc *p, uintptr_t base, uint64_t n)
{
    panic_msg[0] = 0;
    host_panic_hook = catch_panic;
    if (setjmp(panic_jb) == 0) {
        pagealloc_free(p, base, n);
        host_panic_hook = NULL;
        return 0;
    }
    host_panic_hook = NULL;
    return 1;
}

static uint64_t rng_state;
static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

/* ------------------------------------------------------------ tests */

static void test_single_page(void)
{
    static pageAlloc p;
    uintptr_t base = setup(&p, 1);
    CHECK(pagealloc_total_pages(&p) == 8192);
    CHECK(pagealloc_free_pages(&p) == 8192);
    CHECK(pagealloc_scav_pages(&p) == 8192);
    VERIFY(&p);
    uintptr_t a = A(&p, 1);
    CHECK(a == base);
    CHECK(nbacks == 1 && backs[0].base == base && backs[0].bytes == PG);
    CHECK(pagealloc_allocated(&p, a));
    CHECK(pagealloc_allocated(&p, a + PG - 1));
    CHECK(!pagealloc_allocated(&p, a + PG));
    CHECK(pagealloc_free_pages(&p) == 8191);
    CHECK(pagealloc_scav_pages(&p) == 8191);
    VERIFY(&p);
    pagealloc_free(&p, a, 1);
    CHECK(!pagealloc_allocated(&p, a));
    CHECK(!pagealloc_scavenged(&p, a));
    CHECK(pagealloc_free_pages(&p) == 8192);
    CHECK(pagealloc_scav_pages(&p) == 8191);
    VERIFY(&p);
    /* Reallocating it needs no back(): the page is still Ready. */
    CHECK(A(&p, 1) == base);
    CHECK(nbacks == 1);
    CHECK(pagealloc_alloc(&p, 0, rec_back, NULL) == 0);
    VERIFY(&p);
}

static void test_first_fit_lowest(void)
{
    static pageAlloc p;
    uintptr_t base = setup(&p, 1);
    uintptr_t a[10];
    for (int i = 0; i < 10; i++) {
        a[i] = A(&p, 1);
        CHECKF(a[i] == base + (uintptr_t)i * PG, "alloc %d at +0x%lx", i,
               (unsigned long)(a[i] - base));
    }
    pagealloc_free(&p, a[7], 1);
    pagealloc_free(&p, a[3], 1);
    VERIFY(&p);
    CHECK(A(&p, 1) == a[3]);
    CHECK(A(&p, 2) == base + 10 * PG); /* the one-page hole at 7 is too small */
    CHECK(A(&p, 1) == a[7]);
    CHECK(A(&p, 1) == base + 12 * PG);
    /* A larger hole found below smaller later ones. */
    pagealloc_free(&p, base + 2 * PG, 3); /* pages 2,3,4 */
    pagealloc_free(&p, base + 8 * PG, 1);
    CHECK(A(&p, 1) == base + 2 * PG);
    CHECK(A(&p, 2) == base + 3 * PG);
    CHECK(A(&p, 1) == base + 8 * PG);
    VERIFY(&p);
}

static void test_cross_chunk(void)
{
    static pageAlloc p;
    uintptr_t base = setup(&p, 1);
    CHECK(A(&p, 500) == base);
    uintptr_t x = A(&p, 20); /* pages 500..519: crosses the chunk at 512 */
    CHECK(x == base + 500 * PG);
    CHECK(pagealloc_allocated(&p, base + 511 * PG) && pagealloc_allocated(&p, base + 512 * PG));
    uintptr_t y = A(&p, 1500); /* 520..2019: several chunks */
    CHECK(y == base + 520 * PG);
    VERIFY(&p);
    pagealloc_free(&p, x, 20);
    CHECK(A(&p, 21) == base + 2020 * PG);
    CHECK(A(&p, 20) == x);
    VERIFY(&p);
    /* A run ending exactly on a chunk boundary and one starting on it. */
    /* A hole ending exactly where the next allocation begins. */
    pagealloc_free(&p, base, 500);
    CHECK(A(&p, 501) == base + 2041 * PG);
    CHECK(A(&p, 500) == base);
    VERIFY(&p);
}

static void test_cross_arena(void)
{
    static pageAlloc p;
    pagealloc_init(&p);
    uintptr_t base = plat_reserve(3 * ARENA, ARENA);
    REQUIRE(base);
    /* Grown as separate arenas, out of order: they are adjacent in VA. */
    REQUIRE(pagealloc_grow(&p, base + ARENA, ARENA));
    REQUIRE(pagealloc_grow(&p, base, ARENA));
    REQUIRE(pagealloc_grow(&p, base + 2 * ARENA, ARENA));
    reset_calls();
    VERIFY(&p);
    CHECK(A(&p, 8190) == base);
    uintptr_t x = A(&p, 10);
    CHECK(x == base + 8190 * PG); /* crosses the first arena boundary */
    CHECK(nbacks == 2 && backs[1].base == x && backs[1].bytes == 10 * PG); /* one sub-run */
    /* A run longer than an arena, crossing the second boundary. */
    uintptr_t y = A(&p, 8192 + 5);
    CHECK(y == base + 8200 * PG);
    VERIFY(&p);
    CHECK(A(&p, 8192) == 0); /* only 24576-8190-10-8197 = 8179 left */
    CHECK(A(&p, 8179) == base + (8200 + 8197) * PG);
    CHECK(pagealloc_free_pages(&p) == 0);
    CHECK(A(&p, 1) == 0);
    pagealloc_free(&p, base, 3 * 8192);
    CHECK(pagealloc_free_pages(&p) == 3 * 8192);
    CHECK(A(&p, 3 * 8192) == base);
    VERIFY(&p);
}

/* 8 GiB always contains a 4 GiB (summary group) boundary. */
static void test_cross_group(void)
{
    static pageAlloc p;
    uintptr_t base = setup(&p, 128);
    uint64_t total = 128 * 8192;
    CHECK(pagealloc_total_pages(&p) == total);
    /* the first boundary strictly above base (base itself may be one: the
     * reservation is only arena aligned, so 1 run in 64 failed here) */
    uintptr_t gb = p.origin + (((base - p.origin) >> 32) + 1) * (4ull << 30);
    CHECK(gb > base && gb < base + 128 * ARENA);
    uint64_t before = (gb - base) / PG;
    CHECK(A(&p, before - 3) == base);
    uintptr_t x = A(&p, 10);
    CHECK(x == gb - 3 * PG);
    VERIFY(&p);
    pagealloc_free(&p, base, before - 3);
    pagealloc_free(&p, x, 10);
    /* The whole 8 GiB in one run. */
    uintptr_t all = A(&p, total);
    CHECK(all == base);
    CHECK(pagealloc_free_pages(&p) == 0);
    VERIFY(&p);
    pagealloc_free(&p, all, total);
    VERIFY(&p);
}

static void test_coalesce_random_order(void)
{
    static pageAlloc p;
    uintptr_t base = setup(&p, 1);
    enum { N = 2000 };
    static struct { uintptr_t a; uint64_t n; } v[N];
    uint64_t used = 0;
    for (int i = 0; i < N; i++) {
        v[i].n = 1 + (i % 3 == 0) + (i % 7 == 0) * 5;
        v[i].a = A(&p, v[i].n);
        CHECK(v[i].a == base + used * PG);
        used += v[i].n;
    }
    rng_state = 0x9e3779b97f4a7c15ull;
    for (int i = N - 1; i > 0; i--) {
        int j = (int)(rnd() % (uint64_t)(i + 1));
        __typeof__(v[0]) t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
    for (int i = 0; i < N; i++) {
        pagealloc_free(&p, v[i].a, v[i].n);
        if (i % 250 == 0)
            VERIFY(&p);
    }
    VERIFY(&p);
    CHECK(pagealloc_free_pages(&p) == 8192);
    CHECK(p.top[(base - p.origin) >> 32].max >= 8192);
    CHECK(A(&p, 8192) == base); /* everything coalesced into one run */
    VERIFY(&p);
}

static void test_exhaustion_recovery(void)
{
    static pageAlloc p;
    uintptr_t base = setup(&p, 1);
    CHECK(A(&p, 8192) == base);
    bool oom = true;
    CHECK(pagealloc_alloc(&p, 1, rec_back, &oom) == 0);
    CHECK(!oom);
    CHECK(A(&p, 8193) == 0);
    pagealloc_free(&p, base + 4000 * PG, 100);
    VERIFY(&p);
    CHECK(A(&p, 101) == 0);
    CHECK(A(&p, 100) == base + 4000 * PG);
    CHECK(A(&p, 1) == 0);
    pagealloc_free(&p, base + 10 * PG, 1);
    pagealloc_free(&p, base + 8191 * PG, 1);
    CHECK(A(&p, 1) == base + 10 * PG);
    CHECK(A(&p, 1) == base + 8191 * PG);
    CHECK(A(&p, 1) == 0);
    VERIFY(&p);
    pagealloc_free(&p, base, 8192);
    CHECK(pagealloc_free_pages(&p) == 8192);
    CHECK(A(&p, 8192) == base);
    VERIFY(&p);
}

static void test_scavenge_highest_first(void)
{
    static pageAlloc p;
    uintptr_t base = setup(&p, 1);
    CHECK(A(&p, 8192) == base);
    CHECK(nbacks == 1 && backs[0].bytes == 8192ull * PG);
    pagealloc_free(&p, base, 8192);
    CHECK(pagealloc_scav_pages(&p) == 0);
    reset_calls();
    /* Partial: the top 3 pages, rounded up from 2.5 pages. */
    CHECK(pagealloc_scavenge(&p, 2 * PG + PG / 2, rec_unback) == 3 * PG);
    CHECK(nunbacks == 1 && unbacks[0].base == base + 8189 * PG && unbacks[0].bytes == 3 * PG);
    CHECK(pagealloc_scav_pages(&p) == 3);
    CHECK(pagealloc_scavenged(&p, base + 8189 * PG) && !pagealloc_scavenged(&p, base + 8188 * PG));
    CHECK(pagealloc_scavenge(&p, 2 * PG, rec_unback) == 2 * PG);
    CHECK(nunbacks == 2 && unbacks[1].base == base + 8187 * PG && unbacks[1].bytes == 2 * PG);
    VERIFY(&p);
    /* Reallocation backs exactly the scavenged part, in one call. */
    reset_calls();
    CHECK(A(&p, 8192) == base);
    CHECK(nbacks == 1 && backs[0].base == base + 8187 * PG && backs[0].bytes == 5 * PG);
    CHECK(pagealloc_scav_pages(&p) == 0);
    VERIFY(&p);

    /* Holes: free [100,110), [500,530) (crosses chunk 512), [4000,4001). */
    pagealloc_free(&p, base + 100 * PG, 10);
    pagealloc_free(&p, base + 500 * PG, 30);
    pagealloc_free(&p, base + 4000 * PG, 1);
    reset_calls();
    CHECK(pagealloc_scavenge(&p, 20 * PG, rec_unback) == 20 * PG);
    /* highest first: page 4000, then the top 19 pages of [500,530) */
    CHECK(nunbacks == 2);
    CHECK(unbacks[0].base == base + 4000 * PG && unbacks[0].bytes == PG);
    CHECK(unbacks[1].base == base + 511 * PG && unbacks[1].bytes == 19 * PG);
    VERIFY(&p);
    /* Everything else: [500,511) and [100,110). */
    CHECK(pagealloc_scavenge(&p, ~0ull >> 1, rec_unback) == 21 * PG);
    CHECK(nunbacks == 4);
    CHECK(unbacks[2].base == base + 500 * PG && unbacks[2].bytes == 11 * PG);
    CHECK(unbacks[3].base == base + 100 * PG && unbacks[3].bytes == 10 * PG);
    CHECK(pagealloc_scav_pages(&p) == 41 && pagealloc_free_pages(&p) == 41);
    CHECK(pagealloc_scavenge(&p, PG, rec_unback) == 0);
    VERIFY(&p);
    /* A run over scavenged pages [500,530): back() exactly for it. */
    reset_calls();
    CHECK(A(&p, 30) == base + 500 * PG);
    CHECK(nbacks == 1 && backs[0].base == base + 500 * PG && backs[0].bytes == 30 * PG);
    VERIFY(&p);
}

/* Regression: pagealloc_scavenge(~0) ("everything") rounded the byte
 * count up to pages with an overflowing add and released nothing. */
static void test_scavenge_all_bytes(void)
{
    static pageAlloc p;
    uintptr_t base = setup(&p, 1);
    CHECK(A(&p, 100) == base);
    pagealloc_free(&p, base, 100);
    reset_calls();
    CHECK(pagealloc_scavenge(&p, ~0ull, rec_unback) == 100 * PG);
    CHECK(pagealloc_scav_pages(&p) == pagealloc_free_pages(&p));
    VERIFY(&p);
}

static void test_back_failure(void)
{
    static pageAlloc p;
    uintptr_t base = setup(&p, 1);
    uintptr_t a = A(&p, 10), b = A(&p, 10), c = A(&p, 10), d = A(&p, 10);
    CHECK(a == base && d == base + 30 * PG);
    pagealloc_free(&p, b, 10);
    CHECK(pagealloc_scavenge(&p, ~0ull >> 1, rec_unback) == 10 * PG); /* only b was Ready */
    pagealloc_free(&p, a, 10);
    pagealloc_free(&p, c, 10);
    pagealloc_free(&p, d, 10);
    /* Now [0,10) Ready, [10,20) scavenged, [20,40) Ready, [40,...) scavenged. */
    VERIFY(&p);
    uint64_t free0 = pagealloc_free_pages(&p), scav0 = pagealloc_scav_pages(&p);
    reset_calls();
    back_fail_at = 1;
    bool oom = false;
    CHECK(pagealloc_alloc(&p, 50, rec_back, &oom) == 0);
    CHECK(oom);
    CHECK(nbacks == 2 && backs[0].base == b && backs[0].bytes == 10 * PG);
    /* b stays free but is now Ready; nothing is allocated. */
    CHECK(pagealloc_free_pages(&p) == free0);
    CHECK(pagealloc_scav_pages(&p) == scav0 - 10);
    CHECK(!pagealloc_scavenged(&p, b) && !pagealloc_allocated(&p, b));
    CHECK(pagealloc_scavenged(&p, base + 40 * PG));
    for (int i = 0; i < 50; i++)
        CHECK(!pagealloc_allocated(&p, base + (uintptr_t)i * PG));
    VERIFY(&p);
    /* Retry with working memory: only [40,50) needs backing. */
    reset_calls();
    CHECK(A(&p, 50) == base);
    CHECK(nbacks == 1 && backs[0].base == base + 40 * PG && backs[0].bytes == 10 * PG);
    VERIFY(&p);
    /* A NULL back() is a failure for scavenged pages. */
    oom = false;
    CHECK(pagealloc_alloc(&p, 1, NULL, &oom) == 0 && oom);
    VERIFY(&p);
}

static void test_bad_free_panics(void)
{
    static pageAlloc p;
    uintptr_t base = setup(&p, 1);
    char want[64];
    uintptr_t x = A(&p, 4);
    CHECK(x == base);
    /* never allocated */
    CHECK(free_panics(&p, base + 100 * PG, 1));
    snprintf(want, sizeof want, "0x%lx", (unsigned long)(base + 100 * PG));
    CHECKF(strstr(panic_msg, want) && strstr(panic_msg, "not allocated"), "message: %s", panic_msg);
    /* double free */
    pagealloc_free(&p, x, 4);
    CHECK(free_panics(&p, x, 4));
    snprintf(want, sizeof want, "0x%lx", (unsigned long)x);
    CHECKF(strstr(panic_msg, want) != NULL, "message: %s", panic_msg);
    /* partly allocated: names the first free page */
    x = A(&p, 4);
    CHECK(free_panics(&p, x, 6));
    snprintf(want, sizeof want, "page 0x%lx", (unsigned long)(x + 4 * PG));
    CHECKF(strstr(panic_msg, want) != NULL, "message: %s", panic_msg);
    CHECK(pagealloc_allocated(&p, x)); /* nothing was freed */
    /* outside the window, unaligned, ungrown */
    CHECK(free_panics(&p, 0x1000, 1));
    CHECKF(strstr(panic_msg, "0x1000") != NULL, "message: %s", panic_msg);
    CHECK(free_panics(&p, x + 8, 1));
    uintptr_t other = plat_reserve(ARENA, ARENA);
    CHECK(free_panics(&p, other, 1));
    snprintf(want, sizeof want, "0x%lx", (unsigned long)other);
    CHECKF(strstr(panic_msg, want) && strstr(panic_msg, "not in the heap"), "message: %s",
           panic_msg);
    VERIFY(&p);
    pagealloc_free(&p, x, 4);
    VERIFY(&p);
}

static void test_queries_and_metadata(void)
{
    static pageAlloc p;
    pagealloc_init(&p);
    uint64_t m0 = pagealloc_meta_bytes(&p);
    CHECKF(m0 <= 16384, "init metadata %lu B", (unsigned long)m0);
    uintptr_t base = plat_reserve(ARENA, ARENA);
    REQUIRE(pagealloc_grow(&p, base, ARENA));
    uint64_t m1 = pagealloc_meta_bytes(&p) - m0;
    CHECKF(m1 <= 4096, "first arena metadata %lu B", (unsigned long)m1);
    uintptr_t far = plat_reserve(8 * ARENA, 4ull << 30); /* another 4 GiB group */
    REQUIRE(far);
    REQUIRE(pagealloc_grow(&p, far + 4 * ARENA, PALLOC_CHUNK_BYTES)); /* one chunk */
    uint64_t m2 = pagealloc_meta_bytes(&p) - m0 - m1;
    CHECKF(m2 <= 6144, "far chunk metadata %lu B", (unsigned long)m2);
    CHECK(pagealloc_total_pages(&p) == 8192 + 512);
    CHECK(!pagealloc_allocated(&p, 0));
    CHECK(!pagealloc_allocated(&p, far));              /* same block, not grown */
    CHECK(!pagealloc_scavenged(&p, far));
    CHECK(pagealloc_scavenged(&p, far + 4 * ARENA));
    CHECK(!pagealloc_allocated(&p, ~(uintptr_t)0));
    VERIFY(&p);
    /* first fit prefers the lower arena; the far chunk serves the rest */
    CHECK(pagealloc_alloc(&p, 8192, rec_back, NULL) == base);
    CHECK(pagealloc_alloc(&p, 512, rec_back, NULL) == far + 4 * ARENA);
    CHECK(pagealloc_alloc(&p, 1, rec_back, NULL) == 0);
    VERIFY(&p);
}

/* Randomized, seeded: allocs and frees against a plain page-array model
 * (lowest fit by linear scan), scavenges against "highest free unscavenged
 * pages first", back() calls against the model's scavenged pages. */
enum { MPAGES = 3 * 8192 };
static unsigned char m_alloc[MPAGES], m_scav[MPAGES];
static uintptr_t m_base;
static uint64_t m_back_pages;
static bool m_back_ok;

static bool model_back(uintptr_t base, uint64_t bytes)
{
    uint64_t s = (base - m_base) / PG, n = bytes / PG;
    for (uint64_t i = s; i < s + n; i++)
        if (i >= MPAGES || !m_scav[i] || m_alloc[i])
            m_back_ok = false;
    m_back_pages += n;
    return true;
}
static uint64_t m_unback_pages;
static void model_unback(uintptr_t base, uint64_t bytes)
{
    uint64_t s = (base - m_base) / PG, n = bytes / PG;
    for (uint64_t i = s; i < s + n; i++) {
        if (i >= MPAGES || m_scav[i] || m_alloc[i])
            m_back_ok = false;
    }
    m_unback_pages += n;
}

static void test_random_vs_model(void)
{
    static pageAlloc p;
    m_base = setup(&p, 3);
    memset(m_alloc, 0, sizeof m_alloc);
    memset(m_scav, 1, sizeof m_scav);
    enum { MAXLIVE = 4096 };
    static struct { uint64_t pi, n; } live[MAXLIVE];
    int nlive = 0;
    rng_state = 0x243f6a8885a308d3ull;
    int allocs = 0, fails = 0;
    for (int op = 0; op < 12000; op++) {
        uint64_t r = rnd() % 100;
        if (r < 55 && nlive < MAXLIVE) {
            uint64_t n = rnd() % 100 < 60 ? 1 : rnd() % 100 < 80 ? 1 + rnd() % 64
                                                                   : 1 + rnd() % 3000;
            /* model: lowest fit */
            uint64_t want = 0, run = 0;
            bool found = false;
            for (uint64_t i = 0; i < MPAGES; i++) {
                run = m_alloc[i] ? 0 : run + 1;
                if (run == n) {
                    want = i + 1 - n;
                    found = true;
                    break;
                }
            }
            uint64_t scav_in = 0;
            if (found)
                for (uint64_t i = want; i < want + n; i++)
                    scav_in += m_scav[i];
            m_back_pages = 0;
            m_back_ok = true;
            bool oom = true;
            uintptr_t got = pagealloc_alloc(&p, n, model_back, &oom);
            CHECK(!oom);
            if (!found) {
                CHECKF(got == 0, "op %d: alloc %lu got 0x%lx, model: none", op,
                       (unsigned long)n, (unsigned long)got);
                fails++;
            } else {
                CHECKF(got == m_base + want * PG, "op %d: alloc %lu at page %ld, model %lu", op,
                       (unsigned long)n, got ? (long)((got - m_base) / PG) : -1L,
                       (unsigned long)want);
                CHECKF(m_back_pages == scav_in && m_back_ok,
                       "op %d: backed %lu pages, model %lu scavenged", op,
                       (unsigned long)m_back_pages, (unsigned long)scav_in);
                for (uint64_t i = want; i < want + n; i++)
                    m_alloc[i] = 1, m_scav[i] = 0;
                live[nlive].pi = want;
                live[nlive].n = n;
                nlive++;
                allocs++;
            }
        } else if (r < 97 && nlive > 0) {
            int k = (int)(rnd() % (uint64_t)nlive);
            pagealloc_free(&p, m_base + live[k].pi * PG, live[k].n);
            for (uint64_t i = live[k].pi; i < live[k].pi + live[k].n; i++)
                m_alloc[i] = 0;
            live[k] = live[--nlive];
        } else {
            uint64_t pages = 1 + rnd() % 500;
            m_unback_pages = 0;
            m_back_ok = true;
            uint64_t got = pagealloc_scavenge(&p, pages * PG, model_unback);
            /* model: highest free unscavenged pages first */
            uint64_t take = 0;
            for (uint64_t i = MPAGES; i-- > 0 && take < pages;)
                if (!m_alloc[i] && !m_scav[i]) {
                    m_scav[i] = 1;
                    take++;
                }
            CHECKF(got == take * PG && m_unback_pages == take && m_back_ok,
                   "op %d: scavenged %lu pages, model %lu", op, (unsigned long)(got / PG),
                   (unsigned long)take);
        }
        if (op % 1000 == 999) {
            VERIFY(&p);
            for (uint64_t i = 0; i < MPAGES; i += 7) {
                CHECK(pagealloc_allocated(&p, m_base + i * PG) == (m_alloc[i] != 0));
                CHECK(pagealloc_scavenged(&p, m_base + i * PG) == (m_scav[i] != 0));
            }
        }
    }
    uint64_t mfree = 0, mscav = 0;
    for (uint64_t i = 0; i < MPAGES; i++) {
        mfree += !m_alloc[i];
        mscav += m_scav[i];
    }
    CHECK(pagealloc_free_pages(&p) == mfree);
    CHECK(pagealloc_scav_pages(&p) == mscav);
    printf("# %d allocs, %d failed (no fit), %d live at the end\n", allocs, fails, nlive);
    while (nlive > 0) {
        nlive--;
        pagealloc_free(&p, m_base + live[nlive].pi * PG, live[nlive].n);
    }
    CHECK(pagealloc_free_pages(&p) == MPAGES);
    VERIFY(&p);
}

/* verify reports corruption, naming the chunk and the field. */
static void test_verify_detects_corruption(void)
{
    static pageAlloc p;
    uintptr_t base = setup(&p, 1);
    uintptr_t a = A(&p, 3);
    CHECK(a == base);
    VERIFY(&p);
    char err[256];
    char want[64];
    pallocL1 *bl = p.groups[(base - p.origin) >> 32]->l1[((base - p.origin) >> 26) & 63];
    REQUIRE(bl);
    /* a chunk summary */
    bl->sum[0].max++;
    CHECK(!pagealloc_verify(&p, err, sizeof err));
    snprintf(want, sizeof want, "chunk 0x%lx: max", (unsigned long)base);
    CHECKF(strstr(err, want) != NULL, "message: %s", err);
    bl->sum[0].max--;
    /* scav bit on an allocated page */
    bl->chunk[0].scav[0] |= 1;
    CHECK(!pagealloc_verify(&p, err, sizeof err));
    CHECKF(strstr(err, "scav") != NULL, "message: %s", err);
    bl->chunk[0].scav[0] &= ~1ull;
    /* a bitmap change without summary update */
    uintptr_t hint = p.search_addr;
    p.search_addr = base;
    bl->chunk[0].alloc[0] &= ~1ull;
    CHECK(!pagealloc_verify(&p, err, sizeof err));
    CHECKF(strstr(err, "start = 0, recomputed 1") != NULL, "message: %s", err);
    bl->chunk[0].alloc[0] |= 1ull;
    p.search_addr = hint;
    /* a counter */
    p.free_pages++;
    CHECK(!pagealloc_verify(&p, err, sizeof err));
    CHECKF(strstr(err, "free_pages") != NULL, "message: %s", err);
    p.free_pages--;
    /* a hint above a free page */
    pagealloc_free(&p, a, 1);
    p.search_addr = base + 2 * PG;
    CHECK(!pagealloc_verify(&p, err, sizeof err));
    CHECKF(strstr(err, "search_addr") != NULL, "message: %s", err);
    p.search_addr = base;
    VERIFY(&p);
}

/* Corrupt one thing above or beside the chunk summaries at a time; verify
 * must name the level and its address. */
#define EXPECT_VERIFY_ERR(p, fmt, addr)                                          \
    do {                                                                         \
        char err_[256], want_[96];                                               \
        snprintf(want_, sizeof want_, fmt, (unsigned long)(addr));               \
        CHECKF(!pagealloc_verify((p), err_, sizeof err_), "verify passed, want %s", \
               want_);                                                           \
        CHECKF(strstr(err_, want_) != NULL, "message: %s (want %s)", err_, want_); \
    } while (0)

static void test_verify_names_each_level(void)
{
    static pageAlloc p;
    uintptr_t base = setup(&p, 1); /* one whole 64 MiB block */
    REQUIRE(A(&p, 3) == base);
    VERIFY(&p);
    uint64_t pi = (base - p.origin) / PG;
    uint64_t gi = pi >> 19, b = (pi >> 13) & 63, m = b / PALLOC_MID_BLOCKS;
    pallocL0 *g = p.groups[gi];
    REQUIRE(g && g->l1[b]);
    uintptr_t gaddr = p.origin + (gi << 32), maddr = gaddr + (m << 29);
    g->sum[b].max++;
    EXPECT_VERIFY_ERR(&p, "block 0x%lx: max", base);
    g->sum[b].max--;
    g->mid[m].end++;
    EXPECT_VERIFY_ERR(&p, "mid 0x%lx: end", maddr);
    g->mid[m].end--;
    p.top[gi].start++;
    EXPECT_VERIFY_ERR(&p, "group 0x%lx: start", gaddr);
    p.top[gi].start--;
    uint64_t ob = b ^ 1; /* the neighbouring block was never grown */
    REQUIRE(!g->l1[ob]);
    g->sum[ob].max = 1;
    EXPECT_VERIFY_ERR(&p, "absent block 0x%lx: max", gaddr + (ob << 26));
    g->sum[ob].max = 0;
    /* the last chunk leaves the heap without its bits saying so */
    g->l1[b]->grown &= 0x7fff;
    EXPECT_VERIFY_ERR(&p, "chunk 0x%lx not grown but word 0", base + 15 * (PG << 9));
    g->l1[b]->grown |= 0x8000;
    uint64_t hi = p.hi_group;
    p.hi_group = gi;
    EXPECT_VERIFY_ERR(&p, "chunk 0x%lx grown outside groups", base);
    p.hi_group = hi;
    for (uint64_t o = 0; o < p.ngroups; o++)
        if (!p.groups[o]) {
            p.top[o].end = 1;
            EXPECT_VERIFY_ERR(&p, "absent group 0x%lx: end", p.origin + (o << 32));
            p.top[o].end = 0;
            break;
        }
    VERIFY(&p);
}

/* Rough cost figures (not a timed test): printed as TAP comments. */
static bool nop_back(uintptr_t b, uint64_t n)
{
    (void)b;
    (void)n;
    return true;
}

static void test_bench_rough(void)
{
    static pageAlloc p;
    uintptr_t base = setup(&p, 16);
    /* background fragmentation: every 7th page of the first arena stays
     * allocated, so first fit has to skip six-page holes */
    uint64_t npg = ARENA / PG;
    for (uint64_t i = 0; i < npg; i++)
        REQUIRE(pagealloc_alloc(&p, 1, nop_back, NULL) == base + i * PG);
    for (uint64_t i = 0; i < npg; i++)
        if (i % 7)
            pagealloc_free(&p, base + i * PG, 1);
    VERIFY(&p);
    uintptr_t one = pagealloc_alloc(&p, 1, nop_back, NULL);
    uintptr_t big = pagealloc_alloc(&p, 64, nop_back, NULL);
    CHECKF(one == base + PG, "1 page at 0x%lx, want the first hole 0x%lx", (unsigned long)one,
           (unsigned long)(base + PG));
    /* no 6-page hole fits 64 pages: the first fit starts after the last kept page */
    uintptr_t want = base + ((npg - 1) - (npg - 1) % 7 + 1) * PG;
    CHECKF(big == want, "64 pages at 0x%lx, want 0x%lx", (unsigned long)big, (unsigned long)want);
    pagealloc_free(&p, one, 1);
    pagealloc_free(&p, big, 64);
    enum { ITER = 200000 };
    uint64_t sizes[] = {1, 64};
    for (int s = 0; s < 2; s++) {
        uint64_t n = sizes[s];
        uint64_t t0 = plat_nanotime();
        for (int i = 0; i < ITER; i++) {
            uintptr_t a = pagealloc_alloc(&p, n, nop_back, NULL);
            pagealloc_free(&p, a, n);
        }
        uint64_t t1 = plat_nanotime();
        printf("# alloc+free of %lu page(s): %lu ns per pair (rough; this build's flags)\n",
               (unsigned long)n, (unsigned long)((t1 - t0) / ITER));
    }
    /* batch: 1000 single pages allocated then freed */
    static uintptr_t a[1000];
    uint64_t t0 = plat_nanotime();
    for (int r = 0; r < 100; r++) {
        for (int i = 0; i < 1000; i++)
            a[i] = pagealloc_alloc(&p, 1, nop_back, NULL);
        for (int i = 0; i < 1000; i++)
            pagealloc_free(&p, a[i], 1);
    }
    uint64_t t1 = plat_nanotime();
    printf("# batch of 1000 one-page allocs then frees: %lu ns per alloc+free\n",
           (unsigned long)((t1 - t0) / 100000));
    for (uint64_t i = 0; i < npg; i += 7)
        pagealloc_free(&p, base + i * PG, 1);
    CHECK(pagealloc_free_pages(&p) == pagealloc_total_pages(&p));
    VERIFY(&p);
}

static const struct tap_test tests[] = {
    {"single_page", test_single_page},
    {"first_fit_lowest", test_first_fit_lowest},
    {"cross_chunk", test_cross_chunk},
    {"cross_arena", test_cross_arena},
    {"cross_group", test_cross_group},
    {"coalesce_random_order", test_coalesce_random_order},
    {"exhaustion_recovery", test_exhaustion_recovery},
    {"scavenge_highest_first", test_scavenge_highest_first},
    {"scavenge_all_bytes", test_scavenge_all_bytes},
    {"back_failure", test_back_failure},
    {"bad_free_panics", test_bad_free_panics},
    {"queries_and_metadata", test_queries_and_metadata},
    {"random_vs_model", test_random_vs_model},
    {"verify_detects_corruption", test_verify_detects_corruption},
    {"verify_names_each_level", test_verify_names_each_level},
    {"bench_rough", test_bench_rough},
};

int main(int argc, char **argv)
{
    host_set_quiet(1);
    return tap_main(argc, argv, tests, TAP_COUNT(tests));
}
