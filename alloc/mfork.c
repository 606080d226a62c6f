/*
 * mfork.c — make the heap consistent again in a child process after fork().
 *
 * THE PROBLEM.  fork() copies the heap as it is at that instant, with one
 * thread: the one that forked.  A host can hold every allocator LOCK across
 * fork (lib/platform_linux.c does), so the mcentral sets, the page heap and
 * every lock-protected mcache are consistent in the child.  But the malloc
 * and free fast paths take no lock — a CPU (a thread slot, in the library)
 * updates its own mcache and its cached spans with plain stores — and a
 * remote free sets a span's pending bit and then bumps its pendingCount.  So
 * the child may hold a dead thread's half-finished update: freeindex moved
 * but allocCount not, an allocCache one step ahead, a pendingFree bit
 * without its count, a sweep stopped halfway (scratch bits in gcmarkBits),
 * a span taken off the mcache but not yet handed to mcentral (in no set and
 * no mcache), statistics counted for one half of an operation.  Guarding
 * the fast paths against that (a "busy" flag per operation) would cost
 * instructions on every malloc and free; instead the child repairs the
 * heap once, with no one else running.
 *
 * GROUND TRUTH.  Per small span, three things are each written with one
 * store or atomic RMW, so they are never torn:
 *     freeindex, allocBits (slot i allocated iff i < freeindex || bit i),
 *     pendingFree (slot i freed, awaiting a sweep).
 * Everything else is derived and is recomputed from them:
 *     allocCount   = |allocated|           pendingCount = |pendingFree|
 *     allocCache   = ~allocBits at freeindex
 *     gcmarkBits   = 0 unless the span awaits its GC sweep (markgen !=
 *                    sweepgen: then the marks are state, kept)
 *     list membership, mcentral span counts, the free statistics.
 * A half-done update therefore resolves to one of its two ends: a malloc
 * whose freeindex store landed hands out a slot nobody will ever free (a
 * leaked object); a free whose freeindex (owner undo) or pendingFree store
 * did not land never happened (also a leak).  A sweep interrupted after it
 * took pending bits (atomic exchange) and before it published allocBits
 * loses those frees the same way.  Leaks of at most a few objects per dead
 * thread are the price; a slot handed out twice never happens, because
 * nothing here turns an allocated slot free.
 *
 * REPAIR (malloc_repair_after_fork(keep_cpu), child, single-threaded;
 * keep_cpu is the forking thread's own mcache, whose owner was not inside
 * the allocator, or >= ncpu for none):
 *   1. Every small in-use span: recompute the derived fields above from
 *      ground truth (drop pending bits on slots that are not allocated;
 *      clear gcmarkBits).  A span cached by another CPU gets needzero = 1:
 *      its owner may have died between a sweep's freeindex reset and its
 *      needzero store.  A kmalloc span whose kfree gate is still closed was
 *      being keyed (mheap_alloc step 7; no slot handed out yet): key it and
 *      open the gate (objcache_key_span).
 *   2. Every CPU's freed-object caches and the transfer caches back to
 *      the spans (objcache_flush: pending frees; the frees were counted
 *      at kfree).  Every other CPU's mcache: mcache_release_all — the normal uncache
 *      (sweep when frees are pending, file by fullness, free when empty).
 *      Afterwards only keep_cpu has cached spans; its slot and every other
 *      can be handed to new threads.
 *   3. Every small in-use span in no set and not in keep_cpu's mcache (a
 *      dead CPU was between taking it off its mcache and handing it to
 *      mcentral, or between growing it and caching it): file it through
 *      mcentral_uncache_span.  Every span in a set with pending frees:
 *      mcentral_note_free, which the dead thread may not have reached
 *      (a full swept span with pending frees would otherwise never be
 *      swept).
 *   4. mcentral nspans = the in-use spans of its class (nslack clamped);
 *      the statistics: for each size class (and large objects, count and
 *      bytes) the difference between Mallocs - Frees and the live objects
 *      found by the walk is added to a per-class free adjustment that
 *      read_memstats applies (malloc_fork_frees_adjust), so heap_verify's
 *      "Mallocs - Frees == HeapObjects == live objects" holds again.  The
 *      per-CPU counters are left as they were.
 * Cost: O(arenas + spans) — the walk visits the first page of each in-use
 * span through the arenas' pageInUse bitmaps, 64 pages per word.
 *
 * LOCKING: none needed (one thread); the mcentral and mheap functions used
 * take their locks as usual.  The host must have released every allocator
 * lock it held across fork before calling.
 */
#include "malloc.h"
#include "malloc_impl.h"
#include "mheap.h"
#include "mobjcache.h"
#include "mstats.h"

/* Added to the free counts by read_memstats: [0] large objects, [c] class c. */
static int64_t frees_adjust[NUM_SIZE_CLASSES];
static int64_t large_free_bytes_adjust;

int64_t malloc_fork_frees_adjust(int sizeclass)
{
    return __atomic_load_n(&frees_adjust[sizeclass], __ATOMIC_RELAXED);
}

int64_t malloc_fork_large_bytes_adjust(void)
{
    return __atomic_load_n(&large_free_bytes_adjust, __ATOMIC_RELAXED);
}

/* Call fn on every in-use (not manual) span, in address order per arena.
 * fn may free the span it is given, nothing else. */
static void for_each_inuse_span(void (*fn)(mspan *, void *), void *arg)
{
    for (heapArena *ha = mheap_.allArenas; ha; ha = ha->next) {
        for (uint64_t w = 0; w < PAGES_PER_ARENA / 64; w++) {
            uint64_t bits;
            __builtin_memcpy(&bits, &ha->pageInUse[w * 8], 8);
            while (bits) {
                uint64_t pg = w * 64 + (uint64_t)__builtin_ctzll(bits);
                bits &= bits - 1;
                fn(ha->spans[pg], arg);
            }
        }
    }
}

static inline uint64_t valid_mask(const mspan *s, uint32_t w)
{
    return w == s->nwords - 1 && (s->nelems % 64) ? (1ull << (s->nelems % 64)) - 1 : ~0ull;
}

/* 1. Derived fields from ground truth. */
static void repair_span(mspan *s, void *arg)
{
    int32_t keep_tag = *(int32_t *)arg;
    if (spanclass_sizeclass(s->spanclass) == 0)
        return;
    if (s->freeindex > s->nelems)
        s->freeindex = s->nelems;
    uint32_t fi = s->freeindex, alloc = 0, pend = 0;
    /* marks are state only for a collected span awaiting its GC sweep */
    bool marks_dead = spanclass_is_kmalloc(s->spanclass) || s->markgen == mheap_.sweepgen;
    for (uint32_t w = 0; w < s->nwords; w++) {
        uint64_t vm = valid_mask(s, w);
        if (marks_dead)
            s->gcmarkBits[w] = 0;
        s->allocBits[w] &= vm;
        uint64_t a = (s->allocBits[w] | mspan_below_mask(w, fi)) & vm;
        s->pendingFree[w] &= a;
        if (s->tinyBits)
            s->tinyBits[w] &= a;
        alloc += (uint32_t)__builtin_popcountll(a);
        pend += (uint32_t)__builtin_popcountll(s->pendingFree[w]);
    }
    s->allocCount = alloc;
    s->pendingCount = (int32_t)pend;
    if (fi < s->nelems) {
        mspan_refill_alloc_cache(s, fi / 64);
        s->allocCache >>= fi % 64;
    } else {
        s->allocCache = 0;
    }
    if (s->cachedBy != 0 && s->cachedBy != keep_tag)
        s->needzero = 1;
    /* a kmalloc span's gate still closed: its creator died keying it
     * (mheap_alloc step 7), before any slot was handed out */
    if (spanclass_is_kmalloc(s->spanclass) && s->freeLimit == 0 && alloc == 0)
        objcache_key_span(s);
}

/* 3. Orphans to mcentral; pending frees made findable. */
static void refile_span(mspan *s, void *arg)
{
    uint32_t keep = *(uint32_t *)arg;
    spanClass spc = s->spanclass;
    if (spanclass_sizeclass(spc) == 0)
        return;
    mcentral *c = &mheap_.central[spc];
    if (s->list) {
        if (s->pendingCount > 0)
            mcentral_note_free(c, s);
        return;
    }
    if (keep < mheap_.ncpu && s->cachedBy == (int32_t)keep + 1 &&
        mheap_.mcaches[keep].alloc[spc] == s)
        return;
    /* allocCountBeforeCache no longer matters: the statistics are redone
     * in step 4 */
    mcentral_uncache_span(c, s);
}

struct census {
    uint32_t nspans[NUM_SPAN_CLASSES];
    uint64_t live[NUM_SIZE_CLASSES]; /* [0]: large objects */
    uint64_t large_bytes;
};

static void count_span(mspan *s, void *arg)
{
    struct census *k = arg;
    uint8_t cls = spanclass_sizeclass(s->spanclass);
    if (cls == 0) {
        k->live[0]++;
        k->large_bytes += s->npages * PAGE_SIZE;
        if (!spanclass_is_kmalloc(s->spanclass)) /* on its mcentral's full set */
            k->nspans[s->spanclass]++;
        return;
    }
    k->nspans[s->spanclass]++;
    k->live[cls] += s->allocCount - (uint32_t)s->pendingCount;
}

/* 4. mcentral span counts and the statistics' free adjustments. */
static void recount(void)
{
    static struct census k; /* single-threaded here; keeps the stack small */
    static struct memstats st;
    __builtin_memset(&k, 0, sizeof k);
    for_each_inuse_span(count_span, &k);
    for (int spc = 0; spc < NUM_SPAN_CLASSES; spc++) {
        mcentral *c = &mheap_.central[spc];
        c->nspans = k.nspans[spc];
        if (c->nslack > c->nspans)
            c->nslack = c->nspans;
    }
    read_memstats(&st);
    for (int cls = 1; cls < NUM_SIZE_CLASSES; cls++)
        frees_adjust[cls] += (int64_t)(st.BySize[cls].mallocs - st.BySize[cls].frees - k.live[cls]);
    frees_adjust[0] += (int64_t)(st.LargeAllocs - st.LargeFrees - k.live[0]);
    large_free_bytes_adjust +=
        (int64_t)(st.LargeAllocBytes - st.LargeFreeBytes - k.large_bytes);
}

void malloc_repair_after_fork(uint32_t keep_cpu)
{
    if (!mheap_.inited || !mheap_.mcaches)
        return;
    int32_t keep_tag = keep_cpu < mheap_.ncpu ? (int32_t)keep_cpu + 1 : -1;
    for_each_inuse_span(repair_span, &keep_tag);
    /* freed-object caches (mobjcache.c): every object back to its span as
     * a pending free, keep_cpu's too (simplest: step 4 then counts spans
     * only).  A dead thread's array is whole up to its n (slots[n] is
     * stored before n); an object it was pushing or popping is leaked. */
    for (uint32_t cpu = 0; cpu < mheap_.ncpu; cpu++)
        objcache_flush(&mheap_.mcaches[cpu], true);
    objcache_flush_transfer();
    for (uint32_t cpu = 0; cpu < mheap_.ncpu; cpu++)
        if (cpu != keep_cpu)
            mcache_release_all(&mheap_.mcaches[cpu]);
    for_each_inuse_span(refile_span, &keep_cpu);
    recount();
}
