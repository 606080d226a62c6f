/*
 * acpi.h — just enough ACPI to find the processors: RSDP → XSDT/RSDT → MADT.
 *
 * acpi_find_cpus fills `struct acpi_madt_info` with the local APIC address
 * and the APIC ids of every processor the MADT lists as enabled or
 * online-capable (type 0 local APIC and type 9 x2APIC entries).  On a bad
 * checksum or a missing table it prints why and returns -1; the caller then
 * runs on the boot CPU alone.
 */
#ifndef KERNEL_ACPI_H
#define KERNEL_ACPI_H

#include <stdint.h>
#include "percpu.h"

struct acpi_madt_info {
    uint64_t lapic_phys;           /* MADT field, or the type 5 override */
    uint32_t ncpus;                /* usable processor entries kept */
    uint32_t apic_ids[MAX_CPUS];
    uint32_t disabled;             /* entries neither enabled nor online-capable */
    uint32_t dropped;              /* usable entries beyond MAX_CPUS */
    uint32_t flags;                /* MADT flags (bit 0: dual 8259s present) */
};

/* 0 and *out filled, or -1 (message printed). */
int acpi_find_cpus(uint64_t rsdp_phys, struct acpi_madt_info *out);

#endif
