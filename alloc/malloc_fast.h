/*
 * malloc_fast.h — the fast paths of kmalloc and kfree as `static inline`
 * functions, so that a wrapper (lib/preload.c's malloc/free) can inline them
 * directly instead of calling kmalloc/kfree.  The slow paths stay out of line
 * in malloc.c.  See the essay at the top of malloc.c: SMALL ALLOCATION steps
 * 1-2 and FREE steps 1-4.  Not a public API: only malloc.c and the preload
 * library include it.
 */
#ifndef ALLOC_MALLOC_FAST_H
#define ALLOC_MALLOC_FAST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "debug.h"
#include "mheap.h"
#include "mspan.h"
#include "platform.h"
#include "sizeclass.h"

/* kmalloc's size → noscan span class: kmalloc_spc[(size+7)/8] (malloc.c). */
extern uint8_t kmalloc_spc[MAX_SMALL_SIZE / 8 + 1];
/* kmalloc's slow path: everything kmalloc_fast did not handle (size 0,
 * large, empty allocCache, out of memory reporting). */
void *kmalloc_slow(uint64_t size, bool needzero);
/* kfree's slow path (NULL, large, closed spans, bad pointers) and steps 5-6
 * (pending free), entered pinned (c, tok). */
void kfree_slow(uintptr_t x);
void kfree_pending(mspan *s, uintptr_t x, uint32_t idx, uint32_t fi, mcache *c, uint64_t tok);
/* The same with token 0 (pinned for free): one argument less to pass. */
void kfree_pending0(mspan *s, uintptr_t x, uint32_t idx, uint32_t fi, mcache *c);
/* kfree from step 4 on, pinning with plat_pin (plat_owner_cache() was NULL). */
void kfree_pinned(mspan *s, uintptr_t x, uint32_t idx);
/* Step 4 found x's pendingFree bit set after claiming the slot: restore
 * freeindex, unpin, report the double free. */
void kfree_owner_conflict(mspan *s, uintptr_t x, uint32_t idx, uint64_t tok);

/* The calling CPU's mcache; caller pinned. */
static inline __attribute__((always_inline)) mcache *my_mcache(void)
{
#ifdef PLAT_HAVE_CPU_CACHE
    return (mcache *)plat_cpu_cache();
#else
    return &mheap_.mcaches[plat_cpu_id()];
#endif
}

/* SMALL ALLOCATION steps 1-2: *v = a fresh object of size bytes from this
 * CPU's mcache and true, or false (nothing changed: call kmalloc_slow).
 * needzero: the object must be zero (kcalloc); a dirty span's slot is then
 * cleared here (class size bytes, as small_alloc does). */
static inline __attribute__((always_inline)) bool kmalloc_fast(size_t size, bool needzero,
                                                               void **v)
{
    if (__builtin_expect(size > MAX_SMALL_SIZE, 0))
        return false;
    spanClass spc = kmalloc_spc[(size + 7) >> 3];
#ifdef PLAT_HAVE_OWNER_CACHE
    /* pinned for free, or kmalloc_slow pins and does the same */
    mcache *c = (mcache *)plat_owner_cache();
    if (__builtin_expect(!c, 0))
        return false;
    mspan *s = c->alloc[spc];
    if (__builtin_expect(!mspan_try_next_free(s, v), 0))
        return false;
#if ALLOC_DEBUG
    debug_check_free_slot(s, *v);
#endif
    if (needzero && s->needzero)
        __builtin_memset(*v, 0, s->elemsize);
    return true;
#else
    uint64_t tok = plat_pin();
    mspan *s = my_mcache()->alloc[spc];
    if (__builtin_expect(mspan_try_next_free(s, v), 1)) {
#if ALLOC_DEBUG
        debug_check_free_slot(s, *v);
#endif
        if (needzero && s->needzero)
            __builtin_memset(*v, 0, s->elemsize);
        plat_unpin(tok);
        return true;
    }
    plat_unpin(tok);
    return false;
#endif
}

/* FREE step 4 (owner undo), else 5-6 through kfree_pending; entered
 * pinned (c = this CPU's mcache, tok from plat_pin) and unpins. */
static inline __attribute__((always_inline)) void kfree_owner(mspan *s, uintptr_t x, uint32_t idx,
                                                              mcache *c, uint64_t tok)
{
    /* 4. owner undo: the span is in this CPU's mcache, x is the slot just
     * below freeindex (idx == freeindex - 1), and it is allocated only
     * because of freeindex (its allocBits bit is 0: it was handed out since
     * the last sweep; a slot allocated at the sweep and skipped over stays
     * for the sweep).  Give it straight back: freeindex = idx, allocCache
     * gains bit 0 (at a word boundary the cache is empty or held the next
     * word: it becomes just this slot), allocCount--, and count the undo
     * (undoCount: a malloc and a free at once).  LIFO frees into the cached
     * span (pairs, stacks of objects) never reach the pending path.
     * freeindex is read pinned: an interrupt handler that allocates from
     * this span must not slip in between.
     *
     * RACE with a remote kfree of the same slot (a double free across
     * CPUs; malloc.c essay, "OWNER UNDO VERSUS REMOTE FREE"): the remote
     * side sets the pendingFree bit (atomic RMW) and then re-reads
     * freeindex; we publish freeindex = idx with xchg (a full barrier) and
     * then read the pendingFree bit.  Dekker: at least one side sees the
     * other.  A set bit here means the slot is being (or was already) freed
     * by someone else: put freeindex back and report (kfree_owner_conflict).
     * No other CPU writes freeindex, so the xchg is a plain store with a
     * fence (same instruction count as the mov it replaces). */
    uint32_t fi = __atomic_load_n(&s->freeindex, __ATOMIC_ACQUIRE);
    if (__builtin_expect(__atomic_load_n(&s->cachedBy, __ATOMIC_RELAXED) == c->tag &&
                             idx + 1 == fi, 1) &&
        !((__atomic_load_n(&s->allocBits[idx / 64], __ATOMIC_RELAXED) >> (idx % 64)) & 1)) {
#if ALLOC_DEBUG
        debug_poison((void *)x, s->elemsize);
#endif
        __atomic_store_n(&s->freeindex, idx, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        if (__builtin_expect(
                (__atomic_load_n(&s->pendingFree[idx / 64], __ATOMIC_RELAXED) >> (idx % 64)) & 1,
                0)) {
            kfree_owner_conflict(s, x, idx, tok);
            return;
        }
        s->allocCache = (fi % 64) ? (s->allocCache << 1) | 1 : 1;
        s->needzero = 1; /* the slot goes back dirty: kcalloc must clear it */
        mspan_owner_count(&s->allocCount, -1);
        c->undoCount[s->spanclass]++;
        plat_unpin(tok);
        return;
    }
    /* 5-6. allocated? then pending (still pinned: counts the free) */
    if (__builtin_constant_p(tok) && tok == 0)
        kfree_pending0(s, x, idx, fi, c);
    else
        kfree_pending(s, x, idx, fi, c, tok);
}

/* FREE steps 1-4 inline; the rest through kfree_pending / kfree_slow
 * (kfree_pinned when pinning is not free). */
static inline __attribute__((always_inline)) void kfree_inline(void *p)
{
    uintptr_t x = (uintptr_t)p;
    /* 1. span: window offset → arena index → page map.  Never NULL: holes
     * map to the sentinels (mheap.h), whose freeLimit 0 fails step 2. */
    uint64_t woff = x - mheap_.window_base;
    if (__builtin_expect(woff >= mheap_.window_size, 0))
        goto slow;
    mspan *s = __atomic_load_n(&arena_index(woff)->spans[(woff >> PAGE_SHIFT) &
                                                          (PAGES_PER_ARENA - 1)],
                               __ATOMIC_ACQUIRE);
    /* 2. one gate for: small, in use, no tiny blocks, inside the objects */
    uint64_t off = x - s->startAddr;
    if (__builtin_expect(off >= __atomic_load_n(&s->freeLimit, __ATOMIC_RELAXED), 0))
        goto slow;
    /* 3. object start */
    uint32_t idx = obj_index((uint32_t)off, s->divMul);
    if (__builtin_expect((uint64_t)idx * s->elemsize != off, 0))
        goto slow;
#ifdef PLAT_HAVE_OWNER_CACHE
    {
        mcache *c = (mcache *)plat_owner_cache();
        if (__builtin_expect(!c, 0)) {
            kfree_pinned(s, x, idx);
            return;
        }
        kfree_owner(s, x, idx, c, 0); /* pinned for free: token 0 */
        return;
    }
#else
    {
        uint64_t tok = plat_pin();
        kfree_owner(s, x, idx, my_mcache(), tok);
        return;
    }
#endif
slow:
    kfree_slow(x);
}

#endif
