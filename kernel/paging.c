/*
 * paging.c — walking and editing the 4-level page tables.
 *
 * walk(va, create): PML4 → PDPT → PD → PT, allocating zeroed table pages
 * when `create` is set; stops with PG_EHUGE at a large page.  map/unmap are
 * a walk plus one PTE store plus invlpg.  Table pages are never freed (the
 * heap's virtual range is reused, so its tables are too).
 */
#include "paging.h"
#include "cpu.h"
#include "frame.h"
#include "kernel.h"
#include "spinlock.h"

static spinlock_t lock = SPINLOCK_INIT(LOCKRANK_PAGING);
static uint64_t pml4_pa;
static uint64_t table_pages;
static uint64_t saved_low_pml4e;

static inline uint64_t *table(uint64_t pa) { return phys_to_virt(pa & PTE_ADDR); }

void paging_init(uint64_t pml4_phys)
{
    pml4_pa = pml4_phys;
    /* Drop the identity map (lower half): nothing runs there any more. */
    uint64_t *pml4 = table(pml4_pa);
    saved_low_pml4e = pml4[0];
    for (int i = 0; i < 256; i++)
        pml4[i] = 0;
    write_cr3(pml4_pa);
    paging_pat_init();
}

#define MSR_PAT 0x277
#define PAT_WC  0x01ull

int paging_pat_wc(void)
{
    uint32_t a, b, c, d;
    cpuid(1, 0, &a, &b, &c, &d);
    return (d >> 16) & 1;
}

/* No mapping uses entry 5 before this runs (nothing sets PTE_PAT), so its
 * type can change without the cache flush a change of a used entry needs. */
void paging_pat_init(void)
{
    if (!paging_pat_wc())
        return;
    uint64_t pat = rdmsr(MSR_PAT);
    wrmsr(MSR_PAT, (pat & ~(0xffull << 40)) | PAT_WC << 40);
}

static int canonical(uint64_t va)
{
    uint64_t top = va >> 47;
    return top == 0 || top == 0x1FFFF;
}

/* Returns the PTE slot for va, or NULL with *err set. Lock held. */
static uint64_t *walk_locked(uint64_t va, int create, int *err)
{
    if (!spin_held(&lock))
        panic("paging: %s called without its lock", __func__);
    uint64_t *t = table(pml4_pa);
    for (int level = 3; level > 0; level--) {
        uint64_t idx = (va >> (12 + 9 * level)) & 511;
        uint64_t e = t[idx];
        if (!(e & PTE_P)) {
            if (!create) {
                *err = PG_ENOTMAP;
                return 0;
            }
            uint64_t pa = frame_alloc_zeroed();
            if (!pa) {
                *err = PG_ENOMEM;
                return 0;
            }
            table_pages++;
            e = pa | PTE_P | PTE_W;
            t[idx] = e;
        } else if (e & PTE_PS) {
            *err = PG_EHUGE;
            return 0;
        }
        t = table(e);
    }
    return &t[(va >> 12) & 511];
}

int map_page(uint64_t va, uint64_t pa, uint64_t flags)
{
    if ((va | pa) & 0xFFF || !canonical(va))
        return PG_EINVAL;
    int err = 0;
    spin_lock(&lock);
    uint64_t *pte = walk_locked(va, 1, &err);
    if (pte && (*pte & PTE_P))
        err = PG_EEXIST;
    else if (pte)
        *pte = (pa & PTE_ADDR) | flags | PTE_P;
    spin_unlock(&lock);
    return err;
}

int unmap_page(uint64_t va, uint64_t *pa_out)
{
    if ((va & 0xFFF) || !canonical(va))
        return PG_EINVAL;
    int err = 0;
    spin_lock(&lock);
    uint64_t *pte = walk_locked(va, 0, &err);
    if (pte && !(*pte & PTE_P))
        err = PG_ENOTMAP;
    else if (pte) {
        if (pa_out)
            *pa_out = *pte & PTE_ADDR;
        *pte = 0;
        invlpg(va);
    }
    spin_unlock(&lock);
    return err;
}

int paging_prepare(uint64_t va, uint64_t size)
{
    if ((va | size) & 0xFFF || !canonical(va))
        return PG_EINVAL;
    int err = 0;
    spin_lock(&lock);
    /* one walk per last-level table (2 MiB of address space) */
    for (uint64_t a = va; a < va + size && !err; a = (a + 0x200000) & ~0x1FFFFFull)
        walk_locked(a, 1, &err);
    spin_unlock(&lock);
    return err;
}

uint64_t virt_to_phys(uint64_t va)
{
    uint64_t *t = table(pml4_pa);
    for (int level = 3; level >= 0; level--) {
        uint64_t e = t[(va >> (12 + 9 * level)) & 511];
        if (!(e & PTE_P))
            return ~0ull;
        if (level == 0 || (e & PTE_PS)) {
            uint64_t span = 1ull << (12 + 9 * level);
            return (e & PTE_ADDR & ~(span - 1)) | (va & (span - 1));
        }
        t = table(e);
    }
    return ~0ull;
}

uint64_t paging_table_pages(void) { return table_pages; }

void paging_identity_low(int on)
{
    uint64_t *pml4 = table(pml4_pa);
    pml4[0] = on ? saved_low_pml4e : 0;
    write_cr3(pml4_pa);
}
