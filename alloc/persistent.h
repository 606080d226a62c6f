/*
 * persistent.h — off-heap metadata memory (Go's persistentalloc).
 *
 * Arena metadata, page-allocator summaries, mcache and mcentral structures
 * live outside the heap they describe.  persistentalloc hands out zeroed
 * memory that is never freed, carved from address space taken with
 * plat_reserve and made Ready in PERSISTENT_CHUNK steps.
 *
 * Contract:
 *   - size > 0, align a power of two <= 4096.
 *   - Returns zeroed memory, or NULL when address space or physical memory
 *     is exhausted (nothing is half-allocated then).
 *   - Thread-safe (one lock, rank LOCKRANK_PERSISTENT: a leaf).
 *   - `*stat` (may be NULL) is increased by the bytes handed out so callers
 *     can account metadata by kind.
 */
#ifndef ALLOC_PERSISTENT_H
#define ALLOC_PERSISTENT_H

#include <stdint.h>

#define PERSISTENT_CHUNK (256u * 1024u)

void *persistentalloc(uint64_t size, uint64_t align, uint64_t *stat);

/* Bytes of Ready memory owned by persistentalloc (its "Sys"). */
uint64_t persistent_sys_bytes(void);

#endif
