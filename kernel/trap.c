/*
 * trap.c — what happens when the CPU traps.
 *
 * Exceptions (vectors 0–31):
 *   1. If the faulting RIP is listed in the exception table (.extable, built
 *      by the probe helpers in isr.S), record vector/CR2/error in the per-CPU
 *      area and resume at the fix-up address: the fault was expected.
 *   2. Otherwise print the vector and name, error code, RIP, CR2, every
 *      register, the CPU, a frame-pointer backtrace, and panic.
 * Interrupts (32–255): call the registered handler; an unregistered vector
 * is reported once and ignored.
 * Every gate uses an IST stack (gdt.h), so a trap never runs on a task stack.
 */
#include "trap.h"
#include "gdt.h"
#include "kernel.h"
#include "percpu.h"
#include "cpu.h"

struct idt_gate {
    uint16_t off_lo, sel;
    uint8_t ist, type;
    uint16_t off_mid;
    uint32_t off_hi, zero;
} __attribute__((packed));

static struct idt_gate idt[256] __attribute__((aligned(16)));
static irq_handler_t handlers[256];
extern char isr_stubs[];
extern const uint64_t __extable_start[], __extable_end[];

static const char *const exc_names[32] = {
    "#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow",
    "#BR bound range", "#UD invalid opcode", "#NM device not available",
    "#DF double fault", "coprocessor overrun", "#TS invalid TSS", "#NP segment not present",
    "#SS stack fault", "#GP general protection", "#PF page fault", "reserved 15",
    "#MF x87 error", "#AC alignment check", "#MC machine check", "#XM SIMD error",
    "#VE virtualization", "#CP control protection", "reserved 22", "reserved 23",
    "reserved 24", "reserved 25", "reserved 26", "reserved 27", "#HV hypervisor injection",
    "#VC VMM communication", "#SX security", "reserved 31",
};

const char *exception_name(uint64_t v) { return v < 32 ? exc_names[v] : "interrupt"; }

static uint8_t ist_for(int v)
{
    switch (v) {
    case 2: return IST_NMI;
    case 8: return IST_DF;
    case 18: return IST_MCE;
    default: return v < 32 ? IST_EXC : IST_IRQ;
    }
}

void idt_init(void)
{
    for (int v = 0; v < 256; v++) {
        uint64_t a = (uint64_t)(isr_stubs + 16 * v);
        idt[v].off_lo = a & 0xFFFF;
        idt[v].sel = GDT_KCODE;
        idt[v].ist = ist_for(v);
        idt[v].type = 0x8E; /* present, ring 0, interrupt gate (IF cleared) */
        idt[v].off_mid = (a >> 16) & 0xFFFF;
        idt[v].off_hi = (uint32_t)(a >> 32);
        idt[v].zero = 0;
    }
    idt_load();
}

void idt_load(void)
{
    struct {
        uint16_t limit;
        uint64_t base;
    } __attribute__((packed)) r = {sizeof idt - 1, (uint64_t)idt};
    __asm__ volatile("lidt %0" ::"m"(r));
}

void trap_set_handler(uint8_t vector, irq_handler_t h) { handlers[vector] = h; }

/* NMIs are IPIs on SMP (TLB shootdown, panic stop): smp.c says if it was its. */
__attribute__((weak)) int smp_nmi(struct trap_frame *f) { (void)f; return 0; }

static int fixup(struct trap_frame *f)
{
    for (const uint64_t *e = __extable_start; e < __extable_end; e += 2) {
        if (e[0] == f->rip) {
            struct percpu *c = this_cpu();
            c->last_fault_vector = f->vector;
            c->last_fault_rip = f->rip;
            c->last_fault_cr2 = f->vector == 14 ? read_cr2() : 0;
            c->last_fault_err = f->error;
            c->faults_fixed++;
            f->rip = e[1];
            return 1;
        }
    }
    return 0;
}

static void dump_frame(const struct trap_frame *f)
{
    kprintf("  rax=%016lx rbx=%016lx rcx=%016lx rdx=%016lx\n", f->rax, f->rbx, f->rcx, f->rdx);
    kprintf("  rsi=%016lx rdi=%016lx rbp=%016lx rsp=%016lx\n", f->rsi, f->rdi, f->rbp, f->rsp);
    kprintf("  r8 =%016lx r9 =%016lx r10=%016lx r11=%016lx\n", f->r8, f->r9, f->r10, f->r11);
    kprintf("  r12=%016lx r13=%016lx r14=%016lx r15=%016lx\n", f->r12, f->r13, f->r14, f->r15);
    kprintf("  rip=%016lx cs=%lx rflags=%016lx ss=%lx\n", f->rip, f->cs, f->rflags, f->ss);
}

void trap_handler(struct trap_frame *f)
{
    if (f->vector == 2 && smp_nmi(f))
        return;
    if (f->vector < 32) {
        if (fixup(f))
            return;
        uint64_t cr2 = read_cr2();
        panic_begin();
        kprintf("\nEXCEPTION %lu (%s) on cpu %u: error=0x%lx rip=0x%lx cr2=0x%lx\n", f->vector,
                exc_names[f->vector], panic_cpu_id(), f->error, f->rip, cr2);
        dump_frame(f);
        kprintf("backtrace:\n  0x%016lx\n", f->rip);
        backtrace_from(f->rbp);
        panic_end("unexpected exception %lu (%s) at rip 0x%lx", f->vector, exc_names[f->vector],
                  f->rip);
    }
    if (handlers[f->vector]) {
        handlers[f->vector](f);
        return;
    }
    static uint8_t reported[256];
    if (!reported[f->vector]) {
        reported[f->vector] = 1;
        kprintf("trap: unexpected interrupt vector %lu on cpu %u (ignored)\n", f->vector,
                panic_cpu_id());
    }
}
