/*
 * sizeclass.h — lookups over the generated size-class tables
 * (alloc/sizeclasses.h, produced by alloc/mksizeclasses.c).
 *
 *   size_to_class(size)      smallest class whose objects hold `size` bytes
 *   spanClass                class << 1 | noscan (136 collected span classes),
 *                            then 136 + class (68 kmalloc span classes)
 *   obj_index(off, divmul)   off / class size without a division
 *   class_tail_waste(c), class_max_waste_bp(c), class_max_waste_permille(c)
 *                            the "tail waste" / "max waste" columns of the
 *                            table, in integers (no floating point in alloc/)
 */
#ifndef ALLOC_SIZECLASS_H
#define ALLOC_SIZECLASS_H

#include <stdbool.h>
#include <stdint.h>

#include "sizeclasses.h"

/* SPAN CLASSES.  0..135 are Go's: class << 1 | noscan, for memory the
 * garbage collector owns (mallocgc, tiny blocks): marked, scanned when not
 * noscan, swept.  136..203 are kmalloc's: 136 + class, for explicitly freed
 * memory (kmalloc/kcalloc/krealloc): never marked, scanned or collected,
 * swept only for kfree's pending frees.  136 (class 0) is a large kmalloc
 * object.  Both kinds share mcache, mcentral and mheap code; only the
 * collector tells them apart. */
#define NUM_GC_SPAN_CLASSES (NUM_SIZE_CLASSES << 1)               /* 136 */
#define KMALLOC_SPC_BASE NUM_GC_SPAN_CLASSES
#define NUM_SPAN_CLASSES (NUM_GC_SPAN_CLASSES + NUM_SIZE_CLASSES) /* 204 */

/* Size class for 1 <= size <= MAX_SMALL_SIZE (0 maps to class 0; larger
 * sizes are large objects and have no class). */
static inline uint8_t size_to_class(uint64_t size)
{
    if (size <= SMALL_SIZE_MAX)
        return size_to_class8[(size + SMALL_SIZE_DIV - 1) / SMALL_SIZE_DIV];
    return size_to_class128[(size - SMALL_SIZE_MAX + LARGE_SIZE_DIV - 1) / LARGE_SIZE_DIV];
}

typedef uint8_t spanClass;

/* A collected (GC) span class. */
static inline spanClass make_spanclass(uint8_t sizeclass, bool noscan)
{
    return (spanClass)((sizeclass << 1) | (noscan ? 1 : 0));
}
/* kmalloc's span class for a size class (0: large). */
static inline spanClass make_kmalloc_spanclass(uint8_t sizeclass)
{
    return (spanClass)(KMALLOC_SPC_BASE + sizeclass);
}
static inline bool spanclass_is_kmalloc(spanClass sc) { return sc >= KMALLOC_SPC_BASE; }
static inline uint8_t spanclass_sizeclass(spanClass sc)
{
    return (uint8_t)(sc >= KMALLOC_SPC_BASE ? sc - KMALLOC_SPC_BASE : sc >> 1);
}
/* No pointers to scan: GC noscan classes and every kmalloc class. */
static inline bool spanclass_noscan(spanClass sc) { return sc >= KMALLOC_SPC_BASE || (sc & 1); }

/* offset / size for every offset in a span of the class whose divmagic is
 * `divmul` (exact: checked exhaustively by mksizeclasses and the tests). */
static inline uint32_t obj_index(uint32_t offset, uint32_t divmul)
{
    return (uint32_t)(((uint64_t)offset * divmul) >> 32);
}

static inline uint32_t class_span_bytes(int c)
{
    return (uint32_t)class_to_allocnpages[c] << PAGE_SHIFT;
}
static inline uint32_t class_objects(int c)
{
    return c ? class_span_bytes(c) / class_to_size[c] : 0;
}
/* Bytes at the end of a span that no object can use. */
static inline uint32_t class_tail_waste(int c)
{
    return c ? class_span_bytes(c) - class_objects(c) * class_to_size[c] : 0;
}
/* Worst-case waste of a span, in 1/10000 (basis points, so that 8750 prints
 * as 87.50%): every object is one byte larger than the previous class size,
 * plus the tail.  Rounded to nearest, like the generated table's %.2f. */
static inline uint32_t class_max_waste_bp(int c)
{
    if (c <= 0 || c >= NUM_SIZE_CLASSES)
        return 0;
    uint64_t wasted = (uint64_t)(class_to_size[c] - class_to_size[c - 1] - 1) *
                          class_objects(c) + class_tail_waste(c);
    return (uint32_t)((wasted * 10000 + class_span_bytes(c) / 2) / class_span_bytes(c));
}
static inline uint32_t class_max_waste_permille(int c)
{
    if (c <= 0 || c >= NUM_SIZE_CLASSES)
        return 0;
    uint64_t wasted = (uint64_t)(class_to_size[c] - class_to_size[c - 1] - 1) *
                          class_objects(c) + class_tail_waste(c);
    return (uint32_t)((wasted * 1000 + class_span_bytes(c) / 2) / class_span_bytes(c));
}

#endif /* ALLOC_SIZECLASS_H */
