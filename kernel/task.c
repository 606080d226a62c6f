/*
 * task.c — tasks ("goroutines") and the cooperative scheduler.
 *
 * Owns: the per-CPU run queues, the list of all tasks, each CPU's
 * scheduler context (g0: the stack sched_loop runs on, saved while a task
 * runs) and each CPU's split-stack control block (FS base; the running
 * task's guard at %fs:0x70).
 *
 * sched_run():
 *   1. run sched_loop on every CPU (smp_run_on_all), the caller included;
 *   2. sched_loop steps a concurrent mark's main worker if this CPU runs
 *      it (within its share of the CPU, Go's 25 % rule: mgcpacer.c) or a
 *      second worker's batch (gc_worker_mark_step); then pops its own
 *      queue, else steals from the longest other queue, else runs the
 *      main worker's step without a limit if it has one, else marks a
 *      batch for a concurrent mark (gc_idle_mark_step)
 *      or sweeps a batch of spans for the collector while any await their
 *      sweep (gc_bgsweep_step), then looks for work again, else
 *      halts until a wake IPI (never spins), and leaves when no task is
 *      alive;
 *   3. running a task = publish it as current, load its guard, switch to
 *      its stack; the task switches back with a reason: YIELD (requeue),
 *      EXIT (free its stack), MORESTACK / POPSEG (stackgrow.c grows or
 *      releases a segment on this g0 stack, then the task resumes at once),
 *      GC (a collector cycle it started runs on this g0 stack; a concurrent
 *      one leaves its main mark worker behind: the task is requeued, woken
 *      for another CPU to steal, and this CPU steps the worker at once and
 *      then at every round of step 2 until the cycle ends).
 * Spawned tasks are spread round-robin over the CPUs.
 *
 * Invariants: a RUNNABLE task is in exactly one run queue; a RUNNING task
 * is the current_task of exactly one CPU; live_tasks == tasks not DONE.
 * THE STACK CLAIM (task.h gc_busy, Go's _Gscan bit): a scheduler claims a
 * task from before its shrink check to after it is requeued or finished
 * (released before the DONE store: task_reap may free it at once), so
 * growth, copies, segment pops and shrinks happen under the claim; the
 * collector's concurrent stack scan (task_gc_scan_stacks) claims a task
 * that is not running, scans it and releases it — a scheduler that pops
 * it meanwhile waits for that one scan, and a running task is skipped
 * (scanned at mark termination instead).
 * Locking: each run queue has a spinlock (leaf); the all-tasks list has one
 * (leaf).  A task is switched to/from only by the CPU that popped it.
 */
#include "task.h"
#include "gcstw.h"
#include "../alloc/malloc.h"
#include "../alloc/mgc.h"
#include "cpu.h"
#include "fmt.h"
#include "kernel.h"
#include "lapic.h"
#include "percpu.h"
#include "shell.h"
#include "smp.h"
#include "spinlock.h"
#include "stackgrow.h"
#include "trap.h"

#include <stddef.h>

_Static_assert(offsetof(struct task, seg_return_rsp) == 8, "switch.S uses offset 8");
_Static_assert(offsetof(struct percpu, current_task) == 24, "switch.S uses %gs:24");

#define WAKE_VECTOR 0xF1
#define SHRINK_INTERVAL 4096 /* scheduling rounds between automatic shrink passes */
#define SYSMON_INTERVAL 64   /* scheduling rounds between forced-GC checks */

enum { REASON_YIELD = 1, REASON_EXIT, REASON_MORESTACK, REASON_POPSEG, REASON_PREEMPT,
       REASON_GC };

/* The stop-the-world's poison for a CPU's stack guard: every split-stack
 * prologue compares rsp (or rsp - frame) with it, unsigned, and so calls
 * __morestack at the next function entry (Go's stackPreempt). */
#define STACK_PREEMPT (~0ull)

struct runq {
    spinlock_t lock;
    struct task *head, *tail; /* FIFO */
    uint32_t n;
} __attribute__((aligned(64)));

/* FS base of each CPU: GCC's split-stack prologue reads the guard at 0x70. */
struct split_tcb {
    uint64_t words[16];
} __attribute__((aligned(64)));
_Static_assert(offsetof(struct split_tcb, words[14]) == 0x70, "guard at %fs:0x70");

static struct runq rq[MAX_CPUS];
static struct split_tcb tcb[MAX_CPUS];
static uint64_t g0_rsp[MAX_CPUS];
static volatile int64_t live_tasks;
static volatile uint64_t idle_mask;
static uint32_t next_cpu, next_id = 1;
static volatile uint64_t shrink_epoch, sched_rounds;

/* Every live task (not DONE), for `tasks` and the collector's stack scan:
 * a doubly linked list through task.all_next/all_prev, under all_lock. */
static spinlock_t all_lock = SPINLOCK_INIT(LOCKRANK_TASKS);
static struct task *all_head;

enum task_mode task_default_mode = TASK_STACK_CONTIGUOUS;

void switch_stack(uint64_t *save, uint64_t new_rsp);
void task_trampoline(void);

static void scan_if_wanted(struct task *t);

static uint32_t ncpu(void) { return smp_ncpu() ? smp_ncpu() : 1; }
static uint32_t my_cpu(void) { return this_cpu()->cpu_id; }
struct task *task_current(void) { return this_cpu()->current_task; }

static void set_guard(uint32_t cpu, uint64_t guard)
{
    __atomic_store_n(&tcb[cpu].words[14], guard, __ATOMIC_RELAXED);
}

/* The guard for running t (0: none), unless a stop is pending (or a ragged
 * barrier waits for this CPU: gcstw.c, the same pair).  Dekker with
 * plat_gc_stop_world (gcstw.c): it sets gc_stop_pending (seq_cst), then
 * poisons the guard (task_preempt_cpu); we store the guard, fence, then
 * read the flag — so either it sees our guard and overwrites it, or we see
 * the flag and poison it ourselves: a stop request is never lost. */
static void set_guard_checked(uint32_t cpu, uint64_t guard)
{
    set_guard(cpu, guard);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (__atomic_load_n(&gc_stop_pending, __ATOMIC_RELAXED) || gcstw_ragged_wanted(cpu))
        set_guard(cpu, STACK_PREEMPT);
}

void task_preempt_cpu(uint32_t cpu) { set_guard(cpu, STACK_PREEMPT); }

void task_restore_guard(uint32_t cpu)
{
    struct task *t = percpu_area[cpu].current_task;
    set_guard(cpu, t ? t->guard : 0);
}

static void wake_irq(struct trap_frame *f)
{
    (void)f;
    lapic_eoi();
}

/* FS base for the calling CPU, guard 0 (never triggers) outside tasks. */
static void tcb_install(void)
{
    uint32_t c = my_cpu();
    set_guard(c, 0);
    wrmsr(MSR_FS_BASE, (uint64_t)&tcb[c]);
}

void task_init(void)
{
    for (int c = 0; c < MAX_CPUS; c++)
        rq[c].lock.rank = LOCKRANK_RUNQ;
    trap_set_handler(WAKE_VECTOR, wake_irq);
    tcb_install();
}

/* ---------------------------------------------------------------- queues */

static void rq_push(uint32_t cpu, struct task *t)
{
    struct runq *q = &rq[cpu];
    t->next = 0;
    spin_lock(&q->lock);
    if (q->tail)
        q->tail->next = t;
    else
        q->head = t;
    q->tail = t;
    q->n++;
    spin_unlock(&q->lock);
}

static struct task *rq_pop(uint32_t cpu)
{
    struct runq *q = &rq[cpu];
    if (!__atomic_load_n(&q->n, __ATOMIC_RELAXED))
        return 0;
    spin_lock(&q->lock);
    struct task *t = q->head;
    if (t) {
        q->head = t->next;
        if (!q->head)
            q->tail = 0;
        q->n--;
    }
    spin_unlock(&q->lock);
    return t;
}

/* Take one task from the CPU with the longest queue. */
static struct task *steal(uint32_t self)
{
    uint32_t best = self, bestn = 0;
    for (uint32_t c = 0; c < ncpu(); c++) {
        uint32_t n = __atomic_load_n(&rq[c].n, __ATOMIC_RELAXED);
        if (c != self && n > bestn) {
            best = c;
            bestn = n;
        }
    }
    return bestn ? rq_pop(best) : 0;
}

static void wake_one_idle(uint32_t except)
{
    uint64_t m = __atomic_load_n(&idle_mask, __ATOMIC_ACQUIRE) & ~(1ull << except);
    if (m)
        lapic_send_fixed(smp_apic_id((uint32_t)__builtin_ctzll(m)), WAKE_VECTOR);
}

static void wake_all_idle(void)
{
    uint64_t m = __atomic_load_n(&idle_mask, __ATOMIC_ACQUIRE);
    for (uint32_t c = 0; c < ncpu(); c++)
        if ((m >> c) & 1)
            lapic_send_fixed(smp_apic_id(c), WAKE_VECTOR);
}

static void make_runnable(uint32_t cpu, struct task *t)
{
    t->state = TASK_RUNNABLE;
    rq_push(cpu, t);
    /* Pairs with the idle path (set idle bit, then re-check the queue):
     * without the fence the queue store and the idle_mask load could be
     * reordered and a wake-up lost. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (cpu != my_cpu() && ((idle_mask >> cpu) & 1))
        lapic_send_fixed(smp_apic_id(cpu), WAKE_VECTOR);
    else if (rq[cpu].n > 1)
        wake_one_idle(my_cpu()); /* spare work: let an idle CPU steal it */
}

/* ---------------------------------------------------------------- tasks */

static void list_add(struct task *t)
{
    spin_lock(&all_lock);
    t->all_prev = 0;
    t->all_next = all_head;
    if (all_head)
        all_head->all_prev = t;
    all_head = t;
    spin_unlock(&all_lock);
}

static void list_del(struct task *t)
{
    spin_lock(&all_lock);
    if (t->all_prev)
        t->all_prev->all_next = t->all_next;
    else
        all_head = t->all_next;
    if (t->all_next)
        t->all_next->all_prev = t->all_prev;
    t->all_next = t->all_prev = 0;
    spin_unlock(&all_lock);
}

struct task *task_spawn(const char *name, void (*fn)(void *), void *arg, enum task_mode mode)
{
    struct task *t = kcalloc(1, sizeof *t);
    if (!t)
        return 0;
    if (!stackgrow_alloc_initial(t)) {
        kfree(t);
        return 0;
    }
    t->id = __atomic_fetch_add(&next_id, 1, __ATOMIC_RELAXED);
    ksnprintf(t->name, sizeof t->name, "%s", name);
    t->mode = mode;
    t->fn = fn;
    t->arg = arg;
    /* Initial frame for switch_stack: six callee-saved registers, then the
     * return address task_trampoline, placed so that the trampoline starts
     * with rsp 16-byte aligned. */
    uint64_t *top = (uint64_t *)((t->stack_hi - 16) & ~15ull);
    uint64_t *sp = top - 7;
    sp[0] = 0;              /* r15 */
    sp[1] = 0;              /* r14 */
    sp[2] = (uint64_t)arg;  /* r13 */
    sp[3] = (uint64_t)fn;   /* r12 */
    sp[4] = 0;              /* rbx */
    sp[5] = 0;              /* rbp: ends backtraces */
    sp[6] = (uint64_t)task_trampoline;
    t->rsp = (uint64_t)sp;
    __atomic_fetch_add(&live_tasks, 1, __ATOMIC_SEQ_CST);
    list_add(t);
    uint32_t cpu = __atomic_fetch_add(&next_cpu, 1, __ATOMIC_RELAXED) % ncpu();
    t->cpu = cpu;
    make_runnable(cpu, t);
    return t;
}

/* From a task: save its context and run the scheduler's. */
static void to_scheduler(int reason)
{
    struct task *t = task_current();
    t->reason = reason;
    switch_stack(&t->rsp, g0_rsp[my_cpu()]);
}

void task_yield(void) { to_scheduler(REASON_YIELD); }

_Noreturn void task_exit(void)
{
    to_scheduler(REASON_EXIT);
    panic("task_exit: a finished task was resumed");
}

void task_wait(struct task *t)
{
    while (__atomic_load_n(&t->state, __ATOMIC_ACQUIRE) != TASK_DONE)
        task_yield();
}

void task_reap(struct task *t)
{
    if (t && t->state == TASK_DONE)
        kfree(t);
}

uint64_t task_stack_used(void)
{
    struct task *t = task_current();
    uint64_t rsp;
    __asm__ volatile("mov %%rsp, %0" : "=r"(rsp));
    return t ? t->stack_hi - rsp : 0;
}

/* Would the prologue of the function that called __morestack still call
 * it with the task's real guard?  (Frames of 256 bytes or more compare
 * rsp - frame; smaller ones rsp: both within the guard's slack.) */
static int needs_growth(const struct task *t)
{
    return t->req_sp - t->req_frame < t->guard;
}

/* __morestack while a stop is pending (the guard was poisoned): outside a
 * task, stop right here (split-stack code on a CPU stack); in a task, go to
 * the scheduler, which requeues it and stops at its safepoint.  Returns
 * whether the caller still has to grow. */
static int preempted(struct task *t)
{
    if (!t) {
        gc_safepoint();
        set_guard(my_cpu(), 0);
        return 0;
    }
    to_scheduler(REASON_PREEMPT);
    return needs_growth(t); /* resumed, with the real guard loaded */
}

/* Called from switch.S and stackgrow.c. */
uint64_t morestack_c(uint64_t *regs, uint64_t frame, uint64_t args)
{
    struct task *t = task_current();
    uint64_t entry_sp = (uint64_t)(regs + 13) + 8; /* the function's entry rsp */
    if (__atomic_load_n(&tcb[my_cpu()].words[14], __ATOMIC_RELAXED) == STACK_PREEMPT) {
        if (t) {
            t->req_frame = frame;
            t->req_args = args;
            t->req_sp = entry_sp;
        }
        if (!t || !needs_growth(t)) {
            if (!preempted(t)) {
                if (t)
                    t->req_sp = 0;
                return 0; /* run the body where it was: no growth needed */
            }
        }
    }
    if (!t)
        panic("__morestack outside a task (frame %lu bytes, rsp 0x%lx)", frame, (uint64_t)regs);
    t->req_frame = frame;
    t->req_args = args;
    t->req_sp = entry_sp;
    to_scheduler(REASON_MORESTACK);
    /* resumed (possibly on a moved stack); segmented: where the body runs */
    uint64_t r = t->req_sp;
    t->req_sp = 0;
    return t->mode == TASK_STACK_SEGMENTED ? r : 0;
}

void morestack_pop_c(void) { to_scheduler(REASON_POPSEG); }

/* ---------------------------------------------------------------- scheduler */

static bool stack_try_claim(struct task *t)
{
    uint32_t free = 0;
    return __atomic_compare_exchange_n(&t->gc_busy, &free, 1, false, __ATOMIC_ACQUIRE,
                                       __ATOMIC_RELAXED);
}

static void stack_claim(struct task *t)
{
    while (!stack_try_claim(t))
        cpu_relax(); /* the collector scans it: one stack */
}

static void stack_release(struct task *t) { __atomic_store_n(&t->gc_busy, 0, __ATOMIC_RELEASE); }

static void finish(struct task *t)
{
    stackgrow_release_all(t);
    list_del(t);
    stack_release(t); /* before DONE: the task may be freed right after */
    __atomic_store_n(&t->state, TASK_DONE, __ATOMIC_RELEASE);
    if (__atomic_sub_fetch(&live_tasks, 1, __ATOMIC_SEQ_CST) == 0)
        wake_all_idle();
}

/* Runs t until it yields or exits; growth requests are served here, on
 * the g0 stack, and the task resumes immediately. */
static void run(uint32_t cpu, struct task *t)
{
    for (;;) {
        t->state = TASK_RUNNING;
        t->cpu = cpu;
        this_cpu()->current_task = t;
        set_guard_checked(cpu, t->guard);
        switch_stack(&g0_rsp[cpu], t->rsp);
        this_cpu()->current_task = 0;
        set_guard(cpu, 0);
        switch (t->reason) {
        case REASON_YIELD:
        case REASON_PREEMPT: /* a stop is pending: requeue; the loop stops */
            stack_release(t);
            make_runnable(cpu, t);
            return;
        case REASON_GC: /* a cycle from the task: run it here, on g0 */
            t->gc_fn(t->gc_arg);
            if (gcstw_worker_pending()) {
                /* a concurrent mark: this CPU runs its main worker (all
                 * its time, or a share: sched_loop steps it), and the task
                 * goes on (Go's gcStart returns) */
                stack_release(t);
                make_runnable(cpu, t);
                wake_one_idle(cpu);
                gcstw_run_worker(false);
                return;
            }
            break;
        case REASON_EXIT:
            finish(t);
            return;
        case REASON_MORESTACK:
            if (!stackgrow_morestack(t)) {
                finish(t); /* killed: over the limit or out of memory */
                return;
            }
            break;
        case REASON_POPSEG:
            stackgrow_pop(t);
            break;
        default:
            panic("scheduler: task %u (%s) switched with reason %d", t->id, t->name, t->reason);
        }
    }
}

static void sched_loop(void *unused)
{
    (void)unused;
    tcb_install();
    uint32_t cpu = my_cpu();
    uint64_t seen_epoch = shrink_epoch;
    for (;;) {
        gc_safepoint(); /* safepoint (a): no task running, no lock held */
        gcstw_ragged_poll(); /* and the ragged barrier's */
        /* a concurrent mark's workers come before tasks: the main one on
         * the cycle's CPU (within its share), second ones elsewhere */
        gcstw_run_worker(false);
        if (gc_worker_mark_step(GC_IDLE_MARK_BUDGET))
            continue;
        struct task *t = rq_pop(cpu);
        if (!t)
            t = steal(cpu);
        if (t) {
            uint64_t round = __atomic_add_fetch(&sched_rounds, 1, __ATOMIC_RELAXED);
            if (round % SHRINK_INTERVAL == 0)
                task_request_shrink();
            if (round % SYSMON_INTERVAL == 0)
                gc_sysmon_tick(); /* Go's sysmon: the forced GC */
            stack_claim(t); /* released when run() requeues or finishes it */
            scan_if_wanted(t);
            if (seen_epoch != shrink_epoch || t->shrink_epoch != shrink_epoch) {
                seen_epoch = shrink_epoch;
                t->shrink_epoch = shrink_epoch;
                stackgrow_shrink(t);
            }
            run(cpu, t);
            continue;
        }
        if (gcstw_run_worker(true)) /* nothing to run: the main worker marks */
            continue;
        if (__atomic_load_n(&live_tasks, __ATOMIC_SEQ_CST) == 0)
            break;
        /* nothing to run: help a concurrent mark (Go's idle mark worker),
         * else the collector's background sweep, a batch at a time,
         * looking for work again between batches (Go's bgsweep) */
        if (gc_idle_mark_step(GC_IDLE_MARK_BUDGET) || gc_bgsweep_step(GC_BGSWEEP_BATCH))
            continue;
        /* idle: announce, re-check, then halt until a wake IPI */
        uint64_t f = irq_save();
        __atomic_or_fetch(&idle_mask, 1ull << cpu, __ATOMIC_SEQ_CST);
        if (!rq[cpu].n && live_tasks != 0 && !gc_stop_pending)
            __asm__ volatile("sti; hlt; cli" ::: "memory");
        __atomic_and_fetch(&idle_mask, ~(1ull << cpu), __ATOMIC_SEQ_CST);
        irq_restore(f);
        smp_poll();
    }
}

void sched_run(void)
{
    if (task_current())
        panic("sched_run called from inside task %u", task_current()->id);
    smp_run_on_all(sched_loop, 0);
}

void task_preempt_self(void) { to_scheduler(REASON_PREEMPT); }

void call_on_stack(void (*fn)(void *), void *arg, uint64_t sp);

/* alloc/'s slow paths from a task (platform_inline.h's plat_systemstack):
 * on the CPU's scheduler stack, below the frame the scheduler left when
 * it switched to the task (free space until the task switches back).  A
 * nested call stays where it is. */
void kernel_systemstack(void (*fn)(void *), void *arg)
{
    struct percpu *p = this_cpu();
    if (p->on_systack || !p->current_task) {
        fn(arg);
        return;
    }
    p->on_systack = 1;
    call_on_stack(fn, arg, (g0_rsp[p->cpu_id] - 256) & ~15ull);
    p->on_systack = 0;
}

void task_run_on_scheduler(void (*fn)(void *), void *arg)
{
    struct task *t = task_current();
    t->gc_fn = fn;
    t->gc_arg = arg;
    to_scheduler(REASON_GC);
}

void task_gc_roots(plat_gc_root_fn fn, void *ctx)
{
    /* the world is stopped: the list cannot change, and all_lock (a leaf)
     * must not be held while fn allocates root jobs */
    uint32_t skip = gc_stack_scan_cycle();
    for (struct task *t = all_head; t; t = t->all_next)
        if (!skip || t->gc_scanned != skip)
            stackgrow_gc_ranges(t, fn, ctx);
}

uint32_t task_gc_scan_stacks(plat_gc_root_fn fn, void *ctx, uint32_t cycle)
{
    uint32_t left = 0;
    spin_lock(&all_lock);
    for (struct task *t = all_head, *next; t; t = next) {
        if (t->gc_scanned == cycle || !stack_try_claim(t)) {
            if (t->gc_scanned != cycle) { /* running: its scheduler scans it when it
                                            switches, else mark termination does */
                left++;
                __atomic_store_n(&t->gc_want, cycle, __ATOMIC_RELEASE);
                task_preempt_cpu(t->cpu); /* a split-stack prologue switches soon */
            }
            next = t->all_next;
            continue;
        }
        /* claimed — but its scheduler may have scanned it (scan_if_wanted)
         * and let it run and switch again between the test above and the
         * claim: a second scan would see what it stored since, as the mark
         * never may (a negative control kept an object that way) */
        if (__atomic_load_n(&t->gc_scanned, __ATOMIC_RELAXED) == cycle) {
            next = t->all_next;
            stack_release(t);
            continue;
        }
        /* it cannot finish, so it stays in the list while fn runs without
         * the lock (fn may take the collector's locks) */
        spin_unlock(&all_lock);
        stackgrow_gc_ranges(t, fn, ctx);
        stackgrow_scrub_dead(t);
        t->gc_scanned = cycle;
        spin_lock(&all_lock);
        next = t->all_next;
        stack_release(t);
    }
    spin_unlock(&all_lock);
    return left;
}

/* plat_gc_describe_word (gcstw.c), the world stopped: the task whose
 * current stack holds addr, where the word lies from its saved rsp, and
 * whether the running mark scanned that stack while the world ran. */
void task_describe_stack_word(uintptr_t addr, char *buf, size_t n)
{
    buf[0] = 0;
    uint32_t cycle = gc_stack_scan_cycle();
    for (struct task *t = all_head; t; t = t->all_next)
        if (addr >= t->stack_lo && addr < t->stack_hi) {
            /* short: the report's line has 256 bytes in all.  Parked in
             * __morestack (req_sp set), the word may be one of the 13
             * registers its stub saved (switch.S: rax first, r15 last) */
            static const char *const reg[13] = {"r15", "r14", "r13", "r12", "rbx", "rbp", "r9",
                                                "r8",  "rcx", "rdx", "rsi", "rdi", "rax"};
            uint64_t regs = t->req_sp ? t->req_sp - 8 - 13 * 8 : 0;
            const char *in = regs && addr >= regs && addr < regs + 13 * 8 ? reg[(addr - regs) / 8]
                                                                          : 0;
            bool below = addr < t->rsp;
            ksnprintf(buf, n, "task %u (%s), rsp%c0x%lx%s%s, %s", t->id, t->name,
                      below ? '-' : '+', below ? t->rsp - addr : addr - t->rsp,
                      in ? " saved " : "", in ? in : "",
                      cycle && t->gc_scanned == cycle ? "scanned" : "not scanned");
            return;
        }
}

static void task_ranges(plat_gc_root_fn fn, void *ctx, void *t)
{
    stackgrow_gc_ranges(t, fn, ctx);
}

/* The scheduler holds t's claim, t not running: if the running mark asked
 * for its stack while it ran, scan it here (gc_scan_stack_for_mark). */
static void scan_if_wanted(struct task *t)
{
    uint32_t want = __atomic_load_n(&t->gc_want, __ATOMIC_ACQUIRE);
    if (!want)
        return;
    if (t->gc_scanned != want && gc_scan_stack_for_mark(want, task_ranges, t)) {
        stackgrow_scrub_dead(t);
        t->gc_scanned = want;
    }
    t->gc_want = 0;
}

uint64_t task_g0_sp(uint32_t cpu)
{
    return percpu_area[cpu].current_task ? g0_rsp[cpu] : 0;
}

uint64_t task_count_live(void)
{
    uint64_t n = 0;
    spin_lock(&all_lock);
    for (struct task *t = all_head; t; t = t->all_next)
        n++;
    spin_unlock(&all_lock);
    return n;
}

void task_request_shrink(void) { __atomic_add_fetch(&shrink_epoch, 1, __ATOMIC_RELAXED); }

/* ---------------------------------------------------------------- shell */

static void cmd_tasks(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    kprintf("  %-5s %-20s %-10s %-5s %10s %10s\n", "id", "name", "mode", "cpu", "stack", "used");
    int n = 0;
    spin_lock(&all_lock);
    for (struct task *t = all_head; t; t = t->all_next) {
        n++;
        uint64_t size = t->mode == TASK_STACK_SEGMENTED ? t->base_size + t->seg_bytes
                                                        : t->stack_hi - t->stack_lo;
        kprintf("  %-5u %-20s %-10s %-5u %10lu %10lu\n", t->id, t->name,
                t->mode == TASK_STACK_SEGMENTED ? "segmented" : "contiguous", t->cpu, size,
                t->stack_hi - t->rsp);
    }
    spin_unlock(&all_lock);
    kprintf("  %d live tasks\n", n);
}
SHELL_CMD("tasks", "list tasks with their stack size and use", cmd_tasks);
