/*
 * mfixalloc.c — fixed-size free-list allocator over persistentalloc
 * (Go's fixalloc).
 *
 * Owns: a free list of returned objects and the unused tail of the current
 * persistentalloc chunk.
 * Alloc: 1. pop the free list if non-empty, zero the object;
 *        2. else carve from the chunk, fetching a new FIXALLOC_CHUNK from
 *           persistentalloc when fewer than `size` bytes remain (the tail
 *           of the old chunk is wasted, as in Go).
 * Free:  push on the free list (only the first word is written).
 * Invariants: inuse == bytes handed out - bytes freed; every list entry is
 * an object of this allocator.  Locking: the owner's lock (see header).
 */
#include "mfixalloc.h"
#include "persistent.h"

void fixalloc_init(fixalloc *f, uint64_t size, bool zero, uint64_t *stat)
{
    f->zero = zero;
    f->size = (size + 7) & ~7ull;
    f->list = 0;
    f->chunk = 0;
    f->nchunk = 0;
    f->inuse = 0;
    f->stat = stat;
}

void *fixalloc_alloc(fixalloc *f)
{
    void *p;
    if (f->list) {
        p = f->list;
        f->list = *(void **)p;
        if (f->zero)
            __builtin_memset(p, 0, f->size);
    } else {
        if (f->nchunk < f->size) {
            uint64_t n = f->size > FIXALLOC_CHUNK ? f->size : FIXALLOC_CHUNK;
            void *c = persistentalloc(n, 64, f->stat);
            if (!c)
                return 0;
            f->chunk = (uintptr_t)c;
            f->nchunk = n;
        }
        p = (void *)f->chunk; /* zero: persistentalloc memory is fresh */
        f->chunk += f->size;
        f->nchunk -= f->size;
    }
    f->inuse += f->size;
    return p;
}

void fixalloc_free(fixalloc *f, void *p)
{
    f->inuse -= f->size;
    *(void **)p = f->list;
    f->list = p;
}
