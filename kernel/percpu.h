/*
 * percpu.h — the per-CPU area, reached through the GS base.
 *
 * Each CPU's GS base points at its own struct percpu; `self` at offset 0
 * lets this_cpu() be one load.  Fields written only by their own CPU need no
 * lock; fields other CPUs read are marked.
 */
#ifndef KERNEL_PERCPU_H
#define KERNEL_PERCPU_H

#include <stdint.h>

#include "../alloc/lockrank.h"

#define MAX_CPUS 64

struct tss;

struct percpu {
    struct percpu *self;      /* offset 0: this_cpu() */
    uint32_t cpu_id;          /* dense 0..ncpu-1 */
    uint32_t apic_id;
    void *mcache;             /* alloc/'s per-CPU cache */
    void *current_task;
    /* Exception fix-up (see trap.c): set by the handler when it redirects a
     * faulting instruction listed in the exception table. */
    uint64_t last_fault_vector, last_fault_rip, last_fault_cr2, last_fault_err;
    uint64_t faults_fixed;
    int in_panic;
    uint32_t started;         /* read by the BSP during SMP bring-up */
    struct tss *tss;
    struct lockrank_held locks; /* locks this CPU holds (its own; lockrank.c) */
    int on_systack;           /* a task's code runs on the scheduler stack (task.c) */
};

static inline struct percpu *this_cpu(void)
{
    struct percpu *p;
    __asm__ volatile("mov %%gs:0, %0" : "=r"(p));
    return p;
}

extern struct percpu percpu_area[MAX_CPUS];

/* Install `p` as the calling CPU's per-CPU area (GS base). */
void percpu_install(struct percpu *p, uint32_t cpu_id, uint32_t apic_id);

#endif
