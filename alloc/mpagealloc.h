/*
 * mpagealloc.h — the page allocator under mheap (Go's pageAlloc idea):
 * address-ordered first fit over the heap's 8 KiB pages, with a bitmap per
 * 512-page chunk and a tree of free-run summaries.  See mpagealloc.c for the
 * design, the invariants and the cost of every operation.
 *
 * Locking: a pageAlloc has no lock of its own; every function is called with
 * the owning mheap's lock held (or before the heap is shared).
 */
#ifndef ALLOC_MPAGEALLOC_H
#define ALLOC_MPAGEALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sizeclasses.h" /* PAGE_SHIFT, PAGE_SIZE */

#define PALLOC_CHUNK_PAGES 512u                         /* pages per chunk */
#define PALLOC_CHUNK_WORDS (PALLOC_CHUNK_PAGES / 64u)   /* bitmap words per chunk */
#define PALLOC_CHUNK_SHIFT (PAGE_SHIFT + 9)             /* 4 MiB */
#define PALLOC_CHUNK_BYTES (1ull << PALLOC_CHUNK_SHIFT)
#define PALLOC_L1_CHUNKS 16u                            /* chunks per L1 block: 64 MiB */
#define PALLOC_L1_SHIFT (PALLOC_CHUNK_SHIFT + 4)
#define PALLOC_L0_BLOCKS 64u                            /* L1 blocks per L0 group: 4 GiB */
#define PALLOC_L0_SHIFT (PALLOC_L1_SHIFT + 6)

/* Free-run summary of a range of pages: free pages at its start, the longest
 * free run inside it, free pages at its end.  All three equal the range's
 * page count when the range is entirely free. */
typedef struct pallocSum {
    uint32_t start, max, end;
} pallocSum;

/* One 4 MiB chunk: bit i of the bitmaps describes page i (word i/64, bit
 * i%64, lowest address = bit 0 of word 0). */
typedef struct pallocChunk {
    uint64_t alloc[PALLOC_CHUNK_WORDS]; /* 1 = allocated (or not grown) */
    uint64_t scav[PALLOC_CHUNK_WORDS];  /* 1 = free and not Ready (scavenged) */
} pallocChunk;

/* 64 MiB of chunks with their summaries; allocated when first grown. */
typedef struct pallocL1 {
    pallocSum sum[PALLOC_L1_CHUNKS];     /* per chunk */
    pallocChunk chunk[PALLOC_L1_CHUNKS];
    uint16_t grown;                      /* bit c: chunk c belongs to the heap */
} pallocL1;

/* 4 GiB group: summaries of its eight 512 MiB "mid" ranges and of its 64
 * MiB blocks; allocated when first grown. */
#define PALLOC_MID_BLOCKS 8u                            /* blocks per mid: 512 MiB */
typedef struct pallocL0 {
    pallocSum mid[PALLOC_L0_BLOCKS / PALLOC_MID_BLOCKS]; /* per 512 MiB */
    pallocSum sum[PALLOC_L0_BLOCKS];     /* per L1 block (zero when absent) */
    pallocL1 *l1[PALLOC_L0_BLOCKS];
} pallocL0;

typedef struct pageAlloc {
    uintptr_t origin;      /* window base rounded down to 4 GiB */
    uintptr_t limit;       /* window end (exclusive) */
    uint64_t ngroups;      /* number of 4 GiB groups covering the window */
    pallocSum *top;        /* [ngroups] summaries of the groups */
    pallocL0 **groups;     /* [ngroups], NULL until grown */
    uint64_t lo_group, hi_group; /* grown groups lie in [lo_group, hi_group) */
    uintptr_t search_addr; /* every page below it is allocated (or not grown) */
    uint64_t free_pages;   /* free pages, scavenged or not */
    uint64_t scav_pages;   /* free pages that are not Ready */
    uint64_t total_pages;  /* pages grown */
    uint64_t meta_bytes;   /* metadata from persistentalloc */
    bool inited;
} pageAlloc;

void pagealloc_init(pageAlloc *p);

/* Add [base, base+size) (chunk-aligned) as free, scavenged (Prepared) pages.
 * False when metadata could not be allocated (nothing changes then). */
bool pagealloc_grow(pageAlloc *p, uintptr_t base, uint64_t size);

/* Lowest-addressed run of npages free pages: mark it allocated and return its
 * base, or 0 when there is none.  Every maximal scavenged sub-run of it is
 * passed to back(base, bytes) first; when back() fails, the sub-runs already
 * backed stay free but Ready, nothing is allocated, *oom = true, 0 is
 * returned.  *oom is false otherwise (oom may be NULL). */
uintptr_t pagealloc_alloc(pageAlloc *p, uint64_t npages, bool (*back)(uintptr_t, uint64_t),
                          bool *oom);

/* Pages [base, base + npages*PAGE_SIZE) become free (still Ready).  Any of
 * them not allocated: plat_panic naming the address. */
void pagealloc_free(pageAlloc *p, uintptr_t base, uint64_t npages);

/* Give free Ready pages back, highest addresses first, until at least
 * `bytes` (rounded up to pages) are released or none are left; unback(base,
 * bytes) is called once per released run.  Returns the bytes released. */
uint64_t pagealloc_scavenge(pageAlloc *p, uint64_t bytes, void (*unback)(uintptr_t, uint64_t));

/* The page containing addr is grown and allocated. */
bool pagealloc_allocated(pageAlloc *p, uintptr_t addr);
/* The page containing addr is grown, free and scavenged. */
bool pagealloc_scavenged(pageAlloc *p, uintptr_t addr);

uint64_t pagealloc_free_pages(pageAlloc *p);
uint64_t pagealloc_scav_pages(pageAlloc *p);
uint64_t pagealloc_total_pages(pageAlloc *p);
/* Bytes of metadata taken from persistentalloc. */
uint64_t pagealloc_meta_bytes(pageAlloc *p);

/* Recompute every summary and counter from the bitmaps and compare.
 * False with a message naming the chunk and the field on the first mismatch. */
bool pagealloc_verify(pageAlloc *p, char *err, size_t errlen);

#endif /* ALLOC_MPAGEALLOC_H */
