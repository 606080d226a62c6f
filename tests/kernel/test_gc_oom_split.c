/*
 * test_gc_oom_split.c — out of memory while a concurrent mark runs
 * (alloc/mgc.c gc_emergency, malloc.c): an allocation that finds no memory
 * waits for the running cycle's end (its assists pace the allocating tasks
 * meanwhile), then runs an emergency cycle of its own (or takes one another
 * task ran), and only if a few of those free nothing does Go's fatal "out
 * of memory" follow.  Compiled with -fsplit-stack like task code.
 *
 * The heap may back only 12 MiB more than it holds after a first cycle and
 * a scavenge (kernel_debug_heap_limit), 4 MiB of it a live tree; a collector task
 * starts a cycle after every 8 MiB allocated (gc_start) while one task per
 * CPU makes 32 KiB
 * garbage objects, 32 MiB each, far more than fits.  mallocgc returns NULL instead of the fatal
 * error here (GC_OOM_RETURN_NULL), counted:
 *   rule: no allocation fails, and at least one found no memory while a
 *     cycle ran (OOMWaits; OOMInMark counts those while it marked, most of
 *     them) and recovered;
 *   control (GC_OOM_NO_EMERGENCY: no waiting, no emergency cycle):
 *     allocations fail.
 * Then the tree is whole and heap_verify passes.
 */
#include "../../alloc/malloc.h"
#include "../../alloc/mgc.h"
#include "fmt.h"
#include "kernel.h"
#include "ktest.h"
#include "smp.h"
#include "task.h"
#include "testutil.h"

#define OM_DEPTH 16               /* 2^17 - 1 nodes of 32 B: 4 MiB */
#define OM_ROOM (12ull << 20)     /* what the heap may back beyond the first cycle's */
#define OM_OBJECT 32768u
#define OM_PER_TASK 1024u         /* 32 MiB each */
#define OM_MAX_MUT 4

static struct testutil_node *om_tree; /* root (bss) */
static uint32_t om_done;      /* mutators finished (atomic) */
static uint64_t om_allocs;    /* allocations made, all mutators (atomic) */

static void om_mutate(void *arg)
{
    (void)arg;
    for (uint32_t i = 0; i < OM_PER_TASK; i++) {
        if ((i & 3) == 0)
            task_yield();
        void *p = mallocgc(OM_OBJECT, 0, false);
        __asm__ volatile("" : : "r"(p) : "memory");
        __atomic_add_fetch(&om_allocs, 1, __ATOMIC_RELAXED);
    }
    __atomic_add_fetch(&om_done, 1, __ATOMIC_RELEASE);
}

static bool om_going(uint32_t n) { return __atomic_load_n(&om_done, __ATOMIC_ACQUIRE) < n; }

/* A cycle each time the mutators made another OM_GAP, started without
 * waiting for it (gc_start: a task in gc_collect would make the main worker
 * run full time, and on few CPUs the mutators would hardly allocate during
 * a mark); back to back, the marks' black garbage would hold the heap at
 * its goal and the mutators in their assists. */
#define OM_GAP (8u << 20)
/* Runs of the rule until one has an allocation meet the limit while a
 * cycle runs: on a loaded host (the make test matrix runs QEMUs side by
 * side) every exhaustion of a run can fall between cycles — 7 cycles, 3
 * emergency, 0 waits in one 2-CPU boot — which tests nothing wrong. */
#define OM_TRIES 4
static void om_collector(void *arg)
{
    uint32_t n = (uint32_t)(uintptr_t)arg;
    while (om_going(n)) {
        uint64_t next = __atomic_load_n(&om_allocs, __ATOMIC_RELAXED) + OM_GAP / OM_OBJECT;
        while (om_going(n) && __atomic_load_n(&om_allocs, __ATOMIC_RELAXED) < next)
            task_yield();
        uint32_t c = gc_num_cycles();
        gc_start();
        while (gc_num_cycles() == c && om_going(n))
            task_yield();
    }
}

struct om_result {
    uint64_t nulls;
    uint32_t waits, in_mark, cycles, oom_cycles;
    uint64_t peak_backed;
};

static void om_run(uint32_t mode, struct om_result *res)
{
    static struct gc_stats a, b; /* 2 KiB each: not on the runner's stack */
    __builtin_memset(res, 0, sizeof *res);
    gc_collect();
    gc_read_stats(&a);
    uint32_t n0 = a.NumGC, n = smp_ncpu() < OM_MAX_MUT ? smp_ncpu() : OM_MAX_MUT;
    gc_debug_oom_nulls = 0;
    om_done = 0;
    om_allocs = 0;
    /* free pages earlier tests left backed would be room on top */
    malloc_flush_all_mcaches();
    heap_scavenge(~0ull);
    kernel_debug_heap_limit = kernel_heap_backed() + OM_ROOM;
    gc_debug_oom = mode;
    struct task *t[OM_MAX_MUT + 1];
    t[0] = task_spawn("om-collector", om_collector, (void *)(uintptr_t)n, TASK_STACK_CONTIGUOUS);
    for (uint32_t i = 1; i <= n; i++)
        t[i] = task_spawn("om-mutator", om_mutate, 0, TASK_STACK_CONTIGUOUS);
    sched_run();
    gc_debug_oom = 0;
    res->peak_backed = kernel_heap_backed();
    kernel_debug_heap_limit = 0;
    for (uint32_t i = 0; i <= n; i++)
        task_reap(t[i]);
    gc_read_stats(&b);
    res->nulls = gc_debug_oom_nulls;
    res->waits = b.OOMWaits - a.OOMWaits;
    res->in_mark = b.OOMInMark - a.OOMInMark;
    res->cycles = b.NumGC - n0;
    for (uint32_t c = n0 + 1; c <= b.NumGC; c++) {
        struct gc_cycle_record r;
        if (gc_cycle_record(c, &r) && r.trigger == GC_TRIGGER_OOM)
            res->oom_cycles++;
    }
}

static void om_print(const char *what, const struct om_result *r)
{
    kprintf("# %s: %u cycles (%u emergency); %u allocations found no memory while a cycle ran "
            "(%u while it marked) and waited for its end; %lu allocations failed\n", what,
            r->cycles, r->oom_cycles, r->waits, r->in_mark, r->nulls);
}

KTEST(gc_out_of_memory_during_concurrent_mark, KTEST_QUICK)
{
    uint32_t stw = gc_get_stoptheworld();
    int32_t gogc = gc_set_percent(-1);
    uint64_t id = 0;
    om_tree = testutil_tree_build(OM_DEPTH, &id);
    gc_set_percent(400); /* the goal lies past the limit: memory runs out first */
    gc_set_stoptheworld(0);
    static struct om_result rule, ctl;
    uint32_t tries = 0;
    do /* every run must fail no allocation; one must reach the case */
        om_run(GC_OOM_RETURN_NULL, &rule);
    while (rule.nulls == 0 && rule.waits == 0 && ++tries < OM_TRIES);
    om_run(GC_OOM_RETURN_NULL | GC_OOM_NO_EMERGENCY, &ctl);
    gc_set_stoptheworld(stw);
    gc_set_percent(gogc);
    uint32_t bad = 0, n = testutil_tree_count(om_tree, &bad), want = (2u << OM_DEPTH) - 1;
    om_tree = 0;
    kprintf("# runs of the rule: %u\n", tries + (rule.waits > 0 || rule.nulls > 0));
    om_print("waits and emergency cycles", &rule);
    om_print("neither (control)", &ctl);
    KCHECKF(rule.nulls == 0, "%lu allocations failed with %u emergency cycles", rule.nulls,
            rule.oom_cycles);
    /* mostly while it marks (1, 2, 8 CPUs here); on a loaded host the
     * first pause and the sweep termination before it take longer, and
     * the allocations may all fall there */
    KCHECKF(rule.waits > 0, "no allocation found memory exhausted while a cycle ran (%u "
            "cycles, %u runs): the test did not reach its case", rule.cycles, OM_TRIES);
    KCHECKF(ctl.nulls > 0 && ctl.waits == 0 && ctl.oom_cycles == 0,
            "control: %lu allocations failed, %u waits, %u emergency cycles", ctl.nulls,
            ctl.waits, ctl.oom_cycles);
    KCHECKF(n == want && bad == 0, "%u of %u nodes, %u bad", n, want, bad);
    testutil_verify_or_fail("the out-of-memory test");
    gc_collect();
}
