/*
 * gcbits.h — storage for the per-span object bitmaps (allocBits,
 * gcmarkBits, pendingFree and, for tiny-block spans, tinyBits).
 *
 * Go carves these from "gcBits arenas" that are recycled once per GC cycle.
 * Without a collector we keep one block per span, sized by its object count:
 * a span with n objects needs ceil(n/64) words per bitmap, and all of a
 * span's bitmaps live in one block of k*words words (k = 3 or 4).
 *
 * Contract:
 *   - gcbits_alloc_locked(nwords) returns `nwords` zeroed, 8-byte aligned
 *     words (1 <= nwords <= GCBITS_MAX_WORDS) or NULL when persistentalloc
 *     fails.  gcbits_free_locked(p, nwords) recycles them (same nwords).
 *   - Blocks are never returned to the host (type stable: a racing reader of
 *     a freed span's bitmap reads stale, valid memory).
 *   - Locking: mheap_.lock held (checked).
 */
#ifndef ALLOC_GCBITS_H
#define ALLOC_GCBITS_H

#include <stdint.h>

#define GCBITS_MAX_WORDS 64u /* 4 bitmaps of up to 1024 objects */

uint64_t *gcbits_alloc_locked(uint32_t nwords);
void gcbits_free_locked(uint64_t *p, uint32_t nwords);
/* Bytes taken from persistentalloc for bitmaps (statistics). */
uint64_t gcbits_sys_bytes(void);

#endif
