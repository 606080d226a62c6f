/* percpu.c — per-CPU areas, one per possible CPU, found through GS base. */
#include "percpu.h"
#include "cpu.h"
#include "spinlock.h"

struct percpu percpu_area[MAX_CPUS];
/* Set once the boot CPU has its area (APs install theirs before they take
 * any lock): from then on this_cpu() is valid on every CPU that locks. */
static int percpu_live;

void percpu_install(struct percpu *p, uint32_t cpu_id, uint32_t apic_id)
{
    p->self = p;
    p->cpu_id = cpu_id;
    p->apic_id = apic_id;
    wrmsr(MSR_GS_BASE, (uint64_t)p);
    percpu_live = 1;
}

/* Lock-order bookkeeping (alloc/lockrank.h).  Not before the boot CPU has
 * its per-CPU area (early kprintf), and not once a panic is under way (the
 * panicking CPU prints with whatever it holds). */
void kernel_lock_acquire(const void *lock, uint32_t rank, int32_t holder)
{
    if (!percpu_live || this_cpu()->in_panic)
        return;
    struct percpu *p = this_cpu();
    lockrank_acquire(&p->locks, lock, rank, holder - 1, (int32_t)p->cpu_id);
}

void kernel_lock_release(const void *lock, uint32_t rank)
{
    if (!percpu_live || this_cpu()->in_panic)
        return;
    lockrank_release(&this_cpu()->locks, lock, rank);
}

uint32_t spin_cpu_id(void)
{
    if (rdmsr(MSR_GS_BASE) == 0) /* before percpu_install on this CPU */
        return 0;
    return this_cpu()->cpu_id;
}

#include <stddef.h>
_Static_assert(offsetof(struct percpu, cpu_id) == 8, "platform_inline.h reads %gs:8");
