/*
 * test_gc_workers_split.c — who marks during a concurrent mark: Go's 25 %
 * rule (alloc/mgcpacer.c WORKERS, mgcmark.c SECOND WORKERS).  Compiled with
 * -fsplit-stack like task code.
 *
 * A 4 MiB tree hangs from a global so that each mark takes a while; one
 * task allocates 8 KiB of garbage every 16th turn, so the heap trigger starts
 * the cycles (no task waits in gc_collect, which would let the main worker
 * run full time), and one "ticker" task per CPU only yields and counts the
 * times it ran on the main worker's CPU while the mark was on (Go's
 * goroutines that compute and allocate little; an allocating task pays
 * assists, which mark in its place).  Per boot:
 *   1-3 CPUs: the main worker has a share of its CPU (25, 50, 75 %): the
 *     tickers must run on that CPU during the mark; the control makes it
 *     dedicated (gc_debug_main_dedicated), and then they never may.
 *   6-8 CPUs: second workers mark on other CPUs (Go's second dedicated
 *     worker, or its fractional half a CPU on 6): some cycle must show
 *     their objects; none in the control.
 *   4-5 CPUs: Go's rule is our old one (one dedicated worker): reported.
 * Always: every cycle concurrent, gccheckmark finds nothing missed, the
 * tree is whole, heap_verify passes.  The worker's share of the mark's
 * wall time is printed, never asserted (a time).
 */
#include "../../alloc/malloc.h"
#include "../../alloc/mgc.h"
#include "fmt.h"
#include "kernel.h"
#include "ktest.h"
#include "percpu.h"
#include "smp.h"
#include "task.h"
#include "testutil.h"

#define WK_DEPTH 16  /* 2^17 - 1 nodes of 32 B */
#define WK_CYCLES 4  /* heap-triggered cycles per run */
#define WK_MAX_MUT 8
#define WK_ALLOC_EVERY 16 /* turns: a slow allocator, whose assists leave the mark to the workers */

static struct testutil_node *wk_tree; /* root (bss) */

static uint32_t wk_reports;
static void wk_hook(const char *msg)
{
    if (!wk_reports)
        kprintf("# %s\n", msg);
    wk_reports++;
}

static struct {
    uint32_t until;           /* stop once this many cycles ended */
    uint64_t on_main_in_mark; /* ticks on the main worker's CPU, mark on */
    uint64_t in_mark, ops;    /* ticks during marks, all ticks */
} wk;

static bool wk_going(void) { return gc_num_cycles() < __atomic_load_n(&wk.until, __ATOMIC_ACQUIRE); }

static void wk_allocate(void *arg)
{
    (void)arg;
    for (uint64_t turn = 0; wk_going(); turn++) {
        task_yield();
        if (turn % WK_ALLOC_EVERY)
            continue;
        void *p = mallocgc(8192, 0, false);
        __asm__ volatile("" : : "r"(p) : "memory");
    }
}

static void wk_tick(void *arg)
{
    (void)arg;
    while (wk_going()) {
        task_yield();
        uint32_t main = gc_mark_main_cpu(), cpu = this_cpu()->cpu_id;
        __atomic_fetch_add(&wk.ops, 1, __ATOMIC_RELAXED);
        if (main) {
            __atomic_fetch_add(&wk.in_mark, 1, __ATOMIC_RELAXED);
            if (main == cpu + 1)
                __atomic_fetch_add(&wk.on_main_in_mark, 1, __ATOMIC_RELAXED);
        }
    }
}

struct wk_result {
    uint32_t cycles, concurrent;
    uint64_t on_main_in_mark, in_mark, ops;
    uint64_t second_objects, second_ns, worker_ns, mark_ns;
    uint32_t main_ppm;
    uint64_t assist_ns, assist_wait_ns, idle_ns;
};

static void wk_run(uint32_t dedicated, struct wk_result *res)
{
    __builtin_memset(res, 0, sizeof *res);
    gc_collect();
    uint32_t n0 = gc_num_cycles();
    __builtin_memset(&wk, 0, sizeof wk);
    wk.until = n0 + WK_CYCLES;
    gc_debug_main_dedicated = dedicated;
    uint32_t n = smp_ncpu() < WK_MAX_MUT ? smp_ncpu() : WK_MAX_MUT;
    struct task *t[WK_MAX_MUT + 1];
    t[0] = task_spawn("wk-allocate", wk_allocate, 0, TASK_STACK_CONTIGUOUS);
    for (uint32_t i = 1; i <= n; i++)
        t[i] = task_spawn("wk-tick", wk_tick, 0, TASK_STACK_CONTIGUOUS);
    sched_run();
    gc_debug_main_dedicated = 0;
    for (uint32_t i = 0; i <= n; i++)
        task_reap(t[i]);
    res->on_main_in_mark = wk.on_main_in_mark;
    res->in_mark = wk.in_mark;
    res->ops = wk.ops;
    for (uint32_t c = n0 + 1; c <= gc_num_cycles(); c++) {
        struct gc_cycle_record r;
        if (!gc_cycle_record(c, &r))
            continue;
        res->cycles++;
        if (!r.concurrent)
            continue;
        res->concurrent++;
        res->second_objects += r.second_objects;
        res->second_ns += r.second_ns;
        res->worker_ns += r.worker_ns;
        res->mark_ns += r.mark_ns;
        res->main_ppm = r.main_ppm;
        res->assist_ns += r.assist_ns;
        res->assist_wait_ns += r.assist_wait_ns;
        res->idle_ns += r.idle_ns;
    }
}

static void wk_print(const char *what, const struct wk_result *r)
{
    uint64_t mark = r->mark_ns | 1;
    kprintf("# %s: %u cycles (%u concurrent), main worker's share %lu%% of its CPU: it marked "
            "%lu%% of the mark's %lu us; second workers %lu us, %lu objects; %lu of %lu "
            "ticks during marks, %lu of those on the main worker's CPU; assists %lu us "
            "(parked %lu us), idle CPUs %lu us\n",
            what, r->cycles, r->concurrent, (uint64_t)r->main_ppm / 10000,
            r->worker_ns * 100 / mark, r->mark_ns / 1000, r->second_ns / 1000,
            r->second_objects, r->in_mark, r->ops, r->on_main_in_mark, r->assist_ns / 1000,
            r->assist_wait_ns / 1000, r->idle_ns / 1000);
}

KTEST(gc_workers_follow_go_25_percent_rule, KTEST_QUICK)
{
    uint32_t stw = gc_get_stoptheworld(), cm = gc_get_checkmark();
    int32_t gogc = gc_set_percent(-1);
    uint64_t id = 0;
    wk_tree = testutil_tree_build(WK_DEPTH, &id);
    gc_set_percent(100);
    gc_set_stoptheworld(0);
    gc_set_checkmark(GC_CHECKMARK_REPORT);
    wk_reports = 0;
    alloc_error_hook_t hook = alloc_set_error_hook(wk_hook);
    static struct wk_result rule, ctl; /* not on the runner's stack */
    wk_run(0, &rule);
    wk_run(1, &ctl);
    alloc_set_error_hook(hook);
    gc_set_checkmark(cm);
    gc_set_stoptheworld(stw);
    gc_set_percent(gogc);
    uint32_t bad = 0, n = testutil_tree_count(wk_tree, &bad), want = (2u << WK_DEPTH) - 1;
    wk_tree = 0;
    struct gc_workers plan = gc_pacer_workers(smp_ncpu());
    kprintf("# %u CPUs: Go %u dedicated + %lu.%01lu%% fractional per P; ours: main %lu%%, %u "
            "second slot(s) for %lu%% of a CPU\n", smp_ncpu(), plan.go_dedicated,
            (uint64_t)plan.go_frac_ppm / 10000, (uint64_t)plan.go_frac_ppm / 1000 % 10,
            (uint64_t)plan.main_ppm / 10000, plan.second_slots, (uint64_t)plan.second_ppm / 10000);
    wk_print("Go's rule", &rule);
    wk_print("main worker dedicated, no second workers (control)", &ctl);
    KCHECKF(rule.concurrent >= WK_CYCLES && ctl.concurrent >= WK_CYCLES,
            "%u and %u concurrent cycles (of %u and %u)", rule.concurrent, ctl.concurrent,
            rule.cycles, ctl.cycles);
    KCHECKF(rule.main_ppm == plan.main_ppm && ctl.main_ppm == GC_PPM,
            "the cycles ran with main shares %u and %u ppm", rule.main_ppm, ctl.main_ppm);
    KCHECKF(ctl.on_main_in_mark == 0 && ctl.second_objects == 0,
            "control: %lu ticks on the dedicated worker's CPU during its mark, %lu objects "
            "by second workers", ctl.on_main_in_mark, ctl.second_objects);
    if (plan.main_ppm < GC_PPM)
        KCHECKF(rule.on_main_in_mark > 0,
                "a main worker with a %u ppm share let no task run on its CPU during %u marks",
                plan.main_ppm, rule.concurrent);
    if (plan.second_slots)
        KCHECKF(rule.second_objects > 0, "%u second worker slot(s): no object marked by one in "
                "%u marks", plan.second_slots, rule.concurrent);
    KCHECKF(wk_reports == 0, "%u checkmark reports", wk_reports);
    KCHECKF(n == want && bad == 0, "%u of %u nodes, %u bad", n, want, bad);
    testutil_verify_or_fail("the workers test");
    gc_collect();
}
