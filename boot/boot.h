/*
 * boot.h — declarations shared by the loader's own files (the boot/ C files).
 *
 * The loader is split by concept: log.c (console + COM1), file.c (reading
 * files from the boot volume), elf.c (checking and placing kernel.elf),
 * cmdline.c (\cmdline.txt), acpi.c (RSDP), gop.c (the screen), paging.c (the page tables handed
 * to the kernel) and main.c (the sequence: load, size and take the memory
 * map, exit boot services, jump).
 * The contract with the kernel is ../boot/bootinfo.h, not this file.
 */
#ifndef BOOT_BOOT_H
#define BOOT_BOOT_H

#include <efi.h>
#include <efilib.h>
#include "bootinfo.h"

#define PAGE_SIZE 4096ull
#define PAGE_ALIGN_DOWN(x) ((x) & ~(PAGE_SIZE - 1))
#define PAGE_ALIGN_UP(x)   (((x) + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1))

/* ---- log.c ---- */
void log_init(void);
/* "boot: " + formatted line (GNU-EFI Print formats: %a ASCII string,
 * %s CHAR16 string, %r EFI_STATUS, %lx/%ld 64-bit) on ConOut and COM1. */
void blog(const CHAR16 *fmt, ...);
/* "boot: error: " + formatted line. */
void berror(const CHAR16 *fmt, ...);
/* After ExitBootServices: COM1 only, no formatting beyond these. */
void serial_puts(const char *s);
void serial_hex(uint64_t v);
void serial_dec(uint64_t v);

/* ---- file.c ---- */
/* Opens the root directory of the volume this image was loaded from. */
EFI_STATUS file_open_boot_volume(EFI_HANDLE image, EFI_FILE_HANDLE *root);
/* Reads a whole file into pool memory (EfiLoaderData). On success *buf must
 * be freed with FreePool. EFI_NOT_FOUND is returned untouched so callers can
 * treat an optional file as absent. */
EFI_STATUS file_read_all(EFI_FILE_HANDLE root, const CHAR16 *path,
                         void **buf, UINTN *size);

/* ---- elf.c ---- */
struct kernel_image {
    uint64_t entry;     /* virtual entry point */
    uint64_t virt_lo;   /* lowest PT_LOAD vaddr, page aligned down */
    uint64_t virt_hi;   /* highest PT_LOAD vaddr+memsz, page aligned up */
    uint64_t phys;      /* physical base of the contiguous copy */
    uint64_t nsegs;     /* PT_LOAD count */
};
/* Checks the ELF file in buf; on failure prints a "boot: error:" line and
 * returns EFI_LOAD_ERROR (or EFI_UNSUPPORTED for a wrong architecture). */
EFI_STATUS elf_check(const void *buf, UINTN size, struct kernel_image *ki);
/* Allocates BOOT_MEM_KERNEL pages and copies/zeroes the segments. */
EFI_STATUS elf_load(const void *buf, UINTN size, struct kernel_image *ki);
/* Calls fn for every PT_LOAD (after elf_check succeeded). */
typedef EFI_STATUS (*elf_seg_fn)(void *ctx, uint64_t vaddr, uint64_t memsz,
                                 uint32_t flags);
EFI_STATUS elf_for_each_load(const void *buf, elf_seg_fn fn, void *ctx);

/* ---- acpi.c ---- */
/* RSDP physical address and revision, 0/0 when there is none. */
void acpi_find_rsdp(uint64_t *phys, uint32_t *revision);

/* ---- cmdline.c ---- */
/* Reads \cmdline.txt (optional) into out, NUL-terminated. */
void cmdline_read(EFI_FILE_HANDLE root, char out[BOOT_CMDLINE_MAX]);

/* ---- gop.c ---- */
/* Fills bi->fb_* from the Graphics Output Protocol's current mode (or says
 * with a "boot: gop:" line why the kernel gets no screen). */
void gop_query(struct bootinfo *bi);

/* ---- paging.c ---- */
struct page_tables {
    uint64_t pool_phys;   /* one BOOT_MEM_PAGETABLE allocation */
    uint64_t pool_pages;
    uint64_t used_pages;
    uint64_t pml4_phys;
    uint64_t map_size;    /* identity/direct map covers [0, map_size) */
};
/* Builds the tables for a machine whose memory map ends at mem_top, with the
 * kernel's segments taken from the ELF image in buf. */
EFI_STATUS paging_build(uint64_t mem_top, const void *elf,
                        const struct kernel_image *ki, struct page_tables *pt);

#endif /* BOOT_BOOT_H */
