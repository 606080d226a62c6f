/*
 * mfixalloc.h — fixed-size object allocator (Go's fixalloc) for off-heap
 * metadata objects such as mspan structs.
 *
 * Contract:
 *   - fixalloc_init(f, size, stat): size >= sizeof(void *); objects are
 *     8-byte aligned.  `stat` (may be NULL) accumulates bytes taken from
 *     persistentalloc.
 *   - fixalloc_alloc returns an object, zeroed if `zero` was set at init
 *     (else a reused object keeps its old contents — the caller fills in
 *     every field), or NULL when persistentalloc fails.  fixalloc_free puts it on a free list for reuse.
 *   - Memory is never returned to the host, so a pointer to a freed object
 *     stays readable ("type stable"): lock-free readers that race with a
 *     free (e.g. a remote kfree reading a span) read stale but valid memory.
 *     fixalloc_free overwrites only the first word (the free-list link).
 *   - No lock of its own: the owner's lock protects it (mheap_.lock for the
 *     span allocator).
 */
#ifndef ALLOC_MFIXALLOC_H
#define ALLOC_MFIXALLOC_H

#include <stdbool.h>
#include <stdint.h>

#define FIXALLOC_CHUNK (16u * 1024u)

typedef struct fixalloc {
    uint64_t size;      /* object size, multiple of 8, fixed at init */
    void *list;         /* free objects, linked through their first word */
    uintptr_t chunk;    /* bump pointer into the current chunk */
    uint64_t nchunk;    /* bytes left in the current chunk */
    uint64_t inuse;     /* bytes handed out and not freed */
    uint64_t *stat;     /* bytes taken from persistentalloc (may be NULL) */
    bool zero;          /* zero reused objects (fresh chunks are always zero) */
} fixalloc;

void fixalloc_init(fixalloc *f, uint64_t size, bool zero, uint64_t *stat);
void *fixalloc_alloc(fixalloc *f);
void fixalloc_free(fixalloc *f, void *p);

#endif
