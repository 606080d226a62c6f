/* percpu.c — per-CPU areas, one per possible CPU, found through GS base. */
#include "percpu.h"
#include "cpu.h"
#include "spinlock.h"

struct percpu percpu_area[MAX_CPUS];

void percpu_install(struct percpu *p, uint32_t cpu_id, uint32_t apic_id)
{
    p->self = p;
    p->cpu_id = cpu_id;
    p->apic_id = apic_id;
    wrmsr(MSR_GS_BASE, (uint64_t)p);
}

uint32_t spin_cpu_id(void)
{
    if (rdmsr(MSR_GS_BASE) == 0) /* before percpu_install on this CPU */
        return 0;
    return this_cpu()->cpu_id;
}

#include <stddef.h>
_Static_assert(offsetof(struct percpu, cpu_id) == 8, "platform_inline.h reads %gs:8");
