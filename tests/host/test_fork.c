/*
 * test_fork.c — malloc_repair_after_fork (alloc/mfork.c) on each kind of
 * half-finished update a thread can leave behind when another thread
 * forks.  Each test builds the torn state by hand on CPU 1-3 (CPU 0 is the
 * forking one, kept), checks that heap_verify does catch it (so the test is
 * not vacuous), repairs, verifies, and then uses the heap again from every
 * CPU and verifies once more.
 */
#include "heap_testlib.h"
#include "mgc.h"

#include "malloc_impl.h"
#include "mheap.h"

#define UL(x) ((unsigned long)(x))

static spanClass spc48(void) { return make_kmalloc_spanclass(5); } /* kmalloc(48): class 5 */

/* heap_verify must fail now, with `want` in the message. */
#define VERIFY_FAILS(want)                                                         \
    do {                                                                           \
        char e_[1024];                                                             \
        bool ok_ = heap_verify(e_, sizeof e_);                                     \
        CHECKF(!ok_ && strstr(e_, want), "torn state not caught (want \"%s\"): %s", \
               want, ok_ ? "verify passed" : e_);                                  \
    } while (0)

/* After a repair: every CPU allocates and frees (CPU 0 keeps its cache,
 * CPUs 1-3 start empty, as new threads in the child would). */
static void use_heap_again(void)
{
    void *p[4][100];
    for (uint32_t cpu = 0; cpu < 4; cpu++) {
        host_set_cpu(cpu);
        for (int i = 0; i < 100; i++) {
            p[cpu][i] = kmalloc(16 + (size_t)i * 40);
            REQUIRE(p[cpu][i]);
            fill(p[cpu][i], 16, cpu * 1000 + (uint64_t)i);
        }
    }
    for (uint32_t cpu = 0; cpu < 4; cpu++) {
        host_set_cpu((cpu + 1) % 4); /* free on another CPU */
        for (int i = 0; i < 100; i++) {
            CHECK(check_fill(p[cpu][i], 16, cpu * 1000 + (uint64_t)i));
            kfree(p[cpu][i]);
        }
    }
    host_set_cpu(0);
    VERIFY();
}

static void repair_and_check(void)
{
    host_set_cpu(0);
    malloc_repair_after_fork(0);
    VERIFY();
    for (uint32_t cpu = 1; cpu < 4; cpu++)
        for (int spc = 0; spc < NUM_SPAN_CLASSES; spc++)
            CHECKF(mheap_.mcaches[cpu].alloc[spc] == &mcache_emptyspan,
                   "mcache %u alloc[%d] still holds a span", cpu, spc);
}

/* A malloc whose freeindex store landed, but not its allocCount (nor the
 * allocCache shift): the slot is allocated and leaks. */
static void test_torn_malloc(void)
{
    hook_reset();
    host_set_cpu(1);
    char *a = kmalloc(48), *b = kmalloc(48);
    REQUIRE(a && b);
    fill(a, 48, 1);
    fill(b, 48, 2);
    mspan *s = mheap_.mcaches[1].alloc[spc48()];
    REQUIRE(s == span_of((uintptr_t)a) && s->freeindex < s->nelems);
    s->freeindex++;
    VERIFY_FAILS("allocCount != allocated slots");
    repair_and_check();
    CHECK(ksize(a) == 48 && ksize(b) == 48);
    CHECK(check_fill(a, 48, 1) && check_fill(b, 48, 2));
    use_heap_again();
    kfree(a);
    kfree(b);
    VERIFY();
    CHECK_NO_HOOK();
}

/* kfree's owner undo with only the allocCache update done: the free did
 * not happen (the object stays allocated: a leak, never a reuse). */
static void test_torn_owner_undo(void)
{
    hook_reset();
    host_set_cpu(2);
    char *a = kmalloc(48), *b = kmalloc(48);
    REQUIRE(a && b);
    mspan *s = mheap_.mcaches[2].alloc[spc48()];
    REQUIRE(s == span_of((uintptr_t)b) && s->freeindex % 64 != 0);
    s->allocCache = (s->allocCache << 1) | 1;
    VERIFY_FAILS("allocCache != ~allocBits at freeindex");
    repair_and_check();
    CHECK(ksize(b) == 48); /* still allocated */
    use_heap_again();
    kfree(a);
    kfree(b);
    VERIFY();
    CHECK_NO_HOOK();
}

/* A release to the span (mobjcache.c release_span_run: a freed kmalloc
 * object, its first word the released key) whose pending bit is set but
 * whose pendingCount++ did not happen. */
static void test_torn_remote_free(void)
{
    hook_reset();
    host_set_cpu(1);
    char *a = kmalloc(48), *b = kmalloc(48);
    REQUIRE(a && b);
    mspan *s = span_of((uintptr_t)a);
    uint32_t idx = mspan_obj_index(s, (uintptr_t)a);
    *(uint64_t *)a = mheap_.objcache_key | OBJCACHE_RELEASED; /* the release's key */
    __atomic_fetch_or(&s->pendingFree[idx / 64], 1ull << (idx % 64), __ATOMIC_ACQ_REL);
    VERIFY_FAILS("pendingCount != popcount(pendingFree)");
    struct memstats before = stats_now();
    repair_and_check();
    struct memstats after = stats_now();
    CHECKF(after.HeapObjects + 1 == before.HeapObjects,
           "the free counts after the repair: HeapObjects %lu -> %lu", UL(before.HeapObjects),
           UL(after.HeapObjects));
    kfree(a); /* a is pending free: freeing it again is a double free */
    CHECK(hook_count == 1 && strstr(hook_msg, "double free"));
    hook_reset();
    use_heap_again();
    kfree(b);
    VERIFY();
}

/* A CPU took its span off the mcache (alloc[] = empty) but died before
 * mcentral_uncache_span: the span is in no set and no mcache. */
static void test_orphan_uncached(void)
{
    hook_reset();
    host_set_cpu(3);
    char *a = kmalloc(48);
    REQUIRE(a);
    mspan *s = mheap_.mcaches[3].alloc[spc48()];
    REQUIRE(s == span_of((uintptr_t)a));
    mheap_.mcaches[3].alloc[spc48()] = &mcache_emptyspan;
    VERIFY_FAILS("in no mcentral set and no mcache");
    repair_and_check();
    CHECKF(s->cachedBy == 0 && s->list != NULL, "orphan not filed: cachedBy %d list %p",
           s->cachedBy, (void *)s->list);
    use_heap_again();
    kfree(a);
    VERIFY();
    CHECK_NO_HOOK();
}

/* mcentral grew a span (mheap_alloc) and the CPU died before caching it. */
static void test_orphan_fresh(void)
{
    hook_reset();
    mspan *s = mheap_alloc(class_to_allocnpages[5], spc48(), false);
    REQUIRE(s);
    VERIFY_FAILS("in no mcentral set and no mcache");
    repair_and_check(); /* empty: back to the page heap */
    use_heap_again();
    CHECK_NO_HOOK();
}

/* The same, but the CPU died while keying the span's slots (mheap_alloc
 * step 7): its gate is closed and its slots lack the key.  The repair
 * keys them; held (or freed) as an empty span, it must verify, and a
 * free of one of its slots must be refused. */
static void test_orphan_fresh_unkeyed(void)
{
    hook_reset();
    mspan *s = mheap_alloc(class_to_allocnpages[5], spc48(), false);
    REQUIRE(s);
    __atomic_store_n(&s->freeLimit, 0, __ATOMIC_RELAXED); /* as before step 7 ended */
    for (uint32_t i = 1; i < s->nelems; i += 2)
        *(uint64_t *)(s->startAddr + (uint64_t)i * s->elemsize) = 0;
    VERIFY_FAILS("gate closed: its keying never finished");
    repair_and_check();
    if (s->state == mSpanInUse) { /* held: keyed, gate open */
        CHECK(s->freeLimit == s->limit - s->startAddr);
        kfree((void *)(s->startAddr + s->elemsize));
        CHECK(hook_count == 1 && strstr(hook_msg, "double free"));
        hook_reset();
    }
    use_heap_again();
    CHECK_NO_HOOK();
}

/* A sweep of a cached span stopped halfway: it took b's pending free
 * (exchange) and published the new allocBits, but died before resetting
 * freeindex, allocCount and pendingCount.  b's free is lost (a leak). */
static void test_half_sweep(void)
{
    hook_reset();
    host_set_cpu(1);
    malloc_flush_mcache();
    char *a = kmalloc(48), *b = kmalloc(48);
    REQUIRE(a && b);
    mspan *s = span_of((uintptr_t)a);
    uint32_t ib = mspan_obj_index(s, (uintptr_t)b);
    REQUIRE(span_of((uintptr_t)b) == s && ib < 64);
    host_set_cpu(2);
    kfree(b);              /* into CPU 2's freed-object cache, */
    malloc_flush_mcache(); /* and from there to its span: pending */
    host_set_cpu(1);
    REQUIRE(s->pendingCount == 1);
    __atomic_exchange_n(&s->pendingFree[0], 0, __ATOMIC_ACQ_REL); /* the sweep's take, */
    /* and its publish of word 0 (slots below freeindex become allocBits) */
    s->allocBits[0] = (s->allocBits[0] | mspan_below_mask(0, s->freeindex)) & ~(1ull << ib);
    VERIFY_FAILS("pendingCount != popcount(pendingFree)");
    repair_and_check();
    CHECK(ksize(a) == 48 && mspan_allocated(s, ib)); /* b stays allocated: leaked */
    use_heap_again();
    kfree(a);
    VERIFY();
    CHECK_NO_HOOK();
}

/* A remote free into a span in mcentral's full swept set that never
 * reached mcentral_note_free: consistent, but nobody would ever sweep the
 * span.  The repair moves it to full unswept. */
static void test_pending_in_full_swept(void)
{
    hook_reset();
    host_set_cpu(1);
    spanClass spc = spc48();
    char *objs[400];
    int n = 0;
    objs[n++] = kmalloc(48);
    REQUIRE(objs[0]);
    mspan *s = span_of((uintptr_t)objs[0]);
    while (s->allocCount < s->nelems && n < 400) { /* the cached span fills up */
        objs[n] = kmalloc(48);
        REQUIRE(objs[n] && span_of((uintptr_t)objs[n]) == s);
        n++;
    }
    REQUIRE(s->allocCount == s->nelems && n > 3);
    malloc_flush_mcache(); /* to mcentral: full swept */
    mcentral *c = &mheap_.central[spc];
    CHECK(!strcmp(mcentral_set_name(c, s->list, mheap_.sweepgen), "full swept"));
    uint32_t idx = mspan_obj_index(s, (uintptr_t)objs[3]);
    /* a release's steps (mobjcache.c release_span_run): the released key,
     * then the bit */
    *(uint64_t *)objs[3] = mheap_.objcache_key | OBJCACHE_RELEASED;
    __atomic_fetch_or(&s->pendingFree[idx / 64], 1ull << (idx % 64), __ATOMIC_ACQ_REL);
    __atomic_fetch_add(&s->pendingCount, 1, __ATOMIC_SEQ_CST);
    repair_and_check();
    CHECKF(!strcmp(mcentral_set_name(c, s->list, mheap_.sweepgen), "full unswept"),
           "span with a pending free is in %s", mcentral_set_name(c, s->list, mheap_.sweepgen));
    for (int i = 0; i < n; i++)
        if (i != 3)
            kfree(objs[i]);
    use_heap_again();
    CHECK_NO_HOOK();
}

/* The forking CPU's cache is kept as it is. */
static void test_keep_cpu(void)
{
    hook_reset();
    host_set_cpu(0);
    malloc_flush_all_mcaches(); /* a comes from a span, not a freed-object cache */
    char *a = kmalloc(48);
    REQUIRE(a);
    mspan *s = mheap_.mcaches[0].alloc[spc48()];
    REQUIRE(s == span_of((uintptr_t)a));
    uint32_t fi = s->freeindex;
    repair_and_check();
    CHECK(mheap_.mcaches[0].alloc[spc48()] == s && s->cachedBy == 1 && s->freeindex == fi);
    kfree(a);
    VERIFY();
    CHECK_NO_HOOK();
}

/* A large allocation whose per-CPU count did not land: the statistics are
 * corrected (large adjustment, count and bytes). */
static void test_torn_large_stats(void)
{
    hook_reset();
    host_set_cpu(2);
    char *p = kmalloc(100000);
    REQUIRE(p);
    mheap_.mcaches[2].largeAllocCount[1]--; /* [1]: kmalloc */
    mheap_.mcaches[2].largeAlloc[1] -= 13 * PAGE_SIZE;
    VERIFY_FAILS("Mallocs");
    repair_and_check();
    host_set_cpu(1);
    kfree(p);
    VERIFY();
    use_heap_again();
    CHECK_NO_HOOK();
}

static const struct tap_test tests[] = {
    {"torn_malloc", test_torn_malloc},
    {"torn_owner_undo", test_torn_owner_undo},
    {"torn_remote_free", test_torn_remote_free},
    {"orphan_uncached", test_orphan_uncached},
    {"orphan_fresh", test_orphan_fresh},
    {"orphan_fresh_unkeyed", test_orphan_fresh_unkeyed},
    {"half_sweep", test_half_sweep},
    {"pending_in_full_swept", test_pending_in_full_swept},
    {"keep_cpu", test_keep_cpu},
    {"torn_large_stats", test_torn_large_stats},
};

int main(int argc, char **argv)
{
    host_set_ncpu(4);
    malloc_init();
    /* the allocator's tests: no collector (the host scans no stacks; test_gc.c
     * tests the collector with registered roots) */
    gc_set_percent(-1);
    return tap_main(argc, argv, tests, TAP_COUNT(tests));
}
