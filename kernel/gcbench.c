/*
 * gcbench.c — the collector's benchmarks (command-line word `gcbench`,
 * shell command `gcbench [pause|stop|trees [DEPTH]|churn|mutator|all]`).
 * Benchmarks, not tests: they print what they measured and never fail.
 * One line per measurement, `gcbench: <what> key=value ...`, read by
 * tests/bench/gcbench.py next to the Go anchor (tests/bench/go/gcbench.go).
 *
 * (a) pause   For a live heap of 8, 32 and 128 MiB (a binary tree of
 *             2-pointer nodes held by a global), in each mode (mode=stw:
 *             gcstoptheworld=1; mode=concurrent: gcstoptheworld=0): three
 *             forced cycles; the medians of time-to-stop, sweep
 *             termination (stw1, including the stop), mark, mark
 *             termination (stw2), the whole pause (stop-the-world: all
 *             three; concurrent: stw1 + stw2, the mark runs with the
 *             world), bytes marked and the mark rate per CPU (marked bytes
 *             / markers' CPU time).
 * (b) stop    Time to stop the world: nine forced cycles with the other
 *             CPUs idle (halted: woken by IPI) and nine with a task
 *             spinning on each of them through split-stack prologues
 *             (stopped by the poisoned guard) — gcbench_split.c.
 * (c) trees   binary-trees (the benchmarks-game shape): a stretch tree of
 *             depth D+1, a long-lived tree of depth D, then for d = 4, 6,
 *             ... D, 2^(D-d+4) trees of depth d built, checked, dropped.
 *             Depth 16 at GOGC 50/100/200, 17 and 18 at GOGC 100.
 * (d) churn   A list holding 4 MiB of 64-byte nodes; each step appends one
 *             and drops the head (garbage rate = allocation rate), 1M steps,
 *             GOGC 50/100/200.
 * (e) mutator What a task pays while a concurrent mark runs beside it:
 *             a 32 MiB live tree, GOGC 100, a collector task forcing five
 *             cycles while a mutator task on another CPU times batches of
 *             256 newobject(64 B) calls and 256 GC_WB stores, each batch
 *             counted as "off" (no cycle across it) or "mark" (inside one
 *             concurrent mark): ns per call in each, the assists' share of
 *             all CPUs' time during the marks, their time parked, peak
 *             heap / goal, and what the mutator paid: heap it scanned in
 *             assists and background credit it took instead (MiB)
 *             (gcbench_split.c gcbench_mutator_task).
 * For (c) and (d), over the heap-triggered cycles of the run: cycles, per
 * GiB allocated (TotalAlloc), GC CPU % ((pauses on every CPU + a
 * concurrent mark's one CPU) / (elapsed x CPUs)), peak/goal (the largest
 * heap a cycle saw — at its start, or at mark termination after a
 * concurrent mark let it grow, as Go's gctrace counts it — over its goal)
 * and the largest heap, total and longest pause.
 *
 * Every workload runs in a task of its own (gcbench_split.c), started and
 * measured from here: a fresh stack while it runs, none once it is done,
 * so one workload's dead frames cannot keep the next one's heap alive.
 *
 * No floating point (-mgeneral-regs-only): fixed-point with integer
 * arithmetic, printed with decimals.
 */
#include "../alloc/malloc.h"
#include "../alloc/mgc.h"
#include "../alloc/mstats.h"
#include "fmt.h"
#include "gcbench.h"
#include "kernel.h"
#include "shell.h"
#include "smp.h"
#include "task.h"

/* ------------------------------------------------------------ numbers */

static void sort_u64(uint64_t *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            uint64_t t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
}

static uint64_t median(uint64_t *v, int n)
{
    sort_u64(v, n);
    return v[n / 2];
}

/* "12.3" from nanoseconds, as microseconds with one decimal. */
static const char *us1(char *b, uint64_t ns)
{
    ksnprintf(b, 24, "%lu.%lu", ns / 1000, ns % 1000 / 100);
    return b;
}

/* x / 1e6 with three decimals (x in millionths). */
static const char *milli3(char *b, uint64_t millionths)
{
    ksnprintf(b, 24, "%lu.%03lu", millionths / 1000000, millionths % 1000000 / 1000);
    return b;
}

/* A workload in a task of its own (gcbench_split.c): its stack, scanned
 * while it runs, is fresh, and gone once it exits — a workload's dead
 * frames on the caller's stack would otherwise keep old trees alive. */
static void run_task(void (*fn)(void *), void *arg)
{
    struct task *t = task_spawn("gcbench", fn, arg, TASK_STACK_CONTIGUOUS);
    if (!t) {
        kprintf("gcbench: cannot spawn a task\n");
        return;
    }
    sched_run();
    task_reap(t);
}

/* ------------------------------------------------------------ (a) pause */

static void pause_one(uint32_t mib, uint32_t stw)
{
    uint32_t old_stw = gc_get_stoptheworld();
    gc_set_stoptheworld(stw);
    int32_t old = gc_set_percent(-1); /* no cycle while building */
    struct gcbench_work w = {.depth = 0};
    while ((2ull << w.depth) * 16 < (uint64_t)mib << 20) /* 2^(d+1)-1 nodes of 16 B */
        w.depth++;
    run_task(gcbench_build_live_task, &w); /* into gcbench_live, a global */
    enum { N = 3 };
    uint64_t stop[N], stw1[N], mark[N], stw2[N], pause[N], marked[N], rate[N];
    for (int i = 0; i < N; i++) {
        gc_collect();
        struct gc_cycle_record r;
        gc_cycle_record(gc_num_cycles(), &r);
        stop[i] = r.stop_ns;
        stw1[i] = r.stw1_ns;
        mark[i] = r.mark_ns;
        stw2[i] = r.stw2_ns;
        pause[i] = gc_record_pause(&r);
        marked[i] = r.marked;
        rate[i] = r.mark_cpu_ns ? r.marked * 1000 / r.mark_cpu_ns : 0; /* MB/s */
    }
    char b[7][24];
    kprintf("gcbench: pause live_mib=%u mode=%s cpus=%u cycles=%d stop_us=%s stw1_us=%s "
            "mark_us=%s stw2_us=%s pause_us=%s marked_mib=%s mark_mbps_cpu=%lu\n",
            mib, stw ? "stw" : "concurrent", smp_ncpu(), N, us1(b[0], median(stop, N)), us1(b[1], median(stw1, N)),
            us1(b[2], median(mark, N)), us1(b[3], median(stw2, N)), us1(b[4], median(pause, N)),
            milli3(b[5], median(marked, N) * 1000000 >> 20), median(rate, N));
    gcbench_live = 0;
    gc_set_percent(old);
    gc_set_stoptheworld(old_stw);
    gc_collect();
}

static void bench_pause(void)
{
    static const uint32_t mibs[3] = {8, 32, 128};
    for (int i = 0; i < 3; i++)
        for (uint32_t stw = 1; stw <= 1; stw--) /* stop-the-world, then concurrent */
            pause_one(mibs[i], stw);
}

/* ------------------------------------------------------------ (b) stop */

static void stop_report(const char *others, uint64_t *ns, int n)
{
    char b[2][24];
    sort_u64(ns, n);
    kprintf("gcbench: stop cpus=%u others=%s n=%d median_us=%s max_us=%s\n", smp_ncpu(), others,
            n, us1(b[0], ns[n / 2]), us1(b[1], ns[n - 1]));
}

static uint64_t last_stop_ns(void) /* called from a task: no gc_stats */
{
    struct gc_cycle_record r;
    return gc_cycle_record(gc_num_cycles(), &r) ? r.stop_ns : 0;
}

static struct {
    volatile int done;
    uint64_t ns[GCBENCH_STOP_N];
} stopb;

static void stop_collector(void *arg)
{
    (void)arg;
    while (__atomic_load_n(&gcbench_spinning, __ATOMIC_ACQUIRE) < smp_ncpu() - 1)
        task_yield();
    for (int i = 0; i < GCBENCH_STOP_N; i++) {
        gc_collect();
        stopb.ns[i] = last_stop_ns();
    }
    __atomic_store_n(&gcbench_spin_stop, 1, __ATOMIC_RELEASE);
}

static void bench_stop(void)
{
    uint64_t idle[GCBENCH_STOP_N];
    for (int i = 0; i < GCBENCH_STOP_N; i++) {
        gc_collect();
        idle[i] = last_stop_ns();
    }
    stop_report("idle", idle, GCBENCH_STOP_N);
    if (smp_ncpu() < 2)
        return;
    gcbench_spinning = 0;
    gcbench_spin_stop = 0;
    struct task *t[64];
    uint32_t n = 0;
    t[n++] = task_spawn("gcbench-collector", stop_collector, 0, TASK_STACK_CONTIGUOUS);
    for (uint32_t c = 1; c < smp_ncpu() && n < 64; c++)
        t[n++] = task_spawn("gcbench-spin", gcbench_spin_task, 0, TASK_STACK_CONTIGUOUS);
    sched_run();
    for (uint32_t i = 0; i < n; i++)
        if (t[i])
            task_reap(t[i]);
    stop_report("busy", stopb.ns, GCBENCH_STOP_N);
}

/* ------------------------------------------------------------ (c, d) paced runs */

struct window {
    uint64_t t0, alloc0;
    uint32_t n0;
};

static struct window window_open(int32_t gogc)
{
    gc_set_percent(gogc);
    gc_collect(); /* every run starts from a collected heap */
    struct memstats m;
    struct gc_stats s;
    read_memstats(&m);
    gc_read_stats(&s);
    return (struct window){nanotime(), m.TotalAlloc, s.NumGC};
}

/* The " seconds=... pause_max_us=..." tail over the run's cycles. */
static void window_close(const struct window *w, char *out, uint64_t size)
{
    uint64_t elapsed = nanotime() - w->t0;
    struct memstats m;
    struct gc_stats s;
    read_memstats(&m);
    gc_read_stats(&s);
    uint64_t alloc = m.TotalAlloc - w->alloc0, pause = 0, pmax = 0, peak_ppm = 0, heap = 0;
    uint64_t gc_cpu = 0, assist = 0, mark_cpu = 0;
    uint32_t cycles = s.NumGC - w->n0;
    for (uint32_t n = w->n0 + 1; n <= s.NumGC; n++) {
        struct gc_cycle_record r;
        if (!gc_cycle_record(n, &r))
            continue; /* more than GC_HISTORY cycles: the oldest are gone */
        uint64_t p = gc_record_pause(&r);
        pause += p;
        /* GC CPU time over the CPUs (pauses are on all of them): the
         * workers' and the assists' time while the world ran; idle marking
         * left out, as Go's trace figure */
        uint64_t conc = r.concurrent ? r.worker_ns + r.second_ns + r.assist_ns : 0;
        gc_cpu += p + conc / (r.ncpu ? r.ncpu : 1);
        assist += r.assist_ns;
        mark_cpu += r.concurrent ? r.worker_ns + r.second_ns + r.assist_ns + r.idle_ns : 0;
        pmax = p > pmax ? p : pmax;
        uint64_t top = r.heap1 > r.heap0 ? r.heap1 : r.heap0; /* grows during a concurrent mark */
        uint64_t ppm = r.goal ? top * 1000000 / r.goal : 0;
        peak_ppm = ppm > peak_ppm ? ppm : peak_ppm;
        heap = top > heap ? top : heap;
    }
    char b[6][24];
    uint64_t per_gib_x10 = alloc ? (uint64_t)cycles * 10 * (1ull << 30) / alloc : 0;
    ksnprintf(out, size,
              " cpus=%u seconds=%s alloc_mib=%lu cycles=%u cycles_per_gib=%lu.%lu gc_cpu_pct=%lu.%lu "
              "peak_goal=%s max_heap_mib=%s pause_total_ms=%s pause_max_us=%s assist_pct=%lu.%lu",
              smp_ncpu(), milli3(b[0], elapsed / 1000), alloc >> 20, cycles, per_gib_x10 / 10,
              per_gib_x10 % 10, elapsed ? gc_cpu * 100 / elapsed : 0,
              elapsed ? gc_cpu * 1000 / elapsed % 10 : 0, milli3(b[1], peak_ppm),
              milli3(b[2], heap * 1000000 >> 20), us1(b[3], pause / 1000), us1(b[4], pmax),
              mark_cpu ? assist * 100 / mark_cpu : 0, mark_cpu ? assist * 1000 / mark_cpu % 10 : 0);
}

static void bench_trees(uint32_t depth, int32_t gogc)
{
    struct gcbench_work wk = {.depth = depth};
    struct window w = window_open(gogc);
    run_task(gcbench_trees_task, &wk);
    char tail[320];
    window_close(&w, tail, sizeof tail);
    kprintf("gcbench: binarytrees depth=%u gogc=%d%s nodes=%lu\n", depth, gogc, tail, wk.result);
}

static void bench_churn(int32_t gogc)
{
    struct gcbench_work wk = {.live_bytes = 4 << 20, .steps = 1000000};
    struct window w = window_open(gogc);
    run_task(gcbench_churn_task, &wk);
    char out[320];
    window_close(&w, out, sizeof out);
    kprintf("gcbench: listchurn live_mib=4 gogc=%d steps=%lu%s\n", gogc, wk.steps, out);
}

/* ------------------------------------------------------------ (e) mutator */

#define MUT_CYCLES 5
static struct gcbench_mutator mut; /* the mutator task's results */

static void mut_collector(void *arg)
{
    (void)arg;
    for (int i = 0; i < MUT_CYCLES; i++)
        gc_collect();
    __atomic_store_n(&gcbench_spin_stop, 1, __ATOMIC_RELEASE);
}

/* "12.3": ns per call of kind k in state st, one decimal. */
static const char *per_call(char *b, uint32_t k, uint32_t st)
{
    uint64_t calls = mut.batches[k][st] * GCBENCH_MUT_BATCH;
    uint64_t x10 = calls ? mut.ns[k][st] * 10 / calls : 0;
    ksnprintf(b, 24, "%lu.%lu", x10 / 10, x10 % 10);
    return b;
}

/* The concurrent cycles since n0: assist and mark time, CPUs, peak/goal. */
static void mut_cycles(uint32_t n0, uint64_t *assist, uint64_t *wait, uint64_t *mark_cpu,
                       uint64_t *peak_ppm)
{
    for (uint32_t n = n0 + 1; n <= gc_num_cycles(); n++) {
        struct gc_cycle_record r;
        if (!gc_cycle_record(n, &r) || !r.concurrent)
            continue;
        *assist += r.assist_ns;
        *wait += r.assist_wait_ns;
        *mark_cpu += r.mark_ns * (r.ncpu ? r.ncpu : 1); /* all CPUs' time during the mark */
        uint64_t ppm = r.goal ? r.heap1 * 1000000 / r.goal : 0;
        *peak_ppm = ppm > *peak_ppm ? ppm : *peak_ppm;
    }
}

static void bench_mutator(void)
{
    if (smp_ncpu() < 2) { /* nothing runs beside the only CPU's mark */
        kprintf("gcbench: mutator cpus=1 skipped=1\n");
        return;
    }
    uint32_t old_stw = gc_get_stoptheworld();
    gc_set_stoptheworld(0);
    int32_t old = gc_set_percent(-1);
    struct gcbench_work w = {.depth = 20}; /* 2^21 - 1 nodes of 16 B: 32 MiB */
    run_task(gcbench_build_live_task, &w);
    gc_set_percent(100);
    gc_collect();
    __builtin_memset(&mut, 0, sizeof mut);
    gcbench_spin_stop = 0;
    uint32_t n0 = gc_num_cycles();
    struct task *m = task_spawn("gcbench-mutator", gcbench_mutator_task, &mut, TASK_STACK_CONTIGUOUS);
    struct task *c = task_spawn("gcbench-collector", mut_collector, 0, TASK_STACK_CONTIGUOUS);
    sched_run();
    if (m)
        task_reap(m);
    if (c)
        task_reap(c);
    uint64_t assist = 0, wait = 0, mark_cpu = 0, peak = 0;
    mut_cycles(n0, &assist, &wait, &mark_cpu, &peak);
    char b[6][24];
    uint64_t pct_x10 = mark_cpu ? assist * 1000 / mark_cpu : 0;
    char d[2][24];
    kprintf("gcbench: mutator live_mib=32 gogc=100 cpus=%u cycles=%u mallocgc_ns_off=%s "
            "mallocgc_ns_mark=%s wb_ns_off=%s wb_ns_mark=%s assist_cpu_pct=%lu.%lu "
            "assist_wait_ms=%s peak_goal=%s assist_scan_mib=%s assist_credit_mib=%s\n",
            smp_ncpu(), gc_num_cycles() - n0, per_call(b[0], 0, 0), per_call(b[1], 0, 1),
            per_call(b[2], 1, 0), per_call(b[3], 1, 1), pct_x10 / 10, pct_x10 % 10,
            milli3(b[4], wait), milli3(b[5], peak), milli3(d[0], (mut.acct.work * 1000000) >> 20),
            milli3(d[1], (mut.acct.stolen * 1000000) >> 20));
    gcbench_live = 0;
    gc_set_percent(old);
    gc_set_stoptheworld(old_stw);
    gc_collect();
}

/* ------------------------------------------------------------ driver */

static const int32_t gogcs[3] = {50, 100, 200};

void gcbench_run(const char *which, uint32_t depth)
{
    int all = !__builtin_strcmp(which, "all");
    int32_t old = gc_get_percent();
    if (all || !__builtin_strcmp(which, "pause"))
        bench_pause();
    if (all || !__builtin_strcmp(which, "stop"))
        bench_stop();
    if (!__builtin_strcmp(which, "trees")) {
        bench_trees(depth, old < 0 ? 100 : old);
    } else if (all) {
        for (int i = 0; i < 3; i++)
            bench_trees(16, gogcs[i]);
        bench_trees(17, 100);
        bench_trees(18, 100);
    }
    if (all || !__builtin_strcmp(which, "churn"))
        for (int i = 0; i < 3; i++)
            bench_churn(gogcs[i]);
    if (all || !__builtin_strcmp(which, "mutator"))
        bench_mutator();
    gc_set_percent(old);
    gc_collect();
    kprintf("gcbench: done\n");
}

static void cmd_gcbench(int argc, char **argv)
{
    const char *w = argc > 1 ? argv[1] : "all";
    uint32_t depth = 16;
    int ok = argc <= 2 || (argc == 3 && !__builtin_strcmp(w, "trees"));
    if (ok && argc == 3) {
        depth = 0;
        for (const char *p = argv[2]; *p; p++)
            depth = *p >= '0' && *p <= '9' && depth < 100 ? depth * 10 + (uint32_t)(*p - '0') : 999;
        ok = depth >= 4 && depth <= 22;
    }
    if (ok)
        ok = !__builtin_strcmp(w, "all") || !__builtin_strcmp(w, "pause") ||
             !__builtin_strcmp(w, "stop") || !__builtin_strcmp(w, "trees") ||
             !__builtin_strcmp(w, "churn") || !__builtin_strcmp(w, "mutator");
    if (!ok) {
        kprintf("usage: gcbench [pause|stop|trees [DEPTH 4..22]|churn|mutator|all]\n");
        return;
    }
    gcbench_run(w, depth);
}
SHELL_CMD("gcbench", "collector benchmarks: gcbench [pause|stop|trees [DEPTH]|churn|mutator|all]",
          cmd_gcbench);
