/*
 * mcentral.h — the shared pool of spans of one span class (Go's mcentral).
 * See mcentral.c for the design essay.
 */
#ifndef ALLOC_MCENTRAL_H
#define ALLOC_MCENTRAL_H

#include "mspan.h"
#include "platform.h"

typedef struct mcentral {
    plat_lock_t lock;    /* rank LOCKRANK_MCENTRAL; protects everything below
                            and the list fields of the spans in the sets */
    spanClass spanclass; /* immutable */
    /* partial[i]: spans with a free slot (allocCount < nelems when pushed);
     * full[i]: spans without (allocCount == nelems when pushed).
     * Index (sweepgen/2)%2 is the swept copy, the other the unswept copy.
     * Swept sets hold spans with sweepgen == h, unswept ones sweepgen == h-2. */
    spanList partial[2];
    spanList full[2];
    /* held: empty kmalloc spans kept for reuse instead of freed (HELD
     * EMPTY SPANS in mcentral.c): in use, swept, allocCount 0, no pending
     * free, every slot keyed; counted in nspans, and their pages in
     * mheap_.held_pages. */
    spanList held;
    uint32_t nspans; /* in-use spans of the class (cached, in a set or held) */
    uint32_t nslack; /* spans grown for slack (step 3 pacing), <= nspans */
} __attribute__((aligned(64))) mcentral;

/* The bound on mheap_.held_pages: 32 MiB, no more than the free memory the
 * preload library's scavenger leaves resident anyway (GM_SCAV_LO). */
#define HELD_MAX_PAGES ((32ull << 20) / PAGE_SIZE)

void mcentral_init(mcentral *c, spanClass spc);
/* Every empty span c holds back to the page heap; the pages freed.  Takes
 * c->lock, then mheap_.lock without c->lock: the caller holds neither. */
uint64_t mcentral_drain_held(mcentral *c);
/* The same for every class: the heap needs pages (mheap_alloc before it
 * grows), or a caller gives memory back (malloc_flush_all_mcaches). */
uint64_t mcentral_drain_all_held(void);

/* A span with at least one free slot for an mcache, swept, with allocCache
 * set up at freeindex; marked cached by CPU `cpu`.  NULL when the heap is
 * out of memory.  Takes c->lock (and mheap_.lock to grow). */
mspan *mcentral_cache_span(mcentral *c, uint32_t cpu);
/* Give back a span an mcache held (its CPU calls this).  Sweeps it when it
 * has pending frees or is stale, returning it to the heap when empty. */
void mcentral_uncache_span(mcentral *c, mspan *s);
/* Called by kfree after recording a free in s when it was the span's first
 * pending free or (probably) its last live object: a span sitting in a swept
 * set is re-queued as unswept, or swept at once (and returned to the heap)
 * when every object is pending free.  Takes c->lock; tolerates a stale s. */
void mcentral_note_free(mcentral *c, mspan *s);

/* Large collected objects live in their class's (0: scan, 1: noscan) full
 * sets, so that the sweep finds them after each mark (Go's allocLarge).
 * add: a new one, swept; remove (kfree of a large collected object): unlink
 * s if it is still the live large object at x, false otherwise (the caller
 * then reports the bad free).  Both take c->lock. */
void mcentral_add_large(mcentral *c, mspan *s);
bool mcentral_remove_large(mcentral *c, mspan *s, uintptr_t x);
/* Sweep every unswept span of the class (finish the sweep before a new
 * mark); returns the number swept.  Takes c->lock. */
uint64_t mcentral_sweep_all(mcentral *c);

/* The collector's sweepers (mgcsweep.c), each taking c->lock:
 * sweep_one: GC-sweep the oldest span of c awaiting its GC sweep; its
 * pages, or 0 when none is left in c (kmalloc classes: always 0); *count
 * (if count) += 1 before c->lock is released.
 * reclaim_span: s, at page `base`, found by the page reclaimer (unlocked,
 * possibly stale): if it is still one of c's unswept spans awaiting its GC
 * sweep, sweep it; the pages that went back to the page heap (0 if any
 * object survived or s was not such a span).
 * pending_gc_sweeps: how many of c's spans await their GC sweep (a walk). */
uint64_t mcentral_sweep_one(mcentral *c, uint64_t *count);
uint64_t mcentral_reclaim_span(mcentral *c, mspan *s, uintptr_t base);
uint64_t mcentral_pending_gc_sweeps(mcentral *c);

/* Which set a span's list pointer names (for verify / debugging). */
const char *mcentral_set_name(const mcentral *c, const spanList *l, uint32_t sweepgen);

#endif
