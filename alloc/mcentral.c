/*
 * mcentral.c — per-span-class pool of spans (Go's mcentral).
 *
 * OWNS, per span class, four sets of spans that no mcache holds:
 *   partial swept / partial unswept / full swept / full unswept.
 * Which physical copy (index 0 or 1) is "swept" flips with mheap_.sweepgen:
 * swept = [(sweepgen/2) % 2], unswept = the other.  Go's spanSets are lock
 * free; ours are doubly linked lists under c->lock (simpler, and sweeping
 * happens under the same lock).
 *
 * CACHE A SPAN (mcentral_cache_span, for an mcache refill)
 *   0. A collected class: pay the allocation's proportional sweep debt
 *      (mgcsweep.c), before taking c->lock.
 *   1. Pop a partial swept span.  If remote frees are pending on it, sweep it
 *      (this is the "mcentral hands a span out" sweep point).
 *   2. Else take the oldest partial unswept span: claim (sweepgen h-2 →
 *      h-1), sweep, use.  The unswept sets are queues (pushed at the front,
 *      taken from the back): the span queued longest ago has collected the
 *      most pending frees, so one sweep recovers the most slots.
 *   3. Else take the oldest full unswept span — unless it holds fewer than
 *      nelems/4 pending frees and the class has grown fewer than a quarter
 *      of its spans for slack (nslack <= nspans/4): then grow instead (4),
 *      leaving the frees to pile up (pacing, the counterpart of Go's heap
 *      goal: a little free memory in exchange for sweeps that pay off).
 *      Claim, sweep; use it if a slot is free, else push it on full swept
 *      and try the next (bounded by a budget, as in Go).
 *   4a. Else a held empty span (a kmalloc class: HELD EMPTY SPANS).
 *   4. Else unlock and grow: a fresh span from mheap_alloc (nspans++, and
 *      nslack++ when step 3 chose to grow).  Out of memory while growing
 *      for slack → steps 1-3 again without the pacing (sweep after all).
 *   Then: sweepgen = h+3 (swept and cached), cachedBy = cpu+1,
 *   allocCountBeforeCache = allocCount, allocCache positioned at freeindex.
 * UNCACHE (mcentral_uncache_span, when an mcache refills or is released)
 *   1. Stale (sweepgen h+1: a new cycle began while cached) or frees pending
 *      → sweep now (the "refill" sweep point) and file the span by its count.
 *   2. Else sweepgen = h and push on partial or full swept.
 *   A span whose sweep leaves allocCount == 0 goes back to the page heap
 *   (nspans--, and nslack-- if nonzero) — except a collected class's while
 *   a mark runs (may_release_empty): it waits on partial swept for the next
 *   GC sweep, as a concurrent marker may still scan an object in it; and a
 *   kmalloc class's while the hold has room (below).
 * HELD EMPTY SPANS (kmalloc classes).  A batch of frees larger than the
 *   freed-object caches (W2: 100000 objects) empties whole spans, and the
 *   next batch grows them again: each 8 KiB span paid the page heap twice
 *   (mheap lock, page allocator summaries, pageInUse, bitmaps) and the
 *   keying of its slots, about a quarter of W2 100000 x 256 B's time.  So
 *   an empty kmalloc span stays in its mcentral's held list — in use,
 *   swept, every slot keyed, ready for step 4a (which refreshes its
 *   sweepgen, stale after a collector cycle, and sweeps it if a stray
 *   pending free reached it) — while mheap_.held_pages stays within
 *   held_max_pages (32 MiB, claimed with a CAS: classes hold under their
 *   own locks); past that it is freed as before.
 *   Held memory goes back to the page heap when the heap needs pages
 *   (mheap_alloc step 1b, before it grows) and at malloc_flush_all_mcaches;
 *   the library's scavenger counts it as free (its RSS target is unchanged:
 *   the 32 MiB fits in the free memory it leaves resident anyway).  The
 *   collected classes do not hold: their empty spans are the sweep's
 *   result, and the page reclaimer and heap goal count on their pages.
 * REMOTE FREES (mcentral_note_free): kfree calls this only on a span's
 *   first pending free and when the span is probably becoming empty.  If the
 *   span is in a swept set:
 *     - every allocated object is pending free → sweep it now; it goes back
 *       to the page heap;
 *     - it is in full swept → move it to full unswept with sweepgen h-2, so
 *       step 3 above finds it (a span never receives frees without being
 *       marked as needing a sweep).
 *   A held span (empty) can only receive a duplicate's second copy
 *   (mobjcache.c DUPLICATES): it is swept at once (the sweep reports and
 *   drops the bit) and held again.
 *   Cached spans are left to their mcache (swept at uncache).
 *
 * THE COLLECTOR'S SWEEPERS (mgcsweep.c) use the same sets and claim:
 *   - mcentral_sweep_one (sweepone): the oldest span of partial or full
 *     unswept if it awaits its GC sweep (markgen != h); sweep and file it.
 *   - mcentral_reclaim_span (the page reclaimer): a span found through
 *     pageMarks, revalidated under c->lock (still c's, in an unswept set,
 *     awaiting its GC sweep), taken from the middle of its set, swept.
 *   - mcentral_cache_span of a collected class first pays the allocation's
 *     proportional sweep debt (gc_deduct_sweep_credit), holding no lock.
 *   ORDER of an unswept set of a collected class (heap_verify checks it):
 *   every span awaiting its GC sweep is behind (older than) every span
 *   that does not — the former were all there at the flip, the latter are
 *   pushed at the front since — so one look at the oldest span tells
 *   whether the set still holds GC work.
 *
 * WHY THIS IS GO'S PROTOCOL WITHOUT A GC: Go moves every span to "unswept"
 * at once by adding 2 to sweepgen when a GC cycle ends.  With explicit
 * frees, only spans that received frees need sweeping, so we mark those
 * individually (sweepgen = h-2 and the unswept set) — the same states and
 * sets, per span instead of per cycle.  mheap_.sweepgen stays constant until
 * the collector exists; every path already handles h+1 (stale cached) and
 * the flipped set indices, so a GC only has to add 2 and finish sweeping.
 *
 * INVARIANTS (heap_verify): a span in a set of c has spanclass c->spanclass,
 * state mSpanInUse, list == that set, cachedBy == 0, sweepgen h (swept sets)
 * or h-2 (unswept sets); full sets hold spans with allocCount == nelems,
 * partial sets spans with allocCount < nelems; every set's n counts its
 * links.  Held: kmalloc classes only, allocCount == pendingCount == 0, and
 *     mheap_.held_pages = Σ over every held list of npages <= held_max_pages.
 *
 * LOCKING: c->lock (rank MCENTRAL) protects the sets and every span's
 * list/next/prev/cachedBy fields, and is held while sweeping a span that no
 * mcache holds.  mheap_free_span is called with it held or not (rank MHEAP
 * is above); mheap_alloc never with it held (its step 1b drains the held
 * spans, taking every kmalloc class's lock in turn).
 */
#include "debug.h"
#include "mgc.h"
#include "lockrank.h"
#include "malloc_impl.h"
#include "mheap.h"
#include "mgcpriv.h"
#include "mprof.h"

#define SPAN_BUDGET 100
#ifndef SLACK_WANT_DIV
#define SLACK_WANT_DIV 4
#endif
#ifndef SLACK_SPANS_DIV
#define SLACK_SPANS_DIV 4
#endif

/* A span of the class went back to the page heap. */
static void span_gone(mcentral *c)
{
    c->nspans--;
    if (c->nslack)
        c->nslack--;
}

void mcentral_init(mcentral *c, spanClass spc)
{
    __builtin_memset(c, 0, sizeof *c);
    c->lock.rank = LOCKRANK_MCENTRAL;
    c->spanclass = spc;
}

static inline spanList *partial_swept(mcentral *c, uint32_t sg) { return &c->partial[(sg / 2) % 2]; }
static inline spanList *partial_unswept(mcentral *c, uint32_t sg) { return &c->partial[1 - (sg / 2) % 2]; }
static inline spanList *full_swept(mcentral *c, uint32_t sg) { return &c->full[(sg / 2) % 2]; }
static inline spanList *full_unswept(mcentral *c, uint32_t sg) { return &c->full[1 - (sg / 2) % 2]; }

const char *mcentral_set_name(const mcentral *c, const spanList *l, uint32_t sg)
{
    if (l == &c->partial[(sg / 2) % 2]) return "partial swept";
    if (l == &c->partial[1 - (sg / 2) % 2]) return "partial unswept";
    if (l == &c->full[(sg / 2) % 2]) return "full swept";
    if (l == &c->full[1 - (sg / 2) % 2]) return "full unswept";
    if (l == &c->held) return "held";
    return "none";
}

static void list_push(spanList *l, mspan *s)
{
    s->list = l;
    s->prev = 0;
    s->next = l->first;
    if (l->first)
        l->first->prev = s;
    else
        l->last = s;
    l->first = s;
    __atomic_store_n(&l->n, l->n + 1, __ATOMIC_RELAXED); /* (drain reads it unlocked) */
}

static void list_remove(spanList *l, mspan *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        l->first = s->next;
    if (s->next)
        s->next->prev = s->prev;
    else
        l->last = s->prev;
    s->next = s->prev = 0;
    s->list = 0;
    __atomic_store_n(&l->n, l->n - 1, __ATOMIC_RELAXED);
}

static mspan *list_pop(spanList *l)
{
    mspan *s = l->first;
    if (s)
        list_remove(l, s);
    return s;
}

/* The span pushed longest ago (the unswept sets are queues: the oldest
 * span has had the most time to collect pending frees). */
static mspan *list_pop_oldest(spanList *l)
{
    mspan *s = l->last;
    if (s)
        list_remove(l, s);
    return s;
}

/* A large collected object's sweep: marked → keep (clear the mark), else
 * free its pages.  Returns false if freed. */
static bool sweep_large_locked(mcentral *c, mspan *s, uint32_t sg)
{
    if (s->markgen != sg)
        gc_count_gc_sweep(s->npages);
    if (s->markgen == sg || (__atomic_load_n(&s->gcmarkBits[0], __ATOMIC_RELAXED) & 1)) {
        s->gcmarkBits[0] = 0;
        s->markgen = sg;
        return true;
    }
    gc_count_large_free(s->npages * PAGE_SIZE);
    if (!ALLOC_DEBUG && __atomic_load_n(&gc_clobber, __ATOMIC_RELAXED))
        gc_clobber_object(s->startAddr, s->limit - s->startAddr); /* gcclobber */
    if (__atomic_load_n(&s->profSamples, __ATOMIC_RELAXED))
        mprof_free_large(s); /* the heap profile's sample dies with it */
    span_gone(c);
    mheap_free_span(s);
    return false;
}

/* An empty span of c may go back to the page heap now: not while the mark
 * runs (GC_MARK) for a collected class — a marker may hold a grey pointer into it
 * (greyed before explicit kfrees emptied it) and read it after the pages
 * were reused or unbacked.  Kept on partial swept, the next GC sweep frees
 * it. */
static bool may_release_empty(const mcentral *c)
{
    /* GC_MARKTERM: the world stopped, no marker left (mark termination's
     * own uncache of every CPU's spans frees at once) */
    return spanclass_is_kmalloc(c->spanclass) ||
           __atomic_load_n(&gc_phase, __ATOMIC_ACQUIRE) != GC_MARK;
}

/* s (swept, in no set) is empty: hold it, or free its pages (HELD EMPTY
 * SPANS). */
static void span_empty_locked(mcentral *c, mspan *s)
{
    alloc_assert_locked(&c->lock, __func__);
    /* room in the bound: a CAS, as other classes add under their own locks */
    uint64_t h = __atomic_load_n(&mheap_.held_pages, __ATOMIC_RELAXED);
    while (spanclass_is_kmalloc(c->spanclass) && h + s->npages <= mheap_.held_max_pages) {
        if (__atomic_compare_exchange_n(&mheap_.held_pages, &h, h + s->npages, true,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
            __atomic_store_n(&s->sweepgen, mheap_.sweepgen, __ATOMIC_RELEASE);
            list_push(&c->held, s);
            return;
        }
    }
    span_gone(c);
    mheap_free_span(s);
}

/* s off the held list (c->lock held). */
static void unhold_locked(mcentral *c, mspan *s)
{
    list_remove(&c->held, s);
    __atomic_fetch_sub(&mheap_.held_pages, s->npages, __ATOMIC_RELAXED);
}

/* Step 4a: a held empty span, off the held list, or NULL.  Swept first if
 * a pending free reached it (only a duplicate's second copy can:
 * mobjcache.c DUPLICATES; the sweep reports and drops it), as step 1. */
static mspan *take_held_locked(mcentral *c)
{
    mspan *s = c->held.first;
    if (!s)
        return 0;
    unhold_locked(c, s);
    __atomic_store_n(&s->sweepgen, mheap_.sweepgen, __ATOMIC_RELAXED); /* (stale after a GC) */
    if (__atomic_load_n(&s->pendingCount, __ATOMIC_ACQUIRE) != 0)
        mspan_sweep(s);
    return s;
}

uint64_t mcentral_drain_held(mcentral *c)
{
    if (!__atomic_load_n(&c->held.n, __ATOMIC_RELAXED)) /* a hint: most classes hold none */
        return 0;
    uint64_t pages = 0;
    for (;;) { /* one span per c->lock: the page heap's lock is not taken under it */
        plat_lock(&c->lock);
        mspan *s = take_held_locked(c);
        if (s)
            span_gone(c);
        plat_unlock(&c->lock);
        if (!s)
            return pages;
        pages += s->npages;
        mheap_free_span(s);
    }
}

uint64_t mcentral_drain_all_held(void)
{
    uint64_t pages = 0;
    for (uint32_t spc = KMALLOC_SPC_BASE; spc < NUM_SPAN_CLASSES; spc++)
        pages += mcentral_drain_held(&mheap_.central[spc]);
    return pages;
}

/* Sweep s (owned by the caller, in no set) and file it: back to the heap
 * when empty (see may_release_empty) or held (span_empty_locked), else on
 * partial/full swept.  Returns false if not filed in a set. */
static bool sweep_and_file_locked(mcentral *c, mspan *s)
{
    alloc_assert_locked(&c->lock, __func__);
    uint32_t sg = mheap_.sweepgen;
    __atomic_store_n(&s->sweepgen, sg - 1, __ATOMIC_RELAXED); /* being swept */
    if (spanclass_sizeclass(s->spanclass) == 0) {
        if (!sweep_large_locked(c, s, sg))
            return false;
    } else {
        mspan_sweep(s);
        if (s->allocCount == 0 && may_release_empty(c)) {
            span_empty_locked(c, s);
            return false;
        }
    }
    __atomic_store_n(&s->sweepgen, sg, __ATOMIC_RELEASE);
    list_push(s->allocCount < s->nelems ? partial_swept(c, sg) : full_swept(c, sg), s);
    return true;
}

/* Claim an unswept span for sweeping (Go's tryAcquire). */
static bool try_acquire(mspan *s, uint32_t sg)
{
    uint32_t want = sg - 2;
    return __atomic_compare_exchange_n(&s->sweepgen, &want, sg - 1, false, __ATOMIC_ACQ_REL,
                                       __ATOMIC_RELAXED);
}

/* Pacing (step 3): rather than sweep an oldest unswept span that has
 * collected fewer than a quarter of its slots in pending frees, grow a
 * fresh span, while the class's spans grown that way (nslack) stay under
 * a quarter of its spans.  The slack lets pending frees pile up, so that
 * each sweep and refill recovers several slots instead of one.  Collected
 * classes only: see below. */
static bool grow_for_slack(const mcentral *c, const mspan *s)
{
    uint32_t want = s->nelems / SLACK_WANT_DIV;
    /* A span the collector marked since its last sweep may be mostly
     * garbage: pendingCount says nothing about that, so sweep it. */
    if (!spanclass_is_kmalloc(c->spanclass) && s->markgen != mheap_.sweepgen)
        return false;
    /* kmalloc's churn is absorbed by the freed-object caches (mobjcache.c):
     * a refill is rare, and what its spans hold pending is what the caches
     * could not keep — memory to reuse before growing */
    if (spanclass_is_kmalloc(c->spanclass))
        return false;
    return want > 1 && c->nslack <= c->nspans / SLACK_SPANS_DIV &&
           (uint32_t)__atomic_load_n(&s->pendingCount, __ATOMIC_RELAXED) < want;
}

/* Step 1: a partial swept span (swept again if frees are pending on it). */
static mspan *take_partial_swept_locked(mcentral *c, uint32_t sg)
{
    mspan *s = list_pop(partial_swept(c, sg));
    if (s && __atomic_load_n(&s->pendingCount, __ATOMIC_ACQUIRE) != 0)
        mspan_sweep(s);
    return s;
}

/* Step 2: the oldest partial unswept span, claimed and swept. */
static mspan *take_partial_unswept_locked(mcentral *c, uint32_t sg)
{
    mspan *s = list_pop_oldest(partial_unswept(c, sg));
    if (!s)
        return 0;
    if (!try_acquire(s, sg)) { /* someone else owns it: not possible under c->lock */
        list_push(partial_unswept(c, sg), s);
        return 0;
    }
    mspan_sweep(s);
    return s;
}

/* Step 3: sweep the oldest full unswept spans until one has a free slot
 * (those that stay full go to full swept), unless pacing says grow
 * (*slack = true).  Bounded by a budget, as in Go. */
static mspan *take_full_unswept_locked(mcentral *c, uint32_t sg, bool may_slack, bool *slack)
{
    for (int budget = SPAN_BUDGET; budget >= 0; budget--) {
        mspan *s = full_unswept(c, sg)->last;
        if (!s)
            return 0;
        if (may_slack && grow_for_slack(c, s)) {
            *slack = true;
            return 0;
        }
        list_remove(full_unswept(c, sg), s);
        if (!try_acquire(s, sg)) {
            list_push(full_unswept(c, sg), s);
            return 0;
        }
        mspan_sweep(s);
        if (s->allocCount < s->nelems)
            return s;
        __atomic_store_n(&s->sweepgen, sg, __ATOMIC_RELEASE);
        list_push(full_swept(c, sg), s);
    }
    return 0;
}

/* Steps 1-3 under c->lock. */
static mspan *take_existing_locked(mcentral *c, uint32_t sg, bool may_slack, bool *slack)
{
    mspan *s = take_partial_swept_locked(c, sg);
    if (!s)
        s = take_partial_unswept_locked(c, sg);
    if (!s)
        s = take_full_unswept_locked(c, sg, may_slack, slack);
    return s;
}

/* The span becomes CPU cpu's: swept-and-cached sweepgen, owner tag, stats
 * base, allocCache positioned at freeindex. */
static void give_to_cache_locked(mspan *s, uint32_t sg, uint32_t cpu)
{
    ALLOC_CHECK(s->allocCount < s->nelems && s->freeindex < s->nelems, s,
                "mcentral_cache_span: span has no free objects");
    debug_check_span(s, "cache");
    __atomic_store_n(&s->sweepgen, sg + 3, __ATOMIC_RELEASE);
    __atomic_store_n(&s->cachedBy, (int32_t)cpu + 1, __ATOMIC_RELAXED);
    __atomic_store_n(&s->cachedMask, 1ull << cpu, __ATOMIC_RELAXED);
    __atomic_store_n(&s->allocCountBeforeCache, (int64_t)s->allocCount, __ATOMIC_RELAXED);
    mspan_refill_alloc_cache(s, s->freeindex / 64);
    s->allocCache >>= s->freeindex % 64;
}

mspan *mcentral_cache_span(mcentral *c, uint32_t cpu)
{
    bool slack = false;
    if (c->spanclass < NUM_GC_SPAN_CLASSES) /* Go's cacheSpan: pay the sweep debt first */
        gc_deduct_sweep_credit(class_to_allocnpages[spanclass_sizeclass(c->spanclass)] * PAGE_SIZE);
    plat_lock(&c->lock);
    mspan *s = take_existing_locked(c, mheap_.sweepgen, true, &slack);
    if (!s)
        s = take_held_locked(c); /* 4a */
    if (!s) {
        /* 4. grow */
        plat_unlock(&c->lock);
        s = mheap_alloc(class_to_allocnpages[spanclass_sizeclass(c->spanclass)], c->spanclass,
                        false);
        plat_lock(&c->lock);
        if (s) {
            c->nspans++;
            c->nslack += slack;
        } else if (slack) {
            /* out of memory while growing for slack: sweep after all */
            bool unused = false;
            s = take_existing_locked(c, mheap_.sweepgen, false, &unused);
        }
        if (!s) {
            plat_unlock(&c->lock);
            return 0;
        }
    }
    give_to_cache_locked(s, mheap_.sweepgen, cpu);
    plat_unlock(&c->lock);
    return s;
}

void mcentral_uncache_span(mcentral *c, mspan *s)
{
    debug_check_span(s, "uncache");
    plat_lock(&c->lock);
    uint32_t sg = mheap_.sweepgen;
    bool stale = s->sweepgen == sg + 1;
    /* seq_cst store then seq_cst load: pairs with kfree (see malloc.c). */
    __atomic_store_n(&s->cachedMask, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&s->cachedBy, 0, __ATOMIC_SEQ_CST);
    if (stale || __atomic_load_n(&s->pendingCount, __ATOMIC_SEQ_CST) != 0) {
        sweep_and_file_locked(c, s);
    } else {
        __atomic_store_n(&s->sweepgen, sg, __ATOMIC_RELEASE);
        if (s->allocCount == 0 && may_release_empty(c)) {
            span_empty_locked(c, s); /* nothing was ever kept in it */
        } else {
            list_push(s->allocCount < s->nelems ? partial_swept(c, sg) : full_swept(c, sg), s);
        }
    }
    plat_unlock(&c->lock);
}

void mcentral_note_free(mcentral *c, mspan *s)
{
    plat_lock(&c->lock);
    uint32_t sg = mheap_.sweepgen;
    /* Revalidate: s may have been swept, freed or reused meanwhile. */
    if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != mSpanInUse || s->spanclass != c->spanclass ||
        s->cachedBy != 0 || s->list == 0 || __atomic_load_n(&s->pendingCount, __ATOMIC_ACQUIRE) <= 0) {
        plat_unlock(&c->lock);
        return;
    }
    spanList *l = s->list;
    if (l == &c->held) {
        /* a held (empty) span with a pending free: a duplicate's second
         * copy (mobjcache.c DUPLICATES) — the sweep reports and drops it,
         * and the span is held again (or freed) */
        unhold_locked(c, s);
        sweep_and_file_locked(c, s);
        plat_unlock(&c->lock);
        return;
    }
    bool swept = l == partial_swept(c, sg) || l == full_swept(c, sg);
    if ((uint32_t)__atomic_load_n(&s->pendingCount, __ATOMIC_ACQUIRE) >= s->allocCount) {
        /* Every object is pending free: sweep now; the span returns to the
         * heap, or is held. */
        if (swept || try_acquire(s, sg)) {
            list_remove(l, s);
            sweep_and_file_locked(c, s);
        }
    } else if (l == full_swept(c, sg)) {
        list_remove(l, s);
        __atomic_store_n(&s->sweepgen, sg - 2, __ATOMIC_RELEASE);
        list_push(full_unswept(c, sg), s);
    }
    plat_unlock(&c->lock);
}

void mcentral_add_large(mcentral *c, mspan *s)
{
    plat_lock(&c->lock);
    uint32_t sg = mheap_.sweepgen;
    __atomic_store_n(&s->sweepgen, sg, __ATOMIC_RELEASE);
    list_push(full_swept(c, sg), s);
    c->nspans++;
    plat_unlock(&c->lock);
}

bool mcentral_remove_large(mcentral *c, mspan *s, uintptr_t x)
{
    plat_lock(&c->lock);
    bool ok = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == mSpanInUse &&
              s->spanclass == c->spanclass && s->startAddr == x && s->list;
    if (ok) {
        list_remove(s->list, s);
        span_gone(c);
    }
    plat_unlock(&c->lock);
    return ok;
}

uint64_t mcentral_sweep_all(mcentral *c)
{
    uint64_t n = 0, gc = 0;
    plat_lock(&c->lock);
    uint32_t sg = mheap_.sweepgen;
    for (int k = 0; k < 2; k++) {
        spanList *l = k ? full_unswept(c, sg) : partial_unswept(c, sg);
        mspan *s;
        while ((s = list_pop_oldest(l)) != 0) {
            if (!try_acquire(s, sg))
                alloc_fatal_span(s, "mcentral_sweep_all: unswept span not at sweepgen h-2");
            gc += !spanclass_is_kmalloc(c->spanclass) && s->markgen != sg;
            sweep_and_file_locked(c, s);
            n++;
        }
    }
    plat_unlock(&c->lock);
    if (gc)
        gc_count_finish_sweeps(gc);
    return n;
}

/* The oldest span of an unswept set of c, if it awaits its GC sweep (the
 * sets' order: mgcsweep.c's SWEEPONE), off its set and claimed. */
static mspan *take_gc_unswept_locked(mcentral *c, uint32_t sg)
{
    for (int k = 0; k < 2; k++) {
        spanList *l = k ? full_unswept(c, sg) : partial_unswept(c, sg);
        mspan *s = l->last;
        if (!s || s->markgen == sg)
            continue;
        list_remove(l, s);
        if (!try_acquire(s, sg))
            alloc_fatal_span(s, "mcentral: unswept span not at sweepgen h-2");
        return s;
    }
    return 0;
}

uint64_t mcentral_sweep_one(mcentral *c, uint64_t *count)
{
    if (spanclass_is_kmalloc(c->spanclass))
        return 0;
    plat_lock(&c->lock);
    mspan *s = take_gc_unswept_locked(c, mheap_.sweepgen);
    uint64_t n = s ? s->npages : 0;
    if (s) {
        sweep_and_file_locked(c, s);
        /* under the lock: whoever next finds the sets empty (and may
         * declare the sweep done) sees this count */
        if (count)
            __atomic_fetch_add(count, 1, __ATOMIC_RELAXED);
    }
    plat_unlock(&c->lock);
    return n;
}

uint64_t mcentral_reclaim_span(mcentral *c, mspan *s, uintptr_t base)
{
    uint64_t freed = 0;
    plat_lock(&c->lock);
    uint32_t sg = mheap_.sweepgen;
    spanList *l = s->list;
    /* revalidate: still c's, in an unswept set, awaiting its GC sweep */
    if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == mSpanInUse && s->startAddr == base &&
        s->spanclass == c->spanclass && !spanclass_is_kmalloc(c->spanclass) &&
        (l == partial_unswept(c, sg) || l == full_unswept(c, sg)) && s->markgen != sg) {
        uint64_t npages = s->npages;
        list_remove(l, s);
        if (!try_acquire(s, sg))
            alloc_fatal_span(s, "mcentral_reclaim_span: unswept span not at sweepgen h-2");
        if (!sweep_and_file_locked(c, s))
            freed = npages;
    }
    plat_unlock(&c->lock);
    return freed;
}

uint64_t mcentral_pending_gc_sweeps(mcentral *c)
{
    uint64_t n = 0;
    plat_lock(&c->lock);
    uint32_t sg = mheap_.sweepgen;
    for (int k = 0; k < 2; k++)
        for (mspan *s = (k ? full_unswept(c, sg) : partial_unswept(c, sg))->first; s; s = s->next)
            n += !spanclass_is_kmalloc(c->spanclass) && s->markgen != sg;
    plat_unlock(&c->lock);
    return n;
}
