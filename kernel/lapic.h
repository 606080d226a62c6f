/*
 * lapic.h — the local APIC of the calling CPU: enable, EOI, id, IPIs.
 *
 * xAPIC registers are reached through the direct map (the loader maps
 * 0xFE000000..4 GiB uncached); if the firmware left the APIC in x2APIC mode
 * the MSR interface is used instead.  Every CPU calls lapic_enable once.
 */
#ifndef KERNEL_LAPIC_H
#define KERNEL_LAPIC_H

#include <stdint.h>

#define LAPIC_SPURIOUS_VECTOR 0xFF

/* Once, on the BSP, before anything else here: where the registers are. */
void lapic_setup(uint64_t phys);
/* Software-enable the calling CPU's APIC (spurious vector register, TPR 0). */
void lapic_enable(void);
uint32_t lapic_id(void);
void lapic_eoi(void);
int lapic_x2apic_mode(void);

void lapic_send_init(uint32_t apic_id);   /* INIT (level assert) */
void lapic_send_sipi(uint32_t apic_id, uint8_t vector_page);
void lapic_send_fixed(uint32_t apic_id, uint8_t vector);
void lapic_send_nmi(uint32_t apic_id);

/* A periodic interrupt (vector) every period_ms on the calling CPU, to
 * wake it from hlt (the first start measures the timer against the TSC,
 * 10 ms); stop masks it. */
void lapic_timer_start(uint8_t vector, uint32_t period_ms);
void lapic_timer_stop(void);

#endif
