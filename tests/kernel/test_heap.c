/*
 * test_heap.c — self-tests of the Go-style heap (alloc/) running in the
 * kernel on memory from the UEFI map.  heap_verify runs after every test
 * (the runner's after-each hook) and between the phases of the long ones.
 */
#include "../../alloc/malloc.h"
#include "../../alloc/mheap.h"
#include "../../alloc/mstats.h"
#include "../../alloc/sizeclass.h"
#include "fmt.h"
#include "frame.h"
#include "kernel.h"
#include "ktest.h"

static uint64_t rng_state;
static void rng_seed(uint64_t s) { rng_state = s ? s : 0x9E3779B97F4A7C15ull; }
static uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static void verify_or_fail(const char *phase)
{
    char err[300];
    if (!heap_verify(err, sizeof err)) {
        ktest_fail(__FILE__, __LINE__, "heap_verify after %s: %s", phase, err);
        ktest_abort();
    }
}

static uint64_t live_objects(void)
{
    struct memstats m;
    read_memstats(&m);
    return m.Mallocs - m.Frees;
}

static uint64_t natural_align(uint64_t size)
{
    if (size > MAX_SMALL_SIZE)
        return PAGE_SIZE;
    uint64_t a = size & -size; /* largest power of two dividing the size */
    return a > PAGE_SIZE ? PAGE_SIZE : a;
}

/* ------------------------------------------------------------ size classes */

#define PER_CLASS_MAX 1024
static void *objs[PER_CLASS_MAX];

/* Every class: fill three spans' worth, write a distinct pattern per
 * object, check alignment and that no two objects overlap (patterns
 * intact), free in random order, allocate again and see slots reused. */
KTEST(heap_every_size_class, KTEST_QUICK)
{
    rng_seed(1);
    for (int c = 1; c < NUM_SIZE_CLASSES; c++) {
        uint64_t size = class_to_size[c];
        uint64_t per_span = (uint64_t)class_to_allocnpages[c] * PAGE_SIZE / size;
        uint64_t n = per_span * 3;
        if (n > PER_CLASS_MAX)
            n = PER_CLASS_MAX;
        uint64_t before = live_objects();
        for (uint64_t i = 0; i < n; i++) {
            objs[i] = kmalloc(size);
            KREQUIRE(objs[i] != 0);
            KCHECKF((uint64_t)objs[i] % natural_align(size) == 0, "class %d: %p misaligned", c,
                    objs[i]);
            KCHECKF(ksize(objs[i]) == size, "class %d: ksize %lu", c, (uint64_t)ksize(objs[i]));
            uint64_t *w = objs[i];
            for (uint64_t k = 0; k < size / 8; k++)
                w[k] = ((uint64_t)c << 48) ^ (i << 20) ^ k;
        }
        KCHECK(live_objects() == before + n);
        for (uint64_t i = 0; i < n; i++) {
            uint64_t *w = objs[i];
            int bad = 0;
            for (uint64_t k = 0; k < size / 8; k++)
                bad |= w[k] != (((uint64_t)c << 48) ^ (i << 20) ^ k);
            KCHECKF(!bad, "class %d object %lu overwritten (overlap)", c, i);
            if (bad)
                break;
        }
        /* free in random order (Fisher-Yates) */
        for (uint64_t i = n - 1; i > 0; i--) {
            uint64_t j = rng() % (i + 1);
            void *t = objs[i];
            objs[i] = objs[j];
            objs[j] = t;
        }
        /* Keep one object so its span stays; free the rest.  Spans whose
         * objects are all free go back to the page heap (HeapInuse drops);
         * the kept span's freed slots are reused by the next allocation. */
        struct memstats before_free, after_free;
        read_memstats(&before_free);
        for (uint64_t i = 1; i < n; i++)
            kfree(objs[i]);
        KCHECK(live_objects() == before + 1);
        malloc_flush_mcache(); /* sweep: freed slots become allocatable */
        read_memstats(&after_free);
        if (n > per_span)
            KCHECKF(after_free.HeapInuse < before_free.HeapInuse,
                    "class %d: no span went back to the page heap", c);
        uintptr_t span_lo = (uintptr_t)objs[0] & ~(uintptr_t)(PAGE_SIZE - 1);
        uint64_t span_bytes = (uint64_t)class_to_allocnpages[c] * PAGE_SIZE;
        void *again = kmalloc(size);
        KREQUIRE(again);
        KCHECKF(per_span == 1 || /* one object per span: nothing to reuse in it */
                ((uintptr_t)again + span_bytes > (uintptr_t)objs[0] &&
                 (uintptr_t)again < (uintptr_t)objs[0] + span_bytes && again != objs[0]),
                "class %d: freed slot not reused (%p, kept object %p, span near 0x%lx)", c, again,
                objs[0], (uint64_t)span_lo);
        kfree(again);
        kfree(objs[0]);
        KCHECK(live_objects() == before);
    }
    /* no stale pointers left in a global: the collector scans them */
    __builtin_memset(objs, 0, sizeof objs);
    verify_or_fail("every size class");
}

/* ------------------------------------------------------------ tiny */

KTEST(heap_tiny_packing, KTEST_QUICK)
{
    /* pointer-free mallocgc below 16 B packs into 16-byte blocks */
    uint8_t *a = mallocgc(1, 0, true);
    uint8_t *b = mallocgc(1, 0, true);
    uint8_t *c = mallocgc(8, 0, true); /* 8-aligned */
    uint8_t *d = mallocgc(4, 0, true);
    uint8_t *e = mallocgc(2, 0, true);
    KREQUIRE(a && b && c && d && e);
    KCHECK(b == a + 1);
    KCHECK(((uintptr_t)c & 7) == 0 && ((uintptr_t)d & 3) == 0 && ((uintptr_t)e & 1) == 0);
    KCHECK(((uintptr_t)a & ~15ul) == ((uintptr_t)b & ~15ul)); /* same block */
    const mspan *sa = span_of((uintptr_t)a); /* a 16-byte block of the tiny class */
    KCHECK(sa && sa->elemsize == 16 && spanclass_sizeclass(sa->spanclass) == TINY_SIZE_CLASS);
    struct memstats m;
    read_memstats(&m);
    KCHECK(m.TinyAllocs >= 1);
    a[0] = 0xAA;
    b[0] = 0xBB;
    KCHECK(a[0] == 0xAA && b[0] == 0xBB);
}

/* ------------------------------------------------------------ large */

KTEST(heap_large_objects, KTEST_QUICK)
{
    uint64_t sizes[] = {MAX_SMALL_SIZE + 1, 40000, 100000, 1 << 20, (3 << 20) + 5};
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint8_t *p = kmalloc(sizes[i]);
        KREQUIRE(p);
        KCHECK(((uintptr_t)p & (PAGE_SIZE - 1)) == 0);
        KCHECK(ksize(p) >= sizes[i] && ksize(p) % PAGE_SIZE == 0);
        p[0] = 1;
        p[sizes[i] - 1] = 2;
        kfree(p);
    }
    verify_or_fail("large objects");
}

/* Large objects up to a large fraction of RAM: half of the free memory in
 * one object, written at every page, then freed. */
KTEST(heap_large_fraction_of_ram, KTEST_SLOW)
{
    uint64_t bytes = frame_free_count() * FRAME_SIZE / 2;
    bytes &= ~(uint64_t)(PAGE_SIZE - 1);
    uint8_t *p = kmalloc(bytes);
    KREQUIRE(p);
    for (uint64_t off = 0; off < bytes; off += 4096)
        p[off] = (uint8_t)(off >> 12);
    int ok = 1;
    for (uint64_t off = 0; off < bytes; off += 4096)
        ok &= p[off] == (uint8_t)(off >> 12);
    KCHECK(ok);
    kfree(p);
    kprintf("# one object of %lu MiB\n", bytes >> 20);
    verify_or_fail("large fraction");
}

/* ------------------------------------------------------------ zeroing */

KTEST(heap_zeroing, KTEST_QUICK)
{
    /* dirty a span, free it, then ask for zeroed memory of the same class */
    for (int round = 0; round < 2; round++) {
        void *p[64];
        for (int i = 0; i < 64; i++) {
            p[i] = kmalloc(256);
            KREQUIRE(p[i]);
            __builtin_memset(p[i], 0xCD, 256);
        }
        for (int i = 0; i < 64; i++)
            kfree(p[i]);
        malloc_flush_mcache();
        int dirty = 0;
        for (int i = 0; i < 64; i++) {
            uint8_t *z = round ? kcalloc(1, 256) : mallocgc(256, 0, true);
            KREQUIRE(z);
            for (int k = 0; k < 256; k++)
                dirty |= z[k];
            p[i] = z;
        }
        KCHECKF(!dirty, "%s returned dirty memory", round ? "kcalloc" : "mallocgc(needzero)");
        for (int i = 0; i < 64; i++)
            round ? kfree(p[i]) : (void)0;
    }
    uint8_t *big = kcalloc(1, 200000);
    KREQUIRE(big);
    int dirty = 0;
    for (int k = 0; k < 200000; k++)
        dirty |= big[k];
    KCHECK(!dirty);
    kfree(big);
}

/* ------------------------------------------------------------ bad input */

static char last_err[256];
static int nerr;
static void capture(const char *msg)
{
    ksnprintf(last_err, sizeof last_err, "%s", msg);
    kprintf("# reported: %s\n", msg);
    nerr++;
}

static int starts_with(const char *s, const char *p)
{
    while (*p)
        if (*s++ != *p++)
            return 0;
    return 1;
}

static int contains(const char *s, const char *p)
{
    for (; *s; s++)
        if (starts_with(s, p))
            return 1;
    return 0;
}

KTEST(heap_bad_input_reported, KTEST_QUICK)
{
    alloc_error_hook_t old = alloc_set_error_hook(capture);
    nerr = 0;
    uint64_t stack_var = 0;
    kfree(&stack_var);
    KCHECKF(nerr == 1 && contains(last_err, "is not in the heap"), "outside: '%s'", last_err);
    uint8_t *p = kmalloc(48);
    KREQUIRE(p);
    kfree(p + 8);
    KCHECKF(nerr == 2 && starts_with(last_err, "kfree: interior pointer"), "interior: '%s'", last_err);
    kfree(p);
    kfree(p);
    KCHECKF(nerr == 3 && starts_with(last_err, "kfree: double free of") && contains(last_err, "48 B"),
            "double free: '%s'", last_err);
    uint8_t *l = kmalloc(100000);
    KREQUIRE(l);
    kfree(l);
    kfree(l);
    KCHECKF(nerr == 4 && starts_with(last_err, "kfree:"), "large twice: '%s'", last_err);
    KCHECK(kcalloc(~0ul / 2, 3) == 0);
    KCHECKF(nerr == 5 && starts_with(last_err, "kcalloc: size overflow"), "kcalloc: '%s'", last_err);
    gotype t = {16, 0, 0, "t16"};
    KCHECK(newarray(&t, ~0ul / 8) == 0);
    KCHECKF(nerr == 6 && starts_with(last_err, "newarray: size overflow"), "newarray: '%s'", last_err);
    KCHECK(kmalloc(1ull << 45) == 0);
    KCHECKF(nerr == 7 && contains(last_err, "larger than memory"), "huge: '%s'", last_err);
    alloc_set_error_hook(old);
    verify_or_fail("bad input");
}

/* ------------------------------------------------------------ exhaustion */

/* Fill memory with 1 MiB then 4 KiB objects (chained through themselves)
 * until kmalloc says NULL; free everything, release free pages, and check
 * HeapInuse and Ready are back where they started, then allocate again. */
KTEST(heap_exhaust_and_recover, KTEST_QUICK)
{
    malloc_flush_mcache();
    mcentral_drain_all_held(); /* held empty spans are free pages too */
    heap_scavenge(~0ull);
    struct memstats m0, m1;
    read_memstats(&m0);
    uint64_t sizes[] = {1 << 20, 4096, 64};
    void *head = 0;
    uint64_t count[3] = {0, 0, 0};
    for (int k = 0; k < 3; k++) {
        for (;;) {
            void **o = kmalloc(sizes[k]);
            if (!o)
                break;
            *o = head;
            head = o;
            count[k]++;
        }
    }
    KCHECK(count[0] > 0);
    kprintf("# exhausted after %lu x 1 MiB, %lu x 4 KiB, %lu x 64 B\n", count[0], count[1], count[2]);
    while (head) {
        void *next = *(void **)head;
        kfree(head);
        head = next;
    }
    malloc_flush_mcache();
    verify_or_fail("free after exhaustion");
    mcentral_drain_all_held();
    heap_scavenge(~0ull);
    read_memstats(&m1);
    KCHECKF(m1.HeapInuse == m0.HeapInuse, "HeapInuse %lu, was %lu", m1.HeapInuse, m0.HeapInuse);
    KCHECKF(m1.Ready == m0.Ready, "Ready %lu, was %lu", m1.Ready, m0.Ready);
    void *p = kmalloc(1 << 20);
    KCHECK(p != 0);
    kfree(p);
}

/* ------------------------------------------------------------ random mix */

#define MIX_SLOTS 2048
static void *mix[MIX_SLOTS];
static uint32_t mix_size[MIX_SLOTS];

static uint32_t mix_pick_size(void)
{
    uint64_t r = rng() % 100;
    if (r < 60) return 1 + rng() % 256;
    if (r < 90) return 257 + rng() % 4096;
    if (r < 99) return 4353 + rng() % 28000;
    return 32769 + rng() % 300000;
}

KTEST(heap_random_mix, KTEST_QUICK)
{
    rng_seed(0x5eed);
    uint64_t base_live = live_objects();
    uint64_t live = 0;
    for (int phase = 0; phase < 8; phase++) {
        for (int op = 0; op < 4000; op++) {
            int i = rng() % MIX_SLOTS;
            if (mix[i]) {
                uint8_t *p = mix[i];
                KCHECKF(p[0] == (uint8_t)i &&
                            (mix_size[i] == 1 || p[mix_size[i] - 1] == (uint8_t)(i >> 3)),
                        "slot %d (%u bytes at %p) corrupted", i, mix_size[i], (void *)p);
                kfree(p);
                mix[i] = 0;
                live--;
            } else {
                uint32_t s = mix_pick_size();
                uint8_t *p = (rng() & 1) ? kmalloc(s) : kcalloc(1, s);
                KREQUIRE(p);
                p[s - 1] = (uint8_t)(i >> 3);
                p[0] = (uint8_t)i; /* last: a 1-byte object holds only this */
                mix[i] = p;
                mix_size[i] = s;
                live++;
            }
        }
        KCHECK(live_objects() == base_live + live);
        verify_or_fail("random mix phase");
    }
    for (int i = 0; i < MIX_SLOTS; i++)
        if (mix[i]) {
            kfree(mix[i]);
            mix[i] = 0;
        }
    KCHECK(live_objects() == base_live);
}

/* ------------------------------------------------------------ typed */

KTEST(heap_typed_pointer_bitmap, KTEST_QUICK)
{
    static const uint8_t mask[] = {0x5}; /* words 0 and 2 are pointers */
    gotype node = {32, 24, mask, "node"};
    uint64_t *n = newobject(&node);
    KREQUIRE(n);
    KCHECK(n[0] == 0 && n[1] == 0 && n[2] == 0 && n[3] == 0);
    KCHECK(heap_bits_is_pointer((uintptr_t)&n[0]));
    KCHECK(!heap_bits_is_pointer((uintptr_t)&n[1]));
    KCHECK(heap_bits_is_pointer((uintptr_t)&n[2]));
    KCHECK(!heap_bits_is_pointer((uintptr_t)&n[3]));
    uint64_t *arr = newarray(&node, 10);
    KREQUIRE(arr);
    KCHECK(heap_bits_is_pointer((uintptr_t)&arr[4 * 7 + 2]));
    KCHECK(!heap_bits_is_pointer((uintptr_t)&arr[4 * 7 + 3]));
}

/* ------------------------------------------------------------ stats */

KTEST(heap_stats_add_up, KTEST_QUICK)
{
    struct memstats a, b;
    read_memstats(&a);
    void *p[100];
    for (int i = 0; i < 100; i++)
        p[i] = kmalloc(100);
    for (int i = 0; i < 40; i++)
        kfree(p[i]);
    read_memstats(&b);
    KCHECK(b.Mallocs - a.Mallocs == 100);
    KCHECK(b.Frees - a.Frees == 40);
    KCHECK(b.HeapObjects == b.Mallocs - b.Frees);
    int c = size_to_class(100);
    KCHECK(b.BySize[c].mallocs - a.BySize[c].mallocs == 100);
    KCHECK(b.TotalAlloc - a.TotalAlloc == 100ull * class_to_size[c]);
    KCHECK(b.HeapSys >= b.HeapInuse && b.HeapInuse >= b.HeapAlloc);
    for (int i = 40; i < 100; i++)
        kfree(p[i]);
}
