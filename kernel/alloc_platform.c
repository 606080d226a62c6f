/*
 * alloc_platform.c — alloc/platform.h for the kernel.
 *
 * The heap window is [HEAP_WINDOW_BASE, +1 TiB) of kernel virtual space,
 * handed out by a bump pointer (reservations are never returned; 1 TiB is
 * 16384 arenas).  Prepared = page tables down to the last level exist
 * (paging_prepare); Ready = every 4 KiB page mapped to a zeroed frame;
 * Ready → Prepared unmaps and frees the frames.  Other CPUs never hold TLB
 * entries for pages being unbacked: the heap only unbacks free page runs,
 * which no CPU touches (a free run was last touched when it was in use;
 * stale entries are flushed by the local invlpg and, on SMP, by the
 * shootdown hook below).
 */
#include "../alloc/platform.h"
#include "cpu.h"
#include "fmt.h"
#include "frame.h"
#include "kernel.h"
#include "paging.h"
#include "percpu.h"
#include "spinlock.h"

#define HEAP_WINDOW_BASE 0xffffc00000000000ull
#define HEAP_WINDOW_SIZE (1ull << 40)

static spinlock_t window_lock = SPINLOCK_INIT(LOCKRANK_WINDOW);
/* the next arena's base: an address, not a reference (PLAT_NOSCAN) */
static PLAT_NOSCAN uint64_t window_next = HEAP_WINDOW_BASE;
uint32_t kernel_ncpu = 1;

/* Tests (an out-of-memory heap on any machine): the heap may have at most
 * kernel_debug_heap_limit bytes backed (0: no limit but physical memory).
 * heap_backed: bytes plat_back mapped minus the pages plat_unback freed
 * (atomic). */
volatile uint64_t kernel_debug_heap_limit;
static uint64_t heap_backed;

uint64_t kernel_heap_backed(void) { return __atomic_load_n(&heap_backed, __ATOMIC_RELAXED); }

__attribute__((weak)) void tlb_shootdown(uint64_t va, uint64_t size) { (void)va; (void)size; }

void plat_heap_window(uintptr_t *base, uint64_t *size)
{
    *base = HEAP_WINDOW_BASE;
    *size = HEAP_WINDOW_SIZE;
}

uintptr_t plat_reserve(uint64_t size, uint64_t align)
{
    spin_lock(&window_lock);
    uint64_t p = (window_next + align - 1) & ~(align - 1);
    if (p + size > HEAP_WINDOW_BASE + HEAP_WINDOW_SIZE || p + size < p) {
        spin_unlock(&window_lock);
        return 0;
    }
    window_next = p + size;
    spin_unlock(&window_lock);
    return p;
}

bool plat_prepare(uintptr_t base, uint64_t size)
{
    return paging_prepare(base, size) == 0;
}

void plat_unback(uintptr_t base, uint64_t size)
{
    for (uint64_t va = base; va < base + size; va += PLAT_PAGE_SIZE) {
        uint64_t pa;
        if (unmap_page(va, &pa) == 0) {
            frame_free(pa);
            __atomic_sub_fetch(&heap_backed, PLAT_PAGE_SIZE, __ATOMIC_RELAXED);
        }
    }
    tlb_shootdown(base, size);
}

bool plat_back(uintptr_t base, uint64_t size)
{
    uint64_t limit = kernel_debug_heap_limit;
    if (__atomic_add_fetch(&heap_backed, size, __ATOMIC_RELAXED) > limit && limit) {
        __atomic_sub_fetch(&heap_backed, size, __ATOMIC_RELAXED);
        return false;
    }
    for (uint64_t va = base; va < base + size; va += PLAT_PAGE_SIZE) {
        uint64_t pa = frame_alloc_zeroed();
        int err = pa ? map_page(va, pa, PTE_W | PTE_NX) : PG_ENOMEM;
        if (err) {
            if (pa)
                frame_free(pa);
            if (err != PG_ENOMEM)
                panic("plat_back: mapping heap page 0x%lx failed (%d)", va, err);
            plat_unback(base, va - base); /* all or nothing; it uncounts what it frees */
            __atomic_sub_fetch(&heap_backed, size - (va - base), __ATOMIC_RELAXED);
            return false;
        }
    }
    return true;
}

uint64_t plat_phys_free(void)
{
    uint64_t free = frame_free_count() * FRAME_SIZE, limit = kernel_debug_heap_limit;
    if (limit) {
        uint64_t b = kernel_heap_backed(), room = limit > b ? limit - b : 0;
        free = room < free ? room : free;
    }
    return free;
}

uint32_t plat_ncpu(void) { return kernel_ncpu; }
/* plat_pin, plat_unpin, plat_cpu_id, plat_cpu_cache: inline, in platform_inline.h */

_Static_assert(__builtin_offsetof(struct percpu, mcache) == 16,
               "platform_inline.h reads %gs:16");

void plat_set_cpu_cache(uint32_t cpu, void *p)
{
    if (cpu < MAX_CPUS)
        __atomic_store_n(&percpu_area[cpu].mcache, p, __ATOMIC_RELEASE);
}

void plat_lock(plat_lock_t *l)
{
    kernel_lock_acquire(l, l->rank, l->holder_cpu);
    uint64_t f = irq_save();
    uint32_t t = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED);
    while (__atomic_load_n(&l->owner, __ATOMIC_ACQUIRE) != t)
        cpu_relax();
    l->saved_flags = f;
    l->holder_cpu = (int32_t)spin_cpu_id() + 1;
}

void plat_unlock(plat_lock_t *l)
{
    uint64_t f = l->saved_flags;
    l->holder_cpu = 0;
    __atomic_store_n(&l->owner, l->owner + 1, __ATOMIC_RELEASE);
    kernel_lock_release(l, l->rank);
    irq_restore(f);
}

bool plat_lock_held(const plat_lock_t *l)
{
    return l->next != l->owner && l->holder_cpu == (int32_t)spin_cpu_id() + 1;
}

_Noreturn void plat_panic(const char *msg) { panic("%s", msg); }

int plat_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap)
{
    return kvsnprintf(buf, n, fmt, ap);
}

void plat_vlog(const char *fmt, va_list ap)
{
    char line[256];
    kvsnprintf(line, sizeof line, fmt, ap);
    kprintf("%s\n", line);
}

void plat_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    plat_vlog(fmt, ap);
    va_end(ap);
}

uint64_t plat_nanotime(void) { return nanotime(); }

/* Collector hooks: kernel/gcstw.c. */
