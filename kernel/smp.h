/*
 * smp.h — the other CPUs: bring-up, running work on them, TLB shootdown,
 * stopping them on panic.
 *
 * CPU ids are dense, 0..kernel_ncpu-1, the BSP is 0.  After smp_init,
 * kernel_ncpu (alloc_platform.c) is the number of CPUs that started.
 */
#ifndef KERNEL_SMP_H
#define KERNEL_SMP_H

#include <stdint.h>

/* Once, on the BSP, after paging and before the heap (kinit_late). */
void smp_init(void);

uint32_t smp_ncpu(void);          /* CPUs started (== kernel_ncpu) */
uint32_t smp_cpus_found(void);    /* usable processors the MADT lists (1 without ACPI) */
uint32_t smp_apic_id(uint32_t cpu);

/* Run fn(arg) on `cpu` and wait until it returned.  On the calling CPU it
 * is a plain call.  On another CPU it runs with interrupts off, on that
 * CPU's own stack, the next time it idles (APs idle in hlt and are woken by
 * an IPI; the BSP only takes work while it waits inside smp_*).
 * Do not call while holding a spinlock the work (or other CPUs' work) needs. */
void smp_run_on(uint32_t cpu, void (*fn)(void *), void *arg);
/* fn(arg) once on every started CPU, the caller included (it runs its
 * share after posting the others'); returns when all have finished. */
void smp_run_on_all(void (*fn)(void *), void *arg);

/* Run any work posted to the calling CPU (wait loops call this). */
void smp_poll(void);

/* Invalidate [va, va+size) in every other CPU's TLB and wait until all
 * acknowledged.  Callable with interrupts off and under spinlocks (NMI). */
void tlb_shootdown(uint64_t va, uint64_t size);

/* Print the CPUs found and started, APIC ids and per-CPU counters. */
void smp_print_cpus(void);

/* The work IPI's vector (also wakes a halted CPU) and each AP's kernel
 * stack (its top; 0 for the BSP, whose stack is boot_stack). */
#define SMP_IPI_WORK_VECTOR 0xF0
#define SMP_KSTACK_BYTES 0x10000ull
uint64_t smp_kstack_top(uint32_t cpu);

/* panic.c: halt every other CPU (NMI), interrupts off, forever. */
void smp_stop_others(void);

#endif
