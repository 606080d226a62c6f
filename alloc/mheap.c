/*
 * mheap.c — the page heap (Go's mheap): arenas, the arena index, and spans
 * of pages.
 *
 * OWNS
 *   - The heap's virtual memory, in 64 MiB arenas (8192 pages of 8 KiB)
 *     obtained with plat_reserve(n * 64 MiB, 64 MiB) + plat_prepare, placed
 *     wherever the platform's heap window has room.
 *   - The arena index: a flat table with one heapArena* per 64 MiB of the
 *     window (persistentalloc'd at init), so address → arena → page → span
 *     is two loads (span_of in mheap.h).
 *   - With PLAT_FLAT_PAGEMAP (the preload library, host tests), the flat
 *     page map: 8 bytes per page of the whole window (1/1024 of it,
 *     address space reserved at init, backed as arenas are added: 64 KiB
 *     per arena), a copy of spans[] that takes kfree from address to span
 *     in one load (page_span) below fast_size, the backed part.
 *   - heapArena metadata per arena (spans[], pageInUse, pageMarks,
 *     heap bitmap, zeroedBase).
 *   - The page allocator (mpagealloc.c) over all arenas, mspan structs
 *     (fixalloc), span bitmaps (gcbits.c), and the heap statistics.
 *
 * ALLOCATE A SPAN (mheap_alloc, npages)
 *   0. Not a manual span, and the collector's sweep unfinished: pay a
 *      large collected object's proportional sweep debt, then let the page
 *      reclaimer sweep npages worth of wholly garbage spans back into the
 *      page heap (mgcsweep.c), so that garbage is reused before the heap
 *      grows.  Both take mcentral locks: no lock may be held here (stacks,
 *      whose pool lock is held, come as manual spans; step 1b takes
 *      mcentral locks for them too, which their rank allows).
 *   1. Lock.  base = pagealloc_alloc(npages) — lowest-address first fit; it
 *      backs (plat_back, Prepared → Ready) every scavenged page of the run
 *      through heap_back, which counts Ready bytes.
 *   1b. No run fits (or backing it failed), and the mcentrals hold empty
 *      kmalloc spans (mcentral.c HELD EMPTY SPANS) → unlock, give them
 *      all back to the page heap
 *      (mcentral_drain_all_held: the mcentral locks, then this one; the
 *      caller holds neither), lock, retry 1 — before the heap grows.
 *   2. No run fits → grow: reserve and prepare ceil(npages / 8192) arenas in
 *      one contiguous piece, allocate their metadata, publish them in the
 *      arena index, hand their pages to the page allocator; retry 1.
 *   3. Backing failed (physical memory exhausted) → scavenge every free
 *      Ready page (Ready → Prepared, the frames go back to the host) and
 *      retry 1 once.  Still nothing → NULL (the caller reports OOM).
 *   4. Take an mspan from fixalloc, fill it in; needzero from the arenas'
 *      zeroedBase (memory above it was never handed out, so it is zero).
 *   5. Small span: nelems, divMul, bitmaps; large: one object.
 *   6. spans[] = s for every page; pageInUse bit for the first page; stats.
 *   7. Unlock.  A small kmalloc span: its slots' first words get the
 *      released key (objcache_key_span, mobjcache.c THE KEY), then kfree's
 *      gate opens (freeLimit); until then its frees take the slow path.
 *      Outside the lock: the stores fault fresh pages in.
 * FREE A SPAN (mheap_free_span): lock; clear pageInUse; pagealloc_free
 *   (pages stay Ready); free bitmaps and the mspan; stats.  spans[] entries
 *   are left stale — readers always validate state and range, and mspan
 *   memory is type stable (fixalloc), so a stale entry is harmless.
 * SCAVENGE (heap_scavenge): lock; pagealloc_scavenge → heap_unback
 *   (plat_unback, Ready → Prepared) from the highest addresses down.
 *
 * INVARIANTS (checked by heap_verify)
 *   - For every page of an in-use or manual span s: spans[page] == s and the
 *     page is allocated in the page allocator; pageInUse is set exactly for
 *     the first page of each mSpanInUse span.
 *   - Flat map: every arena lies below fast_size, and for each of its pages
 *     pagemap[page] == spans[page] - &mheap_nospan.
 *   - inuse_pages == pages of mSpanInUse spans; manual_pages likewise.
 *   - ready_bytes == (inuse + manual + free-not-scavenged pages) * PAGE_SIZE.
 *   - prepared_bytes == pages grown * PAGE_SIZE == narenas * 64 MiB.
 *
 * LOCKING: mheap_.lock (rank MHEAP) protects the fields marked (L) in
 * mheap.h.  It may be taken with an mcentral lock held, never the other
 * way; persistentalloc is called with it held (rank PERSISTENT is a leaf).
 * The arena index and spans[] are read without it.
 */
#include "debug.h"
#include "gcbits.h"
#include "lockrank.h"
#include "malloc_impl.h"
#include "mheap.h"
#include "mgcpriv.h"
#include "persistent.h"

PLAT_NOSCAN mheap mheap_; /* holds heap addresses as integers: not a root */
mspan mheap_nospan; /* state mSpanDead, empty, freeLimit 0 (see mheap.h) */
heapArena *mheap_noarena;

/* A page map with every entry &mheap_nospan. */
static void fill_nospan(mspan **spans)
{
    for (uint64_t i = 0; i < PAGES_PER_ARENA; i++)
        spans[i] = &mheap_nospan;
}

volatile uint32_t mheap_debug_no_drain;

void mheap_init(void)
{
    mheap_.lock.rank = LOCKRANK_MHEAP;
    plat_heap_window(&mheap_.window_base, &mheap_.window_size);
    uint64_t n = mheap_.window_size >> ARENA_SHIFT;
    mheap_.arenas = persistentalloc(n * sizeof(heapArena *), 64, &mheap_.meta_bytes);
    /* Only spans[] of the sentinel arena exists (it is the first field). */
    mspan **nospans = persistentalloc(PAGES_PER_ARENA * sizeof(mspan *), 64, &mheap_.meta_bytes);
    if (!mheap_.arenas || !nospans)
        plat_panic("mheap_init: cannot allocate the arena index");
    fill_nospan(nospans);
    mheap_noarena = (heapArena *)(void *)nospans;
    for (uint64_t i = 0; i < n; i++)
        mheap_.arenas[i] = mheap_noarena;
#if PLAT_FLAT_PAGEMAP
    /* backed as arenas come (pagemap_cover_locked); until then, and for
     * good without it, kfree's fast path takes nothing (fast_size 0) */
    mheap_.pagemap = (intptr_t *)plat_pagemap_reserve((mheap_.window_size >> PAGE_SHIFT) *
                                                      sizeof(intptr_t));
    mheap_.fast_size = 0;
#else
    mheap_.fast_size = mheap_.window_size;
#endif
    pagealloc_init(&mheap_.pages);
    /* Not zeroed on reuse: mheap_alloc writes every field, so a racing
     * lock-free reader of a recycled span never sees a transient NULL
     * bitmap pointer. */
    fixalloc_init(&mheap_.spanalloc, sizeof(mspan), false, &mheap_.meta_bytes);
    mheap_.sweepgen = 0;
    mheap_.held_pages = 0;
    mheap_.held_max_pages = HELD_MAX_PAGES;
    for (uint32_t i = 0; i < NUM_SPAN_CLASSES; i++)
        mcentral_init(&mheap_.central[i], (spanClass)i);
    mheap_.inited = true;
}

/* back() callback for the page allocator: Prepared → Ready. */
static bool heap_back(uintptr_t base, uint64_t bytes)
{
    if (!plat_back(base, bytes))
        return false;
    __atomic_fetch_add(&mheap_.ready_bytes, bytes, __ATOMIC_RELAXED); /* read lock free */
    return true;
}

/* unback() callback: Ready → Prepared. */
static void heap_unback(uintptr_t base, uint64_t bytes)
{
    plat_unback(base, bytes);
    __atomic_fetch_sub(&mheap_.ready_bytes, bytes, __ATOMIC_RELAXED);
}

#if PLAT_FLAT_PAGEMAP
/* Back the flat page map for window addresses below end (new arenas, and
 * whatever plat_reserve placed below them: persistentalloc's regions,
 * whose entries stay zero, the sentinel) and open kfree's fast path to
 * them.  false: the host refused the memory. */
static bool pagemap_cover_locked(uintptr_t end)
{
    alloc_assert_locked(&mheap_.lock, __func__);
    if (!mheap_.pagemap)
        return true; /* none: kfree's slow path finds every span */
    uint64_t need = ((end - mheap_.window_base) >> PAGE_SHIFT) * sizeof(intptr_t);
    need = (need + PLAT_PAGE_SIZE - 1) & ~(uint64_t)(PLAT_PAGE_SIZE - 1);
    if (need > mheap_.pagemap_backed) {
        if (!plat_pagemap_back((uintptr_t)mheap_.pagemap + mheap_.pagemap_backed,
                               need - mheap_.pagemap_backed))
            return false;
        mheap_.pagemap_backed = need;
    }
    uint64_t fast = mheap_.pagemap_backed / sizeof(intptr_t) << PAGE_SHIFT;
    __atomic_store_n(&mheap_.fast_size, fast < mheap_.window_size ? fast : mheap_.window_size,
                     __ATOMIC_RELEASE);
    return true;
}
#else
static bool pagemap_cover_locked(uintptr_t end) { return (void)end, true; }
#endif

/* Add ceil(npages / 8192) new arenas. */
static bool heap_grow_locked(uint64_t npages)
{
    alloc_assert_locked(&mheap_.lock, __func__);
    uint64_t bytes = (npages * PAGE_SIZE + ARENA_BYTES - 1) & ~(ARENA_BYTES - 1);
    if (bytes == 0 || bytes > mheap_.window_size)
        return false;
    uintptr_t base = plat_reserve(bytes, ARENA_BYTES);
    if (!base)
        return false;
    mheap_.reserved_bytes += bytes;
    if (base - mheap_.window_base >= mheap_.window_size ||
        base + bytes - mheap_.window_base > mheap_.window_size)
        plat_panic("mheap: plat_reserve returned memory outside the heap window");
    if (!plat_prepare(base, bytes) || !pagemap_cover_locked(base + bytes))
        return false; /* stays Reserved (counted), unused */
    uint64_t n = bytes >> ARENA_SHIFT;
    /* Metadata for all the new arenas first (chained through next), so a
     * failure publishes nothing. */
    heapArena *fresh = 0;
    for (uint64_t i = 0; i < n; i++) {
        heapArena *ha = persistentalloc(sizeof(heapArena), 4096, &mheap_.meta_bytes);
        if (!ha)
            return false; /* metadata leaked with the Prepared range: harmless */
        ha->base = base + (n - 1 - i) * ARENA_BYTES;
        fill_nospan(ha->spans);
        ha->next = fresh;
        fresh = ha;
    }
    if (!pagealloc_grow(&mheap_.pages, base, bytes))
        return false;
    mheap_.prepared_bytes += bytes;
    while (fresh) {
        heapArena *ha = fresh;
        fresh = ha->next;
        ha->zeroedBase = 0;
        ha->next = mheap_.allArenas;
        mheap_.allArenas = ha;
        mheap_.narenas++;
        __atomic_store_n(&mheap_.arenas[(ha->base - mheap_.window_base) >> ARENA_SHIFT], ha,
                         __ATOMIC_RELEASE);
    }
    return true;
}

/* First-fit pages, growing and scavenging as needed; 0 when out of memory.
 * may_grow false: neither, 0 when nothing fits or backing fails (step 1b
 * drains the held spans first). */
static uintptr_t heap_alloc_pages_locked(uint64_t npages, bool may_grow)
{
    ALLOC_DLOCKED(&mheap_.lock);
    bool grown = false, scavenged = false;
    for (;;) {
        bool oom = false;
        uintptr_t base = pagealloc_alloc(&mheap_.pages, npages, heap_back, &oom);
        if (base || !may_grow)
            return base;
        if (oom) {
            if (scavenged)
                return 0;
            pagealloc_scavenge(&mheap_.pages, ~0ull >> 1, heap_unback);
            scavenged = true;
            continue;
        }
        if (grown || !heap_grow_locked(npages))
            return 0;
        grown = true;
    }
}

/* Go's allocNeedsZero: may [base, base+npages) hold old data?  Moves each
 * touched arena's zeroedBase past the range. */
static bool alloc_needs_zero_locked(uintptr_t base, uint64_t npages)
{
    ALLOC_DLOCKED(&mheap_.lock);
    bool needzero = false;
    while (npages > 0) {
        heapArena *ha = arena_of(base);
        uint64_t off = base - ha->base;
        uint64_t lim = off + npages * PAGE_SIZE;
        if (lim > ARENA_BYTES)
            lim = ARENA_BYTES;
        if (off < ha->zeroedBase)
            needzero = true;
        if (lim > ha->zeroedBase)
            ha->zeroedBase = lim;
        npages -= (lim - off) / PAGE_SIZE;
        base += lim - off;
    }
    return needzero;
}

static void set_spans_locked(uintptr_t base, uint64_t npages, mspan *s)
{
    ALLOC_DLOCKED(&mheap_.lock);
    for (uint64_t i = 0; i < npages; i++) {
        uintptr_t p = base + i * PAGE_SIZE;
        heapArena *ha = arena_of(p);
        __atomic_store_n(&ha->spans[(p - ha->base) >> PAGE_SHIFT], s, __ATOMIC_RELEASE);
#if PLAT_FLAT_PAGEMAP
        if (mheap_.pagemap)
            __atomic_store_n(&mheap_.pagemap[(p - mheap_.window_base) >> PAGE_SHIFT],
                             (intptr_t)((uintptr_t)s - (uintptr_t)&mheap_nospan),
                             __ATOMIC_RELEASE);
#endif
    }
}

static void page_in_use_locked(uintptr_t base, bool set)
{
    ALLOC_DLOCKED(&mheap_.lock);
    heapArena *ha = arena_of(base);
    uint64_t pg = (base - ha->base) >> PAGE_SHIFT;
    /* atomic: the page reclaimer reads the bitmap without the lock */
    if (set)
        __atomic_fetch_or(&ha->pageInUse[pg / 8], (uint8_t)(1u << (pg % 8)), __ATOMIC_RELAXED);
    else
        __atomic_fetch_and(&ha->pageInUse[pg / 8], (uint8_t)~(1u << (pg % 8)), __ATOMIC_RELAXED);
}

/* Step 5, small span: geometry and its bitmaps (nmaps bitmaps of nwords
 * words at bits: allocBits, gcmarkBits, pendingFree, tinyBits). */
static void init_small(mspan *t, uint8_t cls, uint64_t *bits, uint32_t nmaps)
{
    t->elemsize = class_to_size[cls];
    t->nelems = (uint32_t)((t->npages * PAGE_SIZE) / t->elemsize);
    t->nwords = (t->nelems + 63) / 64;
    t->divMul = class_to_divmagic[cls];
    mspan_exact_consts(t->elemsize, &t->objInv, &t->objShift);
    t->limit = t->startAddr + (uint64_t)t->nelems * t->elemsize;
    t->allocBits = bits;
    t->gcmarkBits = bits + t->nwords;
    t->pendingFree = bits + 2 * t->nwords;
    t->tinyBits = nmaps == 4 ? bits + 3 * t->nwords : 0;
    /* kfree fast path admitted (platform.h: PLAT_KFREE_FAST_KMALLOC_ONLY);
     * a kmalloc span's opens at step 7, once its slots hold the key */
    t->freeLimit = PLAT_KFREE_FAST_KMALLOC_ONLY || spanclass_is_kmalloc(t->spanclass)
                       ? 0 : t->limit - t->startAddr;
    t->allocCache = ~0ull;
    t->state = mSpanInUse;
    mheap_.inuse_pages += t->npages;
    if (ALLOC_DEBUG) { /* every free slot holds the poison */
        debug_poison((void *)t->startAddr, (uint64_t)t->nelems * t->elemsize);
        t->needzero = 1;
    }
}

/* Step 5, large span: one object, allocated (by freeindex); a collected
 * one has one-word bitmaps for its mark. */
static void init_large(mspan *t, uint64_t *bits)
{
    if (bits) {
        t->nwords = 1;
        t->allocBits = bits;
        t->gcmarkBits = bits + 1;
        t->pendingFree = bits + 2;
    }
    t->elemsize = t->npages * PAGE_SIZE;
    t->nelems = 1;
    t->freeindex = 1;
    t->allocCount = 1;
    t->limit = t->startAddr + t->npages * PAGE_SIZE;
    t->state = mSpanInUse;
    mheap_.inuse_pages += t->npages;
    mheap_.large_live++;
}

/* Step 5, manual span (stacks): pages only. */
static void init_manual(mspan *t)
{
    t->state = mSpanManual;
    t->elemsize = t->npages * PAGE_SIZE;
    t->limit = t->startAddr + t->npages * PAGE_SIZE;
    mheap_.manual_pages += t->npages;
}

/* Steps 4 (struct) and 5 (bitmaps): an mspan and the bitmap words a small
 * span of class cls needs, or NULL with nothing taken. */
static mspan *take_span_struct_locked(uint64_t npages, spanClass spc, uint8_t cls, bool manual,
                                      uint64_t **bits, uint32_t *nmaps)
{
    mspan *s = fixalloc_alloc(&mheap_.spanalloc);
    *bits = 0;
    *nmaps = 0;
    /* small spans: allocBits, gcmarkBits, pendingFree (+ tinyBits); large
     * collected objects: one word each (the collector's mark) */
    if (s && !manual && (cls != 0 || !spanclass_is_kmalloc(spc))) {
        uint32_t nwords = cls ? ((uint32_t)((npages * PAGE_SIZE) / class_to_size[cls]) + 63) / 64 : 1;
        *nmaps = spc == make_spanclass(TINY_SIZE_CLASS, true) ? 4 : 3;
        *bits = gcbits_alloc_locked(nwords * *nmaps);
        if (!*bits) {
            fixalloc_free(&mheap_.spanalloc, s);
            return 0;
        }
    }
    return s;
}

/* Step 6: every field first, the state last (release), then the page map. */
static void publish_locked(mspan *s, mspan *t)
{
    uint8_t state = t->state;
    t->state = mSpanDead;
    t->verifyMark = s->verifyMark;
    *s = *t;
    __atomic_store_n(&s->state, state, __ATOMIC_RELEASE);
    if (state == mSpanInUse)
        mheap_.nspans[spanclass_sizeclass(s->spanclass)]++;
    set_spans_locked(s->startAddr, s->npages, s);
    if (state == mSpanInUse)
        page_in_use_locked(s->startAddr, true);
}

mspan *mheap_alloc(uint64_t npages, spanClass spc, bool manual)
{
    if (npages == 0)
        return 0;
    uint8_t cls = spanclass_sizeclass(spc);
    if (!manual) { /* step 0: the collector's sweep debt and reclaimer (Go's mheap.alloc) */
        if (cls == 0 && !spanclass_is_kmalloc(spc))
            gc_deduct_sweep_credit(npages * PAGE_SIZE); /* Go's largeAlloc */
        gc_reclaim(npages);
    }
    plat_lock(&mheap_.lock);
    /* step 1b: no run fits, and the mcentrals hold empty spans → give
     * those back first (mcentral.c HELD EMPTY SPANS), then grow */
    bool drain = __atomic_load_n(&mheap_.held_pages, __ATOMIC_RELAXED) != 0 &&
                 !mheap_debug_no_drain;
    uintptr_t base = heap_alloc_pages_locked(npages, !drain);
    if (!base && drain) {
        plat_unlock(&mheap_.lock);
        mcentral_drain_all_held();
        plat_lock(&mheap_.lock);
        base = heap_alloc_pages_locked(npages, true);
    }
    uint64_t *bits;
    uint32_t nmaps;
    mspan *s = base ? take_span_struct_locked(npages, spc, cls, manual, &bits, &nmaps) : 0;
    if (!s) {
        if (base)
            pagealloc_free(&mheap_.pages, base, npages);
        plat_unlock(&mheap_.lock);
        return 0;
    }
    mspan t = {0};
    t.startAddr = base;
    t.npages = npages;
    t.spanclass = manual ? 0 : spc;
    t.sweepgen = mheap_.sweepgen;
    t.markgen = mheap_.sweepgen;
    t.needzero = alloc_needs_zero_locked(base, npages);
    if (manual)
        init_manual(&t);
    else if (cls != 0)
        init_small(&t, cls, bits, nmaps);
    else
        init_large(&t, bits);
    publish_locked(s, &t);
    plat_unlock(&mheap_.lock);
    if (cls != 0 && !manual && spanclass_is_kmalloc(spc))
        objcache_key_span(s); /* step 7 */
    return s;
}

void mheap_free_span(mspan *s)
{
    plat_lock(&mheap_.lock);
    mheap_free_span_locked(s);
    plat_unlock(&mheap_.lock);
}

void mheap_free_span_locked(mspan *s)
{
    alloc_assert_locked(&mheap_.lock, __func__);
    if (s->state == mSpanInUse) {
        uint8_t cls = spanclass_sizeclass(s->spanclass);
        page_in_use_locked(s->startAddr, false);
        mheap_.inuse_pages -= s->npages;
        mheap_.nspans[cls]--;
        if (cls == 0)
            mheap_.large_live--;
        if (s->allocBits)
            gcbits_free_locked(s->allocBits, s->nwords * (s->tinyBits ? 4 : 3));
    } else if (s->state == mSpanManual) {
        mheap_.manual_pages -= s->npages;
    } else {
        plat_panic("mheap_free_span: span is not in use");
    }
    pagealloc_free(&mheap_.pages, s->startAddr, s->npages);
    __atomic_store_n(&s->freeLimit, 0, __ATOMIC_RELAXED); /* kfree fast path: closed */
    /* Bitmap pointers stay (stale but valid memory) for racing readers. */
    __atomic_store_n(&s->state, mSpanDead, __ATOMIC_RELEASE);
    fixalloc_free(&mheap_.spanalloc, s);
}

uint64_t heap_scavenge(uint64_t bytes)
{
    plat_lock(&mheap_.lock);
    uint64_t r = pagealloc_scavenge(&mheap_.pages, bytes, heap_unback);
    plat_unlock(&mheap_.lock);
    return r;
}
