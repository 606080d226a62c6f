/* trap.h — IDT, exception reporting, interrupt dispatch. */
#ifndef KERNEL_TRAP_H
#define KERNEL_TRAP_H

#include <stdint.h>

struct trap_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error;
    uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};

/* Load the IDT (built once, shared by all CPUs). */
void idt_init(void);
void idt_load(void);

/* Register a handler for an interrupt vector (32..255). */
typedef void (*irq_handler_t)(struct trap_frame *f);
void trap_set_handler(uint8_t vector, irq_handler_t h);

/* Fault probes (isr.S): faults inside them are fixed up through the
 * exception table instead of panicking; they return -1 then, and the
 * vector/cr2 are recorded in this_cpu()->last_fault_*. */
int probe_read64(uint64_t addr, uint64_t *out);
int probe_write64(uint64_t addr, uint64_t v);
int probe_ud2(void);
int probe_div0(uint64_t x);

const char *exception_name(uint64_t vector);

#endif
