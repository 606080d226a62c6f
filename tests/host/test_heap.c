/*
 * test_heap.c — host tests of the Go-style heap (alloc/): size classes,
 * tiny and large objects, zeroing, exhaustion and recovery, a randomized
 * mix, statistics, the heap bitmap, cross-CPU frees and a pthread storm.
 * Bad input has its own binary (test_malloc_bad.c).
 */
#include <pthread.h>
#include <stdlib.h>

#include "heap_testlib.h"
#include "mgc.h"
#include "mheap.h"
#include "mobjcache.h"
#include "sizeclass.h"

#define UL(x) ((unsigned long)(x))

static uint64_t align_of_class(uint32_t size)
{
    uint64_t a = size & -size; /* largest power of two dividing size */
    return a > PAGE_SIZE ? PAGE_SIZE : a;
}

/* Every size class: fill 3 spans' worth, check alignment, usable size and
 * non-overlap via patterns, free in random order, check reuse. */
static void test_every_size_class(void)
{
    hook_reset();
    rng_seed(1);
    quiesce();
    struct memstats base = stats_now();
    for (int c = 1; c < NUM_SIZE_CLASSES; c++) {
        uint32_t size = class_to_size[c];
        uint32_t minsize = class_to_size[c - 1] + 1;
        size_t n = (size_t)class_objects(c) * 3;
        void **objs = calloc(n, sizeof *objs);
        for (size_t i = 0; i < n; i++) {
            size_t req = (i & 1) ? size : minsize;
            objs[i] = kmalloc(req);
            REQUIRE(objs[i]);
            uintptr_t a = (uintptr_t)objs[i];
            CHECKF(a % align_of_class(size) == 0 && a % 8 == 0 && (size < 32 || a % 16 == 0),
                   "class %d: %p misaligned", c, objs[i]);
            CHECKF(ksize(objs[i]) == size, "class %d: ksize %zu", c, ksize(objs[i]));
            fill(objs[i], size, i + (uint64_t)c * 100000);
        }
        for (size_t i = 0; i < n; i++)
            CHECKF(check_fill(objs[i], size, i + (uint64_t)c * 100000),
                   "class %d object %zu overwritten (overlap)", c, i);
        shuffle(objs, n);
        uint64_t inuse_full = stats_now().HeapInuse;
        for (size_t i = 0; i < n; i++)
            kfree(objs[i]);
        VERIFY();
        /* Reuse: allocating the same number again needs no new pages. */
        for (size_t i = 0; i < n; i++) {
            objs[i] = kmalloc(size);
            REQUIRE(objs[i]);
        }
        CHECKF(stats_now().HeapInuse <= inuse_full, "class %d: freed slots not reused", c);
        for (size_t i = 0; i < n; i++)
            kfree(objs[i]);
        free(objs);
    }
    quiesce();
    VERIFY();
    struct memstats end = stats_now();
    CHECKF(end.HeapInuse == base.HeapInuse, "HeapInuse %lu, started at %lu",
           (unsigned long)end.HeapInuse, (unsigned long)base.HeapInuse);
    CHECKF(end.HeapObjects == base.HeapObjects, "HeapObjects %lu vs %lu",
           (unsigned long)end.HeapObjects, (unsigned long)base.HeapObjects);
    CHECK_NO_HOOK();
}

static void test_kmalloc_zero(void)
{
    hook_reset();
    void *a = kmalloc(0), *b = kmalloc(0);
    REQUIRE(a && b);
    CHECK(a != b);
    CHECK(ksize(a) == 8);
    kfree(a);
    kfree(b);
    CHECK(mallocgc(0, NULL, true) == mallocgc(0, NULL, false)); /* Go's zerobase */
    CHECK_NO_HOOK();
    VERIFY();
}

/* Tiny allocator: Go's packing and alignment rules. */
static void test_tiny_packing(void)
{
    hook_reset();
    malloc_flush_mcache(); /* no current tiny block */
    struct memstats base = stats_now();
    uint8_t *a = mallocgc(1, NULL, false);
    uint8_t *b = mallocgc(1, NULL, false);
    uint8_t *c = mallocgc(8, NULL, false);
    uint8_t *d = mallocgc(4, NULL, false); /* block full (16) → new block */
    uint8_t *e = mallocgc(2, NULL, false);
    uint8_t *f = mallocgc(3, NULL, false);
    CHECK((uintptr_t)a % 16 == 0);
    CHECK(b == a + 1);
    CHECK(c == a + 8);
    CHECK((uintptr_t)d % 16 == 0 && (d < a || d >= a + 16));
    CHECK(e == d + 4);
    CHECK(f == d + 6);
    /* The first object of each block counts as a class-2 malloc, the rest
     * as tiny allocs. */
    struct memstats st = stats_now();
    CHECKF(st.TinyAllocs - base.TinyAllocs == 4, "TinyAllocs +%lu",
           (unsigned long)(st.TinyAllocs - base.TinyAllocs));
    CHECKF(st.BySize[TINY_SIZE_CLASS].mallocs - base.BySize[TINY_SIZE_CLASS].mallocs == 2,
           "class 2 mallocs +%lu",
           (unsigned long)(st.BySize[TINY_SIZE_CLASS].mallocs - base.BySize[TINY_SIZE_CLASS].mallocs));

    /* Random tiny sizes: alignment, zeroed, no overlap. */
    rng_seed(7);
    enum { N = 5000 };
    static uint8_t *objs[N];
    static uint8_t sizes[N];
    for (int i = 0; i < N; i++) {
        sizes[i] = (uint8_t)(1 + rng_n(15));
        objs[i] = mallocgc(sizes[i], NULL, true);
        REQUIRE(objs[i]);
        uintptr_t p = (uintptr_t)objs[i];
        unsigned s = sizes[i];
        unsigned al = (s & 7) == 0 ? 8 : (s & 3) == 0 ? 4 : (s & 1) == 0 ? 2 : 1;
        CHECKF(p % al == 0, "tiny size %u at %p", s, objs[i]);
        CHECKF((p & ~15ul) == ((p + s - 1) & ~15ul), "tiny object crosses its 16 B block");
        for (unsigned k = 0; k < s; k++)
            CHECKF(objs[i][k] == 0, "tiny object not zero");
        memset(objs[i], (uint8_t)i, s);
    }
    for (int i = 0; i < N; i++)
        for (unsigned k = 0; k < sizes[i]; k++)
            CHECKF(objs[i][k] == (uint8_t)i, "tiny object %d overwritten", i);

    /* kfree of tiny objects is refused. */
    uintptr_t span = (uintptr_t)a & ~(uintptr_t)(PAGE_SIZE - 1);
    kfree(a);
    CHECK_HOOK("kfree: 0x%lx is a tiny block (span 0x%lx class 2, 16 B): tiny objects are not "
               "freed", (unsigned long)a, (unsigned long)span);
    kfree(b);
    CHECK_HOOK("kfree: interior pointer 0x%lx (object 0x%lx in span 0x%lx class 2, 16 B)",
               (unsigned long)b, (unsigned long)a, (unsigned long)span);
    VERIFY();
}

/* Large objects: page aligned, whole pages, returned on free. */
static void test_large_objects(void)
{
    hook_reset();
    quiesce();
    struct memstats base = stats_now();
    static const uint64_t sizes[] = {32769,     40000,      65536 + 1,   1 << 20,
                                     (3 << 20) + 17, 64ull << 20, 100ull << 20, 300ull << 20};
    void *objs[8];
    for (int i = 0; i < 8; i++) {
        objs[i] = kmalloc(sizes[i]);
        REQUIRE(objs[i]);
        CHECKF((uintptr_t)objs[i] % PAGE_SIZE == 0, "large %lu not page aligned",
               (unsigned long)sizes[i]);
        uint64_t want = (sizes[i] + PAGE_SIZE - 1) & ~(uint64_t)(PAGE_SIZE - 1);
        CHECKF(ksize(objs[i]) == want, "ksize %zu want %lu", ksize(objs[i]), (unsigned long)want);
        uint8_t *p = objs[i];
        p[0] = 1;
        p[sizes[i] / 2] = 2;
        p[sizes[i] - 1] = 3;
    }
    struct memstats st = stats_now();
    CHECK(st.LargeAllocs - base.LargeAllocs == 8);
    CHECK(st.LargeObjects - base.LargeObjects == 8);
    VERIFY();
    for (int i = 0; i < 8; i++) {
        uint8_t *p = objs[i];
        CHECK(p[0] == 1 && p[sizes[i] / 2] == 2 && p[sizes[i] - 1] == 3);
        kfree(objs[i]);
    }
    VERIFY();
    quiesce();
    st = stats_now();
    CHECK(st.HeapInuse == base.HeapInuse);
    CHECK(st.LargeFrees - base.LargeFrees == 8);
    CHECKF(st.Ready == base.Ready, "Ready %lu vs %lu", (unsigned long)st.Ready,
           (unsigned long)base.Ready);
    /* A big one again: the freed (scavenged) pages are backed again. */
    void *big = kcalloc(1, 200ull << 20);
    REQUIRE(big);
    CHECK(((uint8_t *)big)[(200ull << 20) - 1] == 0);
    kfree(big);
    CHECK_NO_HOOK();
    VERIFY();
}

/* needzero / kcalloc give zeros even over dirty reused memory. */
static void test_zeroing(void)
{
    hook_reset();
    enum { N = 2000 };
    static void *objs[N];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            objs[i] = kmalloc(256);
            REQUIRE(objs[i]);
            memset(objs[i], 0xAB, 256);
        }
        for (int i = 0; i < N; i++)
            kfree(objs[i]);
        malloc_flush_mcache(); /* sweep: the slots are free and dirty */
        for (int i = 0; i < N; i++) {
            uint8_t *p = round == 0 ? kcalloc(32, 8) : round == 1 ? mallocgc(250, NULL, true)
                                                                  : kcalloc(1, 256);
            REQUIRE(p);
            bool zero = true;
            for (int k = 0; k < 256; k++)
                zero &= p[k] == 0;
            CHECKF(zero, "round %d object %d not zeroed", round, i);
            objs[i] = p;
        }
        for (int i = 0; i < N; i++)
            kfree(objs[i]);
    }
    /* Large: dirty pages reused by kcalloc. */
    for (int round = 0; round < 2; round++) {
        uint8_t *p = kmalloc(1 << 20);
        REQUIRE(p);
        memset(p, 0xCD, 1 << 20);
        kfree(p);
        uint8_t *q = kcalloc(1 << 10, 1 << 10);
        REQUIRE(q);
        bool zero = true;
        for (int k = 0; k < (1 << 20); k += 64)
            zero &= q[k] == 0;
        CHECK(zero);
        kfree(q);
    }
    CHECK_NO_HOOK();
    VERIFY();
}

/* Exhaust (simulated) physical memory, check kmalloc returns NULL, free
 * everything, check the heap returns to its starting figures and works. */
static void test_exhaust_and_recover(void)
{
    hook_reset();
    quiesce();
    VERIFY();
    struct memstats base = stats_now();
    uint64_t limit = host_ready_bytes() + (48ull << 20);
    host_set_phys_limit(limit);
    size_t cap = 1 << 20, n = 0;
    void **objs = malloc(cap * sizeof *objs);
    rng_seed(99);
    bool hit_null = false;
    while (n < cap) {
        size_t sz = rng_n(4) == 0 ? 40000 + rng_n(100000) : 16 + rng_n(2000);
        void *p = kmalloc(sz);
        if (!p) {
            hit_null = true;
            break;
        }
        memset(p, 0x5A, sz < 64 ? sz : 64);
        objs[n++] = p;
    }
    CHECK(hit_null);
    CHECKF(host_ready_bytes() <= limit, "Ready %lu above the limit",
           (unsigned long)host_ready_bytes());
    /* Small requests also fail cleanly once everything is used. */
    int nulls = 0;
    for (int i = 0; i < 10000 && nulls < 10; i++) {
        void *p = kmalloc(3000);
        if (!p)
            nulls++;
        else if (n < cap)
            objs[n++] = p;
        else
            kfree(p);
    }
    CHECK(nulls > 0);
    CHECK_NO_HOOK(); /* exhaustion is silent for kmalloc */
    VERIFY();
    shuffle(objs, n);
    for (size_t i = 0; i < n; i++)
        kfree(objs[i]);
    quiesce();
    VERIFY();
    struct memstats st = stats_now();
    CHECKF(st.HeapInuse == base.HeapInuse, "HeapInuse %lu vs start %lu",
           (unsigned long)st.HeapInuse, (unsigned long)base.HeapInuse);
    CHECKF(st.Ready == base.Ready, "heap Ready %lu vs start %lu", (unsigned long)st.Ready,
           (unsigned long)base.Ready);
    CHECK(st.HeapObjects == base.HeapObjects);
    /* Works again, under the same limit. */
    void *p = kmalloc(10 << 20);
    CHECK(p != NULL);
    kfree(p);
    for (size_t i = 0; i < 1000; i++) {
        objs[i] = kmalloc(100);
        CHECK(objs[i] != NULL);
    }
    for (size_t i = 0; i < 1000; i++)
        kfree(objs[i]);
    free(objs);
    host_set_phys_limit(4ull << 30);
    VERIFY();
}

static jmp_buf panic_jmp;
static char panic_msg[256];
static void panic_hook(const char *msg)
{
    snprintf(panic_msg, sizeof panic_msg, "%s", msg);
    longjmp(panic_jmp, 1);
}

/* mallocgc panics with Go's wording when memory is exhausted. */
static void test_mallocgc_oom_panics(void)
{
    hook_reset();
    quiesce();
    host_set_phys_limit(host_ready_bytes() + (16ull << 20));
    host_panic_hook = panic_hook;
    volatile int panicked = 0;
    uint64_t heapsys = stats_now().HeapSys;
    if (setjmp(panic_jmp) == 0)
        mallocgc(1ull << 30, NULL, false);
    else
        panicked = 1;
    CHECK(panicked);
    char want[256];
    snprintf(want, sizeof want, "out of memory: cannot allocate %lu-byte block (%lu in use)",
             (unsigned long)(1ull << 30), (unsigned long)heapsys);
    CHECKF(strcmp(panic_msg, want) == 0, "panic \"%s\", want \"%s\"", panic_msg, want);

    /* Small objects: exhaust with typed-less mallocgc until the panic (the
     * table is a root: the collector, which runs first, must keep them). */
    panicked = 0;
    static void *objs[1 << 16];
    REQUIRE(gc_add_root(objs, sizeof objs));
    volatile size_t n = 0;
    if (setjmp(panic_jmp) == 0) {
        while (n < (1 << 16))
            objs[n++] = mallocgc(4096, NULL, false);
    } else {
        panicked = 1;
    }
    CHECK(panicked);
    CHECKF(strncmp(panic_msg, "out of memory: cannot allocate 4096-byte block (", 48) == 0,
           "panic \"%s\"", panic_msg);
    host_panic_hook = NULL;
    for (size_t i = 0; i < n; i++)
        kfree(objs[i]);
    gc_remove_root(objs);
    host_set_phys_limit(4ull << 30);
    CHECK_NO_HOOK();
    VERIFY();
}

/* Seeded random mix of sizes, allocs and frees, verified between phases. */
static void test_random_mix(void)
{
    hook_reset();
    quiesce();
    struct memstats base = stats_now();
    rng_seed(20240601);
    enum { SLOTS = 4096 };
    static void *obj[SLOTS];
    static size_t osz[SLOTS];
    static uint64_t otag[SLOTS];
    size_t live = 0;
    uint64_t tag = 1;
    for (int phase = 0; phase < 12; phase++) {
        for (int op = 0; op < 4000; op++) {
            size_t i = rng_n(SLOTS);
            if (obj[i]) {
                CHECKF(check_fill(obj[i], osz[i] < 512 ? osz[i] : 512, otag[i]),
                       "object %zu corrupted", i);
                kfree(obj[i]);
                obj[i] = NULL;
                live--;
            } else {
                uint64_t r = rng_n(100);
                size_t sz = r < 60 ? 1 + rng_n(256) : r < 90 ? 257 + rng_n(4000)
                          : r < 98 ? 4257 + rng_n(28000) : 32769 + rng_n(300000);
                void *p = (r & 1) ? kmalloc(sz) : kcalloc(1, sz);
                REQUIRE(p);
                obj[i] = p;
                osz[i] = sz;
                otag[i] = tag++;
                fill(p, sz < 512 ? sz : 512, otag[i]);
                live++;
            }
        }
        VERIFY();
        struct memstats st = stats_now();
        CHECKF(st.HeapObjects - base.HeapObjects == live, "phase %d: HeapObjects +%lu, live %zu",
               phase, (unsigned long)(st.HeapObjects - base.HeapObjects), live);
        CHECK(st.Mallocs - st.Frees == st.HeapObjects);
        if (phase % 4 == 3)
            malloc_flush_all_mcaches();
    }
    for (size_t i = 0; i < SLOTS; i++)
        if (obj[i]) {
            CHECKF(check_fill(obj[i], osz[i] < 512 ? osz[i] : 512, otag[i]), "corrupted");
            kfree(obj[i]);
            obj[i] = NULL;
        }
    quiesce();
    VERIFY();
    CHECK(stats_now().HeapInuse == base.HeapInuse);
    CHECK_NO_HOOK();
}

static int nlines;
static char lines[400][200];
static void collect(const char *line)
{
    if (nlines < 400)
        snprintf(lines[nlines], sizeof lines[0], "%s", line);
    nlines++;
}
static const char *find_line(const char *prefix)
{
    for (int i = 0; i < nlines && i < 400; i++)
        if (strncmp(lines[i], prefix, strlen(prefix)) == 0)
            return lines[i];
    return NULL;
}

/* Statistics follow what the test did; printers produce their formats. */
/* kmalloc's share is counted apart from collected memory: KmallocObjects /
 * KmallocInuse move with kmalloc and kfree only (small and large), not with
 * mallocgc. */
static void test_kmalloc_share_counted(void)
{
    hook_reset();
    struct memstats a = stats_now();
    void *k[3] = {kmalloc(100), kmalloc(5000), kmalloc(100000)};
    void *g[2] = {mallocgc(100, NULL, true), mallocgc(100000, NULL, true)};
    REQUIRE(k[0] && k[1] && k[2] && g[0] && g[1]);
    struct memstats b = stats_now();
    uint64_t kbytes = ksize(k[0]) + ksize(k[1]) + ksize(k[2]);
    CHECKF(b.KmallocObjects - a.KmallocObjects == 3, "KmallocObjects +%lu, want +3",
           (unsigned long)(b.KmallocObjects - a.KmallocObjects));
    CHECKF(b.KmallocInuse - a.KmallocInuse == kbytes, "KmallocInuse +%lu, want +%lu",
           (unsigned long)(b.KmallocInuse - a.KmallocInuse), (unsigned long)kbytes);
    CHECK(b.HeapObjects - a.HeapObjects == 5);
    for (int i = 0; i < 3; i++)
        kfree(k[i]);
    for (int i = 0; i < 2; i++)
        kfree(g[i]);
    struct memstats c = stats_now();
    CHECK(c.KmallocObjects == a.KmallocObjects && c.KmallocInuse == a.KmallocInuse);
    VERIFY();
    CHECK_NO_HOOK();
}

static void test_stats_match(void)
{
    hook_reset();
    quiesce();
    struct memstats a = stats_now();
    enum { N = 1000 };
    static void *objs[N];
    for (int i = 0; i < N; i++)
        objs[i] = kmalloc(48); /* class 5 */
    void *large = kmalloc(100000);
    for (int i = 0; i < 300; i++)
        kfree(objs[i]);
    struct memstats b = stats_now();
    CHECK(b.Mallocs - a.Mallocs == N + 1);
    CHECK(b.Frees - a.Frees == 300);
    CHECK(b.HeapObjects - a.HeapObjects == N + 1 - 300);
    CHECK(b.BySize[5].mallocs - a.BySize[5].mallocs == N);
    CHECK(b.BySize[5].frees - a.BySize[5].frees == 300);
    CHECK(b.BySize[5].size == 48);
    CHECK(b.BySize[0].mallocs - a.BySize[0].mallocs == 1);
    CHECK(b.HeapAlloc - a.HeapAlloc == (N - 300) * 48 + 13 * PAGE_SIZE);
    CHECK(b.TotalAlloc - a.TotalAlloc == N * 48 + 13 * PAGE_SIZE);
    CHECK(b.PerCPU[0].mallocs - a.PerCPU[0].mallocs == N + 1);
    CHECK(b.PerCPU[0].frees - a.PerCPU[0].frees == 300);
    CHECK(b.BySize[5].spans >= 5); /* the first span emptied and went back */
    CHECK(b.HeapSys == b.HeapInuse + b.HeapIdle + b.StackInuse);
    CHECK(b.Ready + b.Prepared == b.HeapSys);
    CHECK(b.Arenas >= 1 && b.HeapSys == b.Arenas * (64ull << 20));
    VERIFY();

    nlines = 0;
    memstats_print_facts(collect);
    char want[200];
    snprintf(want, sizeof want, "stat HeapObjects %lu", (unsigned long)b.HeapObjects);
    CHECKF(find_line(want) != NULL, "no line \"%s\"", want);
    snprintf(want, sizeof want, "stat class 5 size 48 mallocs %lu frees %lu spans %lu",
             (unsigned long)b.BySize[5].mallocs, (unsigned long)b.BySize[5].frees,
             (unsigned long)b.BySize[5].spans);
    CHECKF(find_line(want) != NULL, "no line \"%s\"", want);
    CHECK(find_line("stat cpu 0 mallocs ") != NULL);
    CHECK(find_line("stat cpu 3 mallocs ") != NULL);
    CHECK(find_line("stat HeapAlloc ") && find_line("stat Ready ") && find_line("stat Arenas "));
    for (int i = 0; i < nlines && i < 400; i++)
        CHECKF(strncmp(lines[i], "stat ", 5) == 0, "fact line \"%s\"", lines[i]);

    nlines = 0;
    memstats_print_table(collect);
    CHECK(find_line("heap statistics") != NULL);
    CHECK(find_line("  HeapAlloc ") != NULL);
    CHECK(find_line("per cpu") != NULL);

    nlines = 0;
    sizeclasses_print(collect);
    CHECK(nlines == NUM_SIZE_CLASSES);
    CHECKF(strcmp(lines[5], "    5         48        8192           1      170          32      31.52%") == 0,
           "class 5 row \"%s\"", lines[5]);
    CHECKF(strcmp(lines[67], "   67      32768       32768           4        1           0      12.50%") == 0,
           "class 67 row \"%s\"", lines[67]);

    for (int i = 300; i < N; i++)
        kfree(objs[i]);
    kfree(large);
    CHECK_NO_HOOK();
    VERIFY();
}

/* The heap bitmap records pointer words of typed objects. */
static void test_heap_bits(void)
{
    hook_reset();
    struct node { void *a; uint64_t b; void *c; };
    static const uint8_t node_mask[] = {0x5}; /* words 0 and 2 */
    static const gotype node_t = {sizeof(struct node), 24, node_mask, "node"};
    static const gotype bytes_t = {24, 0, NULL, "[24]byte"};
    for (int i = 0; i < 200; i++) {
        uintptr_t p = (uintptr_t)newobject(&node_t);
        REQUIRE(p);
        CHECK(heap_bits_is_pointer(p) && !heap_bits_is_pointer(p + 8) &&
              heap_bits_is_pointer(p + 16));
        /* 24 B objects live in 24 B slots; the next slot's word is not ours */
        CHECK(*(uint64_t *)p == 0 && *(uint64_t *)(p + 8) == 0);
        kfree((void *)p);
    }
    uintptr_t q = (uintptr_t)newobject(&bytes_t);
    CHECK(!heap_bits_is_pointer(q) && !heap_bits_is_pointer(q + 16));
    kfree((void *)q);
    /* Arrays, small and large: the mask repeats per element; slot padding
     * past the data is scalar. */
    uint64_t counts[] = {3, 5, 2000};
    for (int k = 0; k < 3; k++) {
        uint64_t n = counts[k];
        uintptr_t arr = (uintptr_t)newarray(&node_t, n);
        REQUIRE(arr);
        bool ok = true;
        for (uint64_t w = 0; w < n * 3; w++)
            ok &= heap_bits_is_pointer(arr + w * 8) == (w % 3 != 1);
        CHECKF(ok, "array of %lu: bitmap does not repeat the mask", (unsigned long)n);
        uint64_t slot = ksize((void *)arr);
        for (uint64_t off = n * 24; off < slot; off += 8)
            ok &= !heap_bits_is_pointer(arr + off);
        CHECKF(ok, "array of %lu: padding marked as pointer", (unsigned long)n);
        kfree((void *)arr);
    }
    CHECK(!heap_bits_is_pointer((uintptr_t)&counts));
    CHECK_NO_HOOK();
    VERIFY();
}

/* krealloc semantics. */
static void test_krealloc(void)
{
    hook_reset();
    char *p = krealloc(NULL, 20);
    REQUIRE(p);
    CHECK(ksize(p) == 24);
    memcpy(p, "0123456789abcdefghi", 20);
    CHECK(krealloc(p, 24) == p); /* fits the slot */
    char *q = krealloc(p, 1000);
    REQUIRE(q);
    CHECK(memcmp(q, "0123456789abcdefghi", 20) == 0);
    char *r = krealloc(q, 100000); /* small → large */
    REQUIRE(r);
    CHECK(memcmp(r, "0123456789abcdefghi", 20) == 0);
    CHECK((uintptr_t)r % PAGE_SIZE == 0);
    CHECK(krealloc(r, 50) == r); /* shrink: stays */
    CHECK(krealloc(r, 0) == NULL); /* frees */
    CHECK_NO_HOOK();
    int x;
    CHECK(krealloc(&x, 10) == NULL);
    CHECK_HOOK("krealloc: 0x%lx is not in the heap", (unsigned long)&x);
    VERIFY();
}

/* Allocate on one simulated CPU, free on another. */
static void test_cross_cpu_free(void)
{
    hook_reset();
    quiesce();
    struct memstats base = stats_now();
    enum { N = 3000 };
    static void *objs[N];
    host_set_cpu(0);
    for (int i = 0; i < N; i++) {
        objs[i] = kmalloc(64 + (i % 3) * 64); /* classes 6, 10, 14 */
        REQUIRE(objs[i]);
        fill(objs[i], 64, (uint64_t)i);
    }
    host_set_cpu(1);
    for (int i = 0; i < N; i += 2) /* half, from CPU 1 */
        kfree(objs[i]);
    host_set_cpu(2);
    VERIFY();
    for (int i = 1; i < N; i += 2) {
        CHECK(check_fill(objs[i], 64, (uint64_t)i));
        kfree(objs[i]);
    }
    host_set_cpu(0);
    VERIFY();
    struct memstats st = stats_now();
    CHECK(st.PerCPU[0].mallocs - base.PerCPU[0].mallocs == N);
    CHECK(st.PerCPU[1].frees - base.PerCPU[1].frees == N / 2);
    CHECK(st.PerCPU[2].frees - base.PerCPU[2].frees == N / 2);
    CHECK(st.HeapObjects == base.HeapObjects);
    /* The freeing CPUs keep what they freed for reuse (mobjcache.c); once
     * their caches go back to the spans, the spans that no mcache holds go
     * back to the heap as their last object is freed: only the three
     * cached spans can remain. */
    for (uint32_t cpu = 1; cpu <= 2; cpu++)
        objcache_flush(&mheap_.mcaches[cpu], true);
    objcache_flush_transfer();
    VERIFY();
    st = stats_now();
    CHECKF(st.HeapInuse - base.HeapInuse <= 3 * PAGE_SIZE, "HeapInuse +%lu",
           (unsigned long)(st.HeapInuse - base.HeapInuse));
    /* CPU 0 reuses the remotely freed slots after its refill sweep. */
    for (int i = 0; i < N; i++)
        objs[i] = kmalloc(64);
    VERIFY();
    for (int i = 0; i < N; i++)
        kfree(objs[i]);
    quiesce();
    VERIFY();
    CHECK(stats_now().HeapInuse == base.HeapInuse);
    CHECK_NO_HOOK();
}

/* Real threads, one simulated CPU each, exchanging objects through shared
 * slots so most frees are remote. */
enum { STORM_THREADS = 4, STORM_SLOTS = 512, STORM_OPS = 60000 };
static void *storm_slot[STORM_SLOTS];
static int storm_bad, storm_null;

struct hdr { uint64_t magic, size; };

static void *storm_thread(void *arg)
{
    uint32_t cpu = (uint32_t)(uintptr_t)arg;
    host_set_cpu(cpu);
    uint64_t s = 0x1234567ull * (cpu + 1);
    for (int op = 0; op < STORM_OPS; op++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        size_t size = 17 + s % 3000;
        if ((s >> 20) % 64 == 0)
            size = 32769 + (s >> 8) % 100000;
        struct hdr *h = kmalloc(size);
        if (!h) {
            __atomic_fetch_add(&storm_null, 1, __ATOMIC_RELAXED);
            continue;
        }
        h->magic = 0xC0FFEE00ull ^ size;
        h->size = size;
        ((uint8_t *)h)[size - 1] = (uint8_t)size;
        void *old = __atomic_exchange_n(&storm_slot[(s >> 32) % STORM_SLOTS], h, __ATOMIC_ACQ_REL);
        if (old) {
            struct hdr *o = old;
            if (o->magic != (0xC0FFEE00ull ^ o->size) ||
                ((uint8_t *)o)[o->size - 1] != (uint8_t)o->size)
                __atomic_fetch_add(&storm_bad, 1, __ATOMIC_RELAXED);
            kfree(old);
        }
    }
    return NULL;
}

static void test_pthread_storm(void)
{
    hook_reset();
    quiesce();
    struct memstats base = stats_now();
    pthread_t t[STORM_THREADS];
    for (uintptr_t i = 0; i < STORM_THREADS; i++)
        pthread_create(&t[i], NULL, storm_thread, (void *)i);
    for (int i = 0; i < STORM_THREADS; i++)
        pthread_join(t[i], NULL);
    CHECKF(storm_bad == 0, "%d corrupted objects", storm_bad);
    CHECKF(storm_null == 0, "%d failed allocations", storm_null);
    VERIFY();
    for (int i = 0; i < STORM_SLOTS; i++)
        if (storm_slot[i]) {
            kfree(storm_slot[i]);
            storm_slot[i] = NULL;
        }
    quiesce();
    VERIFY();
    struct memstats st = stats_now();
    CHECK(st.HeapObjects == base.HeapObjects);
    CHECK(st.HeapInuse == base.HeapInuse);
    uint64_t remote = 0;
    for (int i = 0; i < STORM_THREADS; i++)
        remote += st.PerCPU[i].frees - base.PerCPU[i].frees;
    CHECK(remote > STORM_OPS);
    CHECK_NO_HOOK();
}

/* ---- HELD EMPTY SPANS (mcentral.c) ---- */

/* Everything cached back to the spans as pending frees, swept, and the
 * spans filed — without malloc_flush_all_mcaches' drain of held spans. */
static void flush_keeping_held(void)
{
    for (uint32_t i = 0; i < mheap_.ncpu; i++)
        objcache_flush(&mheap_.mcaches[i], true);
    objcache_flush_transfer();
    for (uint32_t i = 0; i < mheap_.ncpu; i++)
        mcache_release_all(&mheap_.mcaches[i]);
}

/* n objects of kmalloc(3000) (class 41: 8 to a 3-page span), freed and
 * flushed: their spans empty and are held (within the bound). */
static void make_held_spans(void **objs, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        REQUIRE((objs[i] = kmalloc(3000)));
    for (uint32_t i = 0; i < n; i++)
        kfree(objs[i]);
    flush_keeping_held();
}

/* An empty kmalloc span stays in its mcentral's held list: in use, idle in
 * the statistics, keyed; the class's next refill takes it again without a
 * new span from the page heap. */
static void test_empty_span_held_then_reused(void)
{
    hook_reset();
    host_set_cpu(0);
    kfree(kmalloc(3000)); /* (run alone: the heap's first arena exists before base) */
    quiesce();
    struct memstats base = stats_now();
    mcentral *c = &mheap_.central[make_kmalloc_spanclass(size_to_class(3000))];
    void *objs[8];
    make_held_spans(objs, 8);
    mspan *s = span_of((uintptr_t)objs[0]);
    CHECK(s->state == mSpanInUse && s->list == &c->held && s->allocCount == 0);
    CHECK(c->held.n == 1 && mheap_.held_pages == s->npages);
    struct memstats st = stats_now();
    CHECKF(st.HeapInuse == base.HeapInuse && st.HeapIdle == base.HeapIdle,
           "HeapInuse %lu → %lu, HeapIdle %lu → %lu: a held span is idle", UL(base.HeapInuse),
           UL(st.HeapInuse), UL(base.HeapIdle), UL(st.HeapIdle));
    VERIFY();
    s->allocCount = 1; /* control: a held span that is not empty */
    char err[512];
    CHECK(!heap_verify(err, sizeof err) && strstr(err, "held: not an empty kmalloc span"));
    s->allocCount = 0;
    VERIFY();
    kfree(objs[3]); /* its slots keep the key: a double free is refused */
    CHECK(hook_count == 1 && strstr(hook_msg, "double free"));
    hook_reset();
    uint64_t nspans = mheap_.nspans[size_to_class(3000)];
    void *again = kmalloc(3000);
    CHECK(again && span_of((uintptr_t)again) == s && c->held.n == 0 && mheap_.held_pages == 0);
    CHECK(mheap_.nspans[size_to_class(3000)] == nspans); /* no new span */
    VERIFY();
    kfree(again);
    quiesce();
    CHECK(c->held.n == 0 && mheap_.held_pages == 0); /* drained */
    VERIFY();
    CHECK_NO_HOOK();
}

/* A pending free reaches a held (empty) span: only a duplicate's second
 * copy can do that (mobjcache.c DUPLICATES), when its release raced the
 * first copy's release and sweep.  Set as run_flush_span does (bit, count,
 * mcentral_note_free), it must be reported and dropped by a sweep, and the
 * span held again with the counts right — also after the collector moved
 * sweepgen on (a held span's sweepgen is then stale, and note_free used to
 * take it for an unswept one).  Then the same bit without note_free: the
 * refill that takes the span sweeps it first (step 4a). */
static void stray_pending_bit(mspan *s, uint32_t idx)
{
    mheap_.mcaches[0].smallFreeCount[s->spanclass]++; /* the copy's free was counted */
    *(uint64_t *)(s->startAddr + (uint64_t)idx * s->elemsize) =
        mheap_.objcache_key | OBJCACHE_RELEASED;
    __atomic_fetch_or(&s->pendingFree[idx / 64], 1ull << (idx % 64), __ATOMIC_SEQ_CST);
    __atomic_fetch_add(&s->pendingCount, 1, __ATOMIC_SEQ_CST);
}

static void test_stray_pending_free_on_a_held_span(void)
{
    hook_reset();
    host_set_cpu(0);
    quiesce();
    mcentral *c = &mheap_.central[make_kmalloc_spanclass(size_to_class(3000))];
    void *objs[8];
    make_held_spans(objs, 8);
    mspan *s = span_of((uintptr_t)objs[0]);
    REQUIRE(s->list == &c->held && mheap_.held_pages == s->npages);
    mheap_.sweepgen += 2; /* a collector cycle ended meanwhile (kmalloc spans: nothing to sweep) */
    stray_pending_bit(s, 2);
    mcentral_note_free(c, s);
    CHECK(hook_count == 1 && strstr(hook_msg, "sweep: double free of"));
    hook_reset();
    CHECKF(s->list == &c->held && s->pendingCount == 0 && mheap_.held_pages == s->npages,
           "list %s pending %d held_pages %lu", mcentral_set_name(c, s->list, mheap_.sweepgen),
           s->pendingCount, UL(mheap_.held_pages));
    VERIFY();
    stray_pending_bit(s, 3);
    void *again = kmalloc(3000); /* step 4a takes s: swept first */
    CHECK(again && span_of((uintptr_t)again) == s);
    CHECK(hook_count == 1 && strstr(hook_msg, "sweep: double free of"));
    hook_reset();
    CHECK(s->pendingCount == 0 && mheap_.held_pages == 0);
    VERIFY();
    kfree(again);
    quiesce();
    VERIFY();
    CHECK_NO_HOOK();
}

/* The hold on every CPU: four threads, one simulated CPU and one size class
 * each, fill spans, check and free every object, and flush to the spans,
 * so that their classes empty spans at once under their own mcentral
 * locks and race for a bound of a few spans (span_empty_locked's CAS) and
 * for held spans at refill (step 4a).  held_pages must never pass the
 * bound (sampled by every thread), and heap_verify must find it equal to
 * the held lists afterwards.  Control: heap_verify catches a held_pages
 * that does not match the lists. */
enum { HOLD_THREADS = 4, HOLD_ROUNDS = 200, HOLD_OBJS = 64 };
static const size_t hold_size[HOLD_THREADS] = {1024, 2048, 3072, 4096};
static int hold_bad, hold_over;

static void *hold_thread(void *arg)
{
    uint32_t cpu = (uint32_t)(uintptr_t)arg;
    host_set_cpu(cpu);
    size_t size = hold_size[cpu];
    uint64_t *obj[HOLD_OBJS];
    for (int r = 0; r < HOLD_ROUNDS; r++) {
        for (int i = 0; i < HOLD_OBJS; i++) {
            obj[i] = kmalloc(size);
            if (!obj[i]) {
                __atomic_fetch_add(&hold_bad, 1, __ATOMIC_RELAXED);
                return NULL;
            }
            obj[i][0] = obj[i][1] = (uint64_t)(cpu * 100000 + r * 100 + i);
        }
        for (int i = 0; i < HOLD_OBJS; i++) {
            if (obj[i][1] != (uint64_t)(cpu * 100000 + r * 100 + i))
                __atomic_fetch_add(&hold_bad, 1, __ATOMIC_RELAXED);
            kfree(obj[i]);
        }
        uint64_t tok = plat_pin(); /* this CPU's caches back to the spans: they empty */
        objcache_flush(&mheap_.mcaches[cpu], true);
        mcache_release_all(&mheap_.mcaches[cpu]);
        plat_unpin(tok);
        if (__atomic_load_n(&mheap_.held_pages, __ATOMIC_RELAXED) > mheap_.held_max_pages)
            __atomic_fetch_add(&hold_over, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void test_held_spans_on_all_cpus(void)
{
    hook_reset();
    host_set_cpu(0);
    quiesce();
    uint64_t biggest = 0;
    for (int t = 0; t < HOLD_THREADS; t++)
        if (class_to_allocnpages[size_to_class(hold_size[t])] > biggest)
            biggest = class_to_allocnpages[size_to_class(hold_size[t])];
    mheap_.held_max_pages = 3 * biggest; /* fewer than the threads empty at once */
    hold_bad = hold_over = 0;
    pthread_t th[HOLD_THREADS];
    for (uintptr_t i = 0; i < HOLD_THREADS; i++)
        REQUIRE(pthread_create(&th[i], NULL, hold_thread, (void *)i) == 0);
    for (int i = 0; i < HOLD_THREADS; i++)
        pthread_join(th[i], NULL);
    host_set_cpu(0);
    CHECKF(hold_bad == 0, "%d objects lost or overwritten", hold_bad);
    CHECKF(hold_over == 0, "held_pages above the bound %d times", hold_over);
    CHECKF(mheap_.held_pages > 0 && mheap_.held_pages <= mheap_.held_max_pages,
           "held_pages %lu (bound %lu)", UL(mheap_.held_pages), UL(mheap_.held_max_pages));
    VERIFY();
    mheap_.held_pages += 1; /* control: the counter off the lists */
    char err[512];
    CHECK(!heap_verify(err, sizeof err) && strstr(err, "held_pages"));
    printf("# %s\n", err);
    mheap_.held_pages -= 1;
    mheap_.held_max_pages = HELD_MAX_PAGES;
    quiesce();
    VERIFY();
    CHECK_NO_HOOK();
}

/* held_pages never passes held_max_pages: past it, empty spans go back to
 * the page heap as before. */
static void test_held_spans_bounded(void)
{
    hook_reset();
    host_set_cpu(0);
    quiesce();
    mheap_.held_max_pages = 2 * class_to_allocnpages[size_to_class(3000)];
    enum { N = 8 * 5 };
    void *objs[N];
    make_held_spans(objs, N); /* five spans empty, two held */
    const mcentral *c = &mheap_.central[make_kmalloc_spanclass(size_to_class(3000))];
    CHECKF(c->held.n == 2 && mheap_.held_pages == mheap_.held_max_pages,
           "%lu spans held, %lu pages", UL(c->held.n), UL(mheap_.held_pages));
    CHECK(mheap_.nspans[size_to_class(3000)] == 2);
    VERIFY();
    mheap_.held_max_pages = HELD_MAX_PAGES;
    quiesce();
    VERIFY();
    CHECK_NO_HOOK();
}

/* Memory runs out while spans are held: mheap_alloc takes them back to the
 * page heap before it fails (step 1b).  no_drain: the negative control
 * (mheap_debug_no_drain), where the allocation must fail with 4 MiB held.
 * true when the 6 MiB allocation succeeded. */
static bool held_spans_drained_when_memory_runs_out(bool no_drain)
{
    hook_reset();
    host_set_cpu(0);
    quiesce(); /* every free page scavenged: Ready = in use */
    host_set_phys_limit(host_ready_bytes() + (8ull << 20));
    enum { N = (4 << 20) / 3072 };
    static void *objs[N];
    make_held_spans(objs, N);
    uint64_t held = mheap_.held_pages;
    CHECKF(held * PAGE_SIZE >= (3ull << 20), "only %lu pages held", UL(held));
    mheap_debug_no_drain = no_drain;
    void *big = kmalloc(6 << 20); /* the budget left is 4 MiB */
    mheap_debug_no_drain = 0;
    CHECK(no_drain ? mheap_.held_pages == held : mheap_.held_pages == 0);
    CHECK_NO_HOOK(); /* exhaustion is silent for kmalloc */
    VERIFY();
    kfree(big);
    host_set_phys_limit(4ull << 30);
    quiesce();
    VERIFY();
    return big != NULL;
}

static void test_held_spans_drained_when_memory_runs_out(void)
{
    CHECK(held_spans_drained_when_memory_runs_out(false));
}

static void test_held_spans_control_no_drain(void)
{
    CHECKF(!held_spans_drained_when_memory_runs_out(true),
           "control: 6 MiB allocated with 4 MiB held and 4 MiB of budget left");
}

/* Scavenging returns free pages (Ready → Prepared) and they come back. */
static void test_scavenge(void)
{
    hook_reset();
    quiesce();
    void *p = kmalloc(64ull << 20);
    REQUIRE(p);
    memset(p, 1, 64ull << 20);
    struct memstats a = stats_now();
    kfree(p);
    uint64_t got = heap_scavenge(~0ull >> 1);
    struct memstats b = stats_now();
    CHECKF(got >= (64ull << 20), "scavenged %lu", (unsigned long)got);
    CHECK(a.Ready - b.Ready == got);
    CHECK(b.HeapReleased >= (64ull << 20));
    p = kcalloc(1, 64ull << 20);
    REQUIRE(p);
    CHECK(((uint8_t *)p)[12345] == 0);
    kfree(p);
    VERIFY();
}

/* heap_verify notices broken invariants and names the span. */
static void test_verify_detects_corruption(void)
{
    hook_reset();
    char err[1024];
    void *p = kmalloc(200);
    REQUIRE(p);
    mspan *s = span_of((uintptr_t)p);
    REQUIRE(s && s->state == mSpanInUse);
    s->allocCount++;
    CHECK(!heap_verify(err, sizeof err));
    CHECKF(strstr(err, "allocCount != allocated slots") && strstr(err, "span 0x"), "%s", err);
    s->allocCount--;
    VERIFY();
    uint32_t last = s->nelems - 1; /* a free slot */
    s->pendingFree[last / 64] |= 1ull << (last % 64);
    s->pendingCount++;
    CHECK(!heap_verify(err, sizeof err));
    CHECKF(strstr(err, "pending free of a free slot") != NULL, "%s", err);
    s->pendingFree[last / 64] &= ~(1ull << (last % 64));
    s->pendingCount--;
    VERIFY();
    heapArena *ha = arena_of((uintptr_t)p);
    uint64_t pg = ((uintptr_t)p - ha->base) / PAGE_SIZE;
    ha->pageInUse[pg / 8] ^= (uint8_t)(1u << (pg % 8));
    CHECK(!heap_verify(err, sizeof err));
    CHECKF(strstr(err, "pageInUse") != NULL, "%s", err);
    ha->pageInUse[pg / 8] ^= (uint8_t)(1u << (pg % 8));
    VERIFY();
    /* the flat page map names no span for p's page: heap_verify says so;
     * kfree's fast path then finds the sentinel, and its slow path, which
     * looks p up through the arena's spans[], frees p all the same */
    intptr_t *flat = &mheap_.pagemap[((uintptr_t)p - mheap_.window_base) >> PAGE_SHIFT];
    intptr_t keep = *flat;
    *flat = 0;
    CHECK(!heap_verify(err, sizeof err));
    CHECKF(strstr(err, "flat page map of page") != NULL, "%s", err);
    uint64_t frees = s->pendingCount + objcache_cached(spanclass_sizeclass(s->spanclass));
    kfree(p);
    CHECK(s->pendingCount + objcache_cached(spanclass_sizeclass(s->spanclass)) == frees + 1);
    *flat = keep;
    VERIFY();
    /* an arena past kfree's fast window */
    uint64_t fast = mheap_.fast_size;
    mheap_.fast_size = (uintptr_t)p - mheap_.window_base;
    CHECK(!heap_verify(err, sizeof err));
    CHECKF(strstr(err, "past kfree's fast window") != NULL, "%s", err);
    mheap_.fast_size = fast;
    VERIFY();
    CHECK_NO_HOOK();
}

/* kfree on three CPUs while a fourth grows the heap by whole arenas: the
 * flat page map is backed and fast_size raised under the heap lock while
 * frees read both (mheap.h: fast_size's release store after the backing).
 * Every free of an object in a new arena must work, silently, and the heap
 * verify after. */
enum { GROW_WORKERS = 3, GROW_SLOTS = 4096 };
static void *grow_slot[GROW_SLOTS];
static volatile int grow_done;
static int grow_null;

static void *grow_worker(void *arg)
{
    host_set_cpu((uint32_t)(uintptr_t)arg);
    uint64_t s = 0x9E3779B97F4A7C15ull * ((uintptr_t)arg + 1);
    while (!grow_done) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        void *p = kmalloc(16 + s % 1000);
        if (!p) {
            __atomic_fetch_add(&grow_null, 1, __ATOMIC_RELAXED);
            continue;
        }
        kfree(__atomic_exchange_n(&grow_slot[(s >> 32) % GROW_SLOTS], p, __ATOMIC_ACQ_REL));
    }
    return NULL;
}

static void test_frees_while_the_page_map_grows(void)
{
    hook_reset();
    quiesce();
    uint64_t fast0 = mheap_.fast_size;
    pthread_t t[GROW_WORKERS];
    grow_done = 0;
    for (uintptr_t i = 0; i < GROW_WORKERS; i++)
        pthread_create(&t[i], NULL, grow_worker, (void *)(i + 1));
    host_set_cpu(0);
    for (int i = 0; i < 3; i++) { /* larger than all the arenas: the heap grows */
        void *big = kmalloc(mheap_.fast_size + (64ull << 20));
        CHECK(big != NULL);
        kfree(big);
        heap_scavenge(~0ull >> 1); /* its pages: not Ready any more */
    }
    grow_done = 1;
    for (int i = 0; i < GROW_WORKERS; i++)
        pthread_join(t[i], NULL);
    CHECKF(mheap_.fast_size >= fast0 + 3 * (64ull << 20), "fast window %lu → %lu",
           (unsigned long)fast0, (unsigned long)mheap_.fast_size);
    CHECKF(grow_null == 0, "%d failed allocations", grow_null);
    CHECK_NO_HOOK();
    VERIFY();
    for (int i = 0; i < GROW_SLOTS; i++) {
        kfree(grow_slot[i]);
        grow_slot[i] = NULL;
    }
    quiesce();
    VERIFY();
}

/* The host refuses more of the flat page map (an address-space limit): the
 * heap growth that needed it fails as out of memory — NULL, no report, the
 * heap and kfree's fast window unchanged — and succeeds once it is allowed. */
static void test_pagemap_refused_is_oom(void)
{
    hook_reset();
    quiesce();
    uint64_t fast = mheap_.fast_size, arenas = mheap_.narenas;
    size_t big = (size_t)(fast + (256ull << 20)); /* more than the arenas so far */
    host_set_pagemap_refuse(1);
    void *p = kmalloc(big);
    host_set_pagemap_refuse(0);
    CHECKF(p == NULL, "a %lu-byte block without its page map", (unsigned long)big);
    CHECK(mheap_.fast_size == fast);
    CHECK_NO_HOOK();
    VERIFY();
    p = kmalloc(big);
    CHECKF(p != NULL, "no %lu-byte block once the map may grow", (unsigned long)big);
    CHECKF(mheap_.fast_size > fast && mheap_.narenas > arenas, "fast window %lu → %lu",
           (unsigned long)fast, (unsigned long)mheap_.fast_size);
    kfree(p);
    CHECK_NO_HOOK();
    VERIFY();
}

static const struct tap_test tests[] = {
    {"verify_detects_corruption", test_verify_detects_corruption},
    /* early: it doubles the heap's arenas three times */
    {"frees_while_the_page_map_grows", test_frees_while_the_page_map_grows},
    {"every_size_class", test_every_size_class},
    {"kmalloc_zero", test_kmalloc_zero},
    {"tiny_packing", test_tiny_packing},
    {"large_objects", test_large_objects},
    {"zeroing", test_zeroing},
    {"exhaust_and_recover", test_exhaust_and_recover},
    {"mallocgc_oom_panics", test_mallocgc_oom_panics},
    {"random_mix", test_random_mix},
    {"stats_match", test_stats_match},
    {"kmalloc_share_counted", test_kmalloc_share_counted},
    {"heap_bits", test_heap_bits},
    {"krealloc", test_krealloc},
    {"cross_cpu_free", test_cross_cpu_free},
    {"pthread_storm", test_pthread_storm},
    {"scavenge", test_scavenge},
    {"empty_span_held_then_reused", test_empty_span_held_then_reused},
    {"held_spans_bounded", test_held_spans_bounded},
    {"stray_pending_free_on_a_held_span", test_stray_pending_free_on_a_held_span},
    {"held_spans_on_all_cpus", test_held_spans_on_all_cpus},
    {"held_spans_drained_when_memory_runs_out", test_held_spans_drained_when_memory_runs_out},
    {"held_spans_control_no_drain", test_held_spans_control_no_drain},
    {"pagemap_refused_is_oom", test_pagemap_refused_is_oom},
};

int main(int argc, char **argv)
{
    host_set_ncpu(4);
    host_set_quiet(1);
    malloc_init();
    /* the allocator's tests: no collector (the host scans no stacks; test_gc.c
     * tests the collector with registered roots) */
    gc_set_percent(-1);
    return tap_main(argc, argv, tests, TAP_COUNT(tests));
}
