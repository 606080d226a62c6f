/*
 * heapdump.h — the heap described for people (the kernel's playground
 * commands obj, span, heapmap): what an address is, a span's fields and
 * slots, and every page of an arena as one character.  Go's heapdump.go
 * writes the heap out for tools; this is the same idea at a shell's scale.
 *
 * Every function takes mheap_.lock (and no other lock) for a consistent
 * view, so it must not be called with an allocator lock held; the results
 * are a snapshot (other CPUs may allocate right after).
 */
#ifndef ALLOC_HEAPDUMP_H
#define ALLOC_HEAPDUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mheap.h"

enum heapdump_where {
    HD_NOT_HEAP = 0,    /* outside every arena */
    HD_FREE_PAGES = 1,  /* an arena page in no span (free, scavenged or never used) */
    HD_SPAN_TAIL = 2,   /* in a small span, past its last object */
    HD_OBJECT = 3,      /* in an object slot (small or large) */
    HD_MANUAL = 4,      /* in a manual span (stacks) */
};

/* A copy of the span's fields (taken under the lock). */
struct heapdump_span {
    uintptr_t start, limit;
    uint64_t npages, elemsize;
    uint32_t nelems, freeindex, allocCount, sweepgen, markgen;
    int32_t pendingCount, cachedBy;
    uint8_t sizeclass, noscan, kmalloc, state, manualKind;
};

struct heapdump_obj {
    enum heapdump_where where;
    uint64_t arena_index;        /* which arena (0 = the lowest address) */
    uintptr_t arena_base;
    uint64_t page;               /* page index in the arena */
    struct heapdump_span span;   /* valid unless NOT_HEAP / FREE_PAGES */
    uintptr_t object;            /* the slot's first byte (HD_OBJECT) */
    uint32_t index;              /* its slot index */
    bool allocated, marked, pending, tiny;
    bool cached; /* a kmalloc object kfree'd into a freed-object cache: its
                    span still counts it allocated, its first word holds
                    the key (mobjcache.c) */
    uint32_t words, pointer_words; /* words of the slot; how many are pointers */
    uint64_t ptrbits;            /* pointer bits of the first 64 words */
};

/* What `addr` is.  false (where = HD_NOT_HEAP) outside the heap. */
bool heapdump_object(uintptr_t addr, struct heapdump_obj *out);

/* The slots of the span holding addr as characters, one per slot:
 *   '#' allocated   '.' free   'p' kfree'd, not swept yet
 *   'c' kfree'd into a freed-object cache (kmalloc classes)
 * (out[nelems] = 0; cap must exceed nelems, else truncated).  Returns the
 * number of slots, 0 when addr is not in a small in-use span. */
uint32_t heapdump_span_slots(uintptr_t addr, char *out, size_t cap);

/* Up to max in-use spans of size class `cls` (GC and kmalloc), lowest
 * address first; returns how many exist in all. */
uint32_t heapdump_spans_of_class(uint8_t cls, struct heapdump_span *out, uint32_t max);

/* One character per page of arena number `k` into out[PAGES_PER_ARENA]:
 *   '.' free (backed by memory)   '_' free, scavenged (never used, or
 *   returned to the host)   '?' allocated to no span (a bug: never seen)
 *   a b c d   GC small objects of up to 64 B / 512 B / 4 KiB / 32 KiB
 *   A B C D   the same, kmalloc (C-style) objects
 *   L large object (l: kmalloc)   S stack   M other manual pages
 * Returns the arena's base, 0 when there is no arena k. */
uintptr_t heapdump_arena_pages(uint64_t k, char *out);
#define HEAPDUMP_LEGEND                                                                 \
    ". free  _ scavenged  a/b/c/d small <=64 B/<=512 B/<=4 KiB/<=32 KiB " \
    "(A-D: kmalloc)  L large (l: kmalloc)  S stack  M manual"

#endif
