/*
 * paging.h — 4-level page tables: map/unmap 4 KiB pages anywhere.
 *
 * The kernel keeps the loader's tables (kernel image at its link address,
 * direct map of all RAM at DIRECT_MAP_BASE) and drops the loader's identity
 * map of low memory, so a NULL dereference faults.  Page-table pages come
 * from frame_alloc and are reached through the direct map.
 *
 * Contract: va and pa page-aligned; canonical va; the 2 MiB pages of the
 * direct map are never split (map_page refuses to go through them).
 * Return values: 0, or a negative PG_E* code; nothing changes on error.
 * All functions are SMP-safe (one lock); TLB invalidation is local, and the
 * caller shoots down other CPUs when needed (none share heap mappings that
 * are unmapped while in use).
 */
#ifndef KERNEL_PAGING_H
#define KERNEL_PAGING_H

#include <stdint.h>

#define PTE_P   (1ull << 0)
#define PTE_W   (1ull << 1)
#define PTE_U   (1ull << 2)
#define PTE_PWT (1ull << 3)
#define PTE_PCD (1ull << 4)
#define PTE_PS  (1ull << 7)
#define PTE_PAT (1ull << 7) /* in a 4 KiB PTE (bit 7 is PS one level up) */
/* PAT entry 5 (PAT=1, PCD=0, PWT=1): write-combining once paging_pat_init
 * ran on every CPU; only when paging_pat_wc() says so. */
#define PTE_WC  (PTE_PAT | PTE_PWT)
#define PTE_G   (1ull << 8)
#define PTE_NX  (1ull << 63)
#define PTE_ADDR 0x000ffffffffff000ull

#define PG_EEXIST  (-1) /* already mapped */
#define PG_ENOMEM  (-2) /* no frame for a page table */
#define PG_EHUGE   (-3) /* the walk hit a 2 MiB / 1 GiB page */
#define PG_EINVAL  (-4) /* unaligned or non-canonical */
#define PG_ENOTMAP (-5) /* nothing mapped there */

void paging_init(uint64_t pml4_phys);
/* Makes PAT entry 5 write-combining on this CPU (paging_init does the BSP;
 * each AP calls it when it starts).  Entries 0..3 keep their power-on
 * meaning (WB, WT, UC-, UC), which is what PWT/PCD alone select. */
void paging_pat_init(void);
/* 1 when the CPU has a PAT, so PTE_WC means write-combining. */
int paging_pat_wc(void);
int map_page(uint64_t va, uint64_t pa, uint64_t flags);
/* Unmaps va; *pa_out (may be NULL) receives the frame it mapped. */
int unmap_page(uint64_t va, uint64_t *pa_out);
/* Builds the page tables down to the last level for [va, va+size) without
 * mapping anything (Go's "Prepared" state). */
int paging_prepare(uint64_t va, uint64_t size);
/* Physical address va maps to, or ~0 when unmapped. */
uint64_t virt_to_phys(uint64_t va);
/* Page-table pages allocated since boot (for the stats). */
uint64_t paging_table_pages(void);
/* Map the first 2 MiB identity again / drop it (SMP trampoline). */
void paging_identity_low(int on);

#endif
