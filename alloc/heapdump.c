/*
 * heapdump.c — the heap described for people (see heapdump.h).
 *
 * Each query takes mheap_.lock, so spans cannot be created or freed while
 * it reads them; per-object bits (allocBits, pendingFree, gcmarkBits) are
 * read with the same relaxed loads remote kfree uses, so an object that
 * another CPU allocates meanwhile may show either way.  Nothing here
 * writes the heap.
 */
#include "heapdump.h"
#include "malloc.h"

static bool bit(const uint64_t *bits, uint32_t i)
{
    return bits && ((__atomic_load_n(&bits[i / 64], __ATOMIC_RELAXED) >> (i % 64)) & 1);
}

static void copy_span(const mspan *s, struct heapdump_span *o)
{
    *o = (struct heapdump_span){
        .start = s->startAddr, .limit = s->limit, .npages = s->npages,
        .elemsize = s->elemsize, .nelems = s->nelems, .freeindex = s->freeindex,
        .allocCount = s->allocCount, .sweepgen = s->sweepgen, .markgen = s->markgen,
        .pendingCount = s->pendingCount, .cachedBy = s->cachedBy,
        .sizeclass = spanclass_sizeclass(s->spanclass), .noscan = spanclass_noscan(s->spanclass),
        .kmalloc = spanclass_is_kmalloc(s->spanclass), .state = s->state,
        .manualKind = s->manualKind};
}

/* The live span owning addr's page, or NULL (mheap_.lock held). */
static mspan *span_at_locked(uintptr_t addr)
{
    mspan *s = span_of(addr);
    if (!s || (s->state != mSpanInUse && s->state != mSpanManual) || addr < s->startAddr ||
        addr >= s->startAddr + s->npages * PAGE_SIZE)
        return 0;
    return s;
}

/* Slot i of a small kmalloc span, allocated and not pending, was kfree'd
 * into a freed-object cache: its first word is the key. */
static bool slot_cached(const mspan *s, uint32_t i, bool allocated_not_pending)
{
    return allocated_not_pending && spanclass_is_kmalloc(s->spanclass) &&
           spanclass_sizeclass(s->spanclass) != 0 &&
           *(const uint64_t *)(s->startAddr + (uint64_t)i * s->elemsize) == mheap_.objcache_key;
}

static void describe_slot(const mspan *s, uintptr_t addr, struct heapdump_obj *o)
{
    bool large = spanclass_sizeclass(s->spanclass) == 0;
    uint32_t i = large ? 0 : mspan_obj_index(s, addr);
    o->where = HD_OBJECT;
    o->index = i;
    o->object = s->startAddr + (uint64_t)i * s->elemsize;
    o->allocated = large || mspan_allocated(s, i);
    o->pending = !large && bit(s->pendingFree, i);
    o->marked = bit(s->gcmarkBits, i);
    o->tiny = !large && bit(s->tinyBits, i);
    o->cached = slot_cached(s, i, o->allocated && !o->pending);
    o->words = (uint32_t)((large ? s->limit - s->startAddr : s->elemsize) / 8);
    if (spanclass_noscan(s->spanclass))
        return;
    for (uint32_t w = 0; w < o->words; w++)
        if (heap_bits_is_pointer(o->object + w * 8ull)) {
            o->pointer_words++;
            if (w < 64)
                o->ptrbits |= 1ull << w;
        }
}

bool heapdump_object(uintptr_t addr, struct heapdump_obj *o)
{
    *o = (struct heapdump_obj){.where = HD_NOT_HEAP};
    heapArena *ha = arena_of(addr);
    if (!ha)
        return false;
    o->arena_base = ha->base;
    o->arena_index = (ha->base - mheap_.window_base) >> ARENA_SHIFT;
    o->page = (addr - ha->base) >> PAGE_SHIFT;
    o->where = HD_FREE_PAGES;
    plat_lock(&mheap_.lock);
    mspan *s = span_at_locked(addr);
    if (s) {
        copy_span(s, &o->span);
        if (s->state == mSpanManual)
            o->where = HD_MANUAL;
        else if (addr >= s->limit && spanclass_sizeclass(s->spanclass) != 0)
            o->where = HD_SPAN_TAIL;
        else
            describe_slot(s, addr, o);
    }
    plat_unlock(&mheap_.lock);
    return true;
}

uint32_t heapdump_span_slots(uintptr_t addr, char *out, size_t cap)
{
    uint32_t n = 0;
    plat_lock(&mheap_.lock);
    mspan *s = span_at_locked(addr);
    if (s && s->state == mSpanInUse && spanclass_sizeclass(s->spanclass) != 0) {
        n = s->nelems;
        for (uint32_t i = 0; i < n && i + 1 < cap; i++)
            out[i] = bit(s->pendingFree, i) ? 'p'
                   : !mspan_allocated(s, i)  ? '.'
                   : slot_cached(s, i, true) ? 'c' : '#';
    }
    plat_unlock(&mheap_.lock);
    if (cap)
        out[n < cap ? n : cap - 1] = 0;
    return n;
}

uint32_t heapdump_spans_of_class(uint8_t cls, struct heapdump_span *out, uint32_t max)
{
    uint32_t n = 0;
    uint64_t slots = mheap_.window_size >> ARENA_SHIFT;
    plat_lock(&mheap_.lock);
    for (uint64_t k = 0; k < slots; k++) {
        heapArena *ha = arena_index(k << ARENA_SHIFT);
        if (ha == mheap_noarena)
            continue;
        for (uint64_t p = 0; p < PAGES_PER_ARENA; p++) {
            if (!((ha->pageInUse[p / 8] >> (p % 8)) & 1))
                continue;
            mspan *s = ha->spans[p];
            if (spanclass_sizeclass(s->spanclass) != cls)
                continue;
            if (n < max)
                copy_span(s, &out[n]);
            n++;
        }
    }
    plat_unlock(&mheap_.lock);
    return n;
}

static char page_char(const mspan *s)
{
    if (s->state == mSpanManual)
        return s->manualKind == MANUAL_NONE ? 'M' : 'S';
    uint8_t cls = spanclass_sizeclass(s->spanclass);
    bool k = spanclass_is_kmalloc(s->spanclass);
    if (cls == 0)
        return k ? 'l' : 'L';
    uint64_t sz = class_to_size[cls];
    char c = sz <= 64 ? 'a' : sz <= 512 ? 'b' : sz <= 4096 ? 'c' : 'd';
    return k ? (char)(c - 'a' + 'A') : c;
}

uintptr_t heapdump_arena_pages(uint64_t k, char *out)
{
    if (k >= mheap_.window_size >> ARENA_SHIFT)
        return 0;
    heapArena *ha = arena_index(k << ARENA_SHIFT);
    if (ha == mheap_noarena)
        return 0;
    plat_lock(&mheap_.lock);
    for (uint64_t p = 0; p < PAGES_PER_ARENA; p++) {
        uintptr_t a = ha->base + p * PAGE_SIZE;
        mspan *s = span_at_locked(a);
        if (s)
            out[p] = page_char(s);
        else if (!pagealloc_allocated(&mheap_.pages, a))
            out[p] = pagealloc_scavenged(&mheap_.pages, a) ? '_' : '.';
        else
            out[p] = '?'; /* allocated pages always belong to a span */
    }
    plat_unlock(&mheap_.lock);
    return ha->base;
}
