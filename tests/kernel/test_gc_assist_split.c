/*
 * test_gc_assist_split.c — mark assists (alloc/mgcmark.c HELPERS, Go's
 * gcAssistAlloc) with tasks allocating on another CPU while a concurrent
 * mark runs.  Compiled with -fsplit-stack like task code.
 *
 * A 4 MiB binary tree (131071 nodes) hangs from a global, so that each
 * mark takes a while; GOGC=100.  A collector task forces cycles while two
 * mutator tasks make pointer-free garbage, 8 KiB per allocation for the
 * heavy one and 1 KiB for the light one (about the same number of calls,
 * wherever the tasks run).  With assists, every concurrent cycle's peak
 * heap (heap_live at the second pause) stays within Go's bound, 1.1 x the
 * goal (plus each mutator's over-assist credit, 256 KiB, and a refill:
 * the bound is tested after each allocation); each mutator paid in scan
 * work for what it allocated (the same price per byte within 2x);
 * gccheckmark finds nothing missed (assists are markers too) and the tree
 * is whole.
 *
 * A second run has the collector wait 20 ms between asking for the second
 * pause and stopping the world (gc_debug_stop_delay_us), as a vCPU the host
 * deschedules there does: tasks that allocate in that gap are in debt with
 * the window closed and must park, not allocate freely — the same bound.
 *
 * The negative control turns assists off (gc_debug_no_assist): the same
 * mutators must then push some cycle past 1.1 x its goal — the mark is
 * slower than the allocation — or the test cannot see the bound at all.
 * To keep memory bounded there, a mutator stops allocating while the heap
 * is over twice its goal.
 */
#include "../../alloc/malloc.h"
#include "../../alloc/mbarrier.h"
#include "../../alloc/mgc.h"
#include "fmt.h"
#include "kernel.h"
#include "ktest.h"
#include "smp.h"
#include "task.h"
#include "testutil.h"

struct anode {
    struct anode *l, *r;
    uint64_t id, check;
};
static const uint8_t anode_mask[1] = {0x3};
static const gotype anode_type = {sizeof(struct anode), 16, anode_mask, "anode"};
static uint64_t acheck(uint64_t id) { return id * 0x9E3779B97F4A7C15ull + 1234; }

#define AS_DEPTH 16          /* 2^17 - 1 nodes of 32 B */
#define AS_CYCLES 6          /* forced cycles per run */
/* past the bound: each mutator's over-assist credit (256 KiB, mgcmark.c)
 * and a refill and an object each */
/* the late-stop run: the collector waits this long between asking for the
 * second pause and stopping the world (a descheduled vCPU's gap) */
#define AS_STOP_DELAY_US 20000u
#define AS_SLACK (2u * (256u + 64u) << 10)

static struct anode *as_tree; /* root (bss) */

/* built with GOGC off: no cycle runs, plain stores are fine */
static struct anode *as_build(uint32_t depth, uint64_t *id)
{
    struct anode *t = newobject(&anode_type);
    t->id = ++*id;
    t->check = acheck(t->id);
    if (depth) {
        t->l = as_build(depth - 1, id);
        t->r = as_build(depth - 1, id);
    }
    return t;
}

static uint32_t as_count(const struct anode *t, uint32_t *bad)
{
    if (!t)
        return 0;
    *bad += t->check != acheck(t->id) || gc_object_state(t) != GC_OBJ_LIVE;
    return 1 + as_count(t->l, bad) + as_count(t->r, bad);
}

static uint32_t as_reports, as_other;
static char as_first[200]; /* the first report, for the failure message */
static void as_hook(const char *msg)
{
    if (testutil_starts_with(msg, "gccheckmark: 0x")) {
        if (!as_reports) {
            kprintf("# %s\n", msg);
            uint32_t i = 0;
            for (; msg[i] && i + 1 < sizeof as_first; i++)
                as_first[i] = msg[i];
            as_first[i] = 0;
        }
        as_reports++;
    } else if (!testutil_starts_with(msg, "gccheckmark: ... ")) {
        as_other++;
        kprintf("# unexpected report: %s\n", msg);
    }
}

struct as_mutator {
    uint32_t size;         /* of each allocation */
    uint64_t bytes;        /* allocated in all */
    uint64_t bytes_marking; /* of those, while a concurrent mark ran */
    struct gc_assist acct; /* its account at the end */
    struct gc_stats st;    /* not on the task's stack (2 KiB) */
};
static volatile int as_stop;

static bool marking(void)
{
    return __atomic_load_n(&gc_phase, __ATOMIC_ACQUIRE) == GC_MARK &&
           !__atomic_load_n(&gc_stop_pending, __ATOMIC_ACQUIRE);
}

static void as_mutate(void *arg)
{
    struct as_mutator *m = arg;
    for (uint64_t turn = 0; !__atomic_load_n(&as_stop, __ATOMIC_ACQUIRE); turn++) {
        task_yield(); /* another task may share this CPU */
        if ((turn & 15) == 0)
            gc_read_stats(&m->st);
        if (m->st.HeapLive > 2 * m->st.NextGC)
            continue; /* the control's overshoot is shown: keep memory bounded */
        bool in_mark = marking();
        void *p = mallocgc(m->size, 0, false);
        __asm__ volatile("" : : "r"(p) : "memory");
        m->bytes += m->size;
        m->bytes_marking += in_mark ? m->size : 0;
    }
    m->acct = task_current()->gc_assist;
}

static void as_collector(void *arg)
{
    (void)arg;
    for (int i = 0; i < AS_CYCLES; i++)
        gc_collect();
    __atomic_store_n(&as_stop, 1, __ATOMIC_RELEASE);
}

struct as_result {
    struct as_mutator heavy, light;
    uint32_t cycles, concurrent, over;
    uint64_t peak_ppm;          /* max over concurrent cycles of heap1 / goal */
    uint64_t assist_ns, mark_ns, assist_work, stolen, wait_ns;
};

static void as_cycles(uint32_t from, uint32_t to, struct as_result *res)
{
    for (uint32_t n = from; n <= to; n++) {
        struct gc_cycle_record r;
        if (!gc_cycle_record(n, &r) || !r.concurrent)
            continue;
        res->concurrent++;
        uint64_t ppm = r.heap1 * 1000000 / r.goal;
        res->peak_ppm = ppm > res->peak_ppm ? ppm : res->peak_ppm;
        if (r.heap1 > r.goal + r.goal / 10 + AS_SLACK) {
            res->over++;
            kprintf("# cycle %u: heap %lu -> %lu (%lu at the restart), goal %lu (%s); assists "
                    "scanned %lu B, took %lu B of credit, parked %lu us; %u task(s) left to "
                    "the second pause\n", n, r.heap0, r.heap1, r.heap_restart, r.goal,
                    r.forced ? "forced" : "heap", r.assist_work, r.assist_stolen,
                    r.assist_wait_ns / 1000, r.stacks_left);
        }
        res->assist_ns += r.assist_ns;
        res->mark_ns += r.mark_ns;
        res->assist_work += r.assist_work;
        res->stolen += r.assist_stolen;
        res->wait_ns += r.assist_wait_ns;
    }
}

static void as_run(uint32_t no_assist, uint32_t delay_us, struct as_result *res)
{
    __builtin_memset(res, 0, sizeof *res);
    res->heavy.size = 8192;
    res->light.size = 1024;
    as_stop = 0;
    gc_collect();
    uint32_t n0 = gc_num_cycles();
    gc_debug_no_assist = no_assist;
    gc_debug_stop_delay_us = delay_us;
    struct task *h = task_spawn("as-heavy", as_mutate, &res->heavy, TASK_STACK_CONTIGUOUS);
    struct task *c = task_spawn("as-collector", as_collector, 0, TASK_STACK_CONTIGUOUS);
    struct task *l = task_spawn("as-light", as_mutate, &res->light, TASK_STACK_CONTIGUOUS);
    sched_run();
    gc_debug_no_assist = 0;
    gc_debug_stop_delay_us = 0;
    task_reap(h);
    task_reap(c);
    task_reap(l);
    res->cycles = gc_num_cycles() - n0;
    as_cycles(n0 + 1, gc_num_cycles(), res);
}

static void as_print(const char *what, const struct as_result *r)
{
    kprintf("# %s: %u cycles (%u concurrent), peak heap %lu.%03lu x goal, %u over 1.1x; assists "
            "%lu us (%lu%% of the mark's %lu us), scanned %lu KiB, took %lu KiB of credit, "
            "parked %lu us\n", what, r->cycles, r->concurrent, r->peak_ppm / 1000000,
            r->peak_ppm % 1000000 / 1000, r->over, r->assist_ns / 1000,
            r->mark_ns ? r->assist_ns * 100 / r->mark_ns : 0, r->mark_ns / 1000,
            r->assist_work >> 10, r->stolen >> 10, r->wait_ns / 1000);
    const struct as_mutator *m[2] = {&r->heavy, &r->light};
    for (int i = 0; i < 2; i++) {
        uint64_t price = (m[i]->acct.work + m[i]->acct.stolen) * 1000 / (m[i]->bytes_marking | 1);
        kprintf("#   %s mutator: %lu KiB allocated (%lu KiB during marks), assists scanned %lu "
                "KiB and took %lu KiB of credit (%lu.%03lu per byte), %u parks, %ld KiB of "
                "credit at most\n",
                i ? "light" : "heavy", m[i]->bytes >> 10, m[i]->bytes_marking >> 10,
                m[i]->acct.work >> 10, m[i]->acct.stolen >> 10, price / 1000, price % 1000,
                m[i]->acct.parks, m[i]->acct.credit_peak >> 10);
    }
}

static uint64_t paid(const struct as_mutator *m) { return m->acct.work + m->acct.stolen; }

KTEST(gc_assist_bounds_peak_heap, KTEST_QUICK)
{
    if (smp_ncpu() < 2) {
        /* the collector task waits in gc_collect: the main worker then
         * runs full time (mgc.c WORKERS), and no task allocates meanwhile */
        kprintf("# one CPU: the cycles are waited for, so no task allocates during a mark\n");
        return;
    }
    uint32_t stw = gc_get_stoptheworld(), cm = gc_get_checkmark();
    int32_t gogc = gc_set_percent(-1);
    uint64_t id = 0;
    as_tree = as_build(AS_DEPTH, &id);
    gc_set_percent(100);
    gc_set_stoptheworld(0);
    gc_set_checkmark(GC_CHECKMARK_REPORT);
    as_reports = as_other = 0;
    alloc_error_hook_t hook = alloc_set_error_hook(as_hook);
    static struct as_result on, late, off; /* not on the runner's stack */
    as_run(0, 0, &on);
    as_run(0, AS_STOP_DELAY_US, &late);
    uint32_t reports = as_reports;
    as_run(1, 0, &off);
    alloc_set_error_hook(hook);
    gc_set_checkmark(cm);
    gc_set_stoptheworld(stw);
    gc_set_percent(gogc);
    uint32_t bad = 0, n = as_count(as_tree, &bad), want = (2u << AS_DEPTH) - 1;
    as_tree = 0;
    as_print("assists on", &on);
    as_print("assists on, the second pause 20 ms after it was asked for", &late);
    as_print("assists off (control)", &off);
    KCHECKF(on.concurrent >= AS_CYCLES, "%u concurrent cycles of %u", on.concurrent, on.cycles);
    KCHECKF(on.over == 0, "assists on: %u cycles past 1.1 x goal (peak %lu.%03lu x)", on.over,
            on.peak_ppm / 1000000, on.peak_ppm % 1000000 / 1000);
    KCHECKF(late.concurrent >= AS_CYCLES && late.over == 0,
            "the world stopped %u us after the request: %u of %u concurrent cycles past 1.1 x "
            "goal (peak %lu.%03lu x)", AS_STOP_DELAY_US, late.over, late.concurrent,
            late.peak_ppm / 1000000, late.peak_ppm % 1000000 / 1000);
    KCHECKF(reports == 0 && as_other == 0, "%u checkmark reports with assists (the first: %s)",
            reports, as_first);
    KCHECKF(n == want && bad == 0, "%u of %u nodes, %u bad", n, want, bad);
    KCHECKF(on.heavy.bytes_marking > 0 && paid(&on.heavy) > 0,
            "the heavy mutator allocated %lu B during marks and paid %lu B of scan work",
            on.heavy.bytes_marking, paid(&on.heavy));
    /* charged by what each allocated: the same price per byte, within 2x
     * (the price changes during a mark; both buy across all of it) */
    uint64_t ph = paid(&on.heavy) * 1000 / (on.heavy.bytes_marking | 1);
    uint64_t pl = paid(&on.light) * 1000 / (on.light.bytes_marking | 1);
    KCHECKF(on.light.bytes_marking > (1u << 20) && ph <= 2 * pl && pl <= 2 * ph,
            "assists not charged by allocation: heavy allocated %lu B during marks and paid "
            "%lu.%03lu scan bytes per byte, light %lu B and %lu.%03lu", on.heavy.bytes_marking,
            ph / 1000, ph % 1000, on.light.bytes_marking, pl / 1000, pl % 1000);
    KCHECKF(off.over > 0 && off.assist_work == 0 && off.stolen == 0,
            "control (assists off): %u cycles past 1.1 x goal, %lu B assisted: the bound was "
            "not tested", off.over, off.assist_work);
    testutil_verify_or_fail("the assist test");
    gc_collect();
}
