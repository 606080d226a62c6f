/*
 * mbitmap.c — the heap pointer bitmap (Go 1.20's heap bits): one bit per
 * 8-byte heap word, 1 = the word holds a pointer, stored per arena in
 * heapArena.bitmap.
 *
 * WRITE (heap_bits_set_type, Go's heapBitsSetType): when mallocgc hands out
 * a typed object with pointers (a scan span class), every word of the slot
 * is written: word i is a pointer iff i lies in the first dataSize bytes,
 * and, with j = i mod (type size / 8), j < ptrdata/8 and gcmask bit j is
 * set.  Words past dataSize (slot padding) are cleared, so stale bits of a
 * previous object never survive.  noscan spans are never written (their
 * bits are meaningless).
 * QUERY (heap_bits_is_pointer): span lookup; noscan, free or manual → 0.
 *
 * CONCURRENCY: one bitmap word covers 512 bytes of one page, and a page
 * belongs to one span whose allocating CPU (the mcache owner, or the large
 * allocator) is the only writer: plain read-modify-write suffices.
 */
#include "malloc.h"
#include "malloc_impl.h"
#include "mheap.h"

static inline void set_bit(uintptr_t addr, bool ptr)
{
    heapArena *ha = arena_of(addr);
    uint64_t w = (addr - ha->base) / 8;
    if (ptr)
        ha->bitmap[w / 64] |= 1ull << (w % 64);
    else
        ha->bitmap[w / 64] &= ~(1ull << (w % 64));
}

void heap_bits_set_type(uintptr_t x, uint64_t size, uint64_t dataSize, const struct gotype *typ)
{
    uint64_t tw = typ->size / 8;
    if (tw == 0)
        tw = 1;
    uint64_t pw = typ->ptrdata / 8;
    uint64_t dw = (dataSize + 7) / 8;
    uint64_t nw = size / 8;
    uint64_t j = 0;
    for (uint64_t i = 0; i < nw; i++) {
        bool ptr = i < dw && j < pw && ((typ->gcmask[j / 8] >> (j % 8)) & 1);
        set_bit(x + i * 8, ptr);
        if (++j == tw)
            j = 0;
    }
}

bool heap_bits_is_pointer(uintptr_t addr)
{
    mspan *s = span_of(addr);
    if (!s || __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != mSpanInUse ||
        spanclass_noscan(s->spanclass) || addr < s->startAddr ||
        addr >= s->startAddr + s->npages * PAGE_SIZE)
        return false;
    heapArena *ha = arena_of(addr);
    uint64_t w = (addr - ha->base) / 8;
    return (ha->bitmap[w / 64] >> (w % 64)) & 1;
}
