/*
 * gcstw.c — the kernel's side of the garbage collector (alloc/platform.h's
 * plat_gc_* hooks): stopping the world on every CPU, parallel marking on
 * the stopped CPUs, and the roots only the kernel knows (GC.md C4, C5).
 *
 * SAFEPOINTS — the only places a CPU stops (it holds no lock there, and
 * its registers are spilled onto its stack by gc_spill_call):
 *   (a) the top of every scheduler round (sched_loop), (b) the APs' idle
 *   loop, (c) every wait loop that runs posted work (smp_poll), (d) a task
 *   at its next split-stack prologue: the stop request poisons the CPU's
 *   stack guard (%fs:0x70 = ~0), the prologue calls __morestack, which
 *   sees the request and switches to the scheduler with REASON_PREEMPT
 *   (Go's pre-1.14 cooperative preemption, stackguard0 = stackPreempt);
 *   code that is not a task but is split-stack compiled stops right there
 *   in __morestack; (e) mallocgc (gc_safepoint).  A task never stops on its
 *   own stack (2 KiB, 1 KiB of which for unchecked code): at (c) and (e) it
 *   goes back to the scheduler instead (task_preempt_self), which stops at
 *   (a).  A CPU holding a lock does not stop: it reaches another safepoint
 *   once it has released it.
 *
 * STOP (plat_gc_stop_world, on the collecting CPU, which holds no lock):
 *   1. stop_epoch++; for every other CPU: poison its guard (task.c) and
 *      send the work IPI (wakes a halted CPU).
 *   2. Wait until every other CPU is in gc_park; after gcstw.deadline_ns
 *      (2 s) ask each straggler (NMI) to print where it is, then panic
 *      naming it (a test may ask to keep waiting instead: gcstw.h).
 * PARK (gc_park, on a stopped CPU, interrupts off): record the stack
 *   pointer and the stack's top; nstopped++; then serve: run the parallel
 *   function when a new one is posted (par_epoch), until release_epoch
 *   reaches this stop; restore the stack guard (task.c); leave.
 * START (plat_gc_start_world, collecting CPU): release_epoch = stop_epoch
 *   (alloc/mgc.c has already prepared every CPU's mcache for the sweep).
 * ROOTS (plat_gc_roots, world stopped): the kernel's data and bss without
 *   the two stacks that live there (boot_stack, the BSP's IST stacks); every
 *   live task's stack from where it switched out (every segment, task.c /
 *   stackgrow.c) — but, at a concurrent mark's termination, not those its
 *   concurrent stack scan already covered (plat_gc_scan_stacks, under
 *   task.c's stack claim); every CPU's own stack from where it stopped (the
 *   collecting CPU: from its current frame, registers spilled) to its top.
 *
 * SHARED STATE: stop_epoch, release_epoch, par_* are written by the
 * collecting CPU only (one cycle at a time: alloc/mgc.c's gc_running) and
 * read by parked CPUs; nstopped/par_done are atomic counters.  The release
 * store of par_epoch pairs with the parked CPUs' acquire load before they
 * read par_fn/par_arg; their increment of par_done (release) pairs with the
 * collector's acquire wait.  The release store of release_epoch publishes
 * everything the collector wrote while the world was stopped (the marks,
 * every CPU's mcache prepared for the sweep) to the CPUs that leave
 * gc_park after their acquire load of it.  The guard poison and the stop
 * flag form a Dekker pair with the scheduler (task.c, set_guard_checked).
 */
#include "../alloc/mgc.h"
#include "../alloc/platform.h"
#include "cpu.h"
#include "fmt.h"
#include "kernel.h"
#include "lapic.h"
#include "paging.h"
#include "percpu.h"
#include "smp.h"
#include "task.h"
#include "trap.h"

#include "gcstw.h"

struct gcstw_knobs gcstw = {.deadline_ns = 2000000000ul, .panic = 1};

extern char __data_start[], __data_end[], __bss_start[], __bss_end[];
extern char boot_stack[], boot_stack_top[];
extern uint8_t bsp_ist_stacks[];
extern const uint64_t bsp_ist_stacks_size;

/* rsp of the calling frame after pushing rbx, rbp, r12-r15: fn(sp, arg). */
void gc_spill_call(void (*fn)(uint64_t sp, void *arg), void *arg);

static struct gc_cpu {
    volatile uint32_t stopped;  /* in gc_park */
    uint64_t sp;                /* where its stack's scan starts */
    uint64_t top;               /* its stack's top (0: a task's stack, scanned as the task) */
    volatile uint32_t report;   /* NMI: print where you are */
} gcc[MAX_CPUS] __attribute__((aligned(64)));

static volatile uint32_t stop_epoch, release_epoch, nstopped;
static volatile uint32_t par_epoch, par_done;
static void (*volatile par_fn)(void *);
static void *volatile par_arg;
static uint32_t collector = ~0u; /* the CPU running the cycle */

bool plat_gc_supported(void) { return true; }

/* Mark assists: a task's own account; code that is not a task (the shell,
 * the self-test runner, an AP's work item) shares its CPU's. */
static struct gc_assist cpu_assist[MAX_CPUS];

struct gc_assist *plat_gc_assist(void)
{
    struct task *t = task_current();
    return t ? &t->gc_assist : &cpu_assist[this_cpu()->cpu_id];
}

void plat_gc_assist_park(void)
{
    if (task_current())
        task_yield(); /* another task may run meanwhile */
    /* then a pause: under emulation a vCPU that polls at full speed takes
     * host time from the marker's */
    for (int i = 0; i < 256; i++)
        cpu_relax();
}
uint32_t plat_locks_held(void) { return this_cpu()->locks.n; }
void plat_cpu_relax(void) { cpu_relax(); }

bool plat_mapped(uintptr_t lo, uintptr_t hi)
{
    for (uintptr_t p = lo & ~0xFFFull; p < hi; p += 4096)
        if (virt_to_phys(p) == ~0ull)
            return false;
    return true;
}

/* The top of the CPU stack that holds sp, or 0 (a task's stack). */
static uint64_t cpu_stack_top(uint32_t cpu, uint64_t sp)
{
    if (sp >= (uint64_t)boot_stack && sp <= (uint64_t)boot_stack_top)
        return (uint64_t)boot_stack_top;
    uint64_t top = smp_kstack_top(cpu);
    if (top && sp < top && sp >= top - SMP_KSTACK_BYTES)
        return top;
    return 0;
}

/* ------------------------------------------------------------ parking */

static void park_inner(uint64_t sp, void *arg)
{
    (void)arg;
    uint32_t me = this_cpu()->cpu_id;
    if (this_cpu()->locks.n)
        panic("gc: cpu %u reached a safepoint holding %u lock(s) (%s first)", me,
              this_cpu()->locks.n, lockrank_name(this_cpu()->locks.e[0].rank));
    uint32_t epoch = stop_epoch, seen = par_epoch;
    gcc[me].sp = sp;
    gcc[me].top = cpu_stack_top(me, sp);
    if (!gcc[me].top)
        panic("gc: cpu %u parked on a stack that is not its own (sp 0x%lx)", me, sp);
    __atomic_store_n(&gcc[me].stopped, 1, __ATOMIC_RELEASE);
    __atomic_add_fetch(&nstopped, 1, __ATOMIC_ACQ_REL);
    while (__atomic_load_n(&release_epoch, __ATOMIC_ACQUIRE) != epoch) {
        if (__atomic_load_n(&par_epoch, __ATOMIC_ACQUIRE) != seen) {
            seen = par_epoch;
            par_fn(par_arg);
            __atomic_add_fetch(&par_done, 1, __ATOMIC_RELEASE);
        }
        cpu_relax();
    }
    __atomic_store_n(&gcc[me].stopped, 0, __ATOMIC_RELEASE);
    task_restore_guard(me);
}

/* A safepoint saw a stop request (alloc/mgc.c's gc_safepoint, the
 * scheduler, the idle loops, smp_poll): stop here unless this CPU is the
 * one collecting, or the request is already over. */
void plat_gc_poll(void)
{
    uint32_t me = this_cpu()->cpu_id;
    if (me == collector || !__atomic_load_n(&gc_stop_pending, __ATOMIC_ACQUIRE) ||
        __atomic_load_n(&release_epoch, __ATOMIC_ACQUIRE) == stop_epoch || this_cpu()->locks.n)
        return;
    if (task_current()) {
        /* not on a task's small stack (a parked CPU runs a marker, which
         * needs more than the task's 1 KiB of slack): the task goes back
         * to the scheduler, which stops at the top of its loop */
        task_preempt_self();
        return;
    }
    uint64_t f = irq_save();
    gc_spill_call(park_inner, 0);
    irq_restore(f);
}

/* ------------------------------------------------------------ the collector's side */

_Static_assert(MAX_CPUS <= 64, "gcstw.cpu_rip has 64 slots");

/* NMI (smp.c): a straggler asked to say where it is. */
int gc_nmi(struct trap_frame *f)
{
    uint32_t me = this_cpu()->cpu_id;
    if (!__atomic_exchange_n(&gcc[me].report, 0, __ATOMIC_ACQ_REL))
        return 0;
    struct task *t = task_current();
    kprintf("gc: cpu %u not at a safepoint: rip=0x%lx rsp=0x%lx task=%s\n", me, f->rip, f->rsp,
            t ? t->name : "(none, cpu stack)");
    gcstw.last_cpu = me;
    gcstw.last_rip = f->rip;
    gcstw.cpu_rip[me] = f->rip;
    __atomic_add_fetch(&gcstw.reports, 1, __ATOMIC_RELEASE);
    return 1;
}

static void report_stragglers(void)
{
    for (uint32_t c = 0; c < smp_ncpu(); c++)
        if (c != collector && !__atomic_load_n(&gcc[c].stopped, __ATOMIC_ACQUIRE)) {
            __atomic_store_n(&gcc[c].report, 1, __ATOMIC_RELEASE);
            lapic_send_nmi(smp_apic_id(c));
        }
    uint64_t t = nanotime();
    while (nanotime() - t < 100000000ull) /* let them print */
        cpu_relax();
    for (uint32_t c = 0; c < smp_ncpu(); c++)
        if (c != collector && !__atomic_load_n(&gcc[c].stopped, __ATOMIC_ACQUIRE)) {
            if (gcstw.panic)
                panic("gc: stop the world: cpu %u did not reach a safepoint within %lu ms", c,
                      gcstw.deadline_ns / 1000000);
            kprintf("gc: stop the world: cpu %u did not reach a safepoint within %lu ms; "
                    "waiting (test mode)\n", c, gcstw.deadline_ns / 1000000);
        }
}

uint64_t plat_gc_stop_world(void)
{
    uint64_t t0 = nanotime();
    collector = this_cpu()->cpu_id;
    uint32_t n = smp_ncpu();
    __atomic_store_n(&nstopped, 0, __ATOMIC_RELAXED);
    __atomic_add_fetch(&stop_epoch, 1, __ATOMIC_SEQ_CST);
    for (uint32_t c = 0; c < n; c++)
        if (c != collector) {
            task_preempt_cpu(c);
            lapic_send_fixed(smp_apic_id(c), SMP_IPI_WORK_VECTOR);
        }
    int reported = 0;
    while (__atomic_load_n(&nstopped, __ATOMIC_ACQUIRE) != n - 1) {
        if (!reported && nanotime() - t0 > gcstw.deadline_ns) {
            report_stragglers(); /* panics unless a test asked to wait on */
            reported = 1;
        }
        cpu_relax();
    }
    return nanotime() - t0;
}

uint32_t plat_gc_parallel(void (*fn)(void *), void *arg)
{
    uint32_t others = __atomic_load_n(&nstopped, __ATOMIC_ACQUIRE);
    par_fn = fn;
    par_arg = arg;
    __atomic_store_n(&par_done, 0, __ATOMIC_RELAXED);
    __atomic_add_fetch(&par_epoch, 1, __ATOMIC_RELEASE);
    fn(arg);
    while (__atomic_load_n(&par_done, __ATOMIC_ACQUIRE) != others)
        cpu_relax();
    return others + 1;
}

void plat_gc_start_world(void)
{
    collector = ~0u;
    __atomic_store_n(&release_epoch, stop_epoch, __ATOMIC_RELEASE);
}

/* ------------------------------------------------------------ the ragged barrier */

/* Go's forEachP (plat_gc_ragged).  The requester writes fn, then `active`
 * = a new epoch (seq_cst), pokes every other CPU (guard poisoned: a
 * running task's next prologue goes to the scheduler; the work IPI wakes a
 * halted one) and waits for each seen[c] == epoch; each CPU, at its
 * scheduler's safepoint or in its idle loop (gcstw_ragged_poll), reads
 * active (acquire), runs fn, and stores its seen[] (release).  Withdrawn
 * (active = 0) when all have answered or at the timeout; a CPU that read
 * the epoch before that finishes fn before it can next stop (it is not at
 * a safepoint meanwhile).  One request at a time: the cycle's main
 * worker's. */
static struct {
    void (*fn)(void);
    uint32_t epoch;           /* the requester's counter */
    uint32_t active;          /* the epoch being served, 0: none */
    uint32_t seen[MAX_CPUS];  /* each CPU's last epoch served */
} ragged;

bool gcstw_ragged_wanted(uint32_t cpu)
{
    uint32_t e = __atomic_load_n(&ragged.active, __ATOMIC_RELAXED);
    return e && __atomic_load_n(&ragged.seen[cpu], __ATOMIC_RELAXED) != e;
}

void gcstw_ragged_poll(void)
{
    uint32_t me = this_cpu()->cpu_id;
    uint32_t e = __atomic_load_n(&ragged.active, __ATOMIC_ACQUIRE);
    if (!e || __atomic_load_n(&ragged.seen[me], __ATOMIC_RELAXED) == e)
        return;
    ragged.fn();
    __atomic_store_n(&ragged.seen[me], e, __ATOMIC_RELEASE);
}

static uint32_t ragged_answered(uint32_t e)
{
    uint32_t n = 0;
    for (uint32_t c = 0; c < smp_ncpu(); c++)
        n += __atomic_load_n(&ragged.seen[c], __ATOMIC_ACQUIRE) == e;
    return n;
}

uint32_t plat_gc_ragged(void (*fn)(void), uint64_t timeout_ns)
{
    uint32_t me = this_cpu()->cpu_id, n = smp_ncpu() ? smp_ncpu() : 1;
    ragged.fn = fn;
    uint32_t e = ++ragged.epoch ? ragged.epoch : ++ragged.epoch; /* never 0 */
    __atomic_store_n(&ragged.active, e, __ATOMIC_SEQ_CST);
    gcstw_ragged_poll(); /* this CPU's own part */
    for (uint32_t c = 0; c < n; c++)
        if (c != me) {
            task_preempt_cpu(c);
            lapic_send_fixed(smp_apic_id(c), SMP_IPI_WORK_VECTOR);
        }
    uint64_t t0 = nanotime();
    uint32_t done;
    while ((done = ragged_answered(e)) < n && nanotime() - t0 < timeout_ns)
        cpu_relax();
    __atomic_store_n(&ragged.active, 0, __ATOMIC_SEQ_CST);
    return ragged_answered(e);
}

void plat_gc_describe_word(uintptr_t addr, char *buf, size_t n)
{
    task_describe_stack_word(addr, buf, n);
}

/* ------------------------------------------------------------ running a cycle */

struct run_args {
    void (*fn)(void *);
    void *arg;
};

static void run_spilled(uint64_t sp, void *p)
{
    struct run_args *a = p;
    uint32_t me = this_cpu()->cpu_id;
    gcc[me].sp = sp;
    gcc[me].top = cpu_stack_top(me, sp);
    a->fn(a->arg);
}

static void run_on_cpu_stack(void *p) { gc_spill_call(run_spilled, p); }

/* A concurrent mark's main worker, posted by the cycle's first half on
 * this CPU (plat_gc_worker) and stepped once that half has returned: by
 * plat_gc_run itself when the cycle started outside a task (steps back to
 * back), else by this CPU's scheduler (task.c) before each choice of a
 * task and whenever it has none, until a step ends the cycle.  Written
 * and read by this CPU only. */
static struct worker {
    bool (*fn)(void *, bool);
    void *arg;
    bool idle, done; /* this step's argument and result */
} worker[MAX_CPUS];

void plat_gc_worker(bool (*fn)(void *, bool), void *arg)
{
    worker[this_cpu()->cpu_id] = (struct worker){.fn = fn, .arg = arg};
}

static void worker_step(void *p)
{
    struct worker *w = p;
    w->done = w->fn(w->arg, w->idle);
}

bool gcstw_run_worker(bool idle)
{
    struct worker *w = &worker[this_cpu()->cpu_id];
    if (!w->fn)
        return false;
    w->idle = idle;
    struct run_args a = {worker_step, w};
    run_on_cpu_stack(&a); /* the CPU's stack: a root from this frame up */
    if (w->done)
        w->fn = 0;
    return true;
}

bool gcstw_worker_pending(void) { return worker[this_cpu()->cpu_id].fn != 0; }

void plat_gc_run(void (*fn)(void *), void *arg)
{
    struct run_args a = {fn, arg};
    if (task_current()) {
        task_run_on_scheduler(run_on_cpu_stack, &a); /* parked; requeued for a worker */
    } else {
        run_on_cpu_stack(&a);
        while (gcstw_worker_pending())
            gcstw_run_worker(true);
    }
}

/* ------------------------------------------------------------ roots */

static void globals(plat_gc_root_fn fn, void *ctx)
{
    fn(ctx, (uintptr_t)__data_start, (uintptr_t)__data_end, GC_ROOT_GLOBALS);
    /* bss minus boot_stack and the BSP's IST stacks (stacks, not data) */
    uintptr_t lo = (uintptr_t)__bss_start, hi = (uintptr_t)__bss_end;
    struct { uintptr_t lo, hi; } holes[2] = {
        {(uintptr_t)boot_stack, (uintptr_t)boot_stack_top},
        {(uintptr_t)bsp_ist_stacks, (uintptr_t)bsp_ist_stacks + bsp_ist_stacks_size}};
    if (holes[0].lo > holes[1].lo) {
        __typeof__(holes[0]) t = holes[0];
        holes[0] = holes[1];
        holes[1] = t;
    }
    for (int i = 0; i < 2; i++) {
        if (holes[i].lo > lo)
            fn(ctx, lo, holes[i].lo, GC_ROOT_GLOBALS);
        if (holes[i].hi > lo)
            lo = holes[i].hi;
    }
    if (hi > lo)
        fn(ctx, lo, hi, GC_ROOT_GLOBALS);
}

uint32_t plat_gc_scan_stacks(plat_gc_root_fn fn, void *ctx, uint32_t cycle)
{
    return task_gc_scan_stacks(fn, ctx, cycle);
}

void plat_gc_roots(plat_gc_root_fn fn, void *ctx)
{
    globals(fn, ctx);
    task_gc_roots(fn, ctx); /* every live task's stack, all segments */
    for (uint32_t c = 0; c < smp_ncpu(); c++) {
        if (gcc[c].top)
            fn(ctx, gcc[c].sp, gcc[c].top, GC_ROOT_CPUS);
        uint64_t g0 = task_g0_sp(c); /* stopped inside a task: its scheduler stack too */
        if (g0)
            fn(ctx, g0, cpu_stack_top(c, g0), GC_ROOT_CPUS);
    }
}
