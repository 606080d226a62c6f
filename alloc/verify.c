/*
 * verify.c — heap_verify: check every allocator invariant, report the
 * first one broken with the span's fields.
 *
 * WHAT IS CHECKED (in this order)
 *   1. mcentral sets: each entry is an in-use span of that class whose list
 *      pointer names the set, not cached, with the set's sweepgen (h swept,
 *      h-2 unswept) and fullness, markgen h in swept sets (h or h-2 in
 *      unswept ones: collected spans); back links and counts are consistent;
 *      no span appears twice (visit stamp); in an unswept set of a
 *      collected class no span swept this cycle is behind one awaiting its
 *      GC sweep (sweepone's one look, mcentral.c).  Large collected objects sit in
 *      their class's full sets.
 *      Held lists: empty kmalloc spans (allocCount, pendingCount 0).
 *   2. mcaches: each alloc[spc] is the empty span or an in-use span of
 *      class spc, cachedBy (and cachedMask) this CPU, in no list, sweepgen h+3 or h+1, not
 *      seen before.
 *   3. Arenas, page by page: an allocated page starts a span s with
 *      spans[] == s on all its pages, all allocated, pageInUse set exactly on
 *      the first page of in-use spans (so no page is in two spans); free
 *      pages have no pageInUse bit; the flat page map (if any) equals
 *      spans[] on every page.  Per span: geometry (nelems, elemsize,
 *      limit), freeindex <= nelems, allocCount == |{i : i < freeindex or
 *      allocBits[i]}|, no alloc bit past nelems, gcmarkBits clear unless
 *      the span awaits its GC sweep (then only on allocated slots),
 *      pendingFree ⊆ allocated, pendingCount == popcount(pendingFree),
 *      allocCache == ~allocBits at freeindex (or 0 at a word boundary),
 *      freeLimit 0 or limit - startAddr (0 if tiny blocks; never 0 for a
 *      kmalloc span, whose free and pending slots hold a key), tinyBits ⊆ allocated; every
 *      small in-use span was found in exactly one place in 1–2; a collected
 *      span awaiting its GC sweep with any mark has its pageMarks bit (I8:
 *      the page reclaimer frees spans without one).
 *   4. Heap counters: in-use/manual pages, held pages (== the held lists'
 *      pages, <= held_max_pages), spans per class (mheap's and
 *      the two mcentrals' nspans; nslack <= nspans), large objects,
 *      Ready and Prepared bytes agree with the walk and the page allocator;
 *      pagealloc_verify passes.
 *   4b. Freed-object caches (objcache_verify): every cached object is an
 *      allocated, not pending object start of its class holding the key,
 *      cached once (and, debug, still poisoned); the live objects of the
 *      walk minus the cached ones are what the statistics must show.
 *   5. Statistics: HeapInuse (held spans are idle), HeapObjects (= Mallocs - Frees) and HeapAlloc
 *      equal what the walk counted.
 * LOCKING: takes every mcentral lock in class order, then mheap_.lock (the
 * documented order), so it is safe against itself, but the CPU-private
 * state (mcaches, fast paths) requires quiescence.
 */
#include "debug.h"
#include "malloc.h"
#include "malloc_impl.h"
#include "mheap.h"
#include "mobjcache.h"
#include "mstats.h"

#define UL(x) ((unsigned long)(x))

static uint32_t epoch;

struct vstate {
    char *err;
    size_t errlen;
    bool ok;
};

static bool fail(struct vstate *v, const mspan *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool fail(struct vstate *v, const mspan *s, const char *fmt, ...)
{
    if (!v->ok)
        return false;
    v->ok = false;
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    plat_vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (!s) {
        alloc_format(v->err, v->errlen, "heap_verify: %s", what);
        return false;
    }
    alloc_format(v->err, v->errlen,
                 "heap_verify: %s [span 0x%lx npages %lu state %u class %u%s elemsize %lu "
                 "nelems %u freeindex %u allocCount %u pending %d allocCache 0x%lx sweepgen %u "
                 "(heap %u) cachedBy %d]",
                 what, UL(s->startAddr), UL(s->npages), s->state,
                 spanclass_sizeclass(s->spanclass), spanclass_noscan(s->spanclass) ? " noscan" : "",
                 UL(s->elemsize), s->nelems, s->freeindex, s->allocCount, s->pendingCount,
                 UL(s->allocCache), s->sweepgen, mheap_.sweepgen, s->cachedBy);
    return false;
}

static inline uint64_t valid_mask(const mspan *s, uint32_t w)
{
    if (w == s->nwords - 1 && (s->nelems % 64))
        return (1ull << (s->nelems % 64)) - 1;
    return ~0ull;
}

/* THE KEY (mobjcache.c): the slots in `dead` (of word w) of kmalloc span
 * s, neither live nor cached, hold a key in their first word.  The first
 * slot that does not, or UINT32_MAX. */
static uint32_t first_keyless(const mspan *s, uint32_t w, uint64_t dead)
{
    for (; dead; dead &= dead - 1) {
        uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(dead);
        if (!objcache_is_key(*(const uint64_t *)(s->startAddr + (uint64_t)i * s->elemsize),
                             mheap_.objcache_key))
            return i;
    }
    return UINT32_MAX;
}

/* Per-span object invariants of a small in-use span. */
static bool check_small(struct vstate *v, const mspan *s)
{
    uint8_t cls = spanclass_sizeclass(s->spanclass);
    if (s->npages != class_to_allocnpages[cls] || s->elemsize != class_to_size[cls] ||
        s->nelems != s->npages * PAGE_SIZE / s->elemsize || s->nwords != (s->nelems + 63) / 64 ||
        s->divMul != class_to_divmagic[cls] ||
        s->limit != s->startAddr + (uint64_t)s->nelems * s->elemsize)
        return fail(v, s, "span geometry does not match its class");
    if (s->freeindex > s->nelems)
        return fail(v, s, "freeindex > nelems");
    if (s->freeLimit != 0 && s->freeLimit != s->limit - s->startAddr)
        return fail(v, s, "freeLimit is neither 0 nor limit - startAddr");
    /* marks: only a collected span awaiting its GC sweep holds any, and
     * only on allocated slots */
    bool kmalloc = spanclass_is_kmalloc(s->spanclass);
    bool gcswept = kmalloc || s->markgen == mheap_.sweepgen;
    if (kmalloc && s->freeLimit == 0) /* (set at mheap_alloc step 7, then never cleared) */
        return fail(v, s, "kmalloc span's kfree gate closed: its keying never finished");
    uint32_t alloc = 0, pend = 0;
    for (uint32_t w = 0; w < s->nwords; w++) {
        uint64_t vm = valid_mask(s, w);
        if (s->allocBits[w] & ~vm)
            return fail(v, s, "allocBits set past nelems (word %u)", w);
        uint64_t a = (s->allocBits[w] | mspan_below_mask(w, s->freeindex)) & vm;
        if (gcswept ? s->gcmarkBits[w] != 0 : (s->gcmarkBits[w] & ~a) != 0)
            return fail(v, s, "gcmarkBits set on a %s (word %u)",
                        gcswept ? "GC-swept span" : "free slot", w);
        uint64_t p = s->pendingFree[w];
        if (p & ~a)
            return fail(v, s, "pending free of a free slot %u",
                        w * 64 + (uint32_t)__builtin_ctzll(p & ~a));
        if (s->tinyBits && (s->tinyBits[w] & ~a))
            return fail(v, s, "tiny block bit on a free slot (word %u)", w);
        if (s->tinyBits && s->tinyBits[w] && s->freeLimit)
            return fail(v, s, "span holds tiny blocks but kfree's fast path is open");
        uint32_t nokey = kmalloc ? first_keyless(s, w, (~a | p) & vm) : UINT32_MAX;
        if (nokey != UINT32_MAX)
            return fail(v, s, "free or pending slot %u of a kmalloc span lacks the key "
                        "(written after free?)", nokey);
        if (ALLOC_DEBUG) { /* free and pending slots hold the poison */
            char perr[160];
            for (uint64_t dead = (~a | p) & vm; dead; dead &= dead - 1) {
                uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(dead);
                if (!debug_slot_poisoned(s, i, perr, sizeof perr))
                    return fail(v, s, "%s", perr);
            }
        }
        alloc += (uint32_t)__builtin_popcountll(a);
        pend += (uint32_t)__builtin_popcountll(p);
    }
    if (alloc != s->allocCount)
        return fail(v, s, "allocCount != allocated slots (%u)", alloc);
    if ((int32_t)pend != s->pendingCount)
        return fail(v, s, "pendingCount != popcount(pendingFree) (%u)", pend);
    if (s->freeindex < s->nelems) {
        uint64_t want = (~s->allocBits[s->freeindex / 64] & valid_mask(s, s->freeindex / 64)) >>
                        (s->freeindex % 64);
        if (s->allocCache != want && !(s->allocCache == 0 && s->freeindex % 64 == 0))
            return fail(v, s, "allocCache != ~allocBits at freeindex (want 0x%lx)", UL(want));
    }
    return true;
}

static void lock_all(void)
{
    for (int i = 0; i < NUM_SPAN_CLASSES; i++)
        plat_lock(&mheap_.central[i].lock);
    plat_lock(&mheap_.lock);
}

static void unlock_all(void)
{
    plat_unlock(&mheap_.lock);
    for (int i = NUM_SPAN_CLASSES - 1; i >= 0; i--)
        plat_unlock(&mheap_.central[i].lock);
}

/* What the walk counts, compared with the heap's counters at the end. */
struct walk {
    uint64_t placed;                   /* spans found in mcentral sets or mcaches */
    uint64_t inuse_pages, manual_pages, nsmall, nlarge;
    uint64_t nlarge_gc;                /* large collected objects: in their mcentral */
    uint64_t nspans[NUM_SIZE_CLASSES];
    uint64_t live_objs, live_bytes;
    uint64_t held_pages;               /* pages of the spans in held lists */
};

/* A held empty span (mcentral.c HELD EMPTY SPANS). */
static bool verify_held(struct vstate *v, struct walk *w, const mspan *s)
{
    if (!spanclass_is_kmalloc(s->spanclass) || s->allocCount != 0 || s->pendingCount != 0)
        return fail(v, s, "mcentral %d held: not an empty kmalloc span", s->spanclass);
    w->held_pages += s->npages;
    return true;
}

/* 1. one mcentral set (li: 0/1 partial, 2/3 full, 4 held). */
static bool verify_set(struct vstate *v, struct walk *w, mcentral *c, int li, uint32_t sg)
{
    spanList *l = li < 2 ? &c->partial[li] : li < 4 ? &c->full[li - 2] : &c->held;
    bool full = li == 2 || li == 3, swept = (li & 1) == (int)((sg / 2) % 2), held = li == 4;
    const char *name = mcentral_set_name(c, l, sg);
    int spc = c->spanclass;
    uint64_t n = 0;
    mspan *prev = 0;
    bool gc_work = false; /* a span awaiting its GC sweep was seen (newest first) */
    for (mspan *s = l->first; s; prev = s, s = s->next) {
        if (++n > l->n)
            return fail(v, s, "mcentral %d %s: more spans than its count %lu", spc, name, UL(l->n));
        if (s->prev != prev)
            return fail(v, s, "mcentral %d: broken back link", spc);
        if (s->state != mSpanInUse || s->spanclass != spc)
            return fail(v, s, "mcentral %d %s holds a span not in use or of another class", spc,
                        name);
        if (s->list != l || s->cachedBy || s->cachedMask)
            return fail(v, s, "mcentral %d %s: span's list/cachedBy/cachedMask disagree", spc,
                        name);
        if (held) {
            if (!verify_held(v, w, s))
                return false;
        } else if (s->sweepgen != (swept ? sg : sg - 2)) {
            return fail(v, s, "mcentral %d %s: wrong sweepgen", spc, name);
        }
        if (!spanclass_is_kmalloc(s->spanclass) &&
            (swept ? s->markgen != sg : s->markgen != sg && s->markgen != sg - 2))
            return fail(v, s, "mcentral %d %s: markgen %u", spc, name, s->markgen);
        if (!spanclass_is_kmalloc(s->spanclass) && !swept) { /* sweepone's order (mcentral.c) */
            if (gc_work && s->markgen == sg)
                return fail(v, s, "mcentral %d %s: a span swept this cycle is behind one "
                            "awaiting its GC sweep", spc, name);
            gc_work |= s->markgen != sg;
        }
        if (!held && full != (s->allocCount == s->nelems))
            return fail(v, s, "mcentral %d %s: fullness does not match the set", spc, name);
        if (s->verifyMark == epoch)
            return fail(v, s, "span is in two places (mcentral %d %s)", spc, name);
        s->verifyMark = epoch;
        w->placed++;
    }
    if (n != l->n || l->last != prev)
        return fail(v, 0, "mcentral %d %s: count %lu but %lu linked", spc, name, UL(l->n), UL(n));
    return true;
}

/* 2. one CPU's mcache. */
static bool verify_mcache(struct vstate *v, struct walk *w, uint32_t cpu, uint32_t sg)
{
    mcache *mc = &mheap_.mcaches[cpu];
    if (mc->tinyoffset > TINY_SIZE)
        return fail(v, 0, "mcache %u: tinyoffset %lu > 16", cpu, UL(mc->tinyoffset));
    for (int spc = 0; spc < NUM_SPAN_CLASSES; spc++) {
        mspan *s = mc->alloc[spc];
        if (s == &mcache_emptyspan)
            continue;
        if (s->state != mSpanInUse || s->spanclass != spc || spanclass_sizeclass(spc) == 0)
            return fail(v, s, "mcache %u alloc[%d] holds a span not in use or of another class",
                        cpu, spc);
        if (s->cachedBy != (int32_t)cpu + 1 || s->cachedMask != 1ull << cpu || s->list)
            return fail(v, s, "mcache %u alloc[%d]: cachedBy/cachedMask/list disagree", cpu, spc);
        if (s->sweepgen != sg + 3 && s->sweepgen != sg + 1)
            return fail(v, s, "mcache %u alloc[%d]: sweepgen not h+3/h+1", cpu, spc);
        if (!spanclass_is_kmalloc(s->spanclass) &&
            s->markgen != (s->sweepgen == sg + 3 ? sg : sg - 2))
            return fail(v, s, "mcache %u alloc[%d]: markgen %u", cpu, spc, s->markgen);
        if (s->verifyMark == epoch)
            return fail(v, s, "span is in two places (mcache %u alloc[%d])", cpu, spc);
        s->verifyMark = epoch;
        w->placed++;
    }
    return true;
}

/* 3a. pages 1..npages-1 of span s (starting at addr) map to it. */
static bool verify_inner_pages(struct vstate *v, const mspan *s, uintptr_t addr)
{
    for (uint64_t q = 1; q < s->npages; q++) {
        uintptr_t a = addr + q * PAGE_SIZE;
        heapArena *qa = arena_of(a);
        uint64_t qp = (a - qa->base) / PAGE_SIZE;
        if (qa->spans[qp] != s)
            return fail(v, s, "page 0x%lx of the span maps to another span", UL(a));
        if (!pagealloc_allocated(&mheap_.pages, a))
            return fail(v, s, "page 0x%lx of the span is free in the page allocator", UL(a));
        if ((qa->pageInUse[qp / 8] >> (qp % 8)) & 1)
            return fail(v, s, "pageInUse set on inner page 0x%lx", UL(a));
    }
    return true;
}

/* 3b. a span's own invariants, and what it adds to the counts. */
static bool verify_span(struct vstate *v, struct walk *w, mspan *s)
{
    uint8_t cls = spanclass_sizeclass(s->spanclass);
    if (s->state == mSpanManual) {
        w->manual_pages += s->npages;
        return true;
    }
    w->inuse_pages += s->npages;
    w->nspans[cls]++;
    if (cls == 0) {
        if (s->nelems != 1 || s->allocCount != 1 || s->freeindex != 1 || s->freeLimit ||
            s->elemsize != s->npages * PAGE_SIZE || s->limit <= s->startAddr ||
            s->limit > s->startAddr + s->elemsize)
            return fail(v, s, "large span fields inconsistent");
        bool collected = !spanclass_is_kmalloc(s->spanclass);
        if (collected != (s->verifyMark == epoch))
            return fail(v, s, collected ? "large collected object is in no mcentral set"
                                        : "large kmalloc object is in an mcentral set");
        if (collected && (!s->allocBits || s->nwords != 1 || s->allocBits[0] ||
                          s->pendingFree[0]))
            return fail(v, s, "large collected object's bitmaps inconsistent");
        w->nlarge_gc += collected;
        w->nlarge++;
        w->live_objs += 1;
        w->live_bytes += s->elemsize;
        return true;
    }
    if (!check_small(v, s))
        return false;
    if (s->verifyMark != epoch)
        return fail(v, s, "in-use span is in no mcentral set and no mcache");
    w->nsmall++;
    uint32_t live = s->allocCount - (uint32_t)s->pendingCount;
    w->live_objs += live;
    w->live_bytes += (uint64_t)live * s->elemsize;
    return true;
}

/* I8, what the page reclaimer relies on: a collected span awaiting its GC
 * sweep that holds a mark has the page mark of its first page. */
static bool check_page_mark(struct vstate *v, const heapArena *ha, uint64_t pg, const mspan *s)
{
    if (s->state != mSpanInUse || spanclass_is_kmalloc(s->spanclass) ||
        s->markgen == mheap_.sweepgen || !s->gcmarkBits)
        return true;
    bool marked = false;
    for (uint32_t w = 0; w < s->nwords && !marked; w++)
        marked = s->gcmarkBits[w] != 0;
    if (marked && !((ha->pageMarks[pg / 8] >> (pg % 8)) & 1))
        return fail(v, s, "span awaiting its GC sweep holds marks but has no page mark");
    return true;
}

/* 3a. the flat page map's copy of the arena's spans[] (PLAT_FLAT_PAGEMAP). */
static bool verify_pagemap(struct vstate *v, const heapArena *ha)
{
#if PLAT_FLAT_PAGEMAP
    if (!mheap_.pagemap)
        return true;
    if (ha->base + ARENA_BYTES - mheap_.window_base > mheap_.fast_size)
        return fail(v, 0, "arena 0x%lx lies past kfree's fast window (%lu bytes)", UL(ha->base),
                    UL(mheap_.fast_size));
    const intptr_t *flat = &mheap_.pagemap[(ha->base - mheap_.window_base) >> PAGE_SHIFT];
    for (uint64_t pg = 0; pg < PAGES_PER_ARENA; pg++)
        if ((uintptr_t)&mheap_nospan + (uintptr_t)flat[pg] != (uintptr_t)ha->spans[pg])
            return fail(v, ha->spans[pg], "flat page map of page 0x%lx names 0x%lx, spans[] 0x%lx",
                        UL(ha->base + pg * PAGE_SIZE),
                        UL((uintptr_t)&mheap_nospan + (uintptr_t)flat[pg]), UL(ha->spans[pg]));
#else
    (void)v, (void)ha;
#endif
    return true;
}

/* 3. one arena, page by page: returns false at the first broken rule. */
static bool verify_arena(struct vstate *v, struct walk *w, heapArena *ha)
{
    if (!verify_pagemap(v, ha))
        return false;
    for (uint64_t pg = 0; pg < PAGES_PER_ARENA;) {
        uintptr_t addr = ha->base + pg * PAGE_SIZE;
        bool inuse_bit = (ha->pageInUse[pg / 8] >> (pg % 8)) & 1;
        if (!pagealloc_allocated(&mheap_.pages, addr)) {
            if (inuse_bit)
                return fail(v, 0, "free page 0x%lx has its pageInUse bit set", UL(addr));
            pg++;
            continue;
        }
        mspan *s = ha->spans[pg];
        if (pg == 0 && s->startAddr < addr && s->state != mSpanDead &&
            s->startAddr + s->npages * PAGE_SIZE > addr) {
            /* continuation of a span that began in an earlier arena */
            uint64_t rest = (s->startAddr + s->npages * PAGE_SIZE - addr) / PAGE_SIZE;
            for (uint64_t q = 0; q < rest && q < PAGES_PER_ARENA; q++)
                if (ha->spans[q] != s)
                    return fail(v, s, "spans[] of page 0x%lx does not name its span",
                                UL(addr + q * PAGE_SIZE));
            pg += rest;
            continue;
        }
        if (s->startAddr != addr || (s->state != mSpanInUse && s->state != mSpanManual))
            return fail(v, s, "allocated page 0x%lx does not start a live span", UL(addr));
        if (inuse_bit != (s->state == mSpanInUse))
            return fail(v, s, "pageInUse bit of the first page is wrong");
        if (!check_page_mark(v, ha, pg, s) || !verify_inner_pages(v, s, addr) ||
            !verify_span(v, w, s))
            return false;
        pg += s->npages;
    }
    return true;
}

/* 4. the heap's counters against the walk. */
static bool verify_counters(struct vstate *v, const struct walk *w)
{
    if (w->inuse_pages != mheap_.inuse_pages)
        return fail(v, 0, "inuse_pages %lu != walked %lu", UL(mheap_.inuse_pages),
                    UL(w->inuse_pages));
    if (w->manual_pages != mheap_.manual_pages)
        return fail(v, 0, "manual_pages %lu != walked %lu", UL(mheap_.manual_pages),
                    UL(w->manual_pages));
    if (w->held_pages != mheap_.held_pages || w->held_pages > mheap_.held_max_pages)
        return fail(v, 0, "held_pages %lu != walked %lu (bound %lu)", UL(mheap_.held_pages),
                    UL(w->held_pages), UL(mheap_.held_max_pages));
    if (w->nlarge != mheap_.large_live)
        return fail(v, 0, "large_live %lu != walked %lu", UL(mheap_.large_live), UL(w->nlarge));
    for (int c = 0; c < NUM_SIZE_CLASSES; c++)
        if (w->nspans[c] != mheap_.nspans[c])
            return fail(v, 0, "class %d: nspans %lu != walked %lu", c, UL(mheap_.nspans[c]),
                        UL(w->nspans[c]));
    if ((uint64_t)mheap_.central[0].nspans + mheap_.central[1].nspans != w->nlarge_gc)
        return fail(v, 0, "large: mcentral nspans %u + %u != walked %lu",
                    mheap_.central[0].nspans, mheap_.central[1].nspans, UL(w->nlarge_gc));
    for (int c = 1; c < NUM_SIZE_CLASSES; c++) {
        const mcentral *m0 = &mheap_.central[make_spanclass((uint8_t)c, false)];
        const mcentral *m1 = &mheap_.central[make_spanclass((uint8_t)c, true)];
        const mcentral *m2 = &mheap_.central[make_kmalloc_spanclass((uint8_t)c)];
        if ((uint64_t)m0->nspans + m1->nspans + m2->nspans != w->nspans[c])
            return fail(v, 0, "class %d: mcentral nspans %u + %u + %u != walked %lu", c,
                        m0->nspans, m1->nspans, m2->nspans, UL(w->nspans[c]));
        if (m0->nslack > m0->nspans || m1->nslack > m1->nspans || m2->nslack > m2->nspans)
            return fail(v, 0, "class %d: mcentral nslack > nspans", c);
    }
    return true;
}

/* 4b. page allocator totals and address-space states. */
static bool verify_pages(struct vstate *v, const struct walk *w)
{
    uint64_t total = pagealloc_total_pages(&mheap_.pages);
    uint64_t freep = pagealloc_free_pages(&mheap_.pages);
    uint64_t scav = pagealloc_scav_pages(&mheap_.pages);
    if (total != w->inuse_pages + w->manual_pages + freep)
        return fail(v, 0, "pages: total %lu != in use %lu + manual %lu + free %lu", UL(total),
                    UL(w->inuse_pages), UL(w->manual_pages), UL(freep));
    if (mheap_.ready_bytes != (total - scav) * PAGE_SIZE)
        return fail(v, 0, "Ready bytes %lu != (pages %lu - scavenged %lu) * 8192",
                    UL(mheap_.ready_bytes), UL(total), UL(scav));
    if (mheap_.prepared_bytes != total * PAGE_SIZE ||
        mheap_.prepared_bytes != mheap_.narenas * ARENA_BYTES)
        return fail(v, 0, "Prepared bytes %lu != pages %lu * 8192 / arenas %lu",
                    UL(mheap_.prepared_bytes), UL(total), UL(mheap_.narenas));
    char perr[200];
    if (!pagealloc_verify(&mheap_.pages, perr, sizeof perr))
        return fail(v, 0, "page allocator: %s", perr);
    return true;
}

static bool verify_locked(struct vstate *v, struct walk *w)
{
    ALLOC_DLOCKED(&mheap_.lock);
    uint32_t sg = mheap_.sweepgen;
    for (int spc = 0; spc < NUM_SPAN_CLASSES; spc++)
        for (int li = 0; li < 5; li++)
            if (!verify_set(v, w, &mheap_.central[spc], li, sg))
                return false;
    for (uint32_t cpu = 0; cpu < mheap_.ncpu; cpu++)
        if (!verify_mcache(v, w, cpu, sg))
            return false;
    for (heapArena *ha = mheap_.allArenas; ha; ha = ha->next)
        if (!verify_arena(v, w, ha))
            return false;
    if (w->nsmall + w->nlarge_gc != w->placed)
        return fail(v, 0, "%lu spans in sets/caches but %lu small and %lu large collected "
                    "spans in the arenas", UL(w->placed), UL(w->nsmall), UL(w->nlarge_gc));
    return verify_counters(v, w) && verify_pages(v, w);
}

bool heap_verify(char *err, size_t errlen)
{
    struct vstate v = {err, errlen, true};
    if (errlen)
        err[0] = 0;
    struct walk w;
    __builtin_memset(&w, 0, sizeof w);
    lock_all();
    if (++epoch == 0)
        epoch = 1;
    bool ok = verify_locked(&v, &w);
    unlock_all();
    if (!ok)
        return false;
    /* 4b. freed-object caches: their objects are live in their spans but
     * freed in the statistics */
    if (!objcache_verify(err, errlen))
        return false;
    for (uint8_t cls = 1; cls < NUM_SIZE_CLASSES; cls++) {
        uint64_t n = objcache_cached(cls);
        w.live_objs -= n;
        w.live_bytes -= n * class_to_size[cls];
    }

    /* 5. statistics */
    struct memstats st;
    read_memstats(&st);
    if (st.HeapInuse != (w.inuse_pages - w.held_pages) * PAGE_SIZE)
        return fail(&v, 0, "HeapInuse %lu != in-use span bytes %lu - held %lu", UL(st.HeapInuse),
                    UL(w.inuse_pages * PAGE_SIZE), UL(w.held_pages * PAGE_SIZE));
    if (st.Mallocs - st.Frees != st.HeapObjects || st.HeapObjects != w.live_objs)
        return fail(&v, 0, "Mallocs %lu - Frees %lu != HeapObjects %lu / live objects %lu",
                    UL(st.Mallocs), UL(st.Frees), UL(st.HeapObjects), UL(w.live_objs));
    if (st.HeapAlloc != w.live_bytes)
        return fail(&v, 0, "HeapAlloc %lu != live object bytes %lu", UL(st.HeapAlloc),
                    UL(w.live_bytes));
    if (st.HeapSys != st.HeapInuse + st.StackInuse + st.HeapIdle)
        return fail(&v, 0, "HeapSys %lu != HeapInuse + StackInuse + HeapIdle", UL(st.HeapSys));
    return true;
}
