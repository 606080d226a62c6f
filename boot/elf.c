/*
 * elf.c — checking kernel.elf and placing its PT_LOAD segments.
 *
 * The file is untrusted input: every header field that is used is checked
 * before use (magic, class, byte order, version, machine, type, program
 * header table bounds and entry size, each PT_LOAD's file range, sizes and
 * address range, and that the entry point lies in a PT_LOAD), with
 * overflow-safe arithmetic.  Each failure names what is wrong in one
 * "boot: error: kernel.elf: ..." line.
 *
 * Placement: one AllocatePages(BOOT_MEM_KERNEL) block spans
 * [lowest vaddr page, highest vaddr end), so the kernel is physically
 * contiguous and phys = kernel_phys + (vaddr - kernel_virt).  The block is
 * zeroed first, then each segment's file bytes are copied in, which leaves
 * the [filesz, memsz) tail (.bss) and any gaps zero.
 */
#include "boot.h"

#define EI_NIDENT 16
#define ELFCLASS64 2
#define ELFDATA2LSB 1
#define EV_CURRENT 1
#define ET_EXEC 2
#define ET_DYN 3
#define EM_X86_64 62
#define PT_LOAD 1

typedef struct {
    uint8_t e_ident[EI_NIDENT];
    uint16_t e_type;
    uint16_t e_machine;
    uint32_t e_version;
    uint64_t e_entry;
    uint64_t e_phoff;
    uint64_t e_shoff;
    uint32_t e_flags;
    uint16_t e_ehsize;
    uint16_t e_phentsize;
    uint16_t e_phnum;
    uint16_t e_shentsize;
    uint16_t e_shnum;
    uint16_t e_shstrndx;
} Elf64_Ehdr;

typedef struct {
    uint32_t p_type;
    uint32_t p_flags;
    uint64_t p_offset;
    uint64_t p_vaddr;
    uint64_t p_paddr;
    uint64_t p_filesz;
    uint64_t p_memsz;
    uint64_t p_align;
} Elf64_Phdr;

/* Largest kernel image accepted: the kernel half is [-2 GiB, 0). */
#define KERNEL_MAX_SPAN (1ull << 30)

#define KERR(...) berror(L"kernel.elf: " __VA_ARGS__)

static const Elf64_Phdr *phdr(const void *buf, unsigned i)
{
    const Elf64_Ehdr *eh = buf;
    return (const Elf64_Phdr *)((const uint8_t *)buf + eh->e_phoff +
                                (uint64_t)i * eh->e_phentsize);
}

EFI_STATUS elf_check(const void *buf, UINTN size, struct kernel_image *ki)
{
    const Elf64_Ehdr *eh = buf;
    const uint8_t *id = eh->e_ident;

    if (size < 4 || id[0] != 0x7f || id[1] != 'E' || id[2] != 'L' || id[3] != 'F') {
        KERR(L"not an ELF file (bad magic)");
        return EFI_LOAD_ERROR;
    }
    if (size < sizeof(Elf64_Ehdr)) {
        KERR(L"truncated (%ld bytes, smaller than an ELF64 header)", (UINT64)size);
        return EFI_LOAD_ERROR;
    }
    if (id[4] != ELFCLASS64) {
        KERR(L"not a 64-bit ELF (class %d)", (int)id[4]);
        return EFI_UNSUPPORTED;
    }
    if (id[5] != ELFDATA2LSB) {
        KERR(L"not little-endian (data encoding %d)", (int)id[5]);
        return EFI_UNSUPPORTED;
    }
    if (id[6] != EV_CURRENT || eh->e_version != EV_CURRENT) {
        KERR(L"bad ELF version %d", (int)id[6]);
        return EFI_LOAD_ERROR;
    }
    if (eh->e_machine != EM_X86_64) {
        KERR(L"wrong machine %d (want x86-64)", (int)eh->e_machine);
        return EFI_UNSUPPORTED;
    }
    if (eh->e_type != ET_EXEC) {
        KERR(L"wrong type %d (want ET_EXEC%a)", (int)eh->e_type,
             eh->e_type == ET_DYN ? "; PIE/shared objects are not kernels" : "");
        return EFI_UNSUPPORTED;
    }
    if (eh->e_phentsize != sizeof(Elf64_Phdr)) {
        KERR(L"bad program header size %d (want %d)", (int)eh->e_phentsize,
             (int)sizeof(Elf64_Phdr));
        return EFI_LOAD_ERROR;
    }
    if (eh->e_phnum == 0) {
        KERR(L"no program headers");
        return EFI_LOAD_ERROR;
    }
    uint64_t phbytes = (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr);
    if (eh->e_phoff > size || phbytes > size - eh->e_phoff) {
        KERR(L"program headers extend past end of file (offset 0x%lx size 0x%lx file 0x%lx)",
             eh->e_phoff, phbytes, (UINT64)size);
        return EFI_LOAD_ERROR;
    }
    if (eh->e_phoff % 8) {
        KERR(L"misaligned program headers (offset 0x%lx)", eh->e_phoff);
        return EFI_LOAD_ERROR;
    }

    uint64_t lo = ~0ull, hi = 0, nload = 0;
    BOOLEAN entry_ok = FALSE;
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        const Elf64_Phdr *ph = phdr(buf, i);
        if (ph->p_type != PT_LOAD)
            continue;
        nload++;
        if (ph->p_offset > size || ph->p_filesz > size - ph->p_offset) {
            KERR(L"segment %d extends past end of file (offset 0x%lx size 0x%lx file 0x%lx)",
                 i, ph->p_offset, ph->p_filesz, (UINT64)size);
            return EFI_LOAD_ERROR;
        }
        if (ph->p_filesz > ph->p_memsz) {
            KERR(L"segment %d has file size 0x%lx > memory size 0x%lx", i,
                 ph->p_filesz, ph->p_memsz);
            return EFI_LOAD_ERROR;
        }
        if (ph->p_memsz == 0)
            continue;
        if (ph->p_vaddr < BOOT_KERNEL_BASE) {
            KERR(L"segment %d at 0x%lx is below the kernel base 0x%lx", i,
                 ph->p_vaddr, BOOT_KERNEL_BASE);
            return EFI_UNSUPPORTED;
        }
        /* vaddr >= -2 GiB, so the end (page aligned up) fits in 64 bits
         * exactly when memsz stays below what is left to 2^64. */
        if (ph->p_memsz > KERNEL_MAX_SPAN ||
            ph->p_memsz > (0ull - PAGE_SIZE) - ph->p_vaddr) {
            KERR(L"segment %d too large or wraps (vaddr 0x%lx memsz 0x%lx)", i,
                 ph->p_vaddr, ph->p_memsz);
            return EFI_LOAD_ERROR;
        }
        uint64_t end = ph->p_vaddr + ph->p_memsz;
        if (PAGE_ALIGN_DOWN(ph->p_vaddr) < lo)
            lo = PAGE_ALIGN_DOWN(ph->p_vaddr);
        if (PAGE_ALIGN_UP(end) > hi)
            hi = PAGE_ALIGN_UP(end);
        if (eh->e_entry >= ph->p_vaddr && eh->e_entry < end)
            entry_ok = TRUE;
    }
    if (nload == 0 || hi == 0) {
        KERR(L"no loadable segments");
        return EFI_LOAD_ERROR;
    }
    if (hi - lo > KERNEL_MAX_SPAN) {
        KERR(L"segments span 0x%lx bytes (limit 0x%lx)", hi - lo, KERNEL_MAX_SPAN);
        return EFI_LOAD_ERROR;
    }
    if (!entry_ok) {
        KERR(L"entry point 0x%lx is not inside a loadable segment", eh->e_entry);
        return EFI_LOAD_ERROR;
    }
    ki->entry = eh->e_entry;
    ki->virt_lo = lo;
    ki->virt_hi = hi;
    ki->nsegs = nload;
    ki->phys = 0;
    return EFI_SUCCESS;
}

EFI_STATUS elf_load(const void *buf, UINTN size, struct kernel_image *ki)
{
    const Elf64_Ehdr *eh = buf;
    uint64_t pages = (ki->virt_hi - ki->virt_lo) / PAGE_SIZE;
    EFI_PHYSICAL_ADDRESS base = 0;
    EFI_STATUS st;

    (void)size; /* bounds were checked by elf_check */
    st = uefi_call_wrapper(BS->AllocatePages, 4, AllocateAnyPages,
                           (EFI_MEMORY_TYPE)BOOT_MEM_KERNEL, pages, &base);
    if (EFI_ERROR(st)) {
        berror(L"cannot allocate %ld pages for the kernel: %r", pages, st);
        return st;
    }
    ki->phys = base;
    SetMem((void *)base, pages * PAGE_SIZE, 0);
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        const Elf64_Phdr *ph = phdr(buf, i);
        if (ph->p_type != PT_LOAD || ph->p_memsz == 0)
            continue;
        CopyMem((void *)(base + (ph->p_vaddr - ki->virt_lo)),
                (const uint8_t *)buf + ph->p_offset, ph->p_filesz);
        blog(L"segment %d: vaddr 0x%lx memsz 0x%lx filesz 0x%lx flags %c%c%c -> phys 0x%lx",
             i, ph->p_vaddr, ph->p_memsz, ph->p_filesz,
             (ph->p_flags & 4) ? L'r' : L'-', (ph->p_flags & 2) ? L'w' : L'-',
             (ph->p_flags & 1) ? L'x' : L'-',
             base + (ph->p_vaddr - ki->virt_lo));
    }
    return EFI_SUCCESS;
}

EFI_STATUS elf_for_each_load(const void *buf, elf_seg_fn fn, void *ctx)
{
    const Elf64_Ehdr *eh = buf;
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        const Elf64_Phdr *ph = phdr(buf, i);
        if (ph->p_type != PT_LOAD || ph->p_memsz == 0)
            continue;
        EFI_STATUS st = fn(ctx, ph->p_vaddr, ph->p_memsz, ph->p_flags);
        if (EFI_ERROR(st))
            return st;
    }
    return EFI_SUCCESS;
}
