/*
 * bootinfo.h — the hand-off contract between the UEFI loader (boot/) and the
 * kernel (kernel/).  This is the only header the two share.
 *
 * The loader fills one `struct bootinfo` in memory of type BOOT_MEM_BOOTINFO and
 * jumps to the kernel's ELF entry point with
 *
 *     rdi = virtual address of the bootinfo in the direct map
 *           (BOOT_DIRECT_MAP_BASE + its physical address)
 *     interrupts disabled, CR3 = the loader-built page tables (see below),
 *     rsp = somewhere valid in identity-mapped loader memory (the kernel
 *           switches to its own stack as its first act).
 *
 * Page tables built by the loader (4-level, 2 MiB pages unless noted):
 *   - identity map of [0, max(4 GiB, top of the memory map)), so that the
 *     loader's own code keeps running after CR3 is switched;
 *   - the same physical range at BOOT_DIRECT_MAP_BASE (the "direct map");
 *   - each PT_LOAD segment of kernel.elf at its link address with 4 KiB pages.
 * Every page-table page lives in memory of type BOOT_MEM_PAGETABLE.
 *
 * Memory the loader allocates uses OS-defined UEFI memory types (UEFI reserves
 * 0x80000000..0xFFFFFFFF for the OS loader), so the final memory map itself
 * says which pages the kernel must never hand out: any type the kernel does
 * not know is unusable.  The loader additionally lists the same ranges in
 * `reserved[]` so the kernel need not trust the map alone.
 *
 * Framebuffer: the loader asks the Graphics Output Protocol (before
 * ExitBootServices) for the mode the firmware set and passes it on in fb_*,
 * unchanged.  Only 32-bit pixels with a known byte order are passed
 * (fb_format BOOT_FB_RGBX / BOOT_FB_BGRX); a PixelBitMask or BltOnly mode,
 * or no GOP at all, gives fb_format BOOT_FB_NONE and fb_gop_format says why
 * (the firmware's EFI_GRAPHICS_PIXEL_FORMAT, or BOOT_FB_NO_GOP).  The
 * framebuffer is device memory: it is not in reserved[] and the memory map
 * does not list it as usable.
 *
 * Versioning: `magic` must be BOOTINFO_MAGIC and `version` BOOTINFO_VERSION;
 * `size` is sizeof(struct bootinfo) as the loader saw it.  A kernel refuses a
 * bootinfo whose magic, version or size differ from its own.
 */
#ifndef BOOTINFO_H
#define BOOTINFO_H

#include <stdint.h>

#define BOOTINFO_MAGIC   0x4f464e49544f4f42ull /* "BOOTINFO" little-endian */
/* Version 2 added the framebuffer (fb_*). */
#define BOOTINFO_VERSION 2u

#define BOOT_DIRECT_MAP_BASE 0xffff800000000000ull
#define BOOT_KERNEL_BASE     0xffffffff80000000ull

/* OS-defined UEFI memory types used by the loader for what it allocates. */
#define BOOT_MEM_KERNEL    0x80000001u /* kernel PT_LOAD segments */
#define BOOT_MEM_PAGETABLE 0x80000002u /* page-table pages built by the loader */
#define BOOT_MEM_BOOTINFO  0x80000003u /* this struct, the memory map copy, cmdline */

/* Standard UEFI memory types (UEFI spec 2.x, EFI_MEMORY_TYPE). */
enum {
    EFI_RESERVED_MEMORY_TYPE = 0,
    EFI_LOADER_CODE = 1,
    EFI_LOADER_DATA = 2,
    EFI_BOOT_SERVICES_CODE = 3,
    EFI_BOOT_SERVICES_DATA = 4,
    EFI_RUNTIME_SERVICES_CODE = 5,
    EFI_RUNTIME_SERVICES_DATA = 6,
    EFI_CONVENTIONAL_MEMORY = 7,
    EFI_UNUSABLE_MEMORY = 8,
    EFI_ACPI_RECLAIM_MEMORY = 9,
    EFI_ACPI_MEMORY_NVS = 10,
    EFI_MEMORY_MAPPED_IO = 11,
    EFI_MEMORY_MAPPED_IO_PORT_SPACE = 12,
    EFI_PAL_CODE = 13,
    EFI_PERSISTENT_MEMORY = 14,
};

/* Layout of one UEFI memory descriptor.  Entries in the map are
 * `memmap_desc_size` bytes apart, which may be larger than this struct. */
struct boot_efi_desc {
    uint32_t type;
    uint32_t pad;
    uint64_t phys_start;
    uint64_t virt_start;
    uint64_t num_pages; /* 4 KiB pages */
    uint64_t attribute;
};

/* fb_format: how a 32-bit pixel is laid out in memory (byte 0 first). */
#define BOOT_FB_NONE 0u /* no framebuffer for the kernel */
#define BOOT_FB_RGBX 1u /* byte 0 red, 1 green, 2 blue, 3 reserved */
#define BOOT_FB_BGRX 2u /* byte 0 blue, 1 green, 2 red, 3 reserved */
/* fb_gop_format when the firmware has no Graphics Output Protocol. */
#define BOOT_FB_NO_GOP 0xffffffffu

#define BOOT_MAX_RESERVED 16
#define BOOT_CMDLINE_MAX  512

struct boot_range {
    uint64_t phys;
    uint64_t size;
};

struct bootinfo {
    uint64_t magic;
    uint32_t version;
    uint32_t size;

    /* The final UEFI memory map (the one ExitBootServices accepted),
     * copied into BOOT_MEM_BOOTINFO memory. Physical address. */
    uint64_t memmap_phys;
    uint64_t memmap_size;      /* bytes used */
    uint64_t memmap_desc_size; /* stride between entries */
    uint32_t memmap_desc_version;
    uint32_t pad0;

    /* Kernel image as loaded: lowest PT_LOAD virtual address and the
     * physical range holding all its segments (may be several ranges;
     * all are also listed in reserved[]). */
    uint64_t kernel_virt;
    uint64_t kernel_phys;
    uint64_t kernel_size;

    /* Page-table root (CR3 value) built by the loader. */
    uint64_t pml4_phys;
    /* Highest physical address covered by the identity and direct maps. */
    uint64_t direct_map_size;

    /* ACPI root pointer from the UEFI configuration table (ACPI 2.0 GUID
     * preferred, 1.0 accepted); 0 when none was found. Physical address. */
    uint64_t rsdp_phys;
    uint32_t rsdp_revision;
    uint32_t pad1;

    /* Physical ranges the kernel must never hand out: kernel segments,
     * page-table pages, this bootinfo and its memory map copy. */
    uint32_t nreserved;
    uint32_t pad2;
    struct boot_range reserved[BOOT_MAX_RESERVED];

    /* Kernel command line read from \cmdline.txt on the boot volume
     * (NUL-terminated, trailing newline stripped; empty if absent). */
    char cmdline[BOOT_CMDLINE_MAX];

    /* TSC value the loader read just before jumping (boot timing). */
    uint64_t loader_tsc;

    /* The GOP framebuffer (see the top of this file).  fb_phys: physical
     * base; fb_size: bytes (>= fb_stride * fb_height * 4); fb_width and
     * fb_height: visible pixels; fb_stride: pixels per scan line (>=
     * fb_width); fb_format: BOOT_FB_*; fb_gop_format: the firmware's pixel
     * format (0 RGB, 1 BGR, 2 bit mask, 3 Blt only) or BOOT_FB_NO_GOP.
     * All zero except fb_gop_format when fb_format is BOOT_FB_NONE. */
    uint64_t fb_phys;
    uint64_t fb_size;
    uint32_t fb_width;
    uint32_t fb_height;
    uint32_t fb_stride;
    uint32_t fb_format;
    uint32_t fb_gop_format;
    uint32_t pad3;
};

#endif /* BOOTINFO_H */
