/*
 * memmap.h — turn the firmware's memory map into a clean list of usable
 * physical ranges (portable: built into the kernel and into host tests).
 *
 * Usable: EfiConventionalMemory, EfiBootServicesCode/Data, EfiLoaderCode/Data
 * (after ExitBootServices).  Everything else — ACPI, runtime services,
 * reserved, MMIO, persistent, unknown and the loader's OS-defined types — is
 * never usable and wins over a usable entry that overlaps it.
 *
 * The result is sorted, merged, 4 KiB-aligned (usable ranges shrink inward),
 * free of zero-length entries, and has every `reserved` range removed.
 */
#ifndef KERNEL_MEMMAP_H
#define KERNEL_MEMMAP_H

#include <stdint.h>

struct mem_range {
    uint64_t start, end; /* [start, end) */
};

struct memmap_report {
    uint32_t entries;      /* descriptors read */
    uint32_t usable_in;    /* descriptors of a usable type */
    uint32_t zero_length;  /* descriptors with 0 pages (dropped) */
    uint32_t overflow;     /* start + size wraps past 2^64 (dropped) */
    uint32_t misaligned;   /* usable descriptors not 4 KiB aligned (trimmed) */
    uint32_t overlaps;     /* usable/unusable overlaps resolved as unusable */
    uint32_t truncated;    /* ranges lost because `cap` was too small */
    uint32_t ranges;       /* usable ranges out */
    uint32_t above_4g_ranges;
    uint64_t usable_bytes;
    uint64_t above_4g_bytes;
    uint64_t top;          /* end of the highest usable range */
};

/*
 * map/map_size/desc_size: the raw UEFI map, entries desc_size bytes apart
 * (desc_size >= 40; larger strides are normal).  reserved: ranges to remove
 * (may be NULL when nreserved == 0).  out: room for `cap` ranges.
 * Returns the number of usable ranges, or -1 when the map cannot be read
 * (desc_size too small, map_size not a multiple of desc_size, NULL map);
 * `rep` (required) says what was fixed.
 */
int memmap_sanitize(const void *map, uint64_t map_size, uint64_t desc_size,
                    const struct mem_range *reserved, int nreserved,
                    struct mem_range *out, int cap, struct memmap_report *rep);

/* True for the UEFI types the kernel may use after ExitBootServices. */
int memmap_type_usable(uint32_t type);
/* Short name of a UEFI memory type ("conventional", "acpi-reclaim", ...). */
const char *memmap_type_name(uint32_t type);

/* Remove [start, end) from the sorted range list in place; returns the new
 * count (a range may split in two; at most `cap` kept, *lost counts drops). */
int memmap_subtract(struct mem_range *r, int n, int cap, uint64_t start, uint64_t end,
                    uint32_t *lost);

#endif
