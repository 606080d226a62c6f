/*
 * memmap.c — sanitising the UEFI memory map.
 *
 * Steps:
 *   1. Read each descriptor at i * desc_size; drop zero-length and wrapping
 *      entries (counted in the report).
 *   2. Collect usable entries; sort by start; merge overlapping/adjacent.
 *   3. Subtract every unusable entry (firmware said "not RAM for you" —
 *      believe the more restrictive claim) and every caller-reserved range.
 *   4. Trim each range inward to 4 KiB boundaries; drop what becomes empty.
 * Invariant of the output: r[i].start < r[i].end <= r[i+1].start, all
 * 4 KiB aligned.
 */
#include "memmap.h"
#include "../boot/bootinfo.h"

#include <stddef.h>

#define PAGE 4096ull

int memmap_type_usable(uint32_t type)
{
    switch (type) {
    case EFI_CONVENTIONAL_MEMORY:
    case EFI_BOOT_SERVICES_CODE:
    case EFI_BOOT_SERVICES_DATA:
    case EFI_LOADER_CODE:
    case EFI_LOADER_DATA:
        return 1;
    default:
        return 0;
    }
}

const char *memmap_type_name(uint32_t type)
{
    static const char *const names[] = {
        "reserved", "loader-code", "loader-data", "boot-code", "boot-data",
        "runtime-code", "runtime-data", "conventional", "unusable", "acpi-reclaim",
        "acpi-nvs", "mmio", "mmio-port", "pal-code", "persistent",
    };
    if (type < sizeof names / sizeof names[0])
        return names[type];
    switch (type) {
    case BOOT_MEM_KERNEL: return "kernel";
    case BOOT_MEM_PAGETABLE: return "pagetables";
    case BOOT_MEM_BOOTINFO: return "bootinfo";
    default: return "unknown";
    }
}

static void sort_ranges(struct mem_range *r, int n)
{
    for (int i = 1; i < n; i++) {
        struct mem_range x = r[i];
        int j = i - 1;
        while (j >= 0 && r[j].start > x.start) {
            r[j + 1] = r[j];
            j--;
        }
        r[j + 1] = x;
    }
}

static int merge_ranges(struct mem_range *r, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (k > 0 && r[i].start <= r[k - 1].end) {
            if (r[i].end > r[k - 1].end)
                r[k - 1].end = r[i].end;
        } else {
            r[k++] = r[i];
        }
    }
    return k;
}

int memmap_subtract(struct mem_range *r, int n, int cap, uint64_t start, uint64_t end,
                    uint32_t *lost)
{
    if (start >= end)
        return n;
    for (int i = 0; i < n; i++) {
        if (r[i].end <= start || r[i].start >= end)
            continue;
        int left = r[i].start < start, right = r[i].end > end;
        if (left && right) {
            if (n >= cap) { /* no room to split: keep the larger side */
                if (start - r[i].start >= r[i].end - end)
                    r[i].end = start;
                else
                    r[i].start = end;
                if (lost)
                    (*lost)++;
                continue;
            }
            for (int j = n; j > i + 1; j--)
                r[j] = r[j - 1];
            r[i + 1].start = end;
            r[i + 1].end = r[i].end;
            r[i].end = start;
            n++;
            i++;
        } else if (left) {
            r[i].end = start;
        } else if (right) {
            r[i].start = end;
        } else {
            for (int j = i; j < n - 1; j++)
                r[j] = r[j + 1];
            n--;
            i--;
        }
    }
    return n;
}

int memmap_sanitize(const void *map, uint64_t map_size, uint64_t desc_size,
                    const struct mem_range *reserved, int nreserved,
                    struct mem_range *out, int cap, struct memmap_report *rep)
{
    for (size_t i = 0; i < sizeof *rep; i++)
        ((char *)rep)[i] = 0;
    if (!map || desc_size < sizeof(struct boot_efi_desc) || map_size % desc_size || cap <= 0)
        return -1;
    uint64_t count = map_size / desc_size;
    const uint8_t *base = map;
    int n = 0;

    /* 1–2: usable entries */
    for (uint64_t i = 0; i < count; i++) {
        const struct boot_efi_desc *d = (const void *)(base + i * desc_size);
        rep->entries++;
        if (d->num_pages == 0) {
            rep->zero_length++;
            continue;
        }
        uint64_t size = d->num_pages * PAGE;
        if (d->num_pages > (~0ull / PAGE) || d->phys_start + size < d->phys_start) {
            rep->overflow++;
            continue;
        }
        if (!memmap_type_usable(d->type))
            continue;
        rep->usable_in++;
        if (d->phys_start % PAGE)
            rep->misaligned++;
        if (n >= cap) {
            rep->truncated++;
            continue;
        }
        out[n].start = d->phys_start;
        out[n].end = d->phys_start + size;
        n++;
    }
    sort_ranges(out, n);
    n = merge_ranges(out, n);

    /* 3: unusable entries and reserved ranges win */
    for (uint64_t i = 0; i < count; i++) {
        const struct boot_efi_desc *d = (const void *)(base + i * desc_size);
        uint64_t size = d->num_pages * PAGE;
        if (d->num_pages == 0 || memmap_type_usable(d->type) ||
            d->num_pages > (~0ull / PAGE) || d->phys_start + size < d->phys_start)
            continue;
        for (int j = 0; j < n; j++)
            if (out[j].start < d->phys_start + size && d->phys_start < out[j].end) {
                rep->overlaps++;
                break;
            }
        n = memmap_subtract(out, n, cap, d->phys_start, d->phys_start + size, &rep->truncated);
    }
    for (int i = 0; i < nreserved; i++)
        n = memmap_subtract(out, n, cap, reserved[i].start, reserved[i].end, &rep->truncated);

    /* 4: align inward */
    int k = 0;
    for (int i = 0; i < n; i++) {
        uint64_t s = (out[i].start + PAGE - 1) & ~(PAGE - 1);
        uint64_t e = out[i].end & ~(PAGE - 1);
        if (s < out[i].start || s >= e)
            continue;
        out[k].start = s;
        out[k].end = e;
        k++;
    }
    for (int i = 0; i < k; i++) {
        rep->usable_bytes += out[i].end - out[i].start;
        if (out[i].end > 0x100000000ull) {
            uint64_t s = out[i].start > 0x100000000ull ? out[i].start : 0x100000000ull;
            rep->above_4g_bytes += out[i].end - s;
            rep->above_4g_ranges++;
        }
        rep->top = out[i].end;
    }
    rep->ranges = (uint32_t)k;
    return k;
}
