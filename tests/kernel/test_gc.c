/*
 * test_gc.c — the collector's pacing, forced cycles, shell commands and
 * stop-the-world reporting in the kernel (GC.md T8, T9; the tests that
 * need growing task stacks are in test_gc_split.c).
 *
 * T8 paces real heap-triggered cycles for GOGC 50/100/200 against an
 * independent copy of Go's goal formula, cycle by cycle, exactly, and each
 * trigger against Go's bounds (concurrent: 0.7-0.95 of the way to the
 * goal; stop-the-world: the goal itself); GOGC off must run none.  T9 moves the pacer's clock (gc_test_advance_clock) and
 * plays sysmon by hand: the APs do not run sysmon while a test runs (only
 * schedulers and the idle loop do), so the counts are exact.
 */
#include "../../alloc/malloc.h"
#include "../../alloc/mgc.h"
#include "../../alloc/mbarrier.h"
#include "../../alloc/mheap.h"
#include "../../alloc/mstats.h"
#include "../../alloc/stack.h"
#include "../../alloc/sizeclass.h"
#include "cpu.h"
#include "gcstw.h"
#include "kernel.h"
#include "ktest.h"
#include "percpu.h"
#include "shell.h"
#include "smp.h"
#include "stackgrow.h"
#include "task.h"
#include "testutil.h"

/* Go's heap goal, written out again (not the pacer's function). */
static uint64_t go_goal(int32_t gogc, const struct gc_cycle_record *prev)
{
    uint64_t g = (uint64_t)gogc;
    uint64_t goal = prev->marked + (prev->marked + prev->stacks + prev->globals) * g / 100;
    uint64_t min = (4ull << 20) * g / 100;
    return goal > min ? goal : min;
}

/* Go's bounds on the trigger of a concurrent mark (mgcpacer.go trigger()),
 * written out again: 45/64 and 61/64 of the way from the marked heap to the
 * goal, the upper one no further than the heap minimum below a large goal. */
static bool go_trigger_ok(const struct gc_cycle_record *r, const struct gc_cycle_record *prev)
{
    if (!r->concurrent)
        return r->trigger_heap == r->goal; /* no runway needed */
    uint64_t way = r->goal - prev->marked;
    uint64_t lo = prev->marked + way / 64 * 45, hi = prev->marked + way / 64 * 61;
    if (r->goal > (4ull << 20) && r->goal - (4ull << 20) > hi)
        hi = r->goal - (4ull << 20);
    return r->trigger_heap >= lo && r->trigger_heap <= hi;
}

/* ------------------------------------------------------------ T8 */

#define T8_LIVE_OBJS 1024
#define T8_LIVE_SIZE 8192 /* 8 MiB live */
#define T8_GARBAGE 1024
#define T8_VOLUME (96ul << 20)

static void **t8_live; /* a root (bss) */

struct t8_result {
    uint32_t cycles, bad_goal, bad_next, bad_trigger, over;
    uint64_t worst_over;   /* max(heap0 - trigger) */
    uint64_t peak_ppm;     /* max heap1 / goal, parts per million */
    uint64_t first_goal;
    uint64_t trig_ppm;     /* the last cycle's trigger, in ppm of the way from marked to goal */
};

static void t8_check_cycle(int32_t gogc, uint32_t n, uint64_t slack, struct t8_result *res)
{
    struct gc_cycle_record prev, r;
    if (!gc_cycle_record(n - 1, &prev) || !gc_cycle_record(n, &r)) {
        res->bad_goal++;
        return;
    }
    if (!res->cycles)
        res->first_goal = r.goal;
    res->cycles++;
    if (r.trigger != GC_TRIGGER_HEAP || r.forced || r.gogc != gogc || !go_trigger_ok(&r, &prev)) {
        res->bad_trigger++;
        kprintf("# GOGC %d cycle %u: trigger %lu for goal %lu, marked before %lu (%s)\n", gogc, n,
                r.trigger_heap, r.goal, prev.marked, r.concurrent ? "concurrent" : "stw");
    }
    if (r.goal > prev.marked)
        res->trig_ppm = (r.trigger_heap - prev.marked) * 1000000 / (r.goal - prev.marked);
    if (r.goal != go_goal(gogc, &prev)) {
        res->bad_goal++;
        kprintf("# GOGC %d cycle %u: goal %lu, want %lu (previous marked %lu stacks %lu "
                "globals %lu)\n", gogc, n, r.goal, go_goal(gogc, &prev), prev.marked, prev.stacks,
                prev.globals);
    }
    if (r.next_goal != go_goal(gogc, &r))
        res->bad_next++;
    if (r.heap0 < r.trigger_heap || r.heap0 - r.trigger_heap >= slack) {
        res->over++;
        kprintf("# GOGC %d cycle %u: started at heap %lu, trigger %lu (slack %lu)\n", gogc, n,
                r.heap0, r.trigger_heap, slack);
    }
    if (r.heap0 > r.trigger_heap && r.heap0 - r.trigger_heap > res->worst_over)
        res->worst_over = r.heap0 - r.trigger_heap;
    uint64_t peak = r.heap1 > r.heap0 ? r.heap1 : r.heap0;
    uint64_t ppm = peak * 1000000 / r.goal;
    if (ppm > res->peak_ppm)
        res->peak_ppm = ppm;
}

/* Allocate T8_VOLUME of garbage at this GOGC; check every cycle it caused. */
static void t8_run(int32_t gogc, uint64_t slack, struct t8_result *res)
{
    __builtin_memset(res, 0, sizeof *res);
    gc_set_percent(gogc);
    gc_collect(); /* the first paced cycle's goal comes from this one */
    struct gc_stats a, b;
    gc_read_stats(&a);
    for (uint64_t done = 0; done < T8_VOLUME; done += T8_GARBAGE)
        mallocgc(T8_GARBAGE, 0, false);
    gc_read_stats(&b);
    for (uint32_t n = a.NumGC + 1; n <= b.NumGC; n++)
        t8_check_cycle(gogc, n, slack, res);
}

KTEST(gc_pacing_goal_per_cycle, KTEST_QUICK)
{
    int32_t old = gc_get_percent();
    static const uint8_t pmask[1] = {0x1};
    static const gotype ptr = {8, 8, pmask, "*byte"};
    t8_live = newarray(&ptr, T8_LIVE_OBJS); /* collected memory, rooted by the global */
    KREQUIRE(t8_live);
    for (int i = 0; i < T8_LIVE_OBJS; i++)
        GC_WB(t8_live[i], mallocgc(T8_LIVE_SIZE, 0, false));
    /* heap_live passes the goal by less than the span whose refill crossed
     * it (tested after each refill, as Go does): one span of the garbage
     * class, or of the live objects' class */
    uint64_t slack = class_to_allocnpages[size_to_class(T8_GARBAGE)] * PAGE_SIZE;
    uint64_t s2 = class_to_allocnpages[size_to_class(T8_LIVE_SIZE)] * PAGE_SIZE;
    slack = s2 > slack ? s2 : slack;
    static const int32_t gogcs[3] = {50, 100, 200};
    struct t8_result res[3];
    for (int k = 0; k < 3; k++) {
        t8_run(gogcs[k], slack, &res[k]);
        struct t8_result *r = &res[k];
        KCHECKF(r->cycles >= 2, "GOGC %d: %u cycles for %lu MiB", gogcs[k], r->cycles,
                T8_VOLUME >> 20);
        KCHECKF(!r->bad_goal && !r->bad_next && !r->bad_trigger && !r->over,
                "GOGC %d: of %u cycles %u had a wrong goal, %u a wrong next goal, %u a wrong "
                "trigger or GOGC, %u started outside [trigger, trigger + %lu)", gogcs[k],
                r->cycles, r->bad_goal, r->bad_next, r->bad_trigger, r->over, slack);
        KCHECKF(r->peak_ppm <= 1100000, "GOGC %d: peak heap %lu.%03lu x goal", gogcs[k],
                r->peak_ppm / 1000000, r->peak_ppm % 1000000 / 1000);
        kprintf("# GOGC %d: %u cycles per %lu MiB allocated, goal %lu KiB, trigger %lu.%03lu of "
                "the way, peak/goal %lu.%03lu, at most %lu B past the trigger\n", gogcs[k],
                r->cycles, T8_VOLUME >> 20, r->first_goal >> 10, r->trig_ppm / 1000000,
                r->trig_ppm % 1000000 / 1000, r->peak_ppm / 1000000,
                r->peak_ppm % 1000000 / 1000, r->worst_over);
    }
    /* the goal grows with GOGC, so the cycles thin out */
    KCHECKF(res[0].cycles > res[1].cycles && res[1].cycles > res[2].cycles,
            "cycles for GOGC 50/100/200: %u/%u/%u", res[0].cycles, res[1].cycles, res[2].cycles);
    /* GOGC off: no heap-triggered cycle at all, NextGC infinite */
    gc_set_percent(-1);
    struct gc_stats a, b;
    gc_read_stats(&a);
    for (uint64_t done = 0; done < T8_VOLUME / 2; done += T8_GARBAGE)
        mallocgc(T8_GARBAGE, 0, false);
    gc_read_stats(&b);
    KCHECKF(b.NumGC == a.NumGC && b.NextGC == ~0ull, "GOGC off: %u cycles, NextGC %lu",
            b.NumGC - a.NumGC, b.NextGC);
    gc_set_percent(old);
    t8_live = 0;
    KREQUIRE(gc_collect());
}

/* ------------------------------------------------------------ T9 */

static char out[4096];

static uint32_t numgc(void)
{
    struct gc_stats s;
    gc_read_stats(&s);
    return s.NumGC;
}

/* The forced GC, Go's rules, on the pacer's clock (the real-time version
 * is the gc-forced QEMU configuration). */
KTEST(gc_forced_after_2_minutes, KTEST_QUICK)
{
    int32_t old = gc_set_percent(100);
    int trace = gc_get_trace();
    gc_set_trace(1);
    KREQUIRE(gc_collect());
    uint32_t n0 = numgc();
    gc_test_advance_clock(119ull * 1000000000);
    gc_sysmon_tick();
    KCHECKF(numgc() == n0, "119 s after the last cycle: %u cycles ran", numgc() - n0);
    gc_test_advance_clock(2ull * 1000000000);
    kprintf_capture(out, sizeof out);
    gc_sysmon_tick();
    gc_sysmon_tick();
    kprintf_capture_end();
    KCHECKF(numgc() == n0 + 1, "121 s after the last cycle: %u cycles ran, want 1", numgc() - n0);
    struct gc_cycle_record r;
    KREQUIRE(gc_cycle_record(n0 + 1, &r));
    KCHECK(r.trigger == GC_TRIGGER_TIME && !r.forced);
    KCHECKF(testutil_starts_with(out, "GC forced\ngc ") && !testutil_contains(out, "(forced)") &&
                testutil_contains(out, " P\n"),
            "trace of a time-forced cycle: '%s'", out);
    /* GOGC off: no forced cycle either */
    gc_set_percent(-1);
    gc_test_advance_clock(121ull * 1000000000);
    gc_sysmon_tick();
    KCHECKF(numgc() == n0 + 1, "GOGC off: a forced cycle ran");
    gc_test_clock_back();
    gc_set_percent(old);
    gc_set_trace(trace);
}

/* The `gc` command is runtime.GC(): its trace line ends " (forced)" and
 * NumForcedGC counts it. */
KTEST(gc_command_is_runtime_gc, KTEST_QUICK)
{
    int trace = gc_get_trace();
    gc_set_trace(1);
    struct gc_stats a, b;
    gc_read_stats(&a);
    kprintf_capture(out, sizeof out);
    shell_exec("gc");
    kprintf_capture_end();
    gc_read_stats(&b);
    KCHECKF(b.NumGC == a.NumGC + 1 && b.NumForcedGC == a.NumForcedGC + 1,
            "gc: NumGC +%u, NumForcedGC +%u", b.NumGC - a.NumGC, b.NumForcedGC - a.NumForcedGC);
    KCHECKF(testutil_starts_with(out, "gc ") && testutil_contains(out, " P (forced)\ngc: cycle "),
            "output: '%s'", out);
    gc_set_trace(trace);
}

/* gogc: garbage, negative and absurd values are refused with a message and
 * the old value stays; good values take effect. */
KTEST(gc_gogc_command_bad_input, KTEST_QUICK)
{
    int32_t old = gc_get_percent();
    static const char *const bad[] = {"gogc abc", "gogc -5", "gogc 100001", "gogc 12x", "gogc 1 2"};
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kprintf_capture(out, sizeof out);
        shell_exec(bad[i]);
        kprintf_capture_end();
        KCHECKF(testutil_starts_with(out, "usage: gogc") && gc_get_percent() == old,
                "'%s': '%s', GOGC now %d", bad[i], out, gc_get_percent());
    }
    kprintf_capture(out, sizeof out);
    shell_exec("gogc 150");
    kprintf_capture_end();
    KCHECKF(gc_get_percent() == 150 && testutil_contains(out, "-> 150"), "gogc 150: '%s'", out);
    shell_exec("gogc off");
    KCHECK(gc_get_percent() == -1);
    gc_set_percent(old);
}

/* gcbench refuses what it does not know, and runs nothing. */
KTEST(gc_gcbench_command_bad_input, KTEST_QUICK)
{
    static const char *const bad[] = {"gcbench bogus", "gcbench trees 3", "gcbench trees 99",
                                      "gcbench trees x", "gcbench pause 16", "gcbench trees 16 1"};
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint32_t n = gc_num_cycles();
        kprintf_capture(out, sizeof out);
        shell_exec(bad[i]);
        kprintf_capture_end();
        KCHECKF(testutil_starts_with(out, "usage: gcbench") && !testutil_contains(out, "done") &&
                    gc_num_cycles() == n,
                "'%s': '%s' (%u cycles ran)", bad[i], out, gc_num_cycles() - n);
    }
}

/* ------------------------------------------------------------ stragglers */
/*
 * A CPU that does not reach a safepoint is reported by number with where
 * it was.  A task spins in a loop with no split-stack prologue and no
 * allocation (this file is not -fsplit-stack) for 800 ms while another
 * task collects with a 100 ms deadline and the panic turned off: the
 * spinning CPU must be NMI'd and report an rip inside the loop; the cycle
 * then completes once the spinner returns to its scheduler.
 */
static struct {
    volatile uint32_t spinning, spin_cpu, collected;
    uint64_t until;
} st9;

static __attribute__((noinline)) void straggler_spin(void *arg)
{
    (void)arg;
    st9.spin_cpu = this_cpu()->cpu_id;
    __atomic_store_n(&st9.spinning, 1, __ATOMIC_RELEASE);
    while (rdtsc() < st9.until)
        cpu_relax();
}

static void straggler_collect(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&st9.spinning, __ATOMIC_ACQUIRE))
        task_yield();
    st9.collected = gc_collect();
}

KTEST(gc_straggler_reported, KTEST_QUICK)
{
    if (smp_ncpu() < 2) {
        kprintf("# one CPU: no other CPU to wait for (skipped)\n");
        return;
    }
    __builtin_memset((void *)&st9, 0, sizeof st9);
    st9.until = rdtsc() + tsc_hz() * 8 / 10;
    uint64_t old_deadline = gcstw.deadline_ns;
    uint32_t reports = gcstw.reports;
    __builtin_memset((void *)gcstw.cpu_rip, 0, sizeof gcstw.cpu_rip);
    gcstw.deadline_ns = 100000000;
    gcstw.panic = 0;
    struct task *s = task_spawn("spinner", straggler_spin, 0, TASK_STACK_CONTIGUOUS);
    struct task *c = task_spawn("collector", straggler_collect, 0, TASK_STACK_CONTIGUOUS);
    KREQUIRE(s && c);
    sched_run();
    task_reap(s);
    task_reap(c);
    gcstw.panic = 1;
    gcstw.deadline_ns = old_deadline;
    uintptr_t at = gcstw.cpu_rip[st9.spin_cpu], fn = (uintptr_t)straggler_spin;
    KCHECKF(st9.collected, "the cycle did not complete");
    /* another CPU may be reported too: under a loaded host a vCPU can go
     * unscheduled past the 100 ms deadline (a time, not asserted) */
    for (uint32_t c = 0; c < smp_ncpu(); c++)
        if (c != st9.spin_cpu && gcstw.cpu_rip[c])
            kprintf("# also reported: cpu %u at rip 0x%lx\n", c, gcstw.cpu_rip[c]);
    KCHECKF(gcstw.reports > reports && at,
            "%u reports, none from the spinner's cpu %u", gcstw.reports - reports, st9.spin_cpu);
    KCHECKF(at >= fn && at < fn + 128, "reported rip 0x%lx, the loop is at 0x%lx..0x%lx", at, fn,
            fn + 128);
}

/* ------------------------------------------------------------ task stacks */
/*
 * The collector's entry points are unchecked code (no split-stack
 * prologue), so when a task calls them they must fit in the budget below
 * its guard (task.h: STACK_GUARD - 256 bytes).  A task paints the free
 * part of its stack, calls them, and measures how deep they went (the
 * first painted word overwritten).  gc_collect once overflowed a task
 * stack into its neighbour (the cycle record and the trace formatting
 * lived on the caller's stack).  Negative control: a function with a
 * 1200-byte frame must be measured over the budget.  The concurrent stack
 * scan's zeroing of dead words (stackgrow_scrub_dead) is off meanwhile: it
 * would wipe the paint below where the task switched out.
 */
#define PAINT 0xA5A5A5A5A5A5A5A5ull

static struct {
    uint64_t used[3];
} depth;

/* Paint [stack_lo, rsp) of the calling frame (inline: no frame of its own
 * below rsp); returns rsp. */
#define PAINT_BELOW()                                                                     \
    ({                                                                                    \
        uint64_t rsp_;                                                                    \
        __asm__ volatile("mov %%rsp, %0" : "=r"(rsp_));                                   \
        for (uint64_t a_ = task_current()->stack_lo; a_ + 8 <= rsp_; a_ += 8)             \
            *(volatile uint64_t *)a_ = PAINT;                                             \
        rsp_;                                                                             \
    })

static uint64_t deepest_since(uint64_t from)
{
    uint64_t lo = task_current()->stack_lo, a = lo;
    while (a < from && *(volatile uint64_t *)a == PAINT)
        a += 8;
    return from - a; /* bytes used below `from` */
}

static __attribute__((noinline)) void big_frame(void)
{
    volatile uint8_t buf[1200];
    for (int i = 0; i < 1200; i += 64)
        buf[i] = (uint8_t)i;
    (void)buf[0];
}

static void depth_task(void *arg)
{
    (void)arg;
    uint64_t from = PAINT_BELOW();
    gc_collect();
    depth.used[0] = deepest_since(from);
    from = PAINT_BELOW();
    gc_finish_sweep();
    gc_num_cycles();
    depth.used[1] = deepest_since(from);
    from = PAINT_BELOW();
    big_frame();
    depth.used[2] = deepest_since(from);
}

KTEST(gc_entry_points_fit_a_task_stack, KTEST_QUICK)
{
    __builtin_memset(&depth, 0, sizeof depth);
    struct task *t = task_spawn("gc-depth", depth_task, 0, TASK_STACK_CONTIGUOUS);
    KREQUIRE(t);
    stackgrow_debug_no_scrub = 1;
    sched_run();
    stackgrow_debug_no_scrub = 0;
    task_reap(t);
    const uint64_t budget = STACK_GUARD - 256;
    KCHECKF(depth.used[0] <= budget, "gc_collect used %lu bytes of a task's stack (budget %lu)",
            depth.used[0], budget);
    KCHECKF(depth.used[1] <= budget, "gc_finish_sweep used %lu bytes (budget %lu)", depth.used[1],
            budget);
    KCHECKF(depth.used[2] > budget, "negative control: a 1200-byte frame measured %lu bytes",
            depth.used[2]);
    kprintf("# from a task: gc_collect %lu B, gc_finish_sweep %lu B, a 1200-byte frame %lu B "
            "(budget %lu B)\n", depth.used[0], depth.used[1], depth.used[2], budget);
}

/* ------------------------------------------------------------ stale stacks */
/*
 * A recycled stack must not keep garbage alive (the regression test of
 * stackgrow.c's clearing).  Task A, on some CPU, makes a collected object,
 * takes a 2 KiB stack from that CPU's stack cache, fills it with the
 * object's address (an earlier owner's stale words), frees it, spawns B —
 * whose stack is that one (the cache is LIFO; checked) — and exits.  B
 * sits in a frame whose 1400-byte buffer it never writes, over A's words,
 * and collects twice: the object must be freed.  Negative control: with
 * the clearing off for B, A's words in B's frame keep it alive.
 */
static struct {
    uintptr_t obj; /* hidden: XOR 0x5A5A... */
    uint64_t filled, b_base;
    int state, keep_stale;
    struct task *b;
} stale;

static __attribute__((noinline)) void stale_b_wait(void)
{
    volatile uint8_t untouched[1400]; /* never written */
    (void)untouched;
    stale.b_base = task_current()->base_lo;
    gc_collect();
    gc_collect();
    stale.state = gc_object_state((void *)(stale.obj ^ 0x5A5A5A5A5A5A5A5Aull));
}

static void stale_b(void *arg)
{
    (void)arg;
    stale_b_wait();
}

static void stale_a(void *arg)
{
    (void)arg;
    static const uint8_t mask[1] = {0x1};
    static const gotype t = {32, 8, mask, "stale"};
    uintptr_t g = (uintptr_t)newobject(&t);
    stale.obj = g ^ 0x5A5A5A5A5A5A5A5Aull;
    uint64_t *s = stackalloc(STACK_MIN);
    for (uint32_t i = 2; i < STACK_MIN / 8; i++)
        s[i] = g;
    s[1] = 0; /* no task's tag */
    g = 0;
    stale.filled = (uint64_t)s;
    stackfree(s, STACK_MIN);
    stackgrow_debug_keep_stale = stale.keep_stale;
    stale.b = task_spawn("stale-b", stale_b, 0, TASK_STACK_CONTIGUOUS);
    stackgrow_debug_keep_stale = 0;
}

static int stale_run(int keep_stale)
{
    __builtin_memset(&stale, 0, sizeof stale);
    stale.keep_stale = keep_stale;
    struct task *a = task_spawn("stale-a", stale_a, 0, TASK_STACK_CONTIGUOUS);
    if (!a)
        return -1;
    sched_run();
    task_reap(a);
    if (stale.b)
        task_reap(stale.b);
    return stale.b && stale.b_base == stale.filled ? stale.state : -2;
}

KTEST(gc_recycled_stack_keeps_no_garbage, KTEST_QUICK)
{
    int st = stale_run(0);
    KCHECKF(st == GC_OBJ_FREE || st == GC_OBJ_NOT_HEAP,
            "an object only an earlier owner's stale words point to, after B (on that stack) "
            "collected twice: state %d (-2: B got another stack)", st);
    st = stale_run(1);
    KCHECKF(st == GC_OBJ_LIVE, "negative control (stack handed over uncleared): state %d, want "
            "live (kept by the stale words in B's frame; -2: B got another stack)", st);
}

/* ------------------------------------------------------------ background sweep */

#define BG_GARBAGE 60000 /* 64-byte objects: ~470 spans */

static void bg_noop(void *arg) { (void)arg; }

/* Post a no-op to every AP: one that halted goes round its idle loop again
 * (after a cycle the APs pass it anyway, leaving the world's stop). */
static void bg_wake_aps(void)
{
    for (uint32_t c = 0; c < smp_ncpu(); c++)
        if (c != this_cpu()->cpu_id)
            smp_run_on(c, bg_noop, 0);
}

/* Wait (no allocation) up to ms for the sweep to finish; false if it did not. */
static int bg_wait_swept(uint64_t ms)
{
    uint64_t t0 = nanotime();
    while (gc_sweep_pending() && nanotime() - t0 < ms * 1000000)
        cpu_relax();
    return !gc_sweep_pending();
}

/* Idle CPUs sweep in the background (Go's bgsweep): after a cycle that
 * leaves its sweep to the sweepers, the spans awaiting their sweep fall to
 * none while this CPU only waits — nothing allocates, so only the idle
 * APs' gc_bgsweep_step can have swept them (its counter says so).  The
 * control: with the background sweeper off the count does not move. */
KTEST(gc_bgsweep_on_idle_cpus, KTEST_QUICK)
{
    for (int i = 0; i < BG_GARBAGE; i++)
        KREQUIRE(mallocgc(64, 0, false));
    gc_debug_sweep = GC_SWEEP_COLLECT_LAZY | GC_SWEEP_NO_BG;
    bool collected = gc_collect();
    uint64_t p0 = gc_sweep_pending_spans();
    bg_wake_aps();
    int swept_off = bg_wait_swept(100);
    uint64_t p1 = gc_sweep_pending_spans();
    gc_debug_sweep = 0;
    KREQUIRE(collected);
    KCHECKF(p0 >= 400 && p1 == p0 && !swept_off,
            "control (background sweep off): %lu spans awaited their sweep, %lu after 100 ms", p0,
            p1);
    if (smp_ncpu() < 2) { /* no idle CPU: nothing to show */
        kprintf("# one CPU: no idle CPU sweeps; finishing the sweep here\n");
        gc_finish_sweep();
        return;
    }
    struct gc_sweep_stats a, b;
    gc_read_sweep_stats(&a);
    uint64_t t0 = nanotime();
    bg_wake_aps();
    int done = bg_wait_swept(5000);
    uint64_t us = (nanotime() - t0) / 1000;
    gc_read_sweep_stats(&b);
    KCHECKF(done && gc_sweep_pending_spans() == 0,
            "%lu spans still await their sweep after 5 s of idle APs", gc_sweep_pending_spans());
    KCHECKF(b.bg_spans - a.bg_spans == p0 && b.spans - a.spans == p0,
            "background sweeper swept %lu spans (all sweepers %lu), want %lu",
            b.bg_spans - a.bg_spans, b.spans - a.spans, p0);
    kprintf("# %lu spans swept by %u idle CPUs in %lu us, no allocation\n", p0, smp_ncpu() - 1,
            us);
    testutil_verify_or_fail("the background sweep");
}
