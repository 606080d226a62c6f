/*
 * mheap.h — the page heap: arenas, the arena index, span allocation, and
 * the global allocator state (Go's mheap).  See mheap.c for the essay.
 */
#ifndef ALLOC_MHEAP_H
#define ALLOC_MHEAP_H

#include <stdbool.h>
#include <stdint.h>

#include "mcache.h"
#include "mcentral.h"
#include "mfixalloc.h"
#include "mpagealloc.h"
#include "mspan.h"
#include "platform.h"
#include "sizeclass.h"

#define ARENA_SHIFT 26
#define ARENA_BYTES (1ull << ARENA_SHIFT)                 /* 64 MiB */
#define PAGES_PER_ARENA (ARENA_BYTES / PAGE_SIZE)         /* 8192 */
#define ARENA_BITMAP_WORDS (ARENA_BYTES / 8 / 64)         /* heap bits, in uint64 */

/* Metadata of one 64 MiB arena (persistentalloc'd, never freed). */
typedef struct heapArena {
    /* spans[i]: the span owning page i when the page is in an in-use or
     * manual span (invariant, checked by heap_verify); for free pages a stale
     * pointer or NULL.  Written under mheap_.lock, read lock free.
     * First in the struct: kfree's lookup then needs no offset. */
    mspan *spans[PAGES_PER_ARENA];
    /* Heap bitmap: bit w%64 of bitmap[w/64] describes the 8-byte word w of
     * the arena: 1 = pointer.  Written by mallocgc for typed objects in scan
     * spans (whole slot: pointer bits from the type, 0 elsewhere); meaningless
     * for noscan spans and free pages.  Owner of the object writes it. */
    uint64_t bitmap[ARENA_BITMAP_WORDS];
    /* Bit i set iff page i is the FIRST page of an mSpanInUse span
     * (written under mheap_.lock with atomic RMW; the page reclaimer
     * reads it without the lock, and revalidates what it finds). */
    uint8_t pageInUse[PAGES_PER_ARENA / 8];
    /* For the garbage collector: bit set on the first page of every span
     * the last mark marked an object in (gc_set_page_mark, atomic OR by the
     * markers; cleared at sweep termination with the world stopped); read
     * by the page reclaimer while the sweep runs (the bits are final). */
    uint8_t pageMarks[PAGES_PER_ARENA / 8];
    /* gccheckmark=1 only (mcheckmark.c): 1 bit per 8-byte word of the
     * arena, set at an object's first word by the checkmark pass; NULL
     * until a checkmark pass first needs it (persistentalloc, 1 MiB).
     * Pointer and bits written and read only by the collecting CPU with
     * the world stopped (the pass is serial): no synchronisation. */
    uint64_t *checkmarks;
    uintptr_t base;       /* arena start (immutable) */
    /* Offset from base below which memory may be dirty; [zeroedBase, 64 MiB)
     * has never been handed out, so it is zero (mheap_.lock). Monotonic. */
    uint64_t zeroedBase;
    struct heapArena *next; /* all arenas, newest first (append under mheap_.lock) */
} heapArena;

typedef struct mheap {
    plat_lock_t lock;   /* rank LOCKRANK_MHEAP; protects fields marked (L) */
    pageAlloc pages;    /* (L) free/scavenged page runs over all arenas */
    uint32_t sweepgen;  /* +2 per sweep cycle; read lock free */
    bool inited;

    uintptr_t window_base; /* plat_heap_window (immutable after init) */
    uint64_t window_size;
    uint64_t fast_size;    /* kfree's fast path takes window offsets below it
                              (below_fast_size): window_size, or with
                              PLAT_FLAT_PAGEMAP the part whose page map is
                              backed (grows under L with a release store,
                              after the backing) */
    uint64_t objcache_key; /* the first word of every free kmalloc slot
                              (mobjcache.c; set at malloc_init, odd; next to
                              the window: kfree loads both) */
    heapArena **arenas;    /* [window_size >> ARENA_SHIFT]; entries set once (L),
                              read lock free with acquire */
    intptr_t *pagemap;     /* PLAT_FLAT_PAGEMAP: [window_size >> PAGE_SHIFT]
                              reserved (NULL: none); per page, its spans[]
                              entry as an offset from &mheap_nospan (so the
                              zero of fresh memory is the sentinel):
                              pagemap[p] == spans[p] - &mheap_nospan for
                              every page of every arena, written with
                              spans[] (L), read lock free with acquire
                              (page_span) below fast_size */
    uint64_t pagemap_backed; /* (L) bytes of pagemap backed, from its start */
    heapArena *allArenas;  /* (L) */
    uint64_t narenas;      /* (L) */

    fixalloc spanalloc;    /* (L) mspan structs */

    mcentral central[NUM_SPAN_CLASSES];
    mcache *mcaches;       /* [ncpu] */
    uint32_t ncpu;

    /* ---- statistics (L) ---- */
    uint64_t reserved_bytes; /* arena address space reserved (all states) */
    uint64_t prepared_bytes; /* arena bytes made Prepared (Prepared + Ready) */
    uint64_t ready_bytes;    /* arena bytes Ready */
    uint64_t inuse_pages;    /* pages in mSpanInUse spans (held ones too) */
    uint64_t held_pages;     /* pages of empty kmalloc spans the mcentrals
                                hold (mcentral.c HELD EMPTY SPANS).  Written
                                by whoever holds or unholds a span, under
                                that class's c->lock only: classes race, so
                                a hold claims room with a CAS and an unhold
                                subtracts atomically (relaxed: the count
                                orders nothing; the lists are under their
                                locks).  Read without a lock as an estimate
                                (mheap_alloc step 1b, the library's
                                scavenger, MemStats), exactly by heap_verify
                                with every lock held.
                                held_pages <= held_max_pages at every
                                instant; = Σ held spans' pages, quiescent */
    uint64_t held_max_pages; /* the bound: HELD_MAX_PAGES, set at init (tests
                                change it while no other CPU allocates) */
    uint64_t manual_pages;   /* pages in mSpanManual spans */
    uint64_t nspans[NUM_SIZE_CLASSES]; /* in-use spans per size class (0 = large) */
    uint64_t large_live;     /* large objects (in-use class 0 spans) */
    uint64_t meta_bytes;     /* arena metadata + span structs */
} mheap;

extern mheap mheap_;
/* Tests' negative control: 1 makes mheap_alloc grow the heap without first
 * taking back the empty spans the mcentrals hold (step 1b). */
extern volatile uint32_t mheap_debug_no_drain;

/* SENTINELS: every entry of the arena index that is not an arena points at
 * mheap_noarena, whose spans[] (the only field that exists) all point at
 * mheap_nospan; every page of a real arena that never held a span does too.
 * mheap_nospan is dead, empty and has freeLimit 0.  So the lookup
 * window → arena → page → span never meets a NULL: kfree's fast path needs
 * no NULL tests (its freeLimit gate sends the sentinel to the slow path).
 * arena_of and span_of hide the sentinels (they return NULL). */
extern mspan mheap_nospan;
extern heapArena *mheap_noarena;

void mheap_init(void);

/* The arena-index entry for window offset woff (< window_size): an arena or
 * mheap_noarena (lock free, acquire: entries are published once). */
static inline heapArena *arena_index(uint64_t woff)
{
    return __atomic_load_n(&mheap_.arenas[woff >> ARENA_SHIFT], __ATOMIC_ACQUIRE);
}

/* Arena holding p, or NULL (lock free). */
static inline heapArena *arena_of(uintptr_t p)
{
    uint64_t off = p - mheap_.window_base;
    if (off >= mheap_.window_size)
        return 0;
    heapArena *ha = arena_index(off);
    return ha == mheap_noarena ? 0 : ha;
}

/* kfree's window test: woff < fast_size, read once (it grows under the
 * heap lock while kfrees run: an acquire load, after the page map it
 * covers was backed).  On x86-64 one cmp with a memory operand (loads are
 * acquire there), which the compiler does not make of an atomic load. */
static inline __attribute__((always_inline)) bool below_fast_size(uint64_t woff)
{
#if defined(__x86_64__)
    bool below;
    __asm__("cmpq %2, %1" : "=@ccb"(below) : "r"(woff), "m"(mheap_.fast_size));
    return below;
#else
    return woff < __atomic_load_n(&mheap_.fast_size, __ATOMIC_ACQUIRE);
#endif
}

/* The spans[] entry of the page at window offset woff < fast_size, lock
 * free: &mheap_nospan for a page of no arena (as spans[] of
 * mheap_noarena), possibly stale for a free page.  With PLAT_FLAT_PAGEMAP
 * one load, else two dependent ones (kfree's step 1). */
static inline __attribute__((always_inline)) mspan *page_span(uint64_t woff)
{
#if PLAT_FLAT_PAGEMAP
    intptr_t d = __atomic_load_n(&mheap_.pagemap[woff >> PAGE_SHIFT], __ATOMIC_ACQUIRE);
    return (mspan *)((uintptr_t)&mheap_nospan + (uintptr_t)d);
#else
    return __atomic_load_n(&arena_index(woff)->spans[(woff >> PAGE_SHIFT) & (PAGES_PER_ARENA - 1)],
                           __ATOMIC_ACQUIRE);
#endif
}

/* spans[] entry for p's page: NULL outside the heap and for pages that
 * never held a span, possibly stale (a dead span) for a free page; the
 * caller validates state and range (lock free). */
static inline mspan *span_of(uintptr_t p)
{
    heapArena *ha = arena_of(p);
    if (!ha)
        return 0;
    mspan *s = __atomic_load_n(&ha->spans[((p - mheap_.window_base) >> PAGE_SHIFT) &
                                          (PAGES_PER_ARENA - 1)],
                               __ATOMIC_ACQUIRE);
    return s == &mheap_nospan ? 0 : s;
}

/* Allocate a span of npages pages: for spc's class (small: nelems etc. set
 * up, bitmaps allocated, all slots free), or a large one (class 0: one
 * object, allocCount 1), or manual (state mSpanManual, spc ignored).
 * Memory is Ready; s->needzero says whether it may be dirty.  NULL when out
 * of memory (after scavenging and growing).  Takes mheap_.lock; for a span
 * that is not manual, first mcentral locks (the collector's sweepers), so
 * the caller holds none of rank MCENTRAL or above. */
mspan *mheap_alloc(uint64_t npages, spanClass spc, bool manual);
/* Return a span's pages to the page heap (still Ready).  Takes mheap_.lock. */
void mheap_free_span(mspan *s);
void mheap_free_span_locked(mspan *s);
/* Give up to `bytes` of free Ready pages back to the host (Ready →
 * Prepared); returns the bytes released.  Takes mheap_.lock. */
uint64_t heap_scavenge(uint64_t bytes);

#endif
