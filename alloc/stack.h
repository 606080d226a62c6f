/*
 * stack.h — the stack allocator (Go's stackalloc / stackfree).
 *
 * Stacks are not heap objects: they come from "manual" spans of the page
 * heap (mspan state mSpanManual), so the heap's object bitmaps never cover
 * them, and their bytes are counted as StackInuse.
 *
 * Contract:
 *   stackalloc(n): n a power of two >= STACK_MIN_BYTES.  Returns the lowest
 *     address of n bytes, aligned to min(n, 8 KiB); contents undefined; NULL
 *     when memory is exhausted.  Callable from any CPU.
 *   stackfree(p, n): p and n exactly as returned/passed by stackalloc; any
 *     CPU.  Bad input is reported through the allocator's error hook and
 *     ignored (nothing changes):
 *       stackfree: 0x... (N bytes) is not a stack from stackalloc
 *       stackfree: 0x... (N bytes) is a M-byte stack          (wrong size)
 *       stackfree: double free of 0x... (N bytes)
 *   stack_cache_flush_all(): give every cached stack (per-CPU caches, pool
 *     spans, large free lists) back to the page heap; quiescent callers only.
 */
#ifndef ALLOC_STACK_H
#define ALLOC_STACK_H

#include <stdint.h>

#define STACK_MIN_BYTES   2048u
#define NUM_STACK_ORDERS  4      /* 2, 4, 8, 16 KiB from the pool */
#define STACK_CACHE_SIZE  32768u /* pool span size; per-CPU cache limit per order */

void *stackalloc(uint64_t n);
void stackfree(void *p, uint64_t n);
void stack_cache_flush_all(void);

struct stackstats {
    uint64_t inuse_bytes;   /* stacks handed out */
    uint64_t cached_bytes;  /* in per-CPU caches and large free lists */
    uint64_t pool_spans;    /* 32 KiB manual spans in the pool */
    uint64_t large_spans;   /* manual spans of large stacks (in use or free) */
    uint64_t allocs, frees; /* cumulative */
};
void read_stackstats(struct stackstats *out);

#endif
