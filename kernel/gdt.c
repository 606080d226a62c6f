/*
 * gdt.c — long mode needs a GDT only for the code/data selectors and the TSS;
 * the TSS exists for its IST pointers: every gate in the IDT names an IST
 * stack, so exceptions and interrupts always land on a known-good stack
 * (tasks run on tiny growable stacks later).
 */
#include "gdt.h"
#include "percpu.h"

struct gdt {
    uint64_t null, kcode, kdata;
    uint64_t tss_lo, tss_hi;
} __attribute__((packed, aligned(16)));

static struct gdt gdts[MAX_CPUS];
static struct tss tsses[MAX_CPUS];

struct gdtr {
    uint16_t limit;
    uint64_t base;
} __attribute__((packed));

void gdt_init_cpu(uint32_t cpu, uint8_t *stacks)
{
    struct gdt *g = &gdts[cpu];
    struct tss *t = &tsses[cpu];
    g->null = 0;
    g->kcode = 0x00209A0000000000ull; /* present, ring 0, code, long mode */
    g->kdata = 0x0000920000000000ull; /* present, ring 0, data, writable */
    uint64_t base = (uint64_t)t, limit = sizeof *t - 1;
    g->tss_lo = (limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) | (0x89ull << 40) |
                (((limit >> 16) & 0xF) << 48) | (((base >> 24) & 0xFF) << 56);
    g->tss_hi = base >> 32;
    for (int i = 0; i < 5; i++)
        t->ist[i] = (uint64_t)(stacks + (uint64_t)(i + 1) * IST_STACK_SIZE);
    t->iomap_base = sizeof *t;

    struct gdtr r = {sizeof *g - 1, (uint64_t)g};
    __asm__ volatile(
        "lgdt %0\n"
        "mov %1, %%ds\n mov %1, %%es\n mov %1, %%ss\n"
        "xor %%eax, %%eax\n mov %%ax, %%fs\n mov %%ax, %%gs\n"
        "pushq %2\n lea 1f(%%rip), %%rax\n pushq %%rax\n lretq\n1:\n"
        :
        : "m"(r), "r"((uint64_t)GDT_KDATA), "i"(GDT_KCODE)
        : "rax", "memory");
    __asm__ volatile("ltr %w0" ::"r"((uint16_t)GDT_TSS));
    percpu_area[cpu].tss = t;
}
