/*
 * malloc_impl.h — helpers shared inside alloc/ (not a public API).
 */
#ifndef ALLOC_MALLOC_IMPL_H
#define ALLOC_MALLOC_IMPL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "mspan.h"

/* Format a message and send it to the error hook (one line). */
void alloc_report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* snprintf through plat_vsnprintf. */
int alloc_format(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A sweep dropped `n` pending frees of s that were double frees: take them
 * back out of the free statistics. */
void alloc_undo_frees(const mspan *s, uint32_t n);
void alloc_undo_frees_class(spanClass spc, uint32_t n); /* the same, by class */
/* The child's statistics correction after fork (mfork.c), added to the
 * free count of size class c ([0] = large objects) and to the large free
 * bytes by read_memstats. */
int64_t malloc_fork_frees_adjust(int sizeclass);
int64_t malloc_fork_large_bytes_adjust(void);

/* Heap bitmap: mark the words of [x, x+size) per typ (dataSize bytes of
 * elements, the rest scalar). */
struct gotype;
void heap_bits_set_type(uintptr_t x, uint64_t size, uint64_t dataSize, const struct gotype *typ);

#endif
