/*
 * main.c — the loader's sequence, from efi_main to the jump into the kernel.
 *
 *   1. read and check \kernel.elf, place its segments (elf.c);
 *   2. read \cmdline.txt (cmdline.c), find the RSDP (acpi.c);
 *   3. a first GetMemoryMap gives the top of memory; build the page tables
 *      (paging.c) for it;
 *   4. allocate the bootinfo and the memory-map copy in one
 *      BOOT_MEM_BOOTINFO block sized from GetMemoryMap's answer plus slack
 *      for the descriptors that later allocations may add; describe the
 *      GOP framebuffer in it (gop.c);
 *   5. final GetMemoryMap into that block + ExitBootServices, retrying with
 *      a fresh map while the key is stale (after the first failed exit only
 *      those two services are called, and only COM1 is used for output);
 *   6. cli, loader_tsc = rdtsc, CR3 = new PML4, jump to the ELF entry with
 *      rdi = the bootinfo's direct-map address.
 * Every failure before step 5 prints a "boot: error:" line, waits a second
 * so it can be read, frees what it took and returns the status to the
 * firmware.
 */
#include "boot.h"

#define EXIT_TRIES 8
#define MAP_SLACK_DESCS 32

struct loader {
    EFI_HANDLE image;
    void *elf;
    UINTN elf_size;
    struct kernel_image ki;
    struct page_tables pt;
    EFI_PHYSICAL_ADDRESS bi_phys;
    UINTN bi_pages;
    char cmdline[BOOT_CMDLINE_MAX];
};

static struct loader L;

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

/* Size (bytes) and descriptor stride of the current memory map. */
static EFI_STATUS memmap_query(UINTN *size, UINTN *desc_size)
{
    UINTN key;
    UINT32 ver;
    *size = 0;
    EFI_STATUS st = uefi_call_wrapper(BS->GetMemoryMap, 5, size, NULL, &key,
                                      desc_size, &ver);
    if (st != EFI_BUFFER_TOO_SMALL) {
        berror(L"GetMemoryMap(size 0) returned %r, expected Buffer Too Small", st);
        return EFI_ERROR(st) ? st : EFI_LOAD_ERROR;
    }
    if (*desc_size < sizeof(struct boot_efi_desc)) {
        berror(L"memory descriptor size %ld smaller than %ld", (UINT64)*desc_size,
               (UINT64)sizeof(struct boot_efi_desc));
        return EFI_UNSUPPORTED;
    }
    return EFI_SUCCESS;
}

/* Highest physical end address of any entry in the current memory map. */
static EFI_STATUS memmap_top(uint64_t *top)
{
    UINTN size, dsz, key;
    UINT32 ver;
    void *buf = NULL;
    EFI_STATUS st = memmap_query(&size, &dsz);
    if (EFI_ERROR(st))
        return st;
    size += MAP_SLACK_DESCS * dsz;
    st = uefi_call_wrapper(BS->AllocatePool, 3, EfiLoaderData, size, &buf);
    if (EFI_ERROR(st)) {
        berror(L"cannot allocate %ld bytes for the memory map: %r", (UINT64)size, st);
        return st;
    }
    st = uefi_call_wrapper(BS->GetMemoryMap, 5, &size, buf, &key, &dsz, &ver);
    if (EFI_ERROR(st)) {
        berror(L"GetMemoryMap failed: %r", st);
        uefi_call_wrapper(BS->FreePool, 1, buf);
        return st;
    }
    uint64_t t = 0, n = size / dsz;
    for (uint64_t i = 0; i < n; i++) {
        struct boot_efi_desc *d = (struct boot_efi_desc *)((uint8_t *)buf + i * dsz);
        uint64_t end = d->phys_start + d->num_pages * PAGE_SIZE;
        if (end > t)
            t = end;
    }
    uefi_call_wrapper(BS->FreePool, 1, buf);
    *top = t;
    blog(L"memory map: %ld entries (descriptor %ld bytes, version %d), top 0x%lx", n,
         (UINT64)dsz, (int)ver, t);
    return EFI_SUCCESS;
}

static void add_reserved(struct bootinfo *bi, uint64_t phys, uint64_t size)
{
    if (bi->nreserved < BOOT_MAX_RESERVED) {
        bi->reserved[bi->nreserved].phys = phys;
        bi->reserved[bi->nreserved].size = size;
        bi->nreserved++;
    }
}

static EFI_STATUS alloc_bootinfo(struct bootinfo **out, UINTN *cap, UINTN *dsz)
{
    UINTN need;
    EFI_STATUS st = memmap_query(&need, dsz);
    if (EFI_ERROR(st))
        return st;
    UINTN hdr = (sizeof(struct bootinfo) + 15) & ~15ull;
    UINTN bytes = hdr + need + MAP_SLACK_DESCS * *dsz;
    L.bi_pages = (bytes + PAGE_SIZE - 1) / PAGE_SIZE;
    st = uefi_call_wrapper(BS->AllocatePages, 4, AllocateAnyPages,
                           (EFI_MEMORY_TYPE)BOOT_MEM_BOOTINFO, L.bi_pages, &L.bi_phys);
    if (EFI_ERROR(st)) {
        berror(L"cannot allocate %ld pages for bootinfo: %r", (UINT64)L.bi_pages, st);
        L.bi_pages = 0;
        return st;
    }
    SetMem((void *)L.bi_phys, L.bi_pages * PAGE_SIZE, 0);
    struct bootinfo *bi = (struct bootinfo *)L.bi_phys;
    bi->magic = BOOTINFO_MAGIC;
    bi->version = BOOTINFO_VERSION;
    bi->size = sizeof(struct bootinfo);
    bi->memmap_phys = L.bi_phys + hdr;
    *cap = L.bi_pages * PAGE_SIZE - hdr;
    *out = bi;
    return EFI_SUCCESS;
}

static EFI_STATUS prepare(struct bootinfo **bip, UINTN *map_cap, UINTN *dsz)
{
    EFI_FILE_HANDLE root;
    EFI_STATUS st;
    uint64_t rsdp, top;
    uint32_t rsdp_rev;

    st = file_open_boot_volume(L.image, &root);
    if (EFI_ERROR(st))
        return st;
    st = file_read_all(root, L"\\kernel.elf", &L.elf, &L.elf_size);
    if (st == EFI_NOT_FOUND)
        berror(L"cannot open \\kernel.elf: %r", st);
    if (!EFI_ERROR(st)) {
        st = elf_check(L.elf, L.elf_size, &L.ki);
        if (!EFI_ERROR(st)) {
            blog(L"kernel.elf: %ld bytes, entry 0x%lx, %ld PT_LOAD segments",
                 (UINT64)L.elf_size, L.ki.entry, L.ki.nsegs);
            st = elf_load(L.elf, L.elf_size, &L.ki);
        }
    }
    if (!EFI_ERROR(st))
        cmdline_read(root, L.cmdline);
    uefi_call_wrapper(root->Close, 1, root);
    if (EFI_ERROR(st))
        return st;

    acpi_find_rsdp(&rsdp, &rsdp_rev);

    st = memmap_top(&top);
    if (EFI_ERROR(st))
        return st;
    st = paging_build(top, L.elf, &L.ki, &L.pt);
    if (EFI_ERROR(st))
        return st;
    uefi_call_wrapper(BS->FreePool, 1, L.elf);
    L.elf = NULL;

    struct bootinfo *bi;
    st = alloc_bootinfo(&bi, map_cap, dsz);
    if (EFI_ERROR(st))
        return st;
    bi->kernel_virt = L.ki.virt_lo;
    bi->kernel_phys = L.ki.phys;
    bi->kernel_size = L.ki.virt_hi - L.ki.virt_lo;
    bi->pml4_phys = L.pt.pml4_phys;
    bi->direct_map_size = L.pt.map_size;
    bi->rsdp_phys = rsdp;
    bi->rsdp_revision = rsdp_rev;
    add_reserved(bi, bi->kernel_phys, bi->kernel_size);
    add_reserved(bi, L.pt.pool_phys, L.pt.pool_pages * PAGE_SIZE);
    add_reserved(bi, L.bi_phys, L.bi_pages * PAGE_SIZE);
    CopyMem(bi->cmdline, L.cmdline, sizeof(bi->cmdline));
    gop_query(bi);
    *bip = bi;
    return EFI_SUCCESS;
}

static void release(void)
{
    if (L.elf)
        uefi_call_wrapper(BS->FreePool, 1, L.elf);
    if (L.ki.phys)
        uefi_call_wrapper(BS->FreePages, 2, L.ki.phys,
                          (L.ki.virt_hi - L.ki.virt_lo) / PAGE_SIZE);
    if (L.pt.pool_pages)
        uefi_call_wrapper(BS->FreePages, 2, L.pt.pool_phys, L.pt.pool_pages);
    if (L.bi_pages)
        uefi_call_wrapper(BS->FreePages, 2, L.bi_phys, L.bi_pages);
}

static void __attribute__((noreturn)) enter_kernel(struct bootinfo *bi)
{
    uint64_t bi_virt = BOOT_DIRECT_MAP_BASE + (uint64_t)bi;
    __asm__ volatile("cli" ::: "memory");
    bi->loader_tsc = rdtsc();
    __asm__ volatile("mov %0, %%cr3\n\t"
                     "jmp *%1"
                     :
                     : "r"(bi->pml4_phys), "r"(L.ki.entry), "D"(bi_virt)
                     : "memory");
    __builtin_unreachable();
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab)
{
    struct bootinfo *bi = NULL;
    UINTN cap = 0, dsz = 0, size, key;
    UINT32 ver;
    EFI_STATUS st;

    InitializeLib(image, systab);
    log_init();
    L.image = image;
    blog(L"gokernel UEFI loader (%s)", systab->FirmwareVendor);

    st = prepare(&bi, &cap, &dsz);
    if (EFI_ERROR(st)) {
        release();
        uefi_call_wrapper(BS->Stall, 1, 1000000);
        return st;
    }
    blog(L"exiting boot services, then jumping to 0x%lx with bootinfo at 0x%lx",
         L.ki.entry, BOOT_DIRECT_MAP_BASE + (uint64_t)bi);

    int tries;
    BOOLEAN exit_attempted = FALSE;
    for (tries = 1; tries <= EXIT_TRIES; tries++) {
        size = cap;
        st = uefi_call_wrapper(BS->GetMemoryMap, 5, &size,
                               (EFI_MEMORY_DESCRIPTOR *)bi->memmap_phys, &key, &dsz, &ver);
        if (EFI_ERROR(st))
            break;
        exit_attempted = TRUE;
        st = uefi_call_wrapper(BS->ExitBootServices, 2, image, key);
        if (st != EFI_INVALID_PARAMETER)
            break;
    }
    if (EFI_ERROR(st) && !exit_attempted) {
        berror(L"final GetMemoryMap failed (buffer %ld bytes, needs %ld): %r",
               (UINT64)cap, (UINT64)size, st);
        release();
        uefi_call_wrapper(BS->Stall, 1, 1000000);
        return st;
    }
    if (EFI_ERROR(st)) {
        /* Boot services may be half gone: COM1 only, no cleanup. */
        serial_puts("boot: error: ExitBootServices failed after ");
        serial_dec((uint64_t)(tries > EXIT_TRIES ? EXIT_TRIES : tries));
        serial_puts(" tries (status ");
        serial_hex(st);
        serial_puts(")\n");
        return st;
    }
    bi->memmap_size = size;
    bi->memmap_desc_size = dsz;
    bi->memmap_desc_version = ver;

    serial_puts("boot: boot services exited (try ");
    serial_dec((uint64_t)tries);
    serial_puts("), memory map ");
    serial_dec(size / dsz);
    serial_puts(" entries; jumping to kernel\n");
    enter_kernel(bi);
}
