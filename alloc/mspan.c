/*
 * mspan.c — slot-level operations on a span: the allocCache refill and Go's
 * nextFreeIndex.
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
 * The sweep lives in mgcsweep.c (mspan_sweep).
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

uint32_t mspan_live_objects(const mspan *s)
{
    int32_t p = __atomic_load_n(&s->pendingCount, __ATOMIC_RELAXED);
    return s->allocCount - (uint32_t)(p > 0 ? p : 0);
}
