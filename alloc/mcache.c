/*
 * mcache.c — per-CPU allocation cache (Go's mcache).
 *
 * OWNS, for one CPU: the current span of every span class (alloc[136]), the
 * tiny block, and the CPU's allocation counters.  No lock: only its CPU
 * uses it, pinned (plat_pin) so that it neither migrates nor is re-entered
 * by an interrupt handler that allocates.
 *
 * FAST PATH (inline in malloc.c): alloc[spc] → mspan_try_next_free: a
 * count-trailing-zeros on allocCache, no lock, no atomic RMW.  kmalloc
 * first pops the CPU's freed-object array of the class (fc[], owned by
 * mobjcache.c, which kfree of a kmalloc object pushes); kfree's owner undo
 * (malloc.c step 4) gives a collected object that C code frees, when it is
 * the last slot handed out, straight back to the same span.
 * SLOW PATH (mcache_next_free):
 *   1. mspan_next_free_index on the current span (reloads allocCache words).
 *   2. Span full but frees are pending on it (its own objects, freed by any
 *      CPU since it was cached) → sweep it in place, no lock (the owner of a
 *      cached span may sweep it: remote kfrees only set pending bits, and
 *      mcentral leaves cached spans alone), lower allocCountBeforeCache by
 *      the slots freed (the mallocs still count), and keep allocating from
 *      it.  Not for a stale span (sweepgen h+1): uncache sweeps that.
 *   3. Still full → refill: give the span back to mcentral (uncache, which
 *      sweeps it if remote frees are pending), add the objects it handed out
 *      to smallAllocCount (Go counts mallocs at refill, not per object, to
 *      keep the fast path short), and take a span with free slots from
 *      mcentral (cacheSpan: swept partial span, sweep an unswept one, or a
 *      new span from mheap).
 *   4. mcentral has nothing and the heap is out of memory → NULL; the slot
 *      keeps pointing at the empty span.
 *
 * INVARIANTS: alloc[spc] is &mcache_emptyspan or a span with spanclass spc,
 * cachedBy == cpu+1, state mSpanInUse, list == NULL.  The mallocs of CPU c
 * are smallAllocCount + Σ(allocCount - allocCountBeforeCache) of its cached
 * spans + undoCount (kfree's owner undo lowers allocCount and counts the
 * undo, which stands for one malloc and one free).
 */
#include "debug.h"
#include "mgc.h"
#include "malloc_impl.h"
#include "mheap.h"

mspan mcache_emptyspan; /* nelems 0, allocCache 0: never yields a slot */

/* Statically complete: a thread may reach the fast paths before
 * malloc_init.  Its arrays are NULL (top == base == end: empty and full),
 * its spans the empty span, its tag no span's cachedBy.  Before
 * malloc_init, kmalloc_spc is all 0 and kmalloc_fast takes "fc" of span
 * class 0, which lies 136 arrays below fc[0], in this struct's counters:
 * zero, and never written (no CPU owns this mcache), so that array is
 * empty too and alloc[0] is the empty span.  Every preload process's
 * first malloc takes this path. */
mcache mcache_unowned = {
    .alloc = {[0 ... NUM_SPAN_CLASSES - 1] = &mcache_emptyspan},
    .tag = -1,
    .othersMask = ~0ull, /* every cached span is another CPU's: kfree pins */
};

_Static_assert(PLAT_MAX_CPUS <= 64, "mspan.cachedMask has one bit per CPU");

void mcache_init(mcache *c, uint32_t cpu)
{
    __builtin_memset(c, 0, sizeof *c);
    c->cpu = cpu;
    c->tag = (int32_t)cpu + 1;
    c->othersMask = ~(1ull << cpu);
    c->objcacheKey = mheap_.objcache_key; /* 0 before objcache_init: malloc_init sets it */
    c->flushGen = mheap_.sweepgen;
    for (int i = 0; i < NUM_SPAN_CLASSES; i++)
        c->alloc[i] = &mcache_emptyspan;
}

/* Hand alloc[spc] back to mcentral, counting what it handed out. */
static void uncache(mcache *c, spanClass spc)
{
    mspan *s = c->alloc[spc];
    if (s == &mcache_emptyspan)
        return;
    c->smallAllocCount[spc] +=
        (uint64_t)((int64_t)s->allocCount - s->allocCountBeforeCache);
    /* heap_live was credited with the free slots when the span was cached
     * in this cycle: take back what was not used (a stale span's credit
     * was wiped by the reset to the marked bytes) */
    if (spc < NUM_GC_SPAN_CLASSES && s->sweepgen != mheap_.sweepgen + 1)
        gc_heap_live_add(-(int64_t)((uint64_t)(s->nelems - s->allocCount) * s->elemsize));
    c->alloc[spc] = &mcache_emptyspan;
    c->spansReturned++;
    mcentral_uncache_span(&mheap_.central[spc], s);
}

/* Whole words, as every block a task hands to plat_systemstack (platform.h):
 * a byte store into a stack slot would keep the stale upper bytes. */
struct next_free_args {
    mcache *c;
    uint64_t spc;
    mspan **sp;
    void *v;
};

static void next_free_body(void *p);

/* Steps 1-4 on a stack with room for them (plat_systemstack: a refill may
 * go all the way to growing the heap). */
void *mcache_next_free(mcache *c, spanClass spc, mspan **sp)
{
    struct next_free_args a = {c, spc, sp, 0};
    plat_systemstack(next_free_body, &a);
    return a.v;
}

static void *next_free(mcache *c, spanClass spc, mspan **sp)
{
    mspan *s = c->alloc[spc];
    uint32_t idx = mspan_next_free_index(s);
    if (idx == s->nelems && __atomic_load_n(&s->pendingCount, __ATOMIC_ACQUIRE) > 0 &&
        s->sweepgen == mheap_.sweepgen + 3) {
        /* 2. sweep in place */
        uint32_t freed = mspan_sweep(s);
        __atomic_store_n(&s->allocCountBeforeCache, s->allocCountBeforeCache - (int64_t)freed,
                         __ATOMIC_RELAXED); /* its mallocs still count */
        c->sweepsInPlace++;
        idx = mspan_next_free_index(s);
    }
    if (idx == s->nelems) {
        uncache(c, spc);
        s = mcentral_cache_span(&mheap_.central[spc], c->cpu);
        if (!s)
            return 0;
        c->alloc[spc] = s;
        c->refills++;
        if (spc < NUM_GC_SPAN_CLASSES) /* the collector's heap_live (mgcpacer.c) */
            gc_heap_live_add((int64_t)((uint64_t)(s->nelems - s->allocCount) * s->elemsize));
        idx = mspan_next_free_index(s);
        ALLOC_CHECK(idx < s->nelems, s, "mcache_next_free: fresh span is full");
    }
    __atomic_store_n(&s->allocCount, s->allocCount + 1, __ATOMIC_RELAXED);
    *sp = s;
    return (void *)(s->startAddr + (uint64_t)idx * s->elemsize);
}

static void next_free_body(void *p)
{
    struct next_free_args *a = p;
    a->v = next_free(a->c, a->spc, a->sp);
}

static void release_all_body(void *p);

void mcache_release_all(mcache *c) { plat_systemstack(release_all_body, c); }

static void release_all_body(void *p)
{
    mcache *c = p;
    for (int spc = 0; spc < NUM_SPAN_CLASSES; spc++)
        uncache(c, (spanClass)spc);
    c->tiny = 0;
    c->tinyoffset = 0;
}

uint64_t mcache_inflight_allocs(const mcache *c, spanClass spc)
{
    const mspan *s = c->alloc[spc];
    if (s == &mcache_emptyspan)
        return 0;
    return (uint64_t)((int64_t)__atomic_load_n(&s->allocCount, __ATOMIC_RELAXED) -
                      __atomic_load_n(&s->allocCountBeforeCache, __ATOMIC_RELAXED));
}
