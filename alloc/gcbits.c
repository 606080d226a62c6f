/*
 * gcbits.c — per-span bitmap blocks: one free list per block size (in
 * words) over persistentalloc.  See gcbits.h for the contract.
 *
 * Alloc: 1. pop the free list for nwords and zero the block;
 *        2. else carve nwords words from a GCBITS_CHUNK bump region
 *           (fresh persistentalloc memory is already zero).
 * Free:  push on the list for nwords (the block's first word is the link).
 * Invariant: every list[n] entry is a block of exactly n words.
 * Locking: mheap_.lock protects everything here.
 */
#include "debug.h"
#include "gcbits.h"
#include "mheap.h"
#include "persistent.h"
#include "platform.h"

#define GCBITS_CHUNK (64u * 1024u)

static struct {
    uint64_t *list[GCBITS_MAX_WORDS + 1]; /* free blocks by size (mheap_.lock) */
    uintptr_t next;                       /* bump region (mheap_.lock) */
    uint64_t left;                        /* bytes left in it */
    uint64_t sys;                         /* bytes from persistentalloc */
} gb;

uint64_t *gcbits_alloc_locked(uint32_t nwords)
{
    alloc_assert_locked(&mheap_.lock, __func__);
    ALLOC_CHECK(nwords && nwords <= GCBITS_MAX_WORDS, 0, "gcbits_alloc_locked: bad size %u", nwords);
    uint64_t *p = gb.list[nwords];
    if (p) {
        gb.list[nwords] = (uint64_t *)p[0];
        __builtin_memset(p, 0, nwords * 8ull);
        return p;
    }
    uint64_t bytes = nwords * 8ull;
    if (gb.left < bytes) {
        void *c = persistentalloc(GCBITS_CHUNK, 64, &gb.sys);
        if (!c)
            return 0;
        gb.next = (uintptr_t)c;
        gb.left = GCBITS_CHUNK;
    }
    p = (uint64_t *)gb.next;
    gb.next += bytes;
    gb.left -= bytes;
    return p;
}

void gcbits_free_locked(uint64_t *p, uint32_t nwords)
{
    alloc_assert_locked(&mheap_.lock, __func__);
    p[0] = (uint64_t)(uintptr_t)gb.list[nwords];
    gb.list[nwords] = p;
}

uint64_t gcbits_sys_bytes(void) { return __atomic_load_n(&gb.sys, __ATOMIC_RELAXED); }
