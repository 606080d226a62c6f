/*
 * mspan.h — a run of heap pages and the objects in it (Go's mspan).
 *
 * A span is either
 *   - small: npages pages cut into nelems objects of elemsize bytes (one
 *     size class), with per-object bitmaps, handed between mcentral and the
 *     per-CPU mcaches;
 *   - large: one object of npages pages (size class 0, nelems 1);
 *   - manual: pages handed to a non-heap user (stacks later), no objects.
 *
 * OBJECT STATE (small spans).  Slot i is ALLOCATED iff
 *       i < freeindex  ||  allocBits[i]
 * (Go's rule: nothing below freeindex is free; allocBits is only rewritten
 * by sweeping, never by allocation).  Slot i is PENDING FREE iff
 * pendingFree[i]: kfree recorded it, the next sweep makes it free.
 * allocCache holds ~allocBits for the 64 slots starting at freeindex's word,
 * shifted so that bit 0 is slot freeindex, with no bit for slots >= nelems —
 * except that when freeindex is a multiple of 64 it may be 0 instead ("not
 * loaded yet": the fast path hands out slot 64k-1 without reloading, and
 * mspan_next_free_index loads the word).  kfree's owner undo may lower
 * freeindex by one (slot freeindex-1 with allocBits 0, see malloc.c); it
 * relies on allocCache being exact whenever freeindex % 64 != 0 while the
 * span is cached (a span whose freeindex jumps to nelems with a stale
 * cache is uncached at once).
 *
 * SWEEP (mgcsweep.c): the live set is
 *       allocated & ~pendingFree            (free-only sweep)
 *       allocated & ~pendingFree & marks    (the GC sweep, once per cycle)
 * then allocBits = live, freeindex = 0, allocCount = popcount(allocBits),
 * allocCache refilled.
 *
 * SWEEPGEN (h = mheap_.sweepgen, +2 per cycle):
 *   h-2 needs sweeping   h-1 being swept   h swept
 *   h+1 cached before a new cycle began (swept at uncache)   h+3 swept and cached
 */
#ifndef ALLOC_MSPAN_H
#define ALLOC_MSPAN_H

#include <stdbool.h>
#include <stdint.h>

#include "sizeclass.h"

enum mspan_state {
    mSpanDead = 0,   /* not a span: struct on the fixalloc free list */
    mSpanInUse = 1,  /* heap objects (small or large) */
    mSpanManual = 2, /* pages owned by a manual user (stacks) */
};

/* What a manual span is used for (mheap_alloc(..., manual) leaves it NONE;
 * the owner sets it): lets stackfree refuse pages that are not stacks. */
enum manual_kind {
    MANUAL_NONE = 0,
    MANUAL_STACK_POOL = 1,  /* 32 KiB cut into stacks of elemsize bytes */
    MANUAL_STACK_LARGE = 2, /* one stack of elemsize = npages * PAGE_SIZE bytes */
};

struct mspan;

/* Doubly linked list of spans; the owner's lock protects it. */
typedef struct spanList {
    struct mspan *first, *last;
    uint64_t n; /* == number of spans linked (checked by heap_verify);
                   written under the owner's lock with relaxed atomic stores,
                   so that mcentral_drain_held may read a held list's count
                   unlocked as a hint (it locks before it trusts it) */
} spanList;

typedef struct mspan {
    /* ---- list membership: protected by mheap_.central[spanclass].lock ---- */
    struct mspan *next, *prev; /* links in *list */
    spanList *list;            /* the mcentral set holding the span; NULL if none */
    int32_t cachedBy;          /* CPU id + 1 while in that mcache's alloc[]; else 0.
                                  Invariant: list == NULL || cachedBy == 0 */
    uint64_t cachedMask;       /* == cachedBy ? 1 << (cachedBy - 1) : 0 (heap_verify),
                                  kept beside cachedBy so that kfree needs one
                                  test (against mcache.othersMask: another CPU is
                                  carving this span).  Written with cachedBy by
                                  the mcentral lock holder (relaxed); read by
                                  kfree without lock or fence: any value picks a
                                  correct path — the push, or the release to the
                                  span, whose own Dekker with mcentral_uncache_span
                                  re-reads cachedBy (mobjcache.c run_flush_span) */

    /* ---- immutable while state != mSpanDead (written under mheap_.lock) ---- */
    uintptr_t startAddr; /* page aligned, first byte */
    uint64_t npages;     /* >= 1; class_to_allocnpages[class] for small spans */
    uint64_t elemsize;   /* class size; large: npages * PAGE_SIZE */
    uintptr_t limit;     /* end of object data: startAddr + nelems*elemsize
                            (large: startAddr + requested size) */
    uint64_t freeLimit;  /* kfree's fast-path gate: x - startAddr < freeLimit
                            admits x to the short checks.  limit - startAddr for
                            small in-use spans without tiny blocks (a kmalloc
                            span's once its slots hold the key: mheap_alloc
                            step 7); 0 for large, manual and dead spans and
                            once a tiny block was cut from the span (set 0 by
                            the owner, never restored: tiny blocks are never
                            freed) */
    uint32_t divMul;     /* class_to_divmagic[class]: idx = obj_index(off, divMul) */
    uint32_t objInv;     /* kfree's object-start test (mspan_exact_index): the
                            inverse of elemsize's odd part mod 2^32 ... */
    uint8_t objShift;    /* ... and elemsize's power-of-two exponent */
    uint32_t nelems;     /* objects; large: 1 */
    uint32_t nwords;     /* words per bitmap = ceil(nelems / 64) */
    spanClass spanclass; /* class << 1 | noscan; class 0 = large */
    uint8_t state;       /* enum mspan_state */

    /* ---- allocation state: owned by whoever owns the span (its mcache's CPU
     * while cached, else the mcentral lock holder).  freeindex and allocBits
     * are read without a lock by remote kfree: written with relaxed atomics,
     * sweep publishes allocBits before resetting freeindex. ---- */
    uint32_t freeindex;  /* 0 <= freeindex <= nelems; slots below are allocated */
    uint32_t allocCount; /* == |{i < nelems : i < freeindex || allocBits[i]}| */
    int64_t allocCountBeforeCache; /* allocCount when cached, minus the slots an
                                      in-place sweep freed since (stats: the mallocs
                                      of this caching, less owner undos, are
                                      allocCount - this) */
    uint8_t needzero;    /* free slots may hold garbage (else known zero) */
    uint32_t sweepgen;   /* see header comment */
    uint32_t markgen;    /* mheap_.sweepgen when created or last GC-swept: a
                            collected span whose markgen != sweepgen holds the
                            marks of a finished cycle and needs its GC sweep
                            (mgcsweep.c).  Written by whoever sweeps it. */
    uint64_t allocCache; /* ~allocBits from freeindex (see header comment) */
    uint64_t *allocBits;   /* [nwords] 1 = allocated at last sweep; bits >= nelems are 0 */
    uint64_t *gcmarkBits;  /* [nwords] live set being built by a sweep (else all 0) */
    uint64_t *tinyBits;    /* [nwords] tiny-allocator blocks (tiny span class only) */

    /* ---- remote frees: any CPU, lock free ---- */
    uint64_t *pendingFree; /* [nwords] atomic OR by kfree; taken by sweep with xchg.
                              Invariant (quiescent): pendingFree ⊆ allocated */
    int32_t pendingCount;  /* atomic; == popcount(pendingFree) when quiescent */

    /* ---- manual spans ---- */
    uint8_t manualKind;       /* enum manual_kind: who owns a manual span's pages */
    uintptr_t manualFreeList; /* stack pool: free stacks, linked through their first
                                 word (stack.c pool lock) */
    uint64_t stackInUse;      /* stack spans: bit i set while the stack at startAddr +
                                 i * elemsize is handed out (stackalloc'd, not yet
                                 stackfree'd); atomic or/and by any CPU.  Pool spans
                                 hold <= 16 stacks, large-stack spans one. */

    uint32_t verifyMark; /* heap_verify's visit stamp */
    uint32_t profSamples; /* sampled objects of the heap profile not yet freed
                             (mprof.c; written under mprof_lock, read without
                             it by the sweep: nonzero → freed slots are
                             reported; see mprof.c LOCKING for why the sweep
                             never misses a sample it frees) */
} mspan;

/* Bits of bitmap word w that stand for slots below freeindex fi: Go's
 * "everything below freeindex is allocated" as a mask. */
static inline uint64_t mspan_below_mask(uint32_t w, uint32_t fi)
{
    uint32_t lo = w * 64;
    if (fi <= lo)
        return 0;
    if (fi >= lo + 64)
        return ~0ull;
    return (1ull << (fi - lo)) - 1;
}

/* kfree's gate: off < freeLimit, read once (freeLimit changes under
 * mprof_lock while kfrees run: a relaxed load).  On x86-64 one cmp with a
 * memory operand, which the compiler does not make of an atomic load. */
static inline __attribute__((always_inline)) bool mspan_below_free_limit(const mspan *s,
                                                                         uint64_t off)
{
#if defined(__x86_64__)
    bool below;
    __asm__("cmpq %2, %1" : "=@ccb"(below) : "r"(off), "m"(s->freeLimit));
    return below;
#else
    return off < __atomic_load_n(&s->freeLimit, __ATOMIC_RELAXED);
#endif
}

/* kfree's object start in one multiply: with elemsize = d0 * 2^objShift
 * (d0 odd) and objInv = d0^-1 mod 2^32, for off < 2^32
 *       rotr32(off * objInv, objShift) < nelems
 *   <=> off is a multiple of elemsize below nelems * elemsize,
 * and the rotated value is then the slot index (exact division by a
 * multiplicative inverse).  UINT32_MAX when off is not an object start. */
static inline __attribute__((always_inline)) uint32_t mspan_exact_index(const mspan *s,
                                                                        uint32_t off)
{
    uint32_t v = off * s->objInv, k = s->objShift;
    uint32_t q = (v >> k) | (v << ((32 - k) & 31));
    return q < s->nelems ? q : UINT32_MAX;
}

/* The two constants of mspan_exact_index for elemsize d. */
static inline void mspan_exact_consts(uint64_t d, uint32_t *inv, uint8_t *shift)
{
    uint8_t k = (uint8_t)__builtin_ctzll(d);
    uint32_t d0 = (uint32_t)(d >> k), x = d0; /* d0 * d0 == 1 mod 8: 3 bits right */
    for (int i = 0; i < 4; i++)                /* Newton: 3 → 6 → 12 → 24 → 48 bits */
        x *= 2 - d0 * x;
    *inv = x;
    *shift = k;
}

/* Slot index of address p (p inside [startAddr, limit)). */
static inline uint32_t mspan_obj_index(const mspan *s, uintptr_t p)
{
    return obj_index((uint32_t)(p - s->startAddr), s->divMul);
}

/* Go's isFree, lock free: see "OBJECT STATE" above. */
static inline bool mspan_allocated(const mspan *s, uint32_t i)
{
    if (i < __atomic_load_n(&s->freeindex, __ATOMIC_ACQUIRE))
        return true;
    const uint64_t *bits = s->allocBits;
    return (__atomic_load_n(&bits[i / 64], __ATOMIC_RELAXED) >> (i % 64)) & 1;
}

/* allocCount++ by the span's owner.  Remote kfree reads allocCount with
 * relaxed atomic loads, so the store must be single-copy atomic, but no
 * other CPU writes it meanwhile: no locked RMW.  On x86-64 one plain
 * `addl $1, mem` is exactly that; elsewhere a relaxed load + store. */
static inline void mspan_owner_count(uint32_t *p, int32_t d)
{
#if defined(__x86_64__)
    __asm__("addl %1, %0" : "+m"(*p) : "ri"(d) : "cc");
#else
    __atomic_store_n(p, *p + (uint32_t)d, __ATOMIC_RELAXED);
#endif
}

/* Slot `result` (bit `bit` of allocCache == cache) handed out: the owner's
 * three updates, shared by both takers below. */
static inline __attribute__((always_inline)) void mspan_take_slot(mspan *s, uint64_t cache,
                                                                  uint32_t bit, uint32_t result)
{
    s->allocCache = cache >> bit >> 1; /* 0 when result % 64 == 63 */
    __atomic_store_n(&s->freeindex, result + 1, __ATOMIC_RELAXED);
    mspan_owner_count(&s->allocCount, 1);
}

/* Go's nextFreeFast: the next free slot from allocCache, or false when the
 * cache is empty.  Caller owns the span (pinned mcache CPU).  Two tests of
 * Go's are gone: allocCache never has a bit for a slot >= nelems
 * (mspan_refill_alloc_cache masks them), so no `result < nelems`; and when
 * the slot taken is the last of its 64-slot word, the cache is left empty
 * (all its bits are used) rather than reloaded here: the next call misses
 * and mspan_next_free_index loads the next word. */
static inline __attribute__((always_inline)) bool mspan_try_next_free(mspan *s, void **v)
{
    uint64_t cache = s->allocCache;
    if (__builtin_expect(cache == 0, 0))
        return false;
    uint32_t bit = (uint32_t)__builtin_ctzll(cache);
    uint32_t result = s->freeindex + bit;
    mspan_take_slot(s, cache, bit, result);
    *v = (void *)(s->startAddr + (uint64_t)result * s->elemsize);
    return true;
}

/* The same, only if the slot's first word is `first` (kmalloc spans: the
 * released key); otherwise false with nothing changed, and the caller's
 * slow path takes the slot with mspan_try_next_free and deals with it. */
static inline __attribute__((always_inline)) bool mspan_try_next_free_if(mspan *s, uint64_t first,
                                                                         void **v)
{
    uint64_t cache = s->allocCache;
    if (__builtin_expect(cache == 0, 0))
        return false;
    uint32_t bit = (uint32_t)__builtin_ctzll(cache);
    uint32_t result = s->freeindex + bit;
    uintptr_t o = s->startAddr + (uint64_t)result * s->elemsize;
    if (__builtin_expect(*(const uint64_t *)o != first, 0))
        return false;
    mspan_take_slot(s, cache, bit, result);
    *v = (void *)o;
    return true;
}

/* The same, returning the object or NULL. */
static inline void *mspan_next_free_fast(mspan *s)
{
    void *v;
    return mspan_try_next_free(s, &v) ? v : 0;
}

/* Go's refillAllocCache: allocCache = ~allocBits word `word`, without the
 * bits of slots >= nelems (the fast path relies on that). */
void mspan_refill_alloc_cache(mspan *s, uint32_t word);
/* Go's nextFreeIndex: advance freeindex to the next free slot and return it
 * (nelems when the span is full).  Caller owns the span. */
uint32_t mspan_next_free_index(mspan *s);
/* Sweep the span (alloc/mgcsweep.c): its pending frees, and its marks when
 * this is its first sweep since a mark.  Caller owns the span: holds
 * mheap_.central[s->spanclass].lock for a span no mcache holds, or is the
 * pinned owner of a cached span (mcache.c).  Returns the objects freed. */
uint32_t mspan_sweep(mspan *s);
/* Objects allocated (allocCount) minus pending frees (racy unless quiescent). */
uint32_t mspan_live_objects(const mspan *s);

#endif
