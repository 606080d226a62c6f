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
 */
#include "debug.h"
#include "malloc_impl.h"
#include "mgc.h"
#include "mheap.h"
#include "mgcpriv.h"
#include "mprof.h"

static uint64_t gc_freed[NUM_GC_SPAN_CLASSES]; /* atomic: objects the collector freed */
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
    mspan_refill_alloc_cache(s, 0);
    if (freed)
        s->needzero = 1;
    debug_check_span(s, "sweep");
    return freed;
}
