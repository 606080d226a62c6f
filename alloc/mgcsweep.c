/*
 * mgcsweep.c — sweeping a span: turning its pending explicit frees and, once
 * per garbage-collection cycle, its mark bits into free slots (Go's
 * mgcsweep.go, (*sweepLocked).sweep), and the collector's sweep counters.
 *
 * TWO KINDS OF SWEEP, one routine (mspan_sweep):
 *   - FREE-ONLY: apply kfree's pending frees.  Any span, any time its owner
 *     wants (mcache refill, in-place sweep, mcentral).  Never reads or
 *     writes mark bits: a free-only sweep may run while markers set them.
 *   - GC SWEEP: the first sweep of a span in a cycle, after the mark: the
 *     slots that are allocated, not pending free and not marked are garbage.
 *     Only collected span classes (0..135); a kmalloc span is never marked
 *     and never GC-swept.
 *   Which one is decided by span.markgen, the mheap_.sweepgen at which the
 *   span was created or last GC-swept (GC.md C2): markgen != sweepgen means
 *   a mark finished since, so this sweep is the GC sweep.  The field is
 *   needed because explicit frees re-queue swept spans for sweeping within
 *   one cycle (mcentral_note_free): Go, having no explicit free, sweeps a
 *   span exactly once per cycle and needs no such field.
 *
 * STEPS (small span; caller owns it: mcentral lock for a span no mcache
 * holds, or the pinned owner of a cached span):
 *   1. gc = collected class && markgen != mheap_.sweepgen.
 *   2. Per bitmap word: take the pending frees (atomic exchange: later
 *      frees stay pending).  allocated = allocBits | slots below freeindex.
 *      Pending bits of unallocated slots are double frees that raced past
 *      kfree's checks: report, drop, undo their count.
 *   3. live = allocated & ~pending, and & gcmarkBits when gc (an explicit
 *      free wins over a mark; "& allocated" keeps a marked slot that was
 *      kfree'd or undone by its owner from coming back to life).  GC frees
 *      (allocated, not pending, not marked) are counted as Frees here —
 *      pending ones were counted at kfree.  In debug builds they are
 *      poisoned (their memory is free from now on); with gcclobber they
 *      are filled with 0xdeadbeefdeadbeef (large objects: mcentral.c).  A span holding heap
 *      profile samples (profSamples != 0) reports every slot it frees to
 *      mprof_sweep_free (in use → freed in the profile; mprof.c).
 *   4. allocBits = live (atomic stores), tinyBits &= live; when gc, clear
 *      gcmarkBits and set markgen = sweepgen.  Then freeindex = 0 (release:
 *      a remote kfree reads freeindex before allocBits, and any slot below
 *      the old freeindex that is still live is set in the new allocBits).
 *   5. allocCount = popcount(live) (checked against allocCount - freed),
 *      pendingCount -= taken, reload allocCache; anything freed → needzero.
 *
 * INVARIANTS after a sweep: freeindex == 0, allocCount == popcount(allocBits),
 * tinyBits ⊆ allocBits, markgen == sweepgen for collected classes, and
 * gcmarkBits clear when the sweep was a GC sweep (invariant I5 of GC.md:
 * each span is GC-swept exactly once per cycle).
 *
 * COUNTERS: gc_freed[spc] / gc_freed_large (atomic, any sweeper) feed
 * read_memstats' Frees; the sweeper is not necessarily a CPU that could
 * count them in its own mcache (mcentral_note_free runs unpinned).
 *
 * WHO SWEEPS (Go's four sweepers; GC.md section 1 row 4, stage E).  After
 * mark termination every span of a collected class awaits its GC sweep
 * (the flip, mgc.c).  Whoever gets to a span first sweeps it — the CAS on
 * span.sweepgen (h-2 → h-1, mcentral.c's try_acquire, under the class's
 * mcentral lock) makes that exactly once:
 *   1. ON DEMAND: mcentral sweeps the spans it hands to an mcache, and an
 *      mcache's stale spans are swept when it gives them back.
 *   2. BACKGROUND (gc_bgsweep_step, Go's bgsweep): the host's idle CPUs
 *      sweep batches of GC_BGSWEEP_BATCH spans with sweepone, looking for
 *      work again between batches.
 *   3. PROPORTIONAL (gc_deduct_sweep_credit, Go's deductSweepCredit): at
 *      mark termination, pages_per_byte = pages in use / (trigger -
 *      heap_live - 1 MiB, at least a page), a 32.32 fixed-point number (no
 *      floating point in alloc/).  Before mcentral takes a span for an
 *      mcache of a collected class, or the page heap makes a large
 *      collected object, the allocation's debt is pages_per_byte × (heap_live
 *      + its bytes - heap_live at mark termination); sweepone runs until
 *      the pages GC-swept this cycle, by anyone, pay it.  So every span is
 *      swept before heap_live reaches the next trigger: sweep termination
 *      finds nothing left (gc_cycle_record.sweep_left).
 *   4. THE PAGE RECLAIMER (gc_reclaim, Go's mheap.reclaim): before the
 *      page heap hands out pages for a span while the sweep is unfinished,
 *      it scans the arenas' pageInUse & ~pageMarks — the first pages of
 *      in-use spans in which the mark found nothing (I8: the mark sets the
 *      bit of every span it marks in) — 512 pages (one 64-byte stretch of
 *      each bitmap) at a time from a shared cursor, and sweeps those spans
 *      of collected classes that await their GC sweep: they free wholly,
 *      and their pages come back before the heap grows.  kmalloc spans are
 *      never marked, so their clear bits say nothing: skipped.  Pages freed
 *      beyond the request are credit for the next caller.
 *   gc_finish_sweep (sweep termination, gc_collect) sweeps what is left.
 *
 * SWEEPONE (gc_sweepone): a cursor over the collected span classes; in
 * the cursor's class, mcentral_sweep_one takes the OLDEST span of an
 * unswept set if it awaits its GC sweep.  That one look per set suffices:
 * the spans awaiting their GC sweep were all in the sets at the flip, and
 * every span pushed on an unswept set since (mcentral_note_free's requeue,
 * markgen h) went to the front — heap_verify checks that order.  An empty
 * class moves the cursor on (CAS); past the last class the sweep is done
 * (done_gen = h) and proportional sweep stops.
 *
 * SHARED STATE (struct sweep_state below): written at mark termination
 * with the world stopped (gc_sweep_start; the world's restart publishes
 * it); afterwards only atomics.  A sweeper cannot straddle a flip: the
 * flip needs the world stopped, and no sweeper contains a safepoint (a
 * CPU holding an mcentral lock does not stop), so a sweeper's h is the
 * current one except for its last, harmless, store of done_gen/cursor,
 * which carries the generation it belongs to.
 */
#include "debug.h"
#include "malloc_impl.h"
#include "mgc.h"
#include "mheap.h"
#include "mgcpriv.h"
#include "mprof.h"

static uint64_t gc_freed[NUM_GC_SPAN_CLASSES]; /* atomic: objects the collector freed */

#define RECLAIM_CHUNK 512 /* pages per reclaimer claim (Go's pagesPerReclaimerChunk) */
#define RECLAIM_DONE (1ull << 63) /* later claims add to it without wrapping */
#define PACE_SHIFT 32     /* pages_per_byte's fixed point */

volatile uint32_t gc_debug_sweep; /* GC_SWEEP_* knobs (mgc.h) */

/* See SHARED STATE in the essay. */
static struct sweep_state {
    uint64_t cursor;        /* atomic: sweepgen << 32 | next collected class for sweepone */
    uint32_t done_gen;      /* atomic: the sweepgen whose GC sweep is complete */
    uint64_t pace;          /* atomic: pages per byte << PACE_SHIFT; 0: no proportional sweep */
    uint64_t live_basis;    /* heap_live at mark termination (world stopped) */
    uint64_t pages_basis;   /* stats.pages at mark termination (world stopped) */
    uint64_t reclaim_index; /* atomic: next window page the reclaimer claims (RECLAIM_DONE) */
    uint64_t reclaim_limit; /* window pages below the highest arena at mark termination
                               (arenas grown later hold no span of the cycle) */
    uint64_t reclaim_credit;/* atomic: pages reclaimed beyond what their claimer needed */
} sw;
static struct gc_sweep_stats stats; /* every field atomic */
static uint64_t gc_freed_large, gc_freed_large_bytes; /* atomic */

uint64_t gc_freed_objects(spanClass spc)
{
    return spc < NUM_GC_SPAN_CLASSES ? __atomic_load_n(&gc_freed[spc], __ATOMIC_RELAXED) : 0;
}

void gc_freed_large_totals(uint64_t *objects, uint64_t *bytes)
{
    *objects = __atomic_load_n(&gc_freed_large, __ATOMIC_RELAXED);
    *bytes = __atomic_load_n(&gc_freed_large_bytes, __ATOMIC_RELAXED);
}

void gc_count_large_free(uint64_t bytes)
{
    __atomic_fetch_add(&gc_freed_large, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&gc_freed_large_bytes, bytes, __ATOMIC_RELAXED);
}

static inline uint64_t valid_bits(const mspan *s, uint32_t w)
{
    return w == s->nwords - 1 && (s->nelems % 64) ? (1ull << (s->nelems % 64)) - 1 : ~0ull;
}

/* Step 2's race report: pending frees of slots that are not allocated. */
static uint64_t drop_bogus(mspan *s, uint32_t w, uint64_t pend, uint64_t allocated)
{
    uint64_t bogus = pend & ~allocated;
    if (!bogus)
        return pend;
    uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(bogus);
    alloc_undo_frees(s, (uint32_t)__builtin_popcountll(bogus));
    alloc_report("sweep: double free of 0x%lx (span 0x%lx class %u, %lu B)",
                 (unsigned long)(s->startAddr + (uint64_t)i * s->elemsize),
                 (unsigned long)s->startAddr, (unsigned)spanclass_sizeclass(s->spanclass),
                 (unsigned long)s->elemsize);
    return pend & allocated;
}

volatile uint32_t gc_clobber; /* gcclobber: see mgc.h */

void gc_set_clobber(bool on) { __atomic_store_n(&gc_clobber, on, __ATOMIC_RELAXED); }

void gc_clobber_object(uintptr_t p, uint64_t n)
{
    for (uint64_t *q = (uint64_t *)p, *e = (uint64_t *)(p + n); q < e; q++)
        *q = GC_CLOBBER_WORD;
}

/* The slots in `dead` (of word w), which the collector frees: debug builds
 * poison them; gcclobber fills them with GC_CLOBBER_WORD (Go's clobberfree). */
static void poison_dead(const mspan *s, uint32_t w, uint64_t dead)
{
    bool clobber = !ALLOC_DEBUG && __atomic_load_n(&gc_clobber, __ATOMIC_RELAXED);
    for (; (ALLOC_DEBUG || clobber) && dead; dead &= dead - 1) {
        uintptr_t p = s->startAddr + (uint64_t)(w * 64 + (uint32_t)__builtin_ctzll(dead)) * s->elemsize;
        if (clobber)
            gc_clobber_object(p, s->elemsize);
        else
            debug_poison((void *)p, s->elemsize);
    }
}

uint32_t mspan_sweep(mspan *s)
{
    uint32_t sg = __atomic_load_n(&mheap_.sweepgen, __ATOMIC_ACQUIRE);
    bool gc = !spanclass_is_kmalloc(s->spanclass) && s->markgen != sg;
    uint32_t fi = s->freeindex;
    uint32_t freed = 0, taken = 0, live = 0, collected = 0;
    bool sampled = __atomic_load_n(&s->profSamples, __ATOMIC_RELAXED) != 0; /* mprof.c */
    for (uint32_t w = 0; w < s->nwords; w++) {
        uint64_t pend = 0;
        if (__atomic_load_n(&s->pendingFree[w], __ATOMIC_RELAXED))
            pend = __atomic_exchange_n(&s->pendingFree[w], 0, __ATOMIC_ACQ_REL);
        taken += (uint32_t)__builtin_popcountll(pend);
        uint64_t allocated = (s->allocBits[w] | mspan_below_mask(w, fi)) & valid_bits(s, w);
        pend = drop_bogus(s, w, pend, allocated);
        uint64_t keep = allocated & ~pend;
        if (gc) {
            uint64_t marks = __atomic_load_n(&s->gcmarkBits[w], __ATOMIC_RELAXED);
            uint64_t garbage = keep & ~marks;
            collected += (uint32_t)__builtin_popcountll(garbage);
            poison_dead(s, w, garbage);
            keep &= marks;
            s->gcmarkBits[w] = 0;
        }
        freed += (uint32_t)__builtin_popcountll(allocated & ~keep);
        if (__builtin_expect(sampled, 0) && (allocated & ~keep))
            mprof_sweep_free(s, w, allocated & ~keep);
        live += (uint32_t)__builtin_popcountll(keep);
        __atomic_store_n(&s->allocBits[w], keep, __ATOMIC_RELAXED);
        if (s->tinyBits)
            s->tinyBits[w] &= keep;
    }
    if (gc)
        s->markgen = sg;
    __atomic_store_n(&s->freeindex, 0, __ATOMIC_RELEASE);
    ALLOC_CHECK(live == s->allocCount - freed, s, "sweep: span 0x%lx class %u: allocCount %u - "
                "freed %u != live %u", (unsigned long)s->startAddr,
                (unsigned)spanclass_sizeclass(s->spanclass), s->allocCount, freed, live);
    __atomic_store_n(&s->allocCount, live, __ATOMIC_RELAXED); /* kfree reads it */
    __atomic_fetch_sub(&s->pendingCount, (int32_t)taken, __ATOMIC_ACQ_REL);
    if (collected)
        __atomic_fetch_add(&gc_freed[s->spanclass], collected, __ATOMIC_RELAXED);
    if (gc)
        gc_count_gc_sweep(s->npages);
    mspan_refill_alloc_cache(s, 0);
    if (freed)
        s->needzero = 1;
    debug_check_span(s, "sweep");
    return freed;
}

/* ------------------------------------------------------------ sweepers */

void gc_count_gc_sweep(uint64_t npages)
{
    __atomic_fetch_add(&stats.spans, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&stats.pages, npages, __ATOMIC_RELAXED);
}

void gc_count_finish_sweeps(uint64_t spans)
{
    __atomic_fetch_add(&stats.finish_spans, spans, __ATOMIC_RELAXED);
}

void gc_read_sweep_stats(struct gc_sweep_stats *o)
{
    o->spans = __atomic_load_n(&stats.spans, __ATOMIC_RELAXED);
    o->pages = __atomic_load_n(&stats.pages, __ATOMIC_RELAXED);
    o->bg_spans = __atomic_load_n(&stats.bg_spans, __ATOMIC_RELAXED);
    o->prop_spans = __atomic_load_n(&stats.prop_spans, __ATOMIC_RELAXED);
    o->reclaim_spans = __atomic_load_n(&stats.reclaim_spans, __ATOMIC_RELAXED);
    o->reclaim_pages = __atomic_load_n(&stats.reclaim_pages, __ATOMIC_RELAXED);
    o->finish_spans = __atomic_load_n(&stats.finish_spans, __ATOMIC_RELAXED);
}

bool gc_sweep_pending(void)
{
    return __atomic_load_n(&sw.done_gen, __ATOMIC_ACQUIRE) !=
           __atomic_load_n(&mheap_.sweepgen, __ATOMIC_ACQUIRE);
}

/* Window pages below the end of the highest arena (world stopped). */
static uint64_t arena_pages_limit(void)
{
    uint64_t lim = 0;
    for (heapArena *ha = mheap_.allArenas; ha; ha = ha->next) {
        uint64_t end = (ha->base + ARENA_BYTES - mheap_.window_base) >> PAGE_SHIFT;
        lim = end > lim ? end : lim;
    }
    return lim;
}

void gc_sweep_start(uint64_t heap_live, uint64_t trigger)
{
    uint32_t h = mheap_.sweepgen;
    __atomic_store_n(&sw.cursor, (uint64_t)h << 32, __ATOMIC_RELAXED);
    __atomic_store_n(&sw.done_gen, h - 2, __ATOMIC_RELAXED);
    sw.reclaim_limit = arena_pages_limit();
    __atomic_store_n(&sw.reclaim_index, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&sw.reclaim_credit, 0, __ATOMIC_RELAXED);
    /* Go's gcPaceSweeper: finish a MiB before the trigger */
    uint64_t dist = trigger > heap_live + (1u << 20) ? trigger - heap_live - (1u << 20) : 0;
    dist = dist < PAGE_SIZE ? PAGE_SIZE : dist;
    uint64_t pages = mheap_.inuse_pages; /* Go's pagesInUse: an upper bound */
    sw.live_basis = heap_live;
    sw.pages_basis = __atomic_load_n(&stats.pages, __ATOMIC_RELAXED);
    __atomic_store_n(&sw.pace, (pages << PACE_SHIFT) / dist, __ATOMIC_RELAXED);
}

/* Generation h's sweep found nothing left. */
static void sweep_done(uint32_t h)
{
    __atomic_store_n(&sw.pace, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&sw.done_gen, h, __ATOMIC_RELEASE);
}

void gc_sweep_finished(void) { sweep_done(__atomic_load_n(&mheap_.sweepgen, __ATOMIC_ACQUIRE)); }

uint64_t gc_sweepone(uint64_t *count)
{
    for (;;) {
        uint32_t h = __atomic_load_n(&mheap_.sweepgen, __ATOMIC_ACQUIRE);
        uint64_t cur = __atomic_load_n(&sw.cursor, __ATOMIC_ACQUIRE);
        if ((uint32_t)(cur >> 32) != h || __atomic_load_n(&sw.done_gen, __ATOMIC_ACQUIRE) == h)
            return 0; /* no cycle yet, or done */
        uint32_t spc = (uint32_t)cur;
        if (spc >= NUM_GC_SPAN_CLASSES) {
            sweep_done(h);
            return 0;
        }
        uint64_t n = mcentral_sweep_one(&mheap_.central[spc], count);
        if (n)
            return n;
        __atomic_compare_exchange_n(&sw.cursor, &cur, cur + 1, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_RELAXED);
    }
}

uint32_t gc_bgsweep_step(uint32_t budget)
{
    if (!gc_sweep_pending() || (gc_debug_sweep & GC_SWEEP_NO_BG))
        return 0;
    uint32_t n = 0;
    while (n < budget && gc_sweepone(&stats.bg_spans))
        n++;
    return n;
}

void gc_deduct_sweep_credit(uint64_t bytes)
{
    uint64_t pace = __atomic_load_n(&sw.pace, __ATOMIC_RELAXED);
    if (!pace || (gc_debug_sweep & GC_SWEEP_NO_PROPORTIONAL))
        return;
    uint64_t live = __atomic_load_n(&gc_pacer_.heap_live, __ATOMIC_RELAXED) + bytes;
    if (live <= sw.live_basis)
        return;
    unsigned __int128 want = (unsigned __int128)(live - sw.live_basis) * pace;
    uint64_t target = (uint64_t)(want >> PACE_SHIFT);
    while (__atomic_load_n(&stats.pages, __ATOMIC_RELAXED) - sw.pages_basis < target) {
        if (!gc_sweepone(&stats.prop_spans))
            break;
    }
}

/* The reclaimer's candidates among window pages [pg, pg+n) (the window
 * and its arenas are 64 MiB aligned: a chunk lies in one arena): sweep
 * each; returns the pages freed. */
static uint64_t reclaim_chunk(uint64_t pg, uint64_t n)
{
    heapArena *ha = arena_index(pg << PAGE_SHIFT);
    if (ha == mheap_noarena)
        return 0;
    uint32_t h = __atomic_load_n(&mheap_.sweepgen, __ATOMIC_ACQUIRE);
    uint64_t first = pg & (PAGES_PER_ARENA - 1), freed = 0;
    for (uint64_t b = first / 8; b < (first + n) / 8; b++) {
        uint8_t cand = __atomic_load_n(&ha->pageInUse[b], __ATOMIC_RELAXED) &
                       (uint8_t)~__atomic_load_n(&ha->pageMarks[b], __ATOMIC_RELAXED);
        for (; cand; cand &= (uint8_t)(cand - 1)) {
            uintptr_t base = ha->base + (b * 8 + (uint64_t)__builtin_ctz(cand)) * PAGE_SIZE;
            mspan *s = __atomic_load_n(&ha->spans[(base - ha->base) >> PAGE_SHIFT], __ATOMIC_ACQUIRE);
            /* unlocked first look; mcentral revalidates under its lock */
            if (s == &mheap_nospan || spanclass_is_kmalloc(s->spanclass) || s->markgen == h ||
                __atomic_load_n(&s->sweepgen, __ATOMIC_RELAXED) != h - 2)
                continue;
            uint64_t got = mcentral_reclaim_span(&mheap_.central[s->spanclass], s, base);
            if (got) {
                __atomic_fetch_add(&stats.reclaim_spans, 1, __ATOMIC_RELAXED);
                __atomic_fetch_add(&stats.reclaim_pages, got, __ATOMIC_RELAXED);
            }
            freed += got;
        }
    }
    return freed;
}

/* Take up to *need pages of credit. */
static void take_credit(uint64_t *need)
{
    uint64_t c = __atomic_load_n(&sw.reclaim_credit, __ATOMIC_RELAXED);
    while (c) {
        uint64_t take = c < *need ? c : *need;
        if (__atomic_compare_exchange_n(&sw.reclaim_credit, &c, c - take, false, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED)) {
            *need -= take;
            return;
        }
    }
}

void gc_reclaim(uint64_t npages)
{
    if (!gc_sweep_pending() || (gc_debug_sweep & GC_SWEEP_NO_RECLAIM))
        return;
    while (npages && __atomic_load_n(&sw.reclaim_index, __ATOMIC_RELAXED) < RECLAIM_DONE) {
        take_credit(&npages);
        if (!npages)
            break;
        uint64_t pg = __atomic_fetch_add(&sw.reclaim_index, RECLAIM_CHUNK, __ATOMIC_RELAXED);
        if (pg >= sw.reclaim_limit) {
            __atomic_store_n(&sw.reclaim_index, RECLAIM_DONE, __ATOMIC_RELAXED);
            break;
        }
        uint64_t got = reclaim_chunk(pg, RECLAIM_CHUNK);
        if (got > npages)
            __atomic_fetch_add(&sw.reclaim_credit, got - npages, __ATOMIC_RELAXED);
        npages = got > npages ? 0 : npages - got;
    }
}

uint64_t gc_sweep_pending_spans(void)
{
    uint64_t n = 0;
    for (uint32_t spc = 0; spc < NUM_GC_SPAN_CLASSES; spc++)
        n += mcentral_pending_gc_sweeps(&mheap_.central[spc]);
    return n;
}
