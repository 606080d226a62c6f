/*
 * paging.c — the 4-level page tables handed to the kernel.
 *
 * Layout (see bootinfo.h):
 *   - identity map of [0, map_size) with 2 MiB pages (keeps the loader's
 *     code, stack and the firmware GDT reachable after the CR3 switch);
 *   - the same range again at BOOT_DIRECT_MAP_BASE, with its own PDPT/PD
 *     pages so the kernel may change one map without touching the other;
 *   - the kernel's PT_LOAD segments at their link addresses with 4 KiB
 *     pages, writable only when the segment is (pages shared by two
 *     segments get the union of their rights); no NX bits, since EFER.NXE
 *     is the kernel's business.
 * map_size = max(4 GiB, top of the memory map), rounded up to 1 GiB.
 * 2 MiB pages in [0xFE000000, 4 GiB) (IOAPIC, HPET, LAPIC) are PCD|PWT.
 *
 * All table pages come from ONE AllocatePages(BOOT_MEM_PAGETABLE) call whose
 * size is computed up front, so the tables are one reserved range and no
 * allocation happens after the final memory map.
 */
#include "boot.h"

#define PTE_P   (1ull << 0)
#define PTE_W   (1ull << 1)
#define PTE_PWT (1ull << 3)
#define PTE_PCD (1ull << 4)
#define PTE_PS  (1ull << 7)
#define PTE_ADDR 0x000ffffffffff000ull

#define SZ_2M (1ull << 21)
#define SZ_1G (1ull << 30)
#define SZ_512G (1ull << 39)
#define MMIO_UC_LO 0xFE000000ull
#define MMIO_UC_HI 0x100000000ull
/* The direct map must stay inside PML4 slots 256..383 (64 TiB). */
#define MAP_MAX (64ull << 40)

static uint64_t *alloc_table(struct page_tables *pt)
{
    if (pt->used_pages >= pt->pool_pages)
        return NULL;
    uint64_t *t = (uint64_t *)(pt->pool_phys + pt->used_pages * PAGE_SIZE);
    pt->used_pages++;
    return t; /* pool was zeroed */
}

/* Returns the table that entry idx of table t points to, creating it. */
static uint64_t *next_level(struct page_tables *pt, uint64_t *t, unsigned idx)
{
    if (t[idx] & PTE_P) {
        if (t[idx] & PTE_PS)
            return NULL; /* a large page is in the way: a layout bug */
        return (uint64_t *)(t[idx] & PTE_ADDR);
    }
    uint64_t *n = alloc_table(pt);
    if (n)
        t[idx] = (uint64_t)n | PTE_P | PTE_W;
    return n;
}

static unsigned idx(uint64_t va, int level) /* level 4 = PML4 .. 1 = PT */
{
    return (unsigned)(va >> (12 + 9 * (level - 1))) & 511;
}

static EFI_STATUS map_2m_range(struct page_tables *pt, uint64_t virt_base,
                               uint64_t size)
{
    uint64_t *pml4 = (uint64_t *)pt->pml4_phys;
    for (uint64_t pa = 0; pa < size; pa += SZ_2M) {
        uint64_t va = virt_base + pa;
        uint64_t *pdpt = next_level(pt, pml4, idx(va, 4));
        uint64_t *pd = pdpt ? next_level(pt, pdpt, idx(va, 3)) : NULL;
        if (!pd)
            return EFI_OUT_OF_RESOURCES;
        uint64_t e = pa | PTE_P | PTE_W | PTE_PS;
        if (pa >= MMIO_UC_LO && pa < MMIO_UC_HI)
            e |= PTE_PCD | PTE_PWT;
        pd[idx(va, 2)] = e;
    }
    return EFI_SUCCESS;
}

struct kmap_ctx {
    struct page_tables *pt;
    const struct kernel_image *ki;
};

static EFI_STATUS map_segment(void *vctx, uint64_t vaddr, uint64_t memsz,
                              uint32_t flags)
{
    struct kmap_ctx *c = vctx;
    uint64_t *pml4 = (uint64_t *)c->pt->pml4_phys;
    uint64_t w = (flags & 2) ? PTE_W : 0; /* PF_W */

    for (uint64_t va = PAGE_ALIGN_DOWN(vaddr); va < PAGE_ALIGN_UP(vaddr + memsz);
         va += PAGE_SIZE) {
        uint64_t *pdpt = next_level(c->pt, pml4, idx(va, 4));
        uint64_t *pd = pdpt ? next_level(c->pt, pdpt, idx(va, 3)) : NULL;
        uint64_t *ptab = pd ? next_level(c->pt, pd, idx(va, 2)) : NULL;
        if (!ptab)
            return EFI_OUT_OF_RESOURCES;
        uint64_t pa = c->ki->phys + (va - c->ki->virt_lo);
        uint64_t *e = &ptab[idx(va, 1)];
        if (*e & PTE_P)
            *e |= w; /* page shared with the previous segment */
        else
            *e = pa | PTE_P | w;
    }
    return EFI_SUCCESS;
}

/* Number of distinct aligned `unit` blocks touched by [lo, hi). */
static uint64_t span(uint64_t lo, uint64_t hi, int shift)
{
    return ((hi - 1) >> shift) - (lo >> shift) + 1;
}

EFI_STATUS paging_build(uint64_t mem_top, const void *elf,
                        const struct kernel_image *ki, struct page_tables *pt)
{
    EFI_STATUS st;
    uint64_t map = mem_top < MMIO_UC_HI ? MMIO_UC_HI : mem_top;

    if (map > MAP_MAX) {
        berror(L"memory map reaches 0x%lx, beyond the %ld TiB the direct map covers",
               mem_top, MAP_MAX >> 40);
        return EFI_UNSUPPORTED;
    }
    map = (map + SZ_1G - 1) & ~(SZ_1G - 1);

    /* identity + direct: PDPTs and one PD per GiB, each twice */
    uint64_t n = 1 + 2 * (span(0, map, 39) + map / SZ_1G);
    n += span(ki->virt_lo, ki->virt_hi, 39) + span(ki->virt_lo, ki->virt_hi, 30) +
         span(ki->virt_lo, ki->virt_hi, 21);

    EFI_PHYSICAL_ADDRESS base = 0;
    st = uefi_call_wrapper(BS->AllocatePages, 4, AllocateAnyPages,
                           (EFI_MEMORY_TYPE)BOOT_MEM_PAGETABLE, n, &base);
    if (EFI_ERROR(st)) {
        berror(L"cannot allocate %ld page-table pages: %r", n, st);
        return st;
    }
    SetMem((void *)base, n * PAGE_SIZE, 0);
    pt->pool_phys = base;
    pt->pool_pages = n;
    pt->used_pages = 0;
    pt->map_size = map;
    pt->pml4_phys = (uint64_t)alloc_table(pt);

    st = map_2m_range(pt, 0, map);
    if (!EFI_ERROR(st))
        st = map_2m_range(pt, BOOT_DIRECT_MAP_BASE, map);
    if (!EFI_ERROR(st)) {
        struct kmap_ctx c = { pt, ki };
        st = elf_for_each_load(elf, map_segment, &c);
    }
    if (EFI_ERROR(st)) {
        berror(L"page-table construction failed (%ld of %ld pages used): %r",
               pt->used_pages, n, st);
        uefi_call_wrapper(BS->FreePages, 2, base, n);
        return st;
    }
    blog(L"page tables: %ld pages at 0x%lx, identity+direct map of %ld MiB",
         pt->used_pages, base, map >> 20);
    return EFI_SUCCESS;
}
