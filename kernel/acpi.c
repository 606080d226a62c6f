/*
 * acpi.c — walk RSDP → XSDT (or RSDT) → MADT for the processor list.
 *
 * Steps: (1) check the RSDP signature and checksum (20 bytes; the whole
 * extended structure too when revision >= 2); (2) use the XSDT when the
 * RSDP has one, else the RSDT, checking the root table's checksum; (3) find
 * the "APIC" table (MADT), check its checksum; (4) walk its entries: type 0
 * (processor local APIC), type 9 (processor local x2APIC) kept when enabled
 * or online-capable; type 5 overrides the local APIC address.
 * Tables are read through the direct map (ACPI memory is never handed out
 * by the frame allocator).  Runs once on the BSP; no locking.
 */
#include "acpi.h"
#include "kernel.h"

struct sdt_header {
    char sig[4];
    uint32_t length;
    uint8_t revision, checksum;
    char oem_id[6], oem_table_id[8];
    uint32_t oem_revision, creator_id, creator_revision;
} __attribute__((packed));

struct rsdp {
    char sig[8];
    uint8_t checksum;
    char oem_id[6];
    uint8_t revision;
    uint32_t rsdt;
    uint32_t length;
    uint64_t xsdt;
    uint8_t ext_checksum, reserved[3];
} __attribute__((packed));

static uint8_t sum_bytes(const void *p, uint32_t n)
{
    const uint8_t *b = p;
    uint8_t s = 0;
    for (uint32_t i = 0; i < n; i++)
        s += b[i];
    return s;
}

static int sig_is(const char *a, const char *b, int n)
{
    for (int i = 0; i < n; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

static const struct sdt_header *table_at(uint64_t phys, const char *what)
{
    if (phys == 0)
        return 0;
    const struct sdt_header *h = phys_to_virt(phys);
    if (h->length < sizeof *h || h->length > (16u << 20)) {
        kprintf("acpi: %s at 0x%lx has an implausible length %u\n", what, phys, h->length);
        return 0;
    }
    if (sum_bytes(h, h->length) != 0) {
        kprintf("acpi: %s at 0x%lx (\"%.4s\") has a bad checksum\n", what, phys, h->sig);
        return 0;
    }
    return h;
}

static void add_cpu(struct acpi_madt_info *out, uint32_t apic_id, uint32_t flags)
{
    if (!(flags & 3)) { /* bit 0 enabled, bit 1 online-capable */
        out->disabled++;
        return;
    }
    for (uint32_t i = 0; i < out->ncpus; i++)
        if (out->apic_ids[i] == apic_id)
            return; /* listed twice (type 0 and type 9): keep one */
    if (out->ncpus >= MAX_CPUS) {
        out->dropped++;
        return;
    }
    out->apic_ids[out->ncpus++] = apic_id;
}

static int parse_madt(const struct sdt_header *h, struct acpi_madt_info *out)
{
    const uint8_t *p = (const uint8_t *)h;
    if (h->length < 44) {
        kprintf("acpi: MADT too short (%u bytes)\n", h->length);
        return -1;
    }
    out->lapic_phys = *(const uint32_t *)(p + 36);
    out->flags = *(const uint32_t *)(p + 40);
    for (uint32_t off = 44; off + 2 <= h->length;) {
        uint8_t type = p[off], len = p[off + 1];
        if (len < 2 || off + len > h->length) {
            kprintf("acpi: MADT entry at offset %u has a bad length %u (rest ignored)\n", off, len);
            break;
        }
        const uint8_t *e = p + off;
        if (type == 0 && len >= 8)
            add_cpu(out, e[3], *(const uint32_t *)(e + 4));
        else if (type == 9 && len >= 16)
            add_cpu(out, *(const uint32_t *)(e + 4), *(const uint32_t *)(e + 8));
        else if (type == 5 && len >= 12)
            out->lapic_phys = *(const uint64_t *)(e + 4);
        off += len;
    }
    return 0;
}

int acpi_find_cpus(uint64_t rsdp_phys, struct acpi_madt_info *out)
{
    *out = (struct acpi_madt_info){0};
    if (rsdp_phys == 0) {
        kprintf("acpi: no RSDP from the firmware\n");
        return -1;
    }
    const struct rsdp *r = phys_to_virt(rsdp_phys);
    if (!sig_is(r->sig, "RSD PTR ", 8)) {
        kprintf("acpi: RSDP at 0x%lx has a bad signature\n", rsdp_phys);
        return -1;
    }
    if (sum_bytes(r, 20) != 0) {
        kprintf("acpi: RSDP at 0x%lx has a bad checksum\n", rsdp_phys);
        return -1;
    }
    int use_xsdt = r->revision >= 2 && r->xsdt != 0;
    if (use_xsdt && (r->length < sizeof *r || sum_bytes(r, r->length) != 0)) {
        kprintf("acpi: RSDP extended checksum is bad; trying the RSDT\n");
        use_xsdt = 0;
    }
    const struct sdt_header *root =
        use_xsdt ? table_at(r->xsdt, "XSDT") : table_at(r->rsdt, "RSDT");
    if (!root && use_xsdt) {
        use_xsdt = 0;
        root = table_at(r->rsdt, "RSDT");
    }
    if (!root) {
        kprintf("acpi: no valid root table (XSDT/RSDT)\n");
        return -1;
    }
    uint32_t esize = use_xsdt ? 8 : 4;
    uint32_t n = (root->length - sizeof *root) / esize;
    const uint8_t *ents = (const uint8_t *)(root + 1);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t pa = use_xsdt ? *(const uint64_t *)(ents + 8 * i) : *(const uint32_t *)(ents + 4 * i);
        if (pa == 0)
            continue;
        const struct sdt_header *h = phys_to_virt(pa);
        if (!sig_is(h->sig, "APIC", 4))
            continue;
        if (!table_at(pa, "MADT"))
            return -1;
        return parse_madt(h, out);
    }
    kprintf("acpi: no MADT (\"APIC\") in the %s\n", use_xsdt ? "XSDT" : "RSDT");
    return -1;
}
