/*
 * smp.c — application processors: start them, give them work, shoot down
 * their TLBs, stop them on panic.
 *
 * Bring-up (smp_init, BSP, once; the function doing each step in brackets):
 *   1. [read_madt] MADT → APIC ids of usable processors (acpi.c); none →
 *      BSP alone.
 *   2. [bsp_lapic_on] BSP LAPIC on; [mark_bsp] its MADT entry is not
 *      started; [trampoline_setup, trampoline_install] the trampoline blob
 *      is copied to a page below 1 MiB and patched with the BSP's
 *      CR0/CR3/CR4/EFER.
 *   3. [start_aps] the identity map of low memory is put back for the
 *      duration (paging_identity_low(1)); [init_all_aps] INIT to every AP,
 *      one 10 ms wait; then [start_listed] one AP at a time: map its stacks
 *      (IST block + kernel stack, guard pages between, in SMP_STACKS_BASE),
 *      [start_ap] SIPI, 200 us, SIPI again if it is not up yet, then wait
 *      up to START_TIMEOUT_MS (from the first SIPI) for `started`.
 *      A CPU that misses the deadline is reported by APIC id, sent INIT
 *      again (back to wait-for-SIPI, so it cannot wake up later inside a
 *      trampoline reused for the next CPU) and left out; the next CPU takes
 *      its dense id.
 *   4. Each AP (smp_ap_entry): its GDT/TSS/IST, the shared IDT, its per-CPU
 *      area (GS base), LAPIC on, `started` = 1, then the idle loop.
 *   5. [finish_aps] Identity map dropped again, every CPU flushes its TLB
 *      (the APs had walked it), kernel_ncpu = CPUs started; [report]
 *      "smp: N of M CPUs started".
 *
 * Work: each CPU has one work slot (free → claimed → posted).  A poster
 * claims it with a CAS, fills fn/arg/done, publishes it and sends the work
 * IPI.  APs idle in `cli; check slot; sti; hlt` (the sti shadow makes the
 * check-then-sleep race free); the IPI handler only EOIs, the idle loop
 * runs the work on the AP's own stack with interrupts off.  While the
 * collector marks concurrently, or has spans awaiting their sweep, an idle
 * AP marks a batch (gc_idle_mark_step) or sweeps a few spans
 * (gc_bgsweep_step), interrupts off, before it checks its
 * slot again and only then halts: work waits at most one batch.  Everyone who
 * waits (for a slot or for completion) runs its own posted work meanwhile
 * (smp_poll), so two CPUs posting to each other cannot deadlock.
 *
 * TLB shootdown — the choice: shootdowns are delivered by NMI.
 * tlb_shootdown is called under the heap lock with interrupts off, and the
 * CPUs it must wait for may themselves be spinning with interrupts off —
 * on that very heap lock, or in their own tlb_shootdown.  A maskable IPI
 * would never be taken there (deadlock); servicing requests from every
 * spin loop would have to reach into every lock in the kernel.  An NMI is
 * taken whatever IF says, its handler touches no lock (xchg a per-CPU flag,
 * invlpg, atomic decrement), so: one initiator at a time (sd_lock, a
 * ticket spinlock; waiters for it still take NMIs), it publishes va/size,
 * sets each target's pending flag, NMIs them and spins until every target
 * decremented `remaining`.  A target that does not answer in 2 s is a
 * panic naming it.  An NMI finding nothing pending (two requests served by
 * one handler run, the second NMI latched) is counted and ignored.
 *
 * Panic: smp_stop_others sets `stopping` and NMIs every other started CPU;
 * the NMI handler halts forever with interrupts off (NMIs stay blocked
 * because it never returns).  trap.c routes vector 2 here (smp_nmi).
 *
 * Invariants: cpu ids dense 0..ncpu-1; apic_of[] and ncpu are written only
 * by the BSP during bring-up; counters are per CPU, written by their CPU.
 */
#include "smp.h"
#include "task.h"
#include "../alloc/mgc.h"
#include "acpi.h"
#include "cpu.h"
#include "frame.h"
#include "gcstw.h"
#include "gdt.h"
#include "kernel.h"
#include "lapic.h"
#include "paging.h"
#include "percpu.h"
#include "shell.h"
#include "spinlock.h"
#include "trap.h"

#define IPI_WORK_VECTOR SMP_IPI_WORK_VECTOR

/* Per-CPU stacks: slot c at SMP_STACKS_BASE + c * SLOT_SIZE holds
 * [guard][5 IST stacks][guard][kernel stack][unmapped...]. */
#define SMP_STACKS_BASE 0xffffd00000000000ull
#define SLOT_SIZE       0x40000ull
#define IST_OFF         0x1000ull
#define IST_BYTES       (5ull * IST_STACK_SIZE)
#define KSTACK_OFF      (IST_OFF + IST_BYTES + 0x1000ull)
#define KSTACK_BYTES    SMP_KSTACK_BYTES

#define INIT_DELAY_US   10000
#define SIPI_DELAY_US   200
#define START_TIMEOUT_MS 1000 /* generous: TCG vCPUs on a busy host start late */
#define SHOOTDOWN_TIMEOUT_NS 2000000000ull
#define FULL_FLUSH_PAGES 64

extern uint32_t kernel_ncpu;

extern char trampoline_start[], trampoline_end[];
extern char tramp_gdt[], tramp_gdtr[], tramp_pm_ptr[], tramp_lm_ptr[], tramp_pm32[], tramp_lm64[];
extern char tramp_cr0[], tramp_cr3[], tramp_cr4[], tramp_efer[], tramp_stack[], tramp_entry[];

struct work_slot {
    uint32_t state; /* SLOT_* */
    void (*fn)(void *);
    void *arg;
    uint32_t *done;
} __attribute__((aligned(64)));
enum { SLOT_FREE, SLOT_CLAIMED, SLOT_POSTED };

struct cpu_counters {
    uint64_t ipis;          /* work IPIs taken */
    uint64_t work;          /* work items run for other CPUs */
    uint64_t nmis;
    uint64_t nmis_idle;     /* NMIs with nothing pending */
    uint64_t sd_sent;       /* shootdowns initiated */
    uint64_t sd_served;     /* shootdown requests served */
    uint64_t start_ns;      /* bring-up time (first SIPI → started) */
} __attribute__((aligned(64)));

static struct work_slot slots[MAX_CPUS];
static struct cpu_counters counters[MAX_CPUS];
static uint32_t apic_of[MAX_CPUS];
static uint32_t ncpu = 1;
static int nmi_ready;

/* What the MADT listed, and what became of it (for `cpus`). */
static struct acpi_madt_info madt;
static int madt_ok;
static uint8_t found_state[MAX_CPUS]; /* FOUND_* per madt.apic_ids[i] */
enum { FOUND_SKIPPED, FOUND_BSP, FOUND_STARTED, FOUND_NO_ANSWER, FOUND_NO_MEMORY, FOUND_BAD_ID };
static uint64_t lapic_phys;
static uint64_t bringup_ns;

/* Bring-up hand-off to the AP being started. */
static volatile uint32_t boot_cpu, boot_apic;

/* Shootdown request (see the top comment). */
static spinlock_t sd_lock = SPINLOCK_INIT(LOCKRANK_SHOOTDOWN);
static volatile uint64_t sd_va, sd_size;
static uint32_t sd_remaining;
static uint32_t sd_pending[MAX_CPUS];

static volatile int stopping;
static volatile int32_t stopper = -1;
static uint32_t nstopped;

static uint32_t me(void) { return this_cpu()->cpu_id; }

static void delay_us(uint64_t us)
{
    uint64_t end = nanotime() + us * 1000;
    while (nanotime() < end)
        cpu_relax();
}

static void flush_tlb_all_local(void)
{
    uint64_t cr4 = read_cr4();
    if (cr4 & (1ull << 7)) { /* PGE: toggling it drops global entries too */
        write_cr4(cr4 & ~(1ull << 7));
        write_cr4(cr4);
    } else {
        write_cr3(read_cr3());
    }
}

static void invalidate_local(uint64_t va, uint64_t size)
{
    uint64_t pages = size / 4096;
    if (pages > FULL_FLUSH_PAGES) {
        flush_tlb_all_local();
        return;
    }
    for (uint64_t i = 0; i < pages; i++)
        invlpg(va + i * 4096);
}

/* ------------------------------------------------------------------ work */

/* Runs the work posted to the calling CPU, if any; 1 if it ran one. */
static int run_own_slot(void)
{
    uint32_t c = me();
    struct work_slot *s = &slots[c];
    if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != SLOT_POSTED)
        return 0;
    void (*fn)(void *) = s->fn;
    void *arg = s->arg;
    uint32_t *done = s->done;
    __atomic_store_n(&s->state, SLOT_FREE, __ATOMIC_RELEASE);
    fn(arg);
    if (!task_current())
        stack_scrub(); /* fn's dead frames hold no roots for a later cycle */
    counters[c].work++;
    __atomic_add_fetch(done, 1, __ATOMIC_RELEASE);
    return 1;
}

void smp_poll(void)
{
    if (ncpu > 1)
        while (run_own_slot())
            ;
    gc_safepoint(); /* a waiting CPU is at a safepoint (kernel/gcstw.c) */
}

uint64_t smp_kstack_top(uint32_t cpu)
{
    return cpu && cpu < ncpu ? SMP_STACKS_BASE + cpu * SLOT_SIZE + KSTACK_OFF + KSTACK_BYTES : 0;
}

static void post(uint32_t cpu, void (*fn)(void *), void *arg, uint32_t *done)
{
    struct work_slot *s = &slots[cpu];
    for (;;) {
        uint32_t expect = SLOT_FREE;
        if (__atomic_compare_exchange_n(&s->state, &expect, SLOT_CLAIMED, 0, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
            break;
        smp_poll();
        cpu_relax();
    }
    s->fn = fn;
    s->arg = arg;
    s->done = done;
    __atomic_store_n(&s->state, SLOT_POSTED, __ATOMIC_RELEASE);
    lapic_send_fixed(apic_of[cpu], IPI_WORK_VECTOR);
}

static void wait_done(uint32_t *done, uint32_t want)
{
    while (__atomic_load_n(done, __ATOMIC_ACQUIRE) < want) {
        smp_poll();
        cpu_relax();
    }
}

void smp_run_on(uint32_t cpu, void (*fn)(void *), void *arg)
{
    if (cpu >= ncpu)
        panic("smp_run_on: cpu %u does not exist (%u started)", cpu, ncpu);
    if (cpu == me()) {
        fn(arg);
        return;
    }
    uint32_t done = 0;
    post(cpu, fn, arg, &done);
    wait_done(&done, 1);
}

void smp_run_on_all(void (*fn)(void *), void *arg)
{
    uint32_t self = me(), done = 0;
    for (uint32_t c = 0; c < ncpu; c++)
        if (c != self)
            post(c, fn, arg, &done);
    fn(arg);
    wait_done(&done, ncpu - 1);
}

static void work_ipi(struct trap_frame *f)
{
    (void)f;
    counters[me()].ipis++;
    lapic_eoi();
}

static void spurious_irq(struct trap_frame *f) { (void)f; /* no EOI for spurious */ }

/* ------------------------------------------------------------- NMI, TLB */

int gc_nmi(struct trap_frame *f); /* gcstw.c: a straggler reports itself */

int smp_nmi(struct trap_frame *f)
{
    if (!nmi_ready)
        return 0;
    uint32_t c = me();
    counters[c].nmis++;
    if (stopping && (int32_t)c != stopper) {
        __atomic_add_fetch(&nstopped, 1, __ATOMIC_RELEASE);
        for (;;) {
            cli();
            hlt();
        }
    }
    if (__atomic_exchange_n(&sd_pending[c], 0, __ATOMIC_ACQUIRE)) {
        invalidate_local(sd_va, sd_size);
        counters[c].sd_served++;
        __atomic_sub_fetch(&sd_remaining, 1, __ATOMIC_RELEASE);
        gc_nmi(f);
        return 1;
    }
    if (gc_nmi(f))
        return 1;
    counters[c].nmis_idle++;
    return 1;
}

void tlb_shootdown(uint64_t va, uint64_t size)
{
    if (ncpu < 2 || size == 0)
        return;
    uint64_t start = va & ~0xFFFull, end = (va + size + 0xFFF) & ~0xFFFull;
    spin_lock(&sd_lock);
    uint32_t self = me();
    sd_va = start;
    sd_size = end - start;
    __atomic_store_n(&sd_remaining, ncpu - 1, __ATOMIC_RELEASE);
    for (uint32_t c = 0; c < ncpu; c++) {
        if (c == self)
            continue;
        __atomic_store_n(&sd_pending[c], 1, __ATOMIC_RELEASE);
        lapic_send_nmi(apic_of[c]);
    }
    uint64_t t0 = nanotime();
    while (__atomic_load_n(&sd_remaining, __ATOMIC_ACQUIRE) != 0) {
        cpu_relax();
        if (nanotime() - t0 > SHOOTDOWN_TIMEOUT_NS) {
            for (uint32_t c = 0; c < ncpu; c++)
                if (__atomic_load_n(&sd_pending[c], __ATOMIC_ACQUIRE))
                    panic("tlb_shootdown: cpu %u (APIC id %u) did not acknowledge within 2 s", c,
                          apic_of[c]);
            panic("tlb_shootdown: %u acknowledgement(s) missing after 2 s",
                  __atomic_load_n(&sd_remaining, __ATOMIC_ACQUIRE));
        }
    }
    counters[self].sd_sent++;
    spin_unlock(&sd_lock);
}

void smp_stop_others(void)
{
    if (!nmi_ready || ncpu < 2)
        return;
    uint32_t self = me();
    stopper = (int32_t)self;
    __atomic_store_n(&stopping, 1, __ATOMIC_SEQ_CST);
    for (uint32_t c = 0; c < ncpu; c++)
        if (c != self)
            lapic_send_nmi(apic_of[c]);
    /* give them a moment to stop, so their output does not interleave */
    uint64_t end = rdtsc() + tsc_hz() / 20;
    while (__atomic_load_n(&nstopped, __ATOMIC_ACQUIRE) < ncpu - 1 && rdtsc() < end)
        cpu_relax();
}

/* -------------------------------------------------------------- bring-up */

static void ap_idle(void)
{
    for (;;) {
        cli();
        if (run_own_slot())
            continue;
        if (__atomic_load_n(&gc_stop_pending, __ATOMIC_ACQUIRE)) {
            gc_safepoint(); /* stops here when a cycle stops the world */
            cpu_relax();
            continue;
        }
        gcstw_ragged_poll();
        /* the collector: a batch of a concurrent mark, or of the background
         * sweep, then the slot again */
        if (gc_idle_mark_step(GC_IDLE_MARK_BUDGET) || gc_bgsweep_step(GC_BGSWEEP_BATCH))
            continue;
        __asm__ volatile("sti; hlt" ::: "memory"); /* woken by the work IPI */
    }
}

void smp_ap_entry(void) __attribute__((noreturn, used));
void smp_ap_entry(void)
{
    uint32_t cpu = boot_cpu;
    uint64_t slot = SMP_STACKS_BASE + cpu * SLOT_SIZE;
    gdt_init_cpu(cpu, (uint8_t *)(slot + IST_OFF));
    idt_load();
    percpu_install(&percpu_area[cpu], cpu, boot_apic);
    paging_pat_init(); /* the same memory types as the BSP (fbcon's PTE_WC) */
    lapic_enable();
    percpu_area[cpu].apic_id = lapic_id();
    __atomic_store_n(&percpu_area[cpu].started, 1, __ATOMIC_RELEASE);
    ap_idle();
    for (;;)
        hlt();
}

static int map_range(uint64_t va, uint64_t size)
{
    for (uint64_t off = 0; off < size; off += 4096) {
        if (virt_to_phys(va + off) != ~0ull)
            continue; /* left from a CPU that did not start */
        uint64_t pa = frame_alloc_zeroed();
        if (!pa || map_page(va + off, pa, PTE_W | PTE_NX)) {
            if (pa)
                frame_free(pa);
            return -1;
        }
    }
    return 0;
}

static int map_stacks(uint32_t cpu)
{
    uint64_t slot = SMP_STACKS_BASE + cpu * SLOT_SIZE;
    return map_range(slot + IST_OFF, IST_BYTES) || map_range(slot + KSTACK_OFF, KSTACK_BYTES) ? -1 : 0;
}

static void patch32(char *blob, char *field, uint32_t v) { *(uint32_t *)(blob + (field - trampoline_start)) = v; }
static void patch64(char *blob, char *field, uint64_t v) { *(uint64_t *)(blob + (field - trampoline_start)) = v; }

static int start_ap(uint32_t apic_id, uint32_t cpu, uint64_t tramp_pa, char *blob)
{
    percpu_area[cpu].started = 0;
    boot_cpu = cpu;
    boot_apic = apic_id;
    patch64(blob, tramp_stack, SMP_STACKS_BASE + cpu * SLOT_SIZE + KSTACK_OFF + KSTACK_BYTES);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    uint64_t t0 = nanotime(); /* INIT was sent to every AP at once, 10 ms ago */
    lapic_send_sipi(apic_id, (uint8_t)(tramp_pa >> 12));
    delay_us(SIPI_DELAY_US);
    if (!__atomic_load_n(&percpu_area[cpu].started, __ATOMIC_ACQUIRE))
        lapic_send_sipi(apic_id, (uint8_t)(tramp_pa >> 12));
    uint64_t deadline = t0 + (uint64_t)START_TIMEOUT_MS * 1000000;
    while (!__atomic_load_n(&percpu_area[cpu].started, __ATOMIC_ACQUIRE)) {
        if (nanotime() > deadline) {
            lapic_send_init(apic_id); /* park it: it must not wake up later in the trampoline */
            return -1;
        }
        cpu_relax();
    }
    counters[cpu].start_ns = nanotime() - t0;
    return 0;
}

static void flush_tlb_work(void *arg)
{
    (void)arg;
    flush_tlb_all_local();
}

static void print_result(void)
{
    char ids[MAX_CPUS * 4 + 8];
    int n = 0;
    for (uint32_t c = 0; c < ncpu; c++) {
        uint32_t id = apic_of[c];
        char tmp[12];
        int k = 0;
        do
            tmp[k++] = (char)('0' + id % 10);
        while ((id /= 10) && k < 11);
        if (c)
            ids[n++] = ' ';
        while (k)
            ids[n++] = tmp[--k];
    }
    ids[n] = 0;
    uint32_t found = madt_ok ? madt.ncpus : 1;
    kprintf("smp: %u of %u CPUs started (APIC ids %s) in %lu.%03lu ms\n", ncpu, found, ids,
            bringup_ns / 1000000, bringup_ns / 1000 % 1000);
}

/* Step 1: the processors the MADT lists (madt, madt_ok). */
static void read_madt(void)
{
    madt_ok = acpi_find_cpus(boot_info->rsdp_phys, &madt) == 0;
    if (madt_ok && madt.ncpus == 0) {
        kprintf("acpi: the MADT lists no usable processor\n");
        madt_ok = 0;
    }
}

/* Step 2a: the BSP's LAPIC on, the BSP is cpu 0, the work and spurious
 * handlers installed, NMIs handled from now on.  Returns its APIC id. */
static uint32_t bsp_lapic_on(void)
{
    lapic_phys = madt_ok && madt.lapic_phys ? madt.lapic_phys : (rdmsr(0x1B) & 0xFFFFFF000ull);
    lapic_setup(lapic_phys);
    lapic_enable();
    uint32_t bsp_apic = lapic_id();
    percpu_area[0].apic_id = bsp_apic;
    percpu_area[0].started = 1;
    apic_of[0] = bsp_apic;
    trap_set_handler(IPI_WORK_VECTOR, work_ipi);
    trap_set_handler(LAPIC_SPURIOUS_VECTOR, spurious_irq);
    nmi_ready = 1;
    return bsp_apic;
}

/* Step 2b: the BSP's entries of the MADT list are not started. */
static void mark_bsp(uint32_t bsp_apic)
{
    int bsp_listed = 0;
    for (uint32_t i = 0; i < madt.ncpus; i++)
        if (madt.apic_ids[i] == bsp_apic) {
            bsp_listed = 1;
            found_state[i] = FOUND_BSP;
        }
    if (!bsp_listed)
        kprintf("smp: warning: the boot CPU (APIC id %u) is not in the MADT\n", bsp_apic);
}

/* Step 2c: the trampoline copied to page tramp_pa (below 1 MiB) and
 * patched with its own addresses and the BSP's CR0/CR3/CR4/EFER. */
static char *trampoline_install(uint64_t tramp_pa, uint64_t cr3)
{
    uint64_t size = (uint64_t)(trampoline_end - trampoline_start);
    char *blob = phys_to_virt(tramp_pa);
    for (uint64_t i = 0; i < size; i++)
        blob[i] = trampoline_start[i];
    uint32_t p = (uint32_t)tramp_pa;
    *(uint32_t *)(blob + (tramp_gdtr - trampoline_start) + 2) = p + (uint32_t)(tramp_gdt - trampoline_start);
    patch32(blob, tramp_pm_ptr, p + (uint32_t)(tramp_pm32 - trampoline_start));
    patch32(blob, tramp_lm_ptr, p + (uint32_t)(tramp_lm64 - trampoline_start));
    patch32(blob, tramp_cr0, (uint32_t)read_cr0());
    patch32(blob, tramp_cr3, (uint32_t)cr3);
    patch32(blob, tramp_cr4, (uint32_t)(read_cr4() & ~((1ull << 17) | (1ull << 23)))); /* no PCIDE, CET */
    patch32(blob, tramp_efer, (uint32_t)(rdmsr(0xC0000080) & ((1u << 0) | (1u << 8) | (1u << 11))) | (1u << 8));
    patch64(blob, tramp_entry, (uint64_t)smp_ap_entry);
    return blob;
}

/* Step 2c: a trampoline page, or 0 (said why) when the APs cannot be
 * started: the page tables are out of its reach, or no low page is free. */
static char *trampoline_setup(uint64_t *tramp_pa)
{
    uint64_t cr3 = read_cr3() & PTE_ADDR;
    uint64_t size = (uint64_t)(trampoline_end - trampoline_start);
    if (cr3 >= (1ull << 32))
        kprintf("smp: page tables at 0x%lx are above 4 GiB; the trampoline cannot load them: "
                "running on the boot CPU only\n", cr3);
    else if (size > 4096 || !(*tramp_pa = frame_alloc_low()))
        kprintf("smp: no free page below 1 MiB for the AP trampoline; running on the boot CPU only\n");
    else
        return trampoline_install(*tramp_pa, cr3);
    return 0;
}

/* Step 3a: INIT every AP at once and wait the 10 ms once, not per CPU. */
static void init_all_aps(void)
{
    for (uint32_t i = 0; i < madt.ncpus; i++)
        if (found_state[i] != FOUND_BSP && (lapic_x2apic_mode() || madt.apic_ids[i] <= 254))
            lapic_send_init(madt.apic_ids[i]);
    delay_us(INIT_DELAY_US);
}

/* Step 3b: start the AP of MADT entry i as cpu `ncpu`; found_state[i] says
 * how it went, a CPU left out is reported and its dense id stays free. */
static void start_listed(uint32_t i, uint64_t tramp_pa, char *blob)
{
    uint32_t id = madt.apic_ids[i];
    if (found_state[i] == FOUND_BSP)
        return;
    if (!lapic_x2apic_mode() && id > 254) {
        found_state[i] = FOUND_BAD_ID;
        kprintf("smp: cpu with APIC id %u cannot be reached in xAPIC mode; continuing without it\n", id);
        return;
    }
    if (map_stacks(ncpu)) {
        found_state[i] = FOUND_NO_MEMORY;
        kprintf("smp: no memory for the stacks of the cpu with APIC id %u; continuing without it\n", id);
        return;
    }
    if (start_ap(id, ncpu, tramp_pa, blob)) {
        found_state[i] = FOUND_NO_ANSWER;
        kprintf("smp: cpu with APIC id %u did not start; continuing without it\n", id);
        return;
    }
    found_state[i] = FOUND_STARTED;
    apic_of[ncpu] = percpu_area[ncpu].apic_id;
    ncpu++;
}

/* Step 3: with the identity map of low memory back (the trampoline runs
 * there), INIT all, then start the APs one at a time. */
static void start_aps(uint64_t tramp_pa, char *blob)
{
    paging_identity_low(1);
    init_all_aps();
    for (uint32_t i = 0; i < madt.ncpus; i++)
        start_listed(i, tramp_pa, blob);
}

/* Step 5: the identity map dropped again and flushed from every CPU's TLB;
 * from now on kernel_ncpu counts the APs. */
static void finish_aps(void)
{
    paging_identity_low(0);
    kernel_ncpu = ncpu;
    /* the APs walked the identity map: drop what their TLBs kept of it */
    smp_run_on_all(flush_tlb_work, 0);
    /* The trampoline page stays allocated: a CPU left out was sent
     * INIT, but keeping the page costs 4 KiB and rules out surprises. */
}

/* Step 5 (every path): the bring-up time and the "smp: N of M" line. */
static void report(uint64_t t0)
{
    bringup_ns = nanotime() - t0;
    print_result();
}

void smp_init(void)
{
    uint64_t t0 = nanotime();
    read_madt();
    uint32_t bsp_apic = bsp_lapic_on();
    if (!madt_ok) {
        kprintf("smp: no processor list from ACPI; running on the boot CPU only\n");
        report(t0);
        return;
    }
    if (madt.dropped)
        kprintf("smp: %u processor(s) beyond MAX_CPUS=%u ignored\n", madt.dropped, MAX_CPUS);
    mark_bsp(bsp_apic);
    uint64_t tramp_pa = 0;
    char *blob = madt.ncpus > 1 ? trampoline_setup(&tramp_pa) : 0;
    if (blob) {
        start_aps(tramp_pa, blob);
        finish_aps();
    }
    kernel_ncpu = ncpu;
    report(t0);
}

uint32_t smp_ncpu(void) { return ncpu; }
uint32_t smp_cpus_found(void) { return madt_ok ? madt.ncpus : 1; }
uint32_t smp_apic_id(uint32_t cpu) { return cpu < ncpu ? apic_of[cpu] : ~0u; }

/* ----------------------------------------------------------------- shell */

static void panic_here(void *arg)
{
    (void)arg;
    panic("requested by `cpus panic` (cpu %u, APIC id %u)", this_cpu()->cpu_id, this_cpu()->apic_id);
}

static void cmd_cpus(int argc, char **argv)
{
    if (argc == 3 && !__builtin_strcmp(argv[1], "panic")) { /* test: panic on CPU N */
        uint32_t c = 0;
        for (const char *p = argv[2]; *p >= '0' && *p <= '9'; p++)
            c = c * 10 + (uint32_t)(*p - '0');
        if (c >= ncpu) {
            kprintf("cpus: no cpu %u\n", c);
            return;
        }
        smp_run_on(c, panic_here, 0);
        return;
    }
    kprintf("cpus: %u found (MADT%s), %u started; local APIC at 0x%lx (%s)\n", smp_cpus_found(),
            madt_ok ? "" : " unavailable", ncpu, lapic_phys, lapic_x2apic_mode() ? "x2APIC" : "xAPIC");
    if (madt_ok && (madt.disabled || madt.dropped))
        kprintf("cpus: MADT also lists %u disabled processor(s); %u beyond MAX_CPUS\n", madt.disabled,
                madt.dropped);
    kprintf("  cpu apic  start-us  work-ipis  work-run    nmis  nmis-idle  tlb-sent  tlb-served\n");
    for (uint32_t c = 0; c < ncpu; c++) {
        const struct cpu_counters *k = &counters[c];
        kprintf("  %3u %4u  %8lu  %9lu  %8lu  %6lu  %9lu  %8lu  %10lu%s\n", c, apic_of[c],
                k->start_ns / 1000, k->ipis, k->work, k->nmis, k->nmis_idle, k->sd_sent, k->sd_served,
                c == 0 ? "  (boot CPU)" : "");
    }
    static const char *const why[] = {"", "", "", "did not answer INIT-SIPI-SIPI",
                                      "no memory for its stacks", "APIC id not reachable in xAPIC mode"};
    for (uint32_t i = 0; madt_ok && i < madt.ncpus; i++)
        if (found_state[i] >= FOUND_NO_ANSWER)
            kprintf("    - apic %u  not started: %s\n", madt.apic_ids[i], why[found_state[i]]);
}
SHELL_CMD("cpus", "CPUs found and started, APIC ids, per-CPU SMP counters (cpus panic N: panic on cpu N)",
          cmd_cpus);

/* The `cpus` report, for the command-line word of the same name. */
void smp_print_cpus(void)
{
    char name[] = "cpus";
    char *argv[] = {name, 0};
    cmd_cpus(1, argv);
}
