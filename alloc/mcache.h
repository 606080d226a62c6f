/*
 * mcache.h — per-CPU allocation cache (Go's mcache).  See mcache.c.
 *
 * Ownership: mheap_.mcaches[cpu] is touched only by CPU `cpu` while pinned
 * (plat_pin), with no lock.  Other CPUs read its counters for statistics
 * (relaxed, approximate unless quiescent).
 */
#ifndef ALLOC_MCACHE_H
#define ALLOC_MCACHE_H

#include "mobjcache.h"
#include "mspan.h"

typedef struct mcache {
    /* Current span per span class; &mcache_emptyspan when none.
     * Invariant: alloc[spc]->spanclass == spc, cachedBy == cpu + 1,
     * sweepgen == h+3 (or h+1 after a new cycle began). */
    mspan *alloc[NUM_SPAN_CLASSES];

    /* Tiny allocator: current 16-byte block and the next free offset in it.
     * tiny == 0 when there is no block. tinyoffset <= TINY_SIZE. */
    uintptr_t tiny;
    uint64_t tinyoffset;
    uint64_t tinyAllocs; /* tiny objects packed into an existing block */

    /* Counters (written by the owner only), by span class where they can
     * be, so that collected and kmalloc memory are counted apart. */
    uint64_t smallAllocCount[NUM_SPAN_CLASSES]; /* objects taken from uncached spans */
    uint64_t smallFreeCount[NUM_SPAN_CLASSES];  /* pending kfrees on this CPU, by span
                                                   class (no shift on the fast path) */
    uint64_t undoCount[NUM_SPAN_CLASSES];       /* owner undos (kfree step 4): each is a
                                                   malloc the span's allocCount no longer
                                                   shows and a free, by span class */
    /* large objects by kind: [0] collected (mallocgc), [1] kmalloc */
    uint64_t largeAlloc[2], largeAllocCount[2]; /* bytes (whole pages), objects */
    uint64_t largeFree[2], largeFreeCount[2];
    uint64_t refills;        /* spans taken from mcentral */
    uint64_t spansReturned;  /* spans handed back to mcentral (uncache) */
    uint64_t remoteFrees;    /* kfree into a span another CPU has cached */
    uint64_t sweepsInPlace;  /* full cached spans swept and kept (mcache_next_free) */
    /* Heap profile (mprof.c): bytes of mallocgc until the next sample,
     * counted down by mallocgc here (Go's nextSample); the rate it was
     * drawn at; the state of its random draws.  Owner only, except that
     * mprof_set_rate stores nextSample = 0 (a relaxed store; see mprof.c
     * RATE CHANGES). */
    uint64_t nextSample;
    uint64_t profRate;
    uint64_t profRand;
    /* Freed kmalloc objects by size class (mobjcache.c): fc[cls].  Owner
     * only, except as objcache says.  fcMoved[cls]: objects moved into
     * fc[cls] from the transfer cache minus those moved out (to the
     * transfer cache or the spans), changed under the class's transfer
     * lock (or with the system quiescent).  Objects the CPU handed out of
     * fc[cls] = pushes + fcMoved - objcache_n. */
    objcache fc[NUM_SIZE_CLASSES];
    int64_t fcMoved[NUM_SIZE_CLASSES];
    uintptr_t *fcBlock;                /* fc[*].slots' storage (first push) */
    uint64_t objcacheKey; /* == mheap_.objcache_key, copied by malloc_init before
                             any CPU allocates (never written again), for
                             kmalloc's pop: this line is hot there, mheap_'s not */
    uint32_t cpu;
    int32_t tag; /* cpu + 1: the cachedBy value of this mcache's spans */
    uint64_t othersMask; /* ~(1 << cpu): a span's cachedMask & this → another
                            CPU has it cached (kfree, PASSIVE FALSE SHARING) */
    uint32_t flushGen; /* mheap_.sweepgen when last prepared for sweep (Go's
                          flushGen): != sweepgen → stale spans to hand back */
} __attribute__((aligned(64))) mcache;

/* The span every empty alloc[] slot points at: nelems 0, allocCache 0, so
 * the fast path always misses.  Never in any list. */
extern mspan mcache_emptyspan;

/* What PLAT_HAVE_OWNER_CACHE's plat_owner_cache() returns when the caller
 * is not pinned for free (alloc/platform.h): an mcache no CPU owns, which
 * no one writes, whose every fast path misses — pop finds its arrays empty,
 * push finds them full, every alloc[] is the empty span — so the fast
 * paths need no NULL test; their slow paths see it and pin. */
extern mcache mcache_unowned;

void mcache_init(mcache *c, uint32_t cpu);
/* Slow path: the next free slot of class spc after refilling alloc[spc]
 * from mcentral if needed; *sp = the span it came from.  NULL when out of
 * memory.  Caller pinned on c's CPU. */
void *mcache_next_free(mcache *c, spanClass spc, mspan **sp);
/* Give every cached span back to mcentral and drop the tiny block (Go's
 * releaseAll).  Caller pinned on c's CPU, or the system is quiescent. */
void mcache_release_all(mcache *c);
/* Objects handed out from c's cached span of class spc that are not yet in
 * smallAllocCount. */
uint64_t mcache_inflight_allocs(const mcache *c, spanClass spc);

#endif
