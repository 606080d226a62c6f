/* gdt.h — per-CPU GDT and TSS with IST stacks. */
#ifndef KERNEL_GDT_H
#define KERNEL_GDT_H

#include <stdint.h>

#define GDT_KCODE 0x08
#define GDT_KDATA 0x10
#define GDT_TSS   0x18

/* IST slots (1-based as the hardware numbers them). Every IDT gate uses
 * one, so no exception or interrupt ever runs on a task's stack. */
#define IST_EXC  1 /* ordinary exceptions */
#define IST_DF   2 /* double fault */
#define IST_NMI  3
#define IST_MCE  4
#define IST_IRQ  5 /* interrupts and IPIs */
#define IST_STACK_SIZE 16384

struct tss {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base;
} __attribute__((packed));

/* Build and load CPU `cpu`'s GDT and TSS; IST stacks come from `stacks`
 * (5 * IST_STACK_SIZE bytes, 16-aligned). */
void gdt_init_cpu(uint32_t cpu, uint8_t *stacks);

#endif
