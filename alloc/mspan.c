/*
 * mspan.c — slot-level operations on a span: the allocCache refill, Go's
 * nextFreeIndex, and the sweep that turns pending explicit frees into free
 * slots.
 *
 * OWNS nothing global; every function works on one span owned by the caller
 * (see mspan.h for who owns a span when).
 *
 * NEXT FREE INDEX (slow path behind mspan_next_free_fast):
 *   1. If freeindex == nelems the span is full: return nelems.
 *   1b. If freeindex is a multiple of 64 and allocCache is empty, the fast
 *      path left the word unloaded: load word freeindex/64.
 *   2. While allocCache has no set bit: move freeindex to the next multiple
 *      of 64, stop (full) at nelems, else reload allocCache from allocBits.
 *   3. Take the lowest set bit: result = freeindex + bit; past nelems → full.
 *   4. Shift the cache past it, freeindex = result + 1, and reload the cache
 *      when freeindex crosses into a new word.
 *
 * SWEEP (mspan_sweep_bits), for explicit frees — the structure a garbage
 * collector's sweep will share:
 *   1. For each bitmap word: take the pending frees with an atomic exchange
 *      (frees that arrive later stay pending for the next sweep).
 *   2. allocated = allocBits | (slots below freeindex).  Pending bits for
 *      slots that are not allocated are double frees that raced past kfree's
 *      checks: report them and drop them.
 *   3. gcmarkBits = allocated & ~pending — the live set (a collector sets
 *      gcmarkBits by marking instead).
 *   4. Publish: allocBits = gcmarkBits word by word (atomic stores), clear
 *      gcmarkBits, then freeindex = 0 with release order.  A remote kfree
 *      reads freeindex before allocBits, so it sees either the old freeindex
 *      (and any bitmap: a live slot is set in both) or the new freeindex and
 *      the new bitmap.
 *   5. allocCount -= freed, pendingCount -= taken, reload allocCache; when
 *      anything was freed the span's free slots are dirty: needzero = 1.
 *
 * INVARIANTS after a sweep: freeindex == 0, allocCount == popcount(allocBits),
 * gcmarkBits all zero, tinyBits ⊆ allocBits.
 */
#include "debug.h"
#include "malloc_impl.h"
#include "mspan.h"
#include "platform.h"

void mspan_refill_alloc_cache(mspan *s, uint32_t word)
{
    if (word >= s->nwords) {
        s->allocCache = 0;
        return;
    }
    uint64_t c = ~__atomic_load_n(&s->allocBits[word], __ATOMIC_RELAXED);
    if (word == s->nwords - 1 && (s->nelems % 64))
        c &= (1ull << (s->nelems % 64)) - 1; /* no bits past nelems */
    s->allocCache = c;
}

uint32_t mspan_next_free_index(mspan *s)
{
    uint32_t sfreeindex = s->freeindex;
    uint32_t snelems = s->nelems;
    if (sfreeindex == snelems)
        return sfreeindex;
    uint64_t cache = s->allocCache;
    if (cache == 0 && sfreeindex % 64 == 0) {
        mspan_refill_alloc_cache(s, sfreeindex / 64);
        cache = s->allocCache;
    }
    while (cache == 0) {
        sfreeindex = (sfreeindex + 64) & ~63u;
        if (sfreeindex >= snelems) {
            __atomic_store_n(&s->freeindex, snelems, __ATOMIC_RELAXED);
            return snelems;
        }
        mspan_refill_alloc_cache(s, sfreeindex / 64);
        cache = s->allocCache;
    }
    uint32_t bit = (uint32_t)__builtin_ctzll(cache);
    uint32_t result = sfreeindex + bit;
    if (result >= snelems) {
        __atomic_store_n(&s->freeindex, snelems, __ATOMIC_RELAXED);
        return snelems;
    }
    s->allocCache = cache >> bit >> 1;
    sfreeindex = result + 1;
    if (sfreeindex % 64 == 0 && sfreeindex != snelems)
        mspan_refill_alloc_cache(s, sfreeindex / 64);
    __atomic_store_n(&s->freeindex, sfreeindex, __ATOMIC_RELAXED);
    return result;
}

uint32_t mspan_sweep_bits(mspan *s)
{
    uint32_t fi = s->freeindex;
    uint32_t freed = 0, taken = 0, live = 0;
    for (uint32_t w = 0; w < s->nwords; w++) {
        uint64_t pend = 0;
        if (__atomic_load_n(&s->pendingFree[w], __ATOMIC_RELAXED))
            pend = __atomic_exchange_n(&s->pendingFree[w], 0, __ATOMIC_ACQ_REL);
        taken += (uint32_t)__builtin_popcountll(pend);
        uint64_t valid = w == s->nwords - 1 && (s->nelems % 64)
                             ? (1ull << (s->nelems % 64)) - 1 : ~0ull;
        uint64_t allocated = (s->allocBits[w] | mspan_below_mask(w, fi)) & valid;
        uint64_t bogus = pend & ~allocated;
        if (bogus) {
            uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(bogus);
            alloc_undo_frees(s, (uint32_t)__builtin_popcountll(bogus));
            alloc_report("sweep: double free of 0x%lx (span 0x%lx class %u, %lu B)",
                         (unsigned long)(s->startAddr + (uint64_t)i * s->elemsize),
                         (unsigned long)s->startAddr,
                         (unsigned)spanclass_sizeclass(s->spanclass),
                         (unsigned long)s->elemsize);
            pend &= allocated;
        }
        freed += (uint32_t)__builtin_popcountll(pend);
        s->gcmarkBits[w] = allocated & ~pend;
        live += (uint32_t)__builtin_popcountll(s->gcmarkBits[w]);
    }
    for (uint32_t w = 0; w < s->nwords; w++) {
        __atomic_store_n(&s->allocBits[w], s->gcmarkBits[w], __ATOMIC_RELAXED);
        if (s->tinyBits)
            s->tinyBits[w] &= s->gcmarkBits[w];
        s->gcmarkBits[w] = 0;
    }
    __atomic_store_n(&s->freeindex, 0, __ATOMIC_RELEASE);
    ALLOC_CHECK(live == s->allocCount - freed, s, "sweep: span 0x%lx class %u: allocCount %u - "
                "freed %u != live %u", (unsigned long)s->startAddr,
                (unsigned)spanclass_sizeclass(s->spanclass), s->allocCount, freed, live);
    __atomic_store_n(&s->allocCount, live, __ATOMIC_RELAXED); /* kfree reads it */
    __atomic_fetch_sub(&s->pendingCount, (int32_t)taken, __ATOMIC_ACQ_REL);
    mspan_refill_alloc_cache(s, 0);
    if (freed)
        s->needzero = 1;
    debug_check_span(s, "sweep");
    return freed;
}

uint32_t mspan_live_objects(const mspan *s)
{
    int32_t p = __atomic_load_n(&s->pendingCount, __ATOMIC_RELAXED);
    return s->allocCount - (uint32_t)(p > 0 ? p : 0);
}
