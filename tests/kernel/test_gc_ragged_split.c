/*
 * test_gc_ragged_split.c — Go's ragged barrier at mark termination
 * (alloc/mgc.c RAGGED BARRIER, mwbbuf.c): before the second pause every
 * CPU flushes its own write-barrier buffer at a safepoint, with the world
 * running.  Compiled with -fsplit-stack like task code.
 *
 * Each mutator task (one per CPU) owns a list of 8192 nodes hanging from
 * a global table, and moves nodes from its back half to its front through
 * GC_WB (unlink, then push at the head), while a collector task forces
 * cycles.  The marker walks each list from the head, so a node moved from
 * the part it has not reached yet to the part it has is white, and only the
 * barrier's record of the unlink (Yuasa) lets the mark find it: those
 * records sit in the mutator CPU's buffer and queue until a flush.  With
 * the ragged barrier, every concurrent cycle runs at least one round and
 * some CPU hands such work over before the pause; the control
 * (gc_debug_no_ragged) runs none, and its pause finds the work instead.
 * Both runs: gccheckmark finds nothing missed, every list holds all its
 * nodes, whole, heap_verify passes.  (With one CPU the collector task's
 * wait makes the main worker run full time and the mutators hardly store
 * during a mark: only the rounds are checked there.)
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

#define RG_NODES 8192
#define RG_CYCLES 6
#define RG_MAX_MUT 8

struct rnode {
    struct rnode *next;
    uint64_t id, check;
};
static const uint8_t rnode_mask[1] = {0x1};
static const gotype rnode_type = {sizeof(struct rnode), 8, rnode_mask, "rnode"};
static uint64_t rcheck(uint64_t id) { return id * 0x9E3779B97F4A7C15ull + 99; }

static struct rnode *rg_list[RG_MAX_MUT]; /* roots (bss): one list per mutator */
static volatile int rg_stop;

static struct rnode *rg_build(uint32_t m)
{
    struct rnode *head = 0;
    for (uint32_t i = 0; i < RG_NODES; i++) {
        struct rnode *n = newobject(&rnode_type);
        n->id = (uint64_t)m << 32 | i;
        n->check = rcheck(n->id);
        GC_WB(n->next, head);
        head = n;
    }
    return head;
}

/* Node k's predecessor moves k to the front (three barriered stores). */
static void rg_move(struct rnode **list, uint32_t k)
{
    struct rnode *prev = *list;
    for (uint32_t i = 1; i < k && prev->next && prev->next->next; i++)
        prev = prev->next;
    struct rnode *n = prev->next;
    if (!n)
        return;
    GC_WB(prev->next, n->next); /* the unlink: n is recorded as it leaves */
    GC_WB(n->next, *list);
    GC_WB(*list, n);
}

static void rg_mutate(void *arg)
{
    uint32_t m = (uint32_t)(uintptr_t)arg;
    uint64_t x = 0x2545F4914F6CDD1Dull ^ m;
    for (uint32_t i = 0; !__atomic_load_n(&rg_stop, __ATOMIC_ACQUIRE); i++) {
        if ((i & 3) == 0)
            task_yield();
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        rg_move(&rg_list[m], RG_NODES / 2 + (uint32_t)(x % (RG_NODES / 2)));
    }
}

static void rg_collector(void *arg)
{
    (void)arg;
    for (int i = 0; i < RG_CYCLES; i++)
        gc_collect();
    __atomic_store_n(&rg_stop, 1, __ATOMIC_RELEASE);
}

struct rg_result {
    uint32_t cycles, concurrent, rounds, flushes, missed, pause_flushes;
};

static uint32_t rg_reports;
static void rg_hook(const char *msg)
{
    if (!rg_reports)
        kprintf("# %s\n", msg);
    rg_reports++;
}

static void rg_run(uint32_t no_ragged, struct rg_result *res)
{
    __builtin_memset(res, 0, sizeof *res);
    gc_collect();
    uint32_t n0 = gc_num_cycles(), n = smp_ncpu() < RG_MAX_MUT ? smp_ncpu() : RG_MAX_MUT;
    rg_stop = 0;
    gc_debug_no_ragged = no_ragged;
    struct task *t[RG_MAX_MUT + 1];
    t[0] = task_spawn("rg-collector", rg_collector, 0, TASK_STACK_CONTIGUOUS);
    for (uint32_t i = 1; i <= n; i++)
        t[i] = task_spawn("rg-mutator", rg_mutate, (void *)(uintptr_t)(i - 1),
                          TASK_STACK_CONTIGUOUS);
    sched_run();
    gc_debug_no_ragged = 0;
    for (uint32_t i = 0; i <= n; i++)
        task_reap(t[i]);
    for (uint32_t c = n0 + 1; c <= gc_num_cycles(); c++) {
        struct gc_cycle_record r;
        if (!gc_cycle_record(c, &r))
            continue;
        res->cycles++;
        if (!r.concurrent)
            continue;
        res->concurrent++;
        res->rounds += r.ragged_rounds;
        res->flushes += r.ragged_flushes;
        res->missed += r.ragged_missed;
        res->pause_flushes += r.wb_pause_flushes;
    }
}

static void rg_print(const char *what, const struct rg_result *r)
{
    kprintf("# %s: %u cycles (%u concurrent); ragged barrier: %u rounds, %u CPU flushes handed "
            "work over, %u CPUs did not answer in time; the second pause: %u CPU flushes with "
            "work\n", what, r->cycles, r->concurrent, r->rounds, r->flushes, r->missed,
            r->pause_flushes);
}

/* Lists whose nodes are not all there, whole and live. */
static uint32_t rg_bad_lists(void)
{
    uint32_t bad = 0;
    for (uint32_t m = 0; m < RG_MAX_MUT; m++) {
        uint64_t count = 0, sum = 0, broken = 0;
        for (struct rnode *n = rg_list[m]; n && count <= RG_NODES; n = n->next, count++) {
            sum += n->id & 0xffffffffu;
            broken += n->check != rcheck(n->id) || n->id >> 32 != m ||
                      gc_object_state(n) != GC_OBJ_LIVE;
        }
        bad += count != RG_NODES || broken || sum != (uint64_t)RG_NODES * (RG_NODES - 1) / 2;
    }
    return bad;
}

KTEST(gc_ragged_barrier_flushes_before_the_pause, KTEST_QUICK)
{
    uint32_t stw = gc_get_stoptheworld(), cm = gc_get_checkmark();
    for (uint32_t m = 0; m < RG_MAX_MUT; m++)
        rg_list[m] = rg_build(m);
    gc_set_stoptheworld(0);
    gc_set_checkmark(GC_CHECKMARK_REPORT);
    rg_reports = 0;
    alloc_error_hook_t hook = alloc_set_error_hook(rg_hook);
    static struct rg_result on, off;
    rg_run(0, &on);
    uint32_t bad_on = rg_bad_lists();
    rg_run(1, &off);
    uint32_t bad_off = rg_bad_lists();
    alloc_set_error_hook(hook);
    gc_set_checkmark(cm);
    gc_set_stoptheworld(stw);
    for (uint32_t m = 0; m < RG_MAX_MUT; m++)
        rg_list[m] = 0;
    rg_print("ragged barrier", &on);
    rg_print("no ragged barrier (control)", &off);
    KCHECKF(on.concurrent >= RG_CYCLES && off.concurrent >= RG_CYCLES,
            "%u and %u concurrent cycles", on.concurrent, off.concurrent);
    /* one CPU: a task that waits in gc_collect makes the main worker run
     * full time, and the mutators hardly store during a mark */
    bool others = smp_ncpu() > 1;
    if (!others)
        kprintf("# one CPU: the mutators hardly run during a mark; rounds checked only\n");
    KCHECKF(on.rounds >= on.concurrent && (on.flushes > 0 || !others),
            "ragged barrier: %u rounds in %u concurrent cycles, %u CPU flushes with work",
            on.rounds, on.concurrent, on.flushes);
    KCHECKF(off.rounds == 0 && off.flushes == 0 && (off.pause_flushes > 0 || !others),
            "control: %u ragged rounds, %u flushes; the pause flushed %u CPUs with work",
            off.rounds, off.flushes, off.pause_flushes);
    KCHECKF(rg_reports == 0, "%u checkmark reports", rg_reports);
    KCHECKF(bad_on == 0 && bad_off == 0, "%u and %u broken lists", bad_on, bad_off);
    testutil_verify_or_fail("the ragged barrier test");
    gc_collect();
}
