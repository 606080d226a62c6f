/*
 * main.c — kmain: bring the machine up in dependency order.
 *
 *   1. serial console (everything after this can speak)
 *   2. check the boot-info contract (magic, version, size)
 *   3. GDT/TSS/IST, per-CPU area, IDT (faults are now reported)
 *   4. TSC clock
 *   5. memory map → sanitised ranges → frame allocator
 *   6. page tables (adopt the loader's, drop its identity map)
 *   7. command line (fw_cfg overrides the boot volume's cmdline.txt), then
 *      the screen console (fbcon=; it replays the lines printed so far)
 *   8. the heap (alloc/)
 *   9. self-tests, statistics, shell or power-off
 */
#include "cmdline.h"
#include "cpu.h"
#include "fbcon.h"
#include "frame.h"
#include "fwcfg.h"
#include "gdt.h"
#include "kernel.h"
#include "kinit.h"
#include "ktest.h"
#include "memmap.h"
#include "paging.h"
#include "percpu.h"
#include "serial.h"
#include "shell.h"
#include "trap.h"

const struct bootinfo *boot_info;
struct cmdline kernel_cmdline;
char kernel_cmdline_text[BOOT_CMDLINE_MAX];

/* Not static: the collector excludes these stacks from the globals it
 * scans (kernel/gcstw.c). */
uint8_t bsp_ist_stacks[5 * IST_STACK_SIZE] __attribute__((aligned(16)));
const uint64_t bsp_ist_stacks_size = sizeof bsp_ist_stacks;

#define MAX_RANGES 256
static struct mem_range usable[MAX_RANGES];
static int nusable;
static struct memmap_report map_report;

const struct mem_range *kernel_usable_ranges(int *n)
{
    *n = nusable;
    return usable;
}

static void check_bootinfo(const struct bootinfo *bi)
{
    if (bi->magic != BOOTINFO_MAGIC || bi->version != BOOTINFO_VERSION ||
        bi->size != sizeof(struct bootinfo)) {
        kprintf("kernel: error: boot-info mismatch (magic 0x%lx version %u size %u; "
                "want 0x%llx version %u size %lu)\n",
                bi->magic, bi->version, bi->size, BOOTINFO_MAGIC, BOOTINFO_VERSION,
                sizeof(struct bootinfo));
        qemu_exit(QEMU_EXIT_FAIL);
    }
}

static void setup_memory(const struct bootinfo *bi)
{
    struct mem_range res[BOOT_MAX_RESERVED + 2];
    int nres = 0;
    for (uint32_t i = 0; i < bi->nreserved && i < BOOT_MAX_RESERVED; i++) {
        res[nres].start = bi->reserved[i].phys;
        res[nres].end = bi->reserved[i].phys + bi->reserved[i].size;
        nres++;
    }
    res[nres].start = bi->kernel_phys;
    res[nres].end = bi->kernel_phys + bi->kernel_size;
    nres++;
    nusable = memmap_sanitize(phys_to_virt(bi->memmap_phys), bi->memmap_size,
                              bi->memmap_desc_size, res, nres, usable, MAX_RANGES, &map_report);
    const struct memmap_report *r = &map_report;
    if (nusable < 0)
        panic("memory map unreadable (size %lu, descriptor size %lu)", bi->memmap_size,
              bi->memmap_desc_size);
    kprintf("memmap: %u entries, %u usable ranges, %lu MiB usable, %u range%s above 4 GiB (%lu MiB)\n",
            r->entries, r->ranges, r->usable_bytes >> 20, r->above_4g_ranges,
            r->above_4g_ranges == 1 ? "" : "s", r->above_4g_bytes >> 20);
    if (r->zero_length || r->overflow || r->misaligned || r->overlaps || r->truncated)
        kprintf("memmap: fixed: %u zero-length, %u wrapping, %u misaligned, %u overlapping, %u dropped\n",
                r->zero_length, r->overflow, r->misaligned, r->overlaps, r->truncated);
    for (int i = 0; i < nusable; i++)
        kprintf("memmap:   usable [0x%012lx - 0x%012lx) %6lu KiB\n", usable[i].start, usable[i].end,
                (usable[i].end - usable[i].start) >> 10);
    if (r->usable_bytes < (16ull << 20))
        panic("too little usable memory: %lu KiB (the kernel needs at least 16 MiB)",
              r->usable_bytes >> 10);
    frame_init(usable, nusable);
    kprintf("frames: %lu free of %lu (4 KiB)\n", frame_free_count(), frame_total());
}

static void read_cmdline(const struct bootinfo *bi)
{
    const char *src = "boot volume";
    if (fwcfg_read_file("opt/gokernel/cmdline", kernel_cmdline_text, sizeof kernel_cmdline_text) >= 0)
        src = "fw_cfg";
    else {
        for (int i = 0; i < BOOT_CMDLINE_MAX; i++)
            kernel_cmdline_text[i] = bi->cmdline[i];
        kernel_cmdline_text[BOOT_CMDLINE_MAX - 1] = 0;
    }
    kprintf("cmdline: \"%s\" (from %s)\n", kernel_cmdline_text, src);
    cmdline_parse(kernel_cmdline_text, &kernel_cmdline);
    for (int i = 0; i < kernel_cmdline.nerrors && i < CMDLINE_MAX_ERRORS; i++)
        kprintf("%s (ignored)\n", kernel_cmdline.errors[i]);
}

void kmain(const struct bootinfo *bi)
{
    uint64_t t_entry = rdtsc();
    serial_init();
    kprintf("\ngokernel: starting\n");
    check_bootinfo(bi);
    boot_info = bi;

    gdt_init_cpu(0, bsp_ist_stacks);
    percpu_install(&percpu_area[0], 0, 0);
    idt_init();
    tsc_calibrate();
    kprintf("cpu: TSC %lu MHz\n", tsc_hz() / 1000000);

    setup_memory(bi);
    paging_init(bi->pml4_phys);
    read_cmdline(bi);
    fbcon_init(bi, !kernel_cmdline.fbcon_off);
    kinit_late();

    uint64_t init_ns = tsc_to_ns(rdtsc() - t_entry);
    uint64_t since_loader = bi->loader_tsc ? tsc_to_ns(rdtsc() - bi->loader_tsc) : 0;
    kprintf("kernel: init %lu.%03lu ms (since loader hand-off %lu.%03lu ms)\n", init_ns / 1000000,
            init_ns / 1000 % 1000, since_loader / 1000000, since_loader / 1000 % 1000);

    int failed = ktest_run(&kernel_cmdline);
    kinit_after_tests(&kernel_cmdline);
    if (kernel_cmdline.shell && !kernel_cmdline.halt)
        shell_run();
    kprintf("kernel: power off (%s)\n", ktest_total_failed() || failed ? "tests failed" : "ok");
    qemu_exit(ktest_total_failed() || failed ? QEMU_EXIT_FAIL : QEMU_EXIT_PASS);
}
