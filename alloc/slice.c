/*
 * slice.c — make([]T, len, cap) and append's growth (Go's slice.go).
 *
 * MAKESLICE: one typed allocation of cap elements, zeroed.  Go's checks, in
 * its order: cap*size overflowing or above maxAlloc, len < 0 or len > cap
 * fail; then the message is "len out of range" if len alone is already
 * bad (len*size overflows, exceeds maxAlloc, or len < 0), else "cap out of
 * range" — make([]T, huge) names len although cap is implicit (Go issue
 * 4085).
 *
 * GROWSLICE (append past cap), as steps:
 *   1. newLen < 0 → panic "growslice: len out of range"; zero-sized
 *      elements → {zerobase, newLen, newLen}.
 *   2. newcap = nextslicecap(newLen, oldCap): newLen when it is more than
 *      double oldCap; double below 256 elements; else grow by
 *      (newcap + 3*256)/4 until it holds newLen — a smooth curve from 2x
 *      down to 1.25x (Go 1.18+).
 *   3. Round the bytes up to what mallocgc will really hand out
 *      (roundupsize: the size class, or whole pages) and give the caller
 *      all of it: newcap = roundupsize(newcap*size) / size.  Overflow or
 *      more than maxAlloc → panic "growslice: len out of range".
 *   4. Allocate (typed when et has pointers, so the collector scans it and
 *      mallocgc zeroes it; else noscan, clearing only past the new
 *      length), copy the old elements (through the write barrier when they
 *      hold pointers), return {p, newLen, newcap}.
 * Go has four copies of step 3 (size 1, pointer size, powers of two, the
 * rest) to avoid a division; the results are the same, so one general case
 * does here.
 */
#include "goruntime.h"
#include "mbarrier.h"
#include "sizeclass.h"

static const uint8_t word0_mask[1] = {0x1};
const gotype goslice_type = {sizeof(goslice), 8, word0_mask, "slice header"};

uint64_t roundupsize(uint64_t size)
{
    if (size < MAX_SMALL_SIZE)
        return size ? class_to_size[size_to_class(size)] : 0;
    if (size + PAGE_SIZE < size)
        return size;
    return (size + PAGE_SIZE - 1) & ~(uint64_t)(PAGE_SIZE - 1);
}

/* size * n in bytes, or false when it overflows or passes maxAlloc (n is a
 * Go int: negative values are huge as uintptr, as in Go's MulUintptr). */
static bool mem_ok(uint64_t size, int64_t n, uint64_t *mem)
{
    return !__builtin_mul_overflow(size, (uint64_t)n, mem) && *mem <= go_max_alloc();
}

void *makeslice(const gotype *et, int64_t len, int64_t cap)
{
    uint64_t mem;
    if (!mem_ok(et->size, cap, &mem) || len < 0 || len > cap) {
        uint64_t lmem;
        if (!mem_ok(et->size, len, &lmem) || len < 0)
            go_panic("runtime error: makeslice: len out of range");
        go_panic("runtime error: makeslice: cap out of range");
    }
    return mallocgc(mem, et, true);
}

void *makeslicecopy(const gotype *et, int64_t tolen, int64_t fromlen, const void *from)
{
    uint64_t tomem, copymem;
    if ((uint64_t)tolen > (uint64_t)fromlen) {
        if (!mem_ok(et->size, tolen, &tomem) || tolen < 0)
            go_panic("runtime error: makeslice: len out of range");
        copymem = et->size * (uint64_t)fromlen;
    } else {
        tomem = et->size * (uint64_t)tolen; /* fromlen >= tolen >= 0: no overflow */
        copymem = tomem;
    }
    uint8_t *to;
    if (et->ptrdata == 0) {
        to = mallocgc(tomem, 0, false);
        if (copymem < tomem)
            __builtin_memset(to + copymem, 0, tomem - copymem);
        if (copymem)
            __builtin_memmove(to, from, copymem);
    } else {
        to = mallocgc(tomem, et, true);
        if (copymem)
            gc_wb_memmove(to, from, copymem); /* pointers: the barrier sees them */
    }
    return to;
}

int64_t nextslicecap(int64_t newLen, int64_t oldCap)
{
    /* Go's ints wrap: add as unsigned, compare as Go does */
    int64_t newcap = oldCap;
    int64_t doublecap = (int64_t)((uint64_t)newcap + (uint64_t)newcap);
    if (newLen > doublecap)
        return newLen;
    const int64_t threshold = 256;
    if (oldCap < threshold)
        return doublecap;
    for (;;) {
        /* 2x for small slices down to 1.25x for large ones, smoothly */
        int64_t step = (int64_t)((uint64_t)newcap + 3 * threshold) >> 2;
        newcap = (int64_t)((uint64_t)newcap + (uint64_t)step);
        if ((uint64_t)newcap >= (uint64_t)newLen)
            break;
    }
    return newcap <= 0 ? newLen : newcap; /* overflowed: the request itself */
}

goslice growslice(void *oldPtr, int64_t newLen, int64_t oldCap, int64_t num, const gotype *et)
{
    int64_t oldLen = newLen - num;
    if (newLen < 0)
        go_panic("runtime error: growslice: len out of range");
    if (et->size == 0)
        return (goslice){go_zerobase(), newLen, newLen};
    int64_t newcap = nextslicecap(newLen, oldCap);
    uint64_t capmem;
    bool overflow = __builtin_mul_overflow(et->size, (uint64_t)newcap, &capmem);
    capmem = roundupsize(capmem);
    newcap = (int64_t)(capmem / et->size);
    capmem = (uint64_t)newcap * et->size;
    if (overflow || capmem > go_max_alloc())
        go_panic("runtime error: growslice: len out of range");
    uint64_t lenmem = (uint64_t)oldLen * et->size;
    uint64_t newlenmem = (uint64_t)newLen * et->size;
    uint8_t *p;
    if (et->ptrdata == 0) {
        p = mallocgc(capmem, 0, false);
        __builtin_memset(p + newlenmem, 0, capmem - newlenmem);
        if (lenmem)
            __builtin_memmove(p, oldPtr, lenmem);
    } else {
        p = mallocgc(capmem, et, true);
        if (lenmem)
            gc_wb_memmove(p, oldPtr, lenmem); /* Go: bulkBarrierPreWriteSrcOnly */
    }
    return (goslice){p, newLen, newcap};
}
