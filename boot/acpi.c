/*
 * acpi.c — finding the ACPI RSDP in the UEFI configuration table.
 *
 * The ACPI 2.0+ entry (XSDT-capable RSDP) is preferred over the 1.0 one.
 * The candidate must carry the "RSD PTR " signature; its revision byte
 * (0 = ACPI 1.0, 2 = 2.0+) is reported to the kernel.  Not finding one is
 * not fatal: the kernel decides what to do without ACPI.
 */
#include "boot.h"

static EFI_GUID acpi20_guid = ACPI_20_TABLE_GUID;
static EFI_GUID acpi10_guid = ACPI_TABLE_GUID;

static BOOLEAN guid_eq(const EFI_GUID *a, const EFI_GUID *b)
{
    const uint8_t *x = (const uint8_t *)a, *y = (const uint8_t *)b;
    for (unsigned i = 0; i < sizeof(EFI_GUID); i++)
        if (x[i] != y[i])
            return FALSE;
    return TRUE;
}

static BOOLEAN rsdp_sig_ok(const uint8_t *p)
{
    static const char sig[8] = "RSD PTR ";
    for (int i = 0; i < 8; i++)
        if (p[i] != (uint8_t)sig[i])
            return FALSE;
    return TRUE;
}

void acpi_find_rsdp(uint64_t *phys, uint32_t *revision)
{
    const uint8_t *found = NULL;
    BOOLEAN v2 = FALSE;

    *phys = 0;
    *revision = 0;
    for (UINTN i = 0; i < ST->NumberOfTableEntries; i++) {
        EFI_CONFIGURATION_TABLE *t = &ST->ConfigurationTable[i];
        const uint8_t *p = t->VendorTable;
        if (!p || !rsdp_sig_ok(p))
            continue;
        if (guid_eq(&t->VendorGuid, &acpi20_guid)) {
            found = p;
            v2 = TRUE;
            break;
        }
        if (guid_eq(&t->VendorGuid, &acpi10_guid) && !found)
            found = p;
    }
    if (!found) {
        blog(L"no ACPI RSDP in the configuration table");
        return;
    }
    *phys = (uint64_t)found;
    *revision = found[15];
    blog(L"RSDP at 0x%lx (ACPI %a table, revision %d)", *phys, v2 ? "2.0" : "1.0",
         (int)*revision);
}
