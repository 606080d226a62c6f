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
#include "mobjcache.h"
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
/* kfree of a collected object from step 4 on, pinning with plat_pin
 * (PLAT_HAVE_OWNER_CACHE: out of line). */
void kfree_pinned(mspan *s, uintptr_t x);
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

/* c's freed-object array of kmalloc span class spc (fc[spc - 136]), the
 * constants folded: one shift and one lea. */
static inline __attribute__((always_inline)) objcache *mcache_fc(mcache *c, uintptr_t spc)
{
    return (objcache *)((uintptr_t)c +
                        (__builtin_offsetof(mcache, fc) - KMALLOC_SPC_BASE * sizeof(objcache)) +
                        (uintptr_t)spc * sizeof(objcache));
}

/* Pop the newest object of fc (top > base) into *v: SMALL ALLOCATION step
 * 2a.  false, with nothing changed, when its first word is not the key
 * (freed twice at once on two CPUs, or written after its free: mobjcache.c
 * DUPLICATES): kmalloc_slow drops and reports it.  Caller pinned on fc's
 * CPU. */
static inline __attribute__((always_inline)) bool objcache_pop(objcache *fc, uintptr_t *top,
                                                               uint64_t key, spanClass spc,
                                                               bool needzero, void **v)
{
    uintptr_t o = top[-1];
    if (__builtin_expect(*(const uint64_t *)o != key, 0))
        return false;
    __atomic_store_n(&fc->top, top - 1, __ATOMIC_RELAXED);
    objcache_take(o);
    if (needzero) /* cached objects are dirty */
        __builtin_memset((void *)o, 0, class_to_size[spc - KMALLOC_SPC_BASE]);
    *v = (void *)o;
    return true;
}

/* SMALL ALLOCATION step 2b: *v = the next free slot of s, or false.  A
 * free slot holds the released key (mobjcache.c THE KEY); one that does not
 * was written after its free or freed into a cache while free (a double
 * free the key could not see): left to kmalloc_slow, whose small_alloc
 * takes it, reports it (objcache_span_slot_bad), leaves it allocated and
 * takes the next. */
static inline __attribute__((always_inline)) bool kmalloc_from_span(mspan *s, uint64_t key,
                                                                    bool needzero, void **v)
{
    if (__builtin_expect(!mspan_try_next_free_if(s, key | OBJCACHE_RELEASED, v), 0))
        return false;
#if ALLOC_DEBUG
    debug_check_free_slot(s, *v);
#endif
    if (needzero && s->needzero)
        __builtin_memset(*v, 0, s->elemsize);
    else
        objcache_unkey(*v);
    return true;
}

/* SMALL ALLOCATION steps 1-2: *v = a fresh object of size bytes from this
 * CPU's mcache and true, or false (nothing changed: call kmalloc_slow).
 * 2a: the newest object this CPU freed of that class (mobjcache.c); 2b:
 * else the next slot of the cached span.  needzero: the object must be
 * zero (kcalloc). */
static inline __attribute__((always_inline)) bool kmalloc_fast(size_t size, bool needzero,
                                                               void **v)
{
    if (__builtin_expect(size > MAX_SMALL_SIZE, 0))
        return false;
    uintptr_t spc = kmalloc_spc[(size + 7) >> 3]; /* a word: no second zero extension */
#ifdef PLAT_HAVE_OWNER_CACHE
    /* pinned for free, or mcache_unowned (every test below misses) and
     * kmalloc_slow pins and does the same */
    mcache *c = (mcache *)plat_owner_cache();
    objcache *fc = mcache_fc(c, spc);
    uintptr_t *top = fc->top;
    if (__builtin_expect(top != fc->base, 1))
        return objcache_pop(fc, top, c->objcacheKey, spc, needzero, v);
    return kmalloc_from_span(c->alloc[spc], c->objcacheKey, needzero, v);
#else
    uint64_t tok = plat_pin();
    mcache *c = my_mcache();
    objcache *fc = mcache_fc(c, spc);
    uintptr_t *top = fc->top;
    bool ok;
    if (__builtin_expect(top != fc->base, 1))
        ok = objcache_pop(fc, top, c->objcacheKey, spc, needzero, v);
    else
        ok = kmalloc_from_span(c->alloc[spc], c->objcacheKey, needzero, v);
    plat_unpin(tok);
    return ok;
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

/* FREE step 5 of mobjcache.c's essay: x onto c's array of its class;
 * pinned (tok) and unpins. */
static inline __attribute__((always_inline)) void objcache_push(mcache *c, uintptr_t spc,
                                                                uintptr_t x, uint64_t tok)
{
    objcache *fc = mcache_fc(c, spc);
    uintptr_t *top = fc->top;
    if (__builtin_expect(top == fc->end, 0)) {
        objcache_push_slow(c, fc, x, tok); /* (fc, not spc: no register kept for it) */
        return;
    }
    *top = x;
    __atomic_store_n(&fc->top, top + 1, __ATOMIC_RELEASE);
    fc->pushes++;
    plat_unpin(tok);
}

/* The same when the fast path's pin failed (PLAT_HAVE_OWNER_CACHE and
 * plat_owner_cache() == &mcache_unowned): pins with plat_pin. */
void objcache_push_pinning(uintptr_t x, spanClass spc);
/* kfree of x (checked, its first word the key) whose span another CPU has
 * cached: back to the span as a pending free, counted as a free of this
 * CPU.  Pins itself (mobjcache.c). */
void objcache_free_remote(uintptr_t x, uintptr_t spc);

/* FREE of a kmalloc object, steps 4-5 of mobjcache.c's essay: store the
 * key (the old word was a key: not a live object), then onto this CPU's
 * array of its class. */
static inline __attribute__((always_inline)) void kfree_cached(const mspan *s, uintptr_t x,
                                                               uintptr_t spc)
{
    /* 4. a slot holds a key iff it is not a live object (cached, pending
     * or free in its span — a new span's slots were keyed before its gate
     * opened: mobjcache.c THE KEY), so no allocated test: a plain load and
     * store, no atomic swap.  Two frees of x at once on two CPUs may both
     * pass: the copy that leaves its cache second is caught then
     * (mobjcache.c DUPLICATES). */
    uint64_t key = mheap_.objcache_key;
    if (__builtin_expect(objcache_is_key(*(const volatile uint64_t *)x, key), 0)) {
        objcache_double_free(x);
        return;
    }
    *(volatile uint64_t *)x = key;
    objcache_poison(x, s->elemsize);
    /* 5. push — unless another CPU is carving x's span: then x goes back
     * to the span (mobjcache.c, PASSIVE FALSE SHARING) */
    uint64_t cm = __atomic_load_n(&s->cachedMask, __ATOMIC_RELAXED);
#ifdef PLAT_HAVE_OWNER_CACHE
    /* mcache_unowned's arrays are full: objcache_push_slow pins; its
     * othersMask is every CPU, so the release path pins too */
    mcache *c = (mcache *)plat_owner_cache();
    if (__builtin_expect(cm & c->othersMask, 0)) {
        objcache_free_remote(x, spc);
        return;
    }
    objcache_push(c, spc, x, 0);
#else
    uint64_t tok = plat_pin();
    mcache *c = my_mcache();
    if (__builtin_expect(cm & c->othersMask, 0)) {
        plat_unpin(tok);
        objcache_free_remote(x, spc);
        return;
    }
    objcache_push(c, spc, x, tok);
#endif
}

/* FREE steps 1-4 inline; the rest through kfree_pending / slow, which is
 * kfree_slow or a wrapper's filter in front of it (lib/preload.c: its
 * over-aligned pointers) — a constant, folded when inlined (kfree_pinned
 * when pinning is not free). */
static inline __attribute__((always_inline)) void kfree_inline_with(void *p,
                                                                   void (*slow)(uintptr_t))
{
    uintptr_t x = (uintptr_t)p;
    /* 1. span: window offset (below fast_size: the window, or the part
     * whose flat page map is backed) → page map (page_span: the flat map,
     * or the arena index then the arena's spans[]).  Never NULL: holes map
     * to the sentinels (mheap.h), whose freeLimit 0 fails step 2. */
    uint64_t woff = x - mheap_.window_base;
    if (__builtin_expect(!below_fast_size(woff), 0))
        goto slow;
    mspan *s = page_span(woff);
    /* 2. one gate for: small, in use, no tiny blocks, inside the objects */
    uint64_t off = x - s->startAddr;
    if (__builtin_expect(!mspan_below_free_limit(s, off), 0))
        goto slow;
    /* 3. object start and its index in one multiply (off < freeLimit <
     * 2^32: mspan_exact_index) */
    uint32_t idx = mspan_exact_index(s, (uint32_t)off);
    if (__builtin_expect(idx == UINT32_MAX, 0))
        goto slow;
    uintptr_t spc = s->spanclass; /* a word: zero-extended once */
    if (PLAT_KFREE_FAST_KMALLOC_ONLY || __builtin_expect(spc >= KMALLOC_SPC_BASE, 1)) {
        kfree_cached(s, x, spc); /* (the gate admitted kmalloc spans only) */
        return;
    }
#ifdef PLAT_HAVE_OWNER_CACHE
    /* collected objects (rare here: the preload library has none) out of
     * line, so that kmalloc's path keeps no registers for them */
    kfree_pinned(s, x);
    return;
#else
    {
        uint64_t tok = plat_pin();
        kfree_owner(s, x, idx, my_mcache(), tok);
        return;
    }
#endif
slow:
    slow(x);
}

static inline __attribute__((always_inline)) void kfree_inline(void *p)
{
    kfree_inline_with(p, kfree_slow);
}

#endif
