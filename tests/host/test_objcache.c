/*
 * test_objcache.c — the freed-object caches of kmalloc's size classes
 * (alloc/mobjcache.c): LIFO reuse without touching the span, the key that
 * marks free slots and catches double frees on any CPU, the transfer cache
 * between CPUs and across a thread's exit, the release to the spans, the
 * statistics, and heap_verify's checks of the caches (each with the
 * corruption it must catch).
 */
#include "heap_testlib.h"
#include "heapdump.h"
#include "malloc_fast.h"
#include "mgc.h"

#include <string.h>

#define UL(x) ((unsigned long)(x))

static mspan *span_at(const void *p) { return span_of((uintptr_t)p); }
static objcache *cache_of(uint32_t cpu, const void *p)
{
    return &mheap_.mcaches[cpu].fc[spanclass_sizeclass(span_at(p)->spanclass)];
}

/* No metadata memory for a CPU's arrays (persistentalloc failed): its
 * frees go straight back to the spans as pending frees, double frees are
 * still reported, and the statistics and heap stay exact.  First in the
 * table: CPU 3 has not freed anything yet. */
static void test_no_metadata_frees_to_spans(void)
{
    hook_reset();
    host_set_cpu(3);
    REQUIRE(mheap_.mcaches[3].fcBlock == NULL); /* run first, or alone */
    objcache_debug_no_block = 1;
    struct memstats a = stats_now();
    char *p = kmalloc(48), *q = kmalloc(48);
    REQUIRE(p && q);
    kfree(p);
    CHECK(mheap_.mcaches[3].fcBlock == NULL && span_at(p)->pendingCount == 1);
    kfree(p);
    CHECK_HOOK("kfree: double free of 0x%lx (span 0x%lx class 5, 48 B)", UL(p),
               UL(span_at(p)->startAddr));
    kfree(q);
    struct memstats b = stats_now();
    CHECK(b.Mallocs - a.Mallocs == 2 && b.Frees - a.Frees == 2 && b.HeapObjects == a.HeapObjects);
    VERIFY();
    objcache_debug_no_block = 0;
    kfree(kmalloc(48)); /* arrays now */
    CHECK(mheap_.mcaches[3].fcBlock != NULL);
    host_set_cpu(0);
    VERIFY();
    CHECK_NO_HOOK();
}

/* Frees and mallocs of one class on one CPU: LIFO order, and the span's
 * allocation state does not move (the objects stay allocated as far as
 * the span knows). */
static void test_lifo_reuse_leaves_span_alone(void)
{
    hook_reset();
    host_set_cpu(0);
    quiesce();
    enum { N = 32 };
    void *p[N];
    for (int i = 0; i < N; i++)
        REQUIRE((p[i] = kmalloc(48)));
    mspan *s = span_at(p[0]);
    uint32_t fi = s->freeindex, ac = s->allocCount;
    struct memstats a = stats_now();
    for (int i = 0; i < N; i++)
        kfree(p[i]);
    CHECKF(s->freeindex == fi && s->allocCount == ac && s->pendingCount == 0,
           "span moved: freeindex %u->%u allocCount %u->%u pending %d", fi, s->freeindex, ac,
           s->allocCount, s->pendingCount);
    CHECK(objcache_n(cache_of(0, p[0])) >= N);
    struct memstats b = stats_now();
    CHECKF(b.Frees - a.Frees == N && a.HeapObjects - b.HeapObjects == N,
           "frees +%lu, HeapObjects -%lu", UL(b.Frees - a.Frees),
           UL(a.HeapObjects - b.HeapObjects));
    VERIFY();
    int lifo = 0;
    for (int i = N; i-- > 0;) {
        void *q = kmalloc(48);
        lifo += q == p[i];
        p[i] = q;
    }
    CHECKF(lifo == N, "%d of %d handed back newest first", lifo, N);
    CHECK(s->freeindex == fi && s->allocCount == ac);
    CHECK(stats_now().Mallocs - b.Mallocs == N);
    for (int i = 0; i < N; i++)
        kfree(p[i]);
    VERIFY();
    CHECK_NO_HOOK();
}

/* A popped object no longer carries the key: freeing it once is fine. */
static void test_handed_out_objects_lose_the_key(void)
{
    hook_reset();
    host_set_cpu(0);
    uint64_t *p = kmalloc(48);
    REQUIRE(p);
    CHECK(p[0] != mheap_.objcache_key);
    kfree(p);
    CHECK(p[0] == mheap_.objcache_key); /* free: the key */
    uint64_t *q = kmalloc(48);
    CHECK(q == p && q[0] != mheap_.objcache_key);
    kfree(q);
    CHECK_NO_HOOK();
    VERIFY();
}

/* Double frees: into this CPU's cache, from another CPU, after the object
 * went back to its span (pending), after the sweep freed the slot, and of
 * a slot never handed out.  Each is reported once and changes nothing. */
static void test_double_frees_everywhere(void)
{
    hook_reset();
    host_set_cpu(0);
    quiesce();
    char *keep = kmalloc(48), *p = kmalloc(48), *never;
    REQUIRE(keep && p);
    unsigned long sa = UL(span_at(p)->startAddr);
    kfree(p);
    kfree(p); /* same CPU, in its cache */
    CHECK_HOOK("kfree: double free of 0x%lx (span 0x%lx class 5, 48 B)", UL(p), sa);
    host_set_cpu(1);
    kfree(p); /* another CPU */
    CHECK_HOOK("kfree: double free of 0x%lx (span 0x%lx class 5, 48 B)", UL(p), sa);
    CHECK(ksize(p) == 0);
    CHECK_HOOK("ksize: 0x%lx is not an allocated object: already freed (span 0x%lx class 5, 48 B)",
               UL(p), sa);
    CHECK(krealloc(p, 8) == NULL);
    CHECK_HOOK("krealloc: 0x%lx is not an allocated object: already freed (span 0x%lx class 5, "
               "48 B)", UL(p), sa);
    VERIFY();
    host_set_cpu(0);
    objcache_flush(&mheap_.mcaches[0], true); /* to its span: pending */
    CHECK(span_at(p)->pendingCount == 1);
    kfree(p);
    CHECK_HOOK("kfree: double free of 0x%lx (span 0x%lx class 5, 48 B)", UL(p), sa);
    malloc_flush_mcache(); /* swept: a free slot */
    kfree(p);
    CHECK_HOOK("kfree: double free of 0x%lx (span 0x%lx class 5, 48 B)", UL(p), sa);
    never = p + 48 * 5; /* same span, never handed out since the sweep */
    REQUIRE(span_at(never) == span_at(p) && !mspan_allocated(span_at(p),
                                                              mspan_obj_index(span_at(p),
                                                                              (uintptr_t)never)));
    kfree(never);
    CHECK_HOOK("kfree: double free of 0x%lx (span 0x%lx class 5, 48 B)", UL(never), sa);
    VERIFY();
    kfree(keep);
    quiesce();
    VERIFY();
}

/* Objects freed on CPU 1 beyond its array go to the transfer cache, and
 * CPU 2 allocates them from there: no new span, no refill from mcentral. */
static void test_transfer_between_cpus(void)
{
    hook_reset();
    quiesce();
    uint8_t cls = size_to_class(64);
    uint32_t cap = objcache_capacity(cls);
    enum { MAXN = 4096 };
    uint32_t n = cap * 5 / 2; /* two spills: half an array, twice */
    REQUIRE(n <= MAXN && n - cap / 2 <= 4 * cap); /* what CPU 1 cannot keep fits in transfer */
    static void *p[MAXN], *orig[MAXN];
    host_set_cpu(0);
    for (uint32_t i = 0; i < n; i++)
        REQUIRE((orig[i] = p[i] = kmalloc(64)));
    /* CPU 0 hands its span back: frees into a span another CPU is carving
     * go back to the span, not into CPU 1's cache (free_into_a_span_another
     * _cpu_carves) */
    mcache_release_all(&mheap_.mcaches[0]);
    struct memstats a = stats_now();
    host_set_cpu(1);
    for (uint32_t i = 0; i < n; i++)
        kfree(p[i]);
    uint32_t kept = objcache_n(cache_of(1, p[0]));
    CHECKF(kept <= cap && n - kept > 0, "cpu 1 keeps %u of %u (capacity %u)", kept, n, cap);
    CHECKF(objcache_cached(cls) == n, "%lu cached, want %u", UL(objcache_cached(cls)), n);
    VERIFY();
    host_set_cpu(2);
    uint64_t refills = mheap_.mcaches[2].refills;
    uint32_t reused = 0;
    for (uint32_t i = 0; i < n - kept; i++) { /* what CPU 1 could not keep */
        void *q = kmalloc(64);
        for (uint32_t j = 0; j < n; j++)
            if (q == orig[j]) {
                reused++;
                break;
            }
        p[i] = q;
    }
    struct memstats b = stats_now();
    CHECKF(reused == n - kept, "%u of %u from the transfer cache", reused, n - kept);
    CHECKF(mheap_.mcaches[2].refills == refills, "cpu 2 refilled %lu spans",
           UL(mheap_.mcaches[2].refills - refills));
    CHECK(b.HeapInuse == a.HeapInuse);
    for (uint32_t i = 0; i < n - kept; i++)
        kfree(p[i]);
    VERIFY();
    quiesce();
    CHECK_NO_HOOK();
}

/* A thread's exit (malloc_park_mcache) leaves its freed objects in the
 * transfer cache for the next thread; malloc_flush_mcache gives them back
 * to the spans, so the memory returns to the page heap. */
static void test_park_then_flush(void)
{
    hook_reset();
    quiesce();
    struct memstats base = stats_now();
    enum { N = 300 };
    static void *p[N];
    host_set_cpu(3);
    for (int i = 0; i < N; i++)
        REQUIRE((p[i] = kmalloc(256)));
    for (int i = 0; i < N; i++)
        kfree(p[i]);
    malloc_park_mcache();
    uint8_t cls = spanclass_sizeclass(span_at(p[0])->spanclass);
    CHECK(objcache_n(&mheap_.mcaches[3].fc[cls]) == 0);
    CHECKF(objcache_cached(cls) > 0, "nothing parked in the transfer cache");
    VERIFY();
    host_set_cpu(0);
    void *q = kmalloc(256);
    int found = 0;
    for (int i = 0; i < N; i++)
        found |= q == p[i];
    CHECK(found); /* the next thread reuses a parked object */
    kfree(q);
    malloc_flush_mcache();
    CHECK(objcache_cached(cls) == 0);
    heap_scavenge(~0ull >> 1);
    struct memstats after = stats_now();
    CHECKF(after.HeapInuse == base.HeapInuse, "HeapInuse %lu, was %lu", UL(after.HeapInuse),
           UL(base.HeapInuse));
    VERIFY();
    CHECK_NO_HOOK();
}

/* kmalloc_fast with needzero (the library's calloc) clears a dirty cached
 * object. */
static void test_calloc_from_cache_is_zero(void)
{
    hook_reset();
    host_set_cpu(0);
    unsigned char *p = kmalloc(96);
    REQUIRE(p);
    memset(p, 0xAB, 96);
    kfree(p);
    void *z;
    REQUIRE(kmalloc_fast(96, true, &z));
    CHECK(z == p);
    int dirty = 0;
    for (int i = 0; i < 96; i++)
        dirty |= ((unsigned char *)z)[i];
    CHECK(!dirty);
    kfree(z);
    VERIFY();
    CHECK_NO_HOOK();
}

/* The heap's descriptions (the kernel's obj and span commands) tell a
 * cached object from an allocated one. */
static void test_heapdump_shows_cached(void)
{
    hook_reset();
    host_set_cpu(0);
    quiesce();
    char *a = kmalloc(48), *b = kmalloc(48);
    REQUIRE(a && b && span_at(a) == span_at(b));
    kfree(a);
    struct heapdump_obj oa, ob;
    REQUIRE(heapdump_object((uintptr_t)a, &oa) && heapdump_object((uintptr_t)b, &ob));
    CHECK(oa.allocated && oa.cached && !oa.pending);
    CHECK(ob.allocated && !ob.cached);
    char slots[1024];
    uint32_t n = heapdump_span_slots((uintptr_t)a, slots, sizeof slots);
    uint32_t ia = mspan_obj_index(span_at(a), (uintptr_t)a), ib = mspan_obj_index(span_at(b), (uintptr_t)b);
    REQUIRE(n > ia && n > ib);
    CHECKF(slots[ia] == 'c' && slots[ib] == '#', "slots %c %c", slots[ia], slots[ib]);
    kfree(b);
    quiesce();
    VERIFY();
    CHECK_NO_HOOK();
}

/* heap_verify catches a broken cache: an object cached twice (as a lost
 * race would leave it), a cached object whose key was overwritten (a write
 * after free), and — the control — passes once each is undone. */
static void test_verify_catches_broken_caches(void)
{
    hook_reset();
    host_set_cpu(0);
    quiesce();
    void *a = kmalloc(48), *b = kmalloc(48);
    REQUIRE(a && b);
    kfree(a);
    VERIFY(); /* control */
    objcache *fc = cache_of(0, a);
    REQUIRE(fc->top < fc->end);
    *fc->top = (uintptr_t)a; /* a second time */
    fc->top++;
    char err[512];
    CHECK(!heap_verify(err, sizeof err) && strstr(err, "cached twice"));
    printf("# %s\n", err);
    fc->top--;
    VERIFY();
    uint64_t saved = *(uint64_t *)a;
    *(uint64_t *)a = 0x1234;
    CHECK(!heap_verify(err, sizeof err) && strstr(err, "is not the key"));
    printf("# %s\n", err);
    *(uint64_t *)a = saved;
    VERIFY();
    *fc->top++ = (uintptr_t)b + 8; /* not an object start */
    CHECK(!heap_verify(err, sizeof err) && strstr(err, "not an object start"));
    printf("# %s\n", err);
    fc->top--;
    VERIFY();
    kfree(b);
    quiesce();
    VERIFY();
    CHECK_NO_HOOK();
}

/* THE KEY (mobjcache.c): a new kmalloc span's slots hold the released key
 * before its kfree gate opens, so a free of a slot never handed out is
 * refused by kfree's key test alone (no allocated test on the fast path).
 * erase_key: the negative control, where that slot's key is erased first
 * (as if the span had not been keyed): the free must pass unseen into this
 * CPU's cache — objcache_verify then sees a free slot cached, and the
 * release to its span drops it.  true when the free was refused at kfree. */
static bool never_handed_out_refused(bool erase_key)
{
    hook_reset();
    host_set_cpu(0);
    quiesce();
    char *a = kmalloc(3000); /* a class no other test here keeps a span of */
    REQUIRE(a);
    mspan *s = span_at(a);
    REQUIRE(s->allocCount == 1 && s->nelems > 1); /* a new span */
    char *never = a + (uint64_t)(s->nelems - 1) * s->elemsize;
    REQUIRE(!mspan_allocated(s, s->nelems - 1));
    VERIFY();
    if (erase_key)
        *(uint64_t *)never = 0;
    kfree(never);
    bool refused = hook_count == 1;
    if (refused) {
        CHECK_HOOK("kfree: double free of 0x%lx (span 0x%lx class %u, %lu B)", UL(never),
                   UL(s->startAddr), (unsigned)spanclass_sizeclass(s->spanclass),
                   UL(s->elemsize));
    } else {
        CHECK_NO_HOOK();
        char e[256];
        CHECKF(!objcache_verify(e, sizeof e) && strstr(e, "is a free slot"), "%s", e);
        objcache_flush(&mheap_.mcaches[0], true); /* the release refuses it */
        CHECK(hook_count == 1 && strstr(hook_msg, "already free or pending in its span"));
        hook_reset();
        *(uint64_t *)never = mheap_.objcache_key | OBJCACHE_RELEASED; /* repaired */
    }
    CHECK(!mspan_allocated(s, s->nelems - 1));
    kfree(a);
    quiesce();
    VERIFY();
    CHECK_NO_HOOK();
    return refused;
}

static void test_never_handed_out_refused(void) { CHECK(never_handed_out_refused(false)); }

static void test_never_handed_out_control_keyless(void)
{
    CHECKF(!never_handed_out_refused(true), "control: keyless slot's free refused anyway");
}

/* A write after free erases a free slot's key, and the slot is freed
 * again: kfree's key test cannot see it, and the slot sits in this CPU's
 * cache while its span holds it free.  Whoever takes it first, the other
 * must not: kmalloc's pop hands it out (and clears the word), and when the
 * span's turn comes, the hand-out test (kmalloc_from_span) finds no key,
 * reports the slot and leaves it allocated.  trust: the negative control
 * (objcache_debug_trust_key), where the span hands it out a second time.
 * true when the slot was handed out once only. */
static bool freed_free_slot_handed_out_once(bool trust)
{
    hook_reset();
    host_set_cpu(0);
    quiesce();
    uint64_t *keep = kmalloc(48), *x = kmalloc(48);
    REQUIRE(keep && x && span_at(x) == span_at(keep));
    kfree(x);
    malloc_flush_mcache(); /* released and swept: x is a free slot */
    REQUIRE(!mspan_allocated(span_at(x), mspan_obj_index(span_at(x), (uintptr_t)x)));
    x[0] = 0x1234; /* the write after free */
    kfree(x);      /* the double free, unseen */
    CHECK_NO_HOOK();
    uint64_t *a = kmalloc(48); /* the pop */
    CHECK(a == x); /* (nothing written to it: debug builds check a free slot's poison) */
    objcache_debug_trust_key = trust;
    uint64_t *b = kmalloc(48); /* the span: keep's, x the next free slot */
    objcache_debug_trust_key = 0;
    bool once = b != x;
    if (once) {
        CHECK_HOOK("kmalloc: free slot 0x%lx (span 0x%lx class 5, 48 B) lost its key: written "
                   "after its free, or freed again while free; left allocated", UL(x),
                   UL(span_at(x)->startAddr));
        kfree(b);
    }
    kfree(a);
    kfree(keep);
    quiesce();
    VERIFY();
    CHECK_NO_HOOK();
    return once;
}

static void test_freed_free_slot_handed_out_once(void)
{
    CHECK(freed_free_slot_handed_out_once(false));
}

static void test_freed_free_slot_control_twice(void)
{
    CHECKF(!freed_free_slot_handed_out_once(true), "control: the slot was not handed out twice");
}

/* heap_verify: a free slot of a kmalloc span whose first word lost the key
 * (a write after free, or a span never keyed). */
static void test_verify_catches_keyless_free_slot(void)
{
    hook_reset();
    host_set_cpu(0);
    quiesce();
    char *a = kmalloc(48);
    REQUIRE(a);
    mspan *s = span_at(a);
    uint64_t *never = (uint64_t *)(a + s->elemsize); /* the next slot: not handed out */
    REQUIRE(s->freeindex == mspan_obj_index(s, (uintptr_t)never));
    VERIFY(); /* control */
    uint64_t saved = *never;
    *never = 0x1234;
    char err[512];
    CHECK(!heap_verify(err, sizeof err) && strstr(err, "lacks the key"));
    printf("# %s\n", err);
    *never = saved;
    VERIFY();
    kfree(a);
    CHECK_NO_HOOK();
}

/* PASSIVE FALSE SHARING (mobjcache.c): CPU 1 frees an object of the span
 * CPU 0 is carving.  It must not land in CPU 1's cache, whose next malloc
 * would hand it out next to CPU 0's newest objects: it goes back to its
 * span as a pending free (released key, counted as a free and a remote
 * free), and CPU 1's next malloc of the class returns another object. */
static void test_free_into_a_span_another_cpu_carves(void)
{
    hook_reset();
    quiesce();
    host_set_cpu(1);
    kfree(kmalloc(48)); /* CPU 1's arrays exist */
    host_set_cpu(0);
    uint64_t *x = kmalloc(48);
    REQUIRE(x);
    mspan *s = span_at(x);
    REQUIRE(s->cachedBy == 1);
    struct memstats a = stats_now();
    uint64_t remote = mheap_.mcaches[1].remoteFrees;
    host_set_cpu(1);
    uint32_t kept = objcache_n(cache_of(1, x));
    kfree(x);
    CHECKF(objcache_n(cache_of(1, x)) == kept, "cpu 1 cached the object (%u -> %u)", kept,
           objcache_n(cache_of(1, x)));
    CHECK(s->pendingCount == 1 && x[0] == (mheap_.objcache_key | OBJCACHE_RELEASED));
    CHECK(mheap_.mcaches[1].remoteFrees == remote + 1);
    CHECK(stats_now().Frees == a.Frees + 1);
    uint64_t *y = kmalloc(48);
    CHECK(y && y != x);
    kfree(x); /* still a double free */
    CHECK_HOOK("kfree: double free of 0x%lx (span 0x%lx class 5, 48 B)", UL(x),
               UL(s->startAddr));
    kfree(y);
    VERIFY();
    host_set_cpu(0);
    quiesce();
    VERIFY();
}

/* DUPLICATES (mobjcache.c): two frees of x at once on CPUs 0 and 1 both
 * pass kfree's plain key test when each loads x's first word before the
 * other stores the key.  Made here deterministically: x's first word is
 * put back between the two frees.  x is then in both CPUs' arrays; the
 * copy that leaves second — popped by kmalloc, or released to the span —
 * must be reported and dropped, never handed out while x is in use.
 * trust_key: the negative control (objcache_debug_trust_key), where the
 * second copy must be handed out again. */
static void *dup_keep; /* keeps x's span in use when x is released */
static uint64_t *make_duplicate(void)
{
    host_set_cpu(1);
    kfree(kmalloc(48)); /* CPU 1's arrays exist */
    host_set_cpu(0);
    dup_keep = kmalloc(48);
    uint64_t *x = kmalloc(48);
    if (!x || !dup_keep || span_of((uintptr_t)x) != span_of((uintptr_t)dup_keep))
        return 0;
    mcache_release_all(&mheap_.mcaches[0]); /* else CPU 1's free goes to the span */
    x[0] = 0x1234;
    kfree(x); /* CPU 0: the key in */
    x[0] = 0x1234; /* as CPU 1 loaded it before CPU 0's store */
    host_set_cpu(1);
    kfree(x); /* CPU 1: passes, stores the key */
    return x;
}

static void duplicate_popped(bool trust_key)
{
    hook_reset();
    quiesce();
    uint64_t *x = make_duplicate();
    REQUIRE(x);
    CHECK_NO_HOOK();
    host_set_cpu(0);
    uint64_t *a = kmalloc(48); /* CPU 0's copy: handed out */
    CHECK(a == x);
    host_set_cpu(1);
    objcache_debug_trust_key = trust_key;
    uint64_t *b = kmalloc(48), *c = kmalloc(48); /* CPU 1's copy leaves */
    objcache_debug_trust_key = 0;
    a[0] = 0xA, a[1] = 0xAA; /* (after: debug builds check a handed-out slot's poison) */
    if (trust_key) {
        CHECKF(b == x || c == x, "control: x %p not handed out twice (b %p c %p)", (void *)x,
               (void *)b, (void *)c);
        CHECK_NO_HOOK();
    } else {
        CHECK(b && c && b != x && c != x);
        b[0] = c[0] = b[1] = c[1] = 0xB;
        CHECK(a[0] == 0xA && a[1] == 0xAA);
        CHECK_HOOK("objcache: cached object 0x%lx (span 0x%lx class 5, 48 B) lost its key: freed "
                   "twice at once on two CPUs, or written after its free; dropped",
                   UL(x), UL(span_at(x)->startAddr));
    }
    host_set_cpu(0);
    kfree(a);
    host_set_cpu(1);
    if (b != x)
        kfree(b);
    if (c != x)
        kfree(c);
    host_set_cpu(0);
    kfree(dup_keep);
    quiesce();
    VERIFY();
}

static void test_duplicate_caught_when_popped(void) { duplicate_popped(false); }
static void test_duplicate_control_handed_out_twice(void) { duplicate_popped(true); }

/* A duplicate (make_duplicate) whose CPU 1 copy went back to its span
 * (pending, the released key); *sa = its span's start. */
static uint64_t *released_duplicate(unsigned long *sa)
{
    hook_reset();
    quiesce();
    uint64_t *x = make_duplicate();
    if (x) {
        *sa = UL(span_at(x)->startAddr);
        objcache_flush(&mheap_.mcaches[1], true);
    }
    return x;
}

/* dup_keep freed, the caches flushed, the heap checked. */
static void end_duplicate(void)
{
    host_set_cpu(0);
    kfree(dup_keep);
    quiesce();
    VERIFY();
}

/* The same duplicate leaving by a release to its span: CPU 1's copy goes
 * first (pending, the released key), so CPU 0's copy no longer holds the
 * key when popped. */
static void test_duplicate_caught_when_released(void)
{
    unsigned long sa;
    uint64_t *x = released_duplicate(&sa);
    REQUIRE(x);
    CHECK_NO_HOOK();
    CHECK(span_at(x)->pendingCount == 1);
    host_set_cpu(0);
    uint64_t *a = kmalloc(48); /* may be x again: from its span, once swept */
    CHECK(a != NULL);
    CHECK_HOOK("objcache: cached object 0x%lx (span 0x%lx class 5, 48 B) lost its key: freed "
               "twice at once on two CPUs, or written after its free; dropped", UL(x), sa);
    kfree(a);
    end_duplicate();
}

/* Both copies released: the second is reported. */
static void test_duplicate_released_twice(void)
{
    unsigned long sa;
    uint64_t *x = released_duplicate(&sa);
    REQUIRE(x);
    objcache_flush(&mheap_.mcaches[0], true);
    CHECK_HOOK("objcache: cached object 0x%lx (span 0x%lx class 5, 48 B) lost its key: freed "
               "twice at once on two CPUs, or written after its free; dropped", UL(x), sa);
    end_duplicate();
}

/* The second copy holds the key again (as if the program wrote it): the
 * span's pending bit still refuses it. */
static void test_duplicate_rekeyed_refused_by_pending_bit(void)
{
    unsigned long sa;
    uint64_t *x = released_duplicate(&sa);
    REQUIRE(x);
    x[0] = mheap_.objcache_key;
    objcache_flush(&mheap_.mcaches[0], true);
    CHECK(span_at(x)->pendingCount == 1);
    CHECK_HOOK("objcache: cached object 0x%lx (span 0x%lx class 5, 48 B) is already free or "
               "pending in its span: freed twice at once on two CPUs, or written after its free; "
               "dropped", UL(x), sa);
    end_duplicate();
}

/* The second copy outlives its span: every object of the span was
 * released and swept, and the span went back to the page heap.  Reported,
 * and its free undone. */
static void test_duplicate_outlives_its_span(void)
{
    unsigned long sa;
    uint64_t *x = released_duplicate(&sa);
    REQUIRE(x);
    mspan *xs = span_at(x);
    host_set_cpu(2);
    kfree(dup_keep);
    objcache_flush(&mheap_.mcaches[2], true);
    mcentral_drain_all_held(); /* the empty span back to the page heap */
    REQUIRE(xs->state != mSpanInUse); /* x and dup_keep were its only objects */
    struct memstats before = stats_now();
    objcache_flush(&mheap_.mcaches[0], true);
    CHECK_HOOK("objcache: cached object 0x%lx (no span in use there) is not an object of a span "
               "of its class: freed twice at once on two CPUs, or written after its free; "
               "dropped", UL(x));
    struct memstats after = stats_now();
    CHECKF(after.Frees == before.Frees - 1, "frees %lu → %lu: the dropped copy's free not undone",
           UL(before.Frees), UL(after.Frees));
    host_set_cpu(0);
    quiesce();
    VERIFY();
}

/* A write after free into the first word of cached objects: each is
 * reported once and never handed out, whichever way it leaves its cache —
 * kmalloc's pop on its CPU, a refill from the transfer cache on another,
 * the release to the spans at the flush.  The statistics stay exact. */
static void test_write_after_free_caught_when_reused(void)
{
    hook_reset();
    quiesce();
    enum { MAXN = 4096 };
    static uint64_t *obj[MAXN];
    uint32_t n = objcache_capacity(5) * 2; /* CPU 1's array and the transfer cache hold all */
    REQUIRE(n <= MAXN);
    host_set_cpu(1);
    for (uint32_t i = 0; i < n; i++)
        REQUIRE((obj[i] = kmalloc(48)));
    mcache_release_all(&mheap_.mcaches[1]); /* frees stay in the caches (no span carved) */
    for (uint32_t i = 0; i < n; i++)
        kfree(obj[i]);
    REQUIRE(objcache_cached(5) == n);
    for (uint32_t i = 0; i < n; i++)
        obj[i][0] = 0xbad; /* the use after free */
    struct memstats a = stats_now();
    static uint64_t *got[2 * 64];
    uint32_t k = 0, handed_bad = 0;
    for (uint32_t cpu = 1; cpu <= 2; cpu++) { /* 1: its array; 2: refills from transfer */
        host_set_cpu(cpu);
        for (uint32_t i = 0; i < 64; i++, k++) {
            got[k] = kmalloc(48);
            for (uint32_t j = 0; j < n; j++)
                handed_bad += got[k] == obj[j];
        }
    }
    CHECKF(handed_bad == 0, "%u corrupted objects handed out", handed_bad);
    uint32_t at_reuse = (uint32_t)hook_count;
    for (uint32_t i = 0; i < k; i++) {
        host_set_cpu(i < 64 ? 1 : 2);
        kfree(got[i]);
    }
    host_set_cpu(0);
    quiesce(); /* the rest leave at the flush */
    printf("# %u corrupted objects: %u reported when kmalloc reached them, %d at the flush\n", n,
           at_reuse, hook_count - (int)at_reuse);
    CHECKF(at_reuse > 0 && hook_count == (int)n, "%d reports for %u corrupted objects",
           hook_count, n);
    CHECK(strstr(hook_msg, "lost its key: freed twice at once on two CPUs, or written after its "
                           "free; dropped"));
    struct memstats b = stats_now();
    CHECKF(b.HeapObjects == a.HeapObjects + n, "HeapObjects %lu -> %lu: the %u dropped objects "
           "stay allocated", UL(a.HeapObjects), UL(b.HeapObjects), n);
    hook_count = 0;
    VERIFY();
}

/* W7 in small: free a random 90 % of many objects, then the rest in
 * address order.  The caches then hold the objects freed last, which sit
 * in a few neighbouring spans; every other span must have emptied and gone
 * back to the page heap.  keep_oldest: the negative control
 * (objcache_debug_keep_oldest), where the transfer cache keeps the first
 * random objects and they pin hundreds of spans. */
static uint64_t spans_pinned_after_random_frees(bool keep_oldest)
{
    enum { N = 512 * 1024 }; /* 10 % of it: ten times what the caches hold */
    static void *obj[N];
    static uint32_t perm[N];
    quiesce();
    host_set_cpu(0);
    objcache_debug_keep_oldest = keep_oldest;
    for (uint32_t i = 0; i < N; i++) {
        obj[i] = kmalloc(48);
        perm[i] = i;
    }
    rng_seed(11);
    for (uint32_t i = N - 1; i > 0; i--) {
        uint32_t j = (uint32_t)(rng() % (i + 1)), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (uint32_t i = 0; i < N / 10 * 9; i++) { /* a random 90 % */
        kfree(obj[perm[i]]);
        obj[perm[i]] = 0;
    }
    for (uint32_t i = 0; i < N; i++) /* the rest in allocation (address) order */
        if (obj[i])
            kfree(obj[i]);
    objcache_debug_keep_oldest = 0;
    const mcentral *c = &mheap_.central[make_kmalloc_spanclass(5)];
    uint64_t n = c->nspans - c->held.n; /* (held ones are empty) */
    quiesce();
    return n;
}

static void test_old_objects_leave_the_transfer_cache(void)
{
    hook_reset();
    /* the caches hold the last objects freed (a CPU's array and the
     * transfer cache), one in ten slots: they span about ten times their
     * number in slots */
    uint64_t cached = objcache_capacity(5) * 5;
    uint64_t per_span = class_to_allocnpages[5] * PAGE_SIZE / class_to_size[5];
    uint64_t bound = cached * 10 / per_span * 5 / 4 + 4;
    uint64_t kept = spans_pinned_after_random_frees(false);
    uint64_t control = spans_pinned_after_random_frees(true);
    printf("# spans of 48 B objects left after freeing all: %lu (the oldest objects kept: %lu)\n",
           UL(kept), UL(control));
    CHECKF(kept <= bound, "%lu spans still in use (at most %lu expected)", UL(kept), UL(bound));
    CHECKF(control > 2 * bound, "control: only %lu spans pinned", UL(control));
    CHECK_NO_HOOK();
    VERIFY();
}

/* The transfer cache is a ring (mobjcache.c): frees that overflow it many
 * times over, so that its head wraps, must leave exactly the newest objects
 * cached — a suffix of the free order whose length objcache_cached counts,
 * none older — and another CPU's refill must take the newest of the ring.
 * keep_oldest: the negative control (objcache_debug_keep_oldest), whose
 * cached objects are not a suffix. */
/* x's first word is the key (x still cached), read only while its span is
 * in use: a released object's span may have gone back to the page heap */
static bool holds_key(const void *x)
{
    const mspan *s = span_at(x);
    return s && s->state == mSpanInUse && *(const uint64_t *)x == mheap_.objcache_key;
}

static bool cached_set_is_newest_suffix(bool keep_oldest)
{
    enum { N = 7 * 4096 + 300 };
    static void *obj[N];
    quiesce();
    host_set_cpu(0);
    objcache_debug_keep_oldest = keep_oldest;
    for (uint32_t i = 0; i < N; i++)
        REQUIRE((obj[i] = kmalloc(48)));
    for (uint32_t i = 0; i < N; i++)
        kfree(obj[i]);
    objcache_debug_keep_oldest = 0;
    uint64_t cached = objcache_cached(5), b = N;
    while (b > 0 && holds_key(obj[b - 1]))
        b--;
    uint64_t older = 0; /* cached objects older than the suffix */
    for (uint64_t i = 0; i < b; i++)
        older += holds_key(obj[i]);
    bool suffix = older == 0 && N - b == cached;
    printf("# %s: %lu objects cached, a suffix of %lu, %lu older ones\n",
           keep_oldest ? "control" : "ring", UL(cached), UL(N - b), UL(older));
    if (suffix && !keep_oldest) {
        uint64_t ring = cached - objcache_n(&mheap_.mcaches[0].fc[5]);
        CHECKF(ring == 4 * objcache_capacity(5), "%lu in the ring: not full", UL(ring));
        host_set_cpu(1); /* the ring's newest: b + ring size - 1 */
        void *p = kmalloc(48);
        CHECKF(p == obj[b + ring - 1], "CPU 1 got %p, not the ring's newest %p", p,
               obj[b + ring - 1]);
        kfree(p);
        host_set_cpu(0);
    }
    VERIFY();
    quiesce();
    return suffix;
}

static void test_transfer_ring_keeps_the_newest(void)
{
    hook_reset();
    CHECKF(cached_set_is_newest_suffix(false), "the cached objects are not the newest");
    CHECKF(!cached_set_is_newest_suffix(true), "control: the oldest kept, yet a suffix");
    CHECK_NO_HOOK();
}

/* Every CPU allocates and frees the others' objects at random: contents
 * intact, statistics exact, heap_verify at each quiescent point. */
static void test_cross_cpu_churn_checks_content(void)
{
    hook_reset();
    quiesce();
    rng_seed(7);
    struct memstats base = stats_now();
    enum { SLOTS = 2000, OPS = 40000 };
    static uint64_t *slot[SLOTS];
    static uint32_t len[SLOTS];
    uint64_t mallocs = 0, frees = 0;
    for (int round = 0; round < 4; round++) {
        for (int op = 0; op < OPS; op++) {
            host_set_cpu((uint32_t)(rng() % 4));
            uint32_t k = (uint32_t)(rng() % SLOTS);
            if (slot[k]) {
                for (uint32_t w = 0; w < len[k]; w++)
                    if (slot[k][w] != ((uint64_t)k << 32 | w)) {
                        CHECKF(0, "slot %u word %u overwritten", k, w);
                        return;
                    }
                kfree(slot[k]);
                frees++;
            }
            len[k] = 1 + (uint32_t)(rng() % 125); /* 8..1000 bytes */
            REQUIRE((slot[k] = kmalloc(len[k] * 8)));
            mallocs++;
            for (uint32_t w = 0; w < len[k]; w++)
                slot[k][w] = (uint64_t)k << 32 | w;
        }
        VERIFY();
        struct memstats st = stats_now();
        CHECKF(st.Mallocs - base.Mallocs == mallocs && st.Frees - base.Frees == frees,
               "round %d: mallocs +%lu (want %lu) frees +%lu (want %lu)", round,
               UL(st.Mallocs - base.Mallocs), UL(mallocs), UL(st.Frees - base.Frees), UL(frees));
    }
    for (int k = 0; k < SLOTS; k++) {
        kfree(slot[k]);
        slot[k] = 0;
    }
    host_set_cpu(0);
    quiesce();
    VERIFY();
    CHECK(stats_now().HeapObjects == base.HeapObjects);
    CHECK_NO_HOOK();
}

static const struct tap_test tests[] = {
    {"no_metadata_frees_to_spans", test_no_metadata_frees_to_spans},
    {"lifo_reuse_leaves_span_alone", test_lifo_reuse_leaves_span_alone},
    {"handed_out_objects_lose_the_key", test_handed_out_objects_lose_the_key},
    {"double_frees_everywhere", test_double_frees_everywhere},
    {"transfer_between_cpus", test_transfer_between_cpus},
    {"park_then_flush", test_park_then_flush},
    {"calloc_from_cache_is_zero", test_calloc_from_cache_is_zero},
    {"heapdump_shows_cached", test_heapdump_shows_cached},
    {"verify_catches_broken_caches", test_verify_catches_broken_caches},
    {"never_handed_out_refused", test_never_handed_out_refused},
    {"never_handed_out_control_keyless", test_never_handed_out_control_keyless},
    {"verify_catches_keyless_free_slot", test_verify_catches_keyless_free_slot},
    {"freed_free_slot_handed_out_once", test_freed_free_slot_handed_out_once},
    {"freed_free_slot_control_twice", test_freed_free_slot_control_twice},
    {"cross_cpu_churn_checks_content", test_cross_cpu_churn_checks_content},
    {"free_into_a_span_another_cpu_carves", test_free_into_a_span_another_cpu_carves},
    {"duplicate_caught_when_popped", test_duplicate_caught_when_popped},
    {"duplicate_control_handed_out_twice", test_duplicate_control_handed_out_twice},
    {"duplicate_caught_when_released", test_duplicate_caught_when_released},
    {"duplicate_released_twice", test_duplicate_released_twice},
    {"duplicate_rekeyed_refused_by_pending_bit", test_duplicate_rekeyed_refused_by_pending_bit},
    {"duplicate_outlives_its_span", test_duplicate_outlives_its_span},
    {"write_after_free_caught_when_reused", test_write_after_free_caught_when_reused},
    {"old_objects_leave_the_transfer_cache", test_old_objects_leave_the_transfer_cache},
    {"transfer_ring_keeps_the_newest", test_transfer_ring_keeps_the_newest},
};

int main(int argc, char **argv)
{
    host_set_ncpu(4);
    host_set_quiet(1);
    malloc_init();
    gc_set_percent(-1); /* the allocator alone */
    return tap_main(argc, argv, tests, TAP_COUNT(tests));
}
