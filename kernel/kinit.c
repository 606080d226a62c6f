/*
 * kinit.c — late initialisation: the subsystems built on frames + paging
 * (the heap), and the after-test reports the command line asks for.
 */
#include "kinit.h"
#include "../alloc/debug.h"
#include "../alloc/malloc.h"
#include "../alloc/mgc.h"
#include "../alloc/mstats.h"
#include "../alloc/stack.h"
#include "fmt.h"
#include "frame.h"
#include "gcbench.h"
#include "gcshell.h"
#include "kernel.h"
#include "paging.h"
#include "pprof.h"
#include "ktest.h"
#include "shell.h"
#include "smp.h"
#include "stackbench.h"
#include "task.h"

__attribute__((weak)) void smp_init(void) {}

/* PER-TEST LEAK CHECK (xv6's countfree idea, extended to the heap): what a
 * self-test leaves behind is a failure naming it.  Compared before and
 * after each test:
 *   - live kmalloc objects (KmallocObjects: explicitly freed memory must
 *     be freed; collected memory is the collector's business);
 *   - stacks handed out (StackInuse of the stack allocator, not its caches);
 *   - frames in use that no allocator accounts for: used frames minus the
 *     heap's Ready bytes, persistentalloc's bytes and page-table pages (a
 *     frame_alloc without frame_free, a map without unmap).
 * Caches may grow and shrink freely between the two snapshots. */
struct leak_snapshot {
    uint64_t kmalloc_objects, stack_inuse, other_frames;
};
static struct leak_snapshot leak_before;

static void leak_take(struct leak_snapshot *s)
{
    struct memstats m;
    read_memstats(&m);
    struct stackstats ss;
    read_stackstats(&ss);
    s->kmalloc_objects = m.KmallocObjects;
    s->stack_inuse = ss.inuse_bytes;
    s->other_frames = (frame_total() - frame_free_count()) - m.Ready / FRAME_SIZE -
                      m.MetaReady / FRAME_SIZE - paging_table_pages();
}

void kinit_leak_snapshot(void) { leak_take(&leak_before); }

int kinit_leak_check(char *err, uint64_t n)
{
    struct leak_snapshot a;
    leak_take(&a);
    const struct leak_snapshot *b = &leak_before;
    if (a.kmalloc_objects != b->kmalloc_objects || a.stack_inuse != b->stack_inuse ||
        a.other_frames != b->other_frames) {
        ksnprintf(err, n, "leak: kmalloc objects %lu -> %lu, stacks in use %lu -> %lu B, "
                  "unaccounted frames %lu -> %lu", b->kmalloc_objects, a.kmalloc_objects,
                  b->stack_inuse, a.stack_inuse, b->other_frames, a.other_frames);
        return 0;
    }
    return 1;
}

/* heap_verify reads the statistics after its locked walk: a background
 * sweeper on an idle CPU still freeing a cycle's garbage would move them in
 * between (HeapInuse one span short of the walk), and its frees would count
 * in the next test's Frees.  So the sweep is finished first. */
static int after_test(char *err, uint64_t n)
{
    gc_finish_sweep();
    return heap_verify(err, n) && kinit_leak_check(err, n);
}

static void emit_line(const char *line) { kprintf("%s\n", line); }

/* Task stacks: the stack allocator's figures and growth per mode, as a
 * table and as `stat stack ...` facts (same conventions as memstats). */
static void stack_stats_print(int facts)
{
    struct stackstats ss;
    read_stackstats(&ss);
    static const char *const names[2] = {"contiguous", "segmented"};
    if (!facts) {
        kprintf("stacks\n  in use %lu B, cached %lu B, pool spans %lu, large spans %lu, "
                "stackalloc %lu, stackfree %lu\n",
                ss.inuse_bytes, ss.cached_bytes, ss.pool_spans, ss.large_spans, ss.allocs, ss.frees);
        kprintf("  %-11s %8s %8s %14s %10s %10s %8s %12s %7s\n", "mode", "grows", "copies",
                "bytes copied", "segs alloc", "segs free", "shrinks", "largest", "killed");
    } else {
        kprintf("stat stack inuse %lu cached %lu allocs %lu frees %lu\n", ss.inuse_bytes,
                ss.cached_bytes, ss.allocs, ss.frees);
    }
    for (int m = 0; m < 2; m++) {
        struct stack_stats s;
        task_stack_stats((enum task_mode)m, &s);
        if (!facts)
            kprintf("  %-11s %8lu %8lu %14lu %10lu %10lu %8lu %12lu %7lu\n", names[m], s.grows,
                    s.copies, s.bytes_copied, s.segs_alloc, s.segs_free, s.shrinks, s.largest,
                    s.killed);
        else
            kprintf("stat stack mode %s grows %lu copies %lu bytes_copied %lu segs_alloc %lu "
                    "segs_free %lu shrinks %lu largest %lu killed %lu\n",
                    names[m], s.grows, s.copies, s.bytes_copied, s.segs_alloc, s.segs_free,
                    s.shrinks, s.largest, s.killed);
    }
}

void kinit_late(void)
{
    smp_init();
    uint64_t t0 = nanotime();
    malloc_init();
    ktest_set_hooks(kinit_leak_snapshot, after_test);
    task_init();
    if (kernel_cmdline.stack_segmented)
        task_default_mode = TASK_STACK_SEGMENTED;
    if (kernel_cmdline.maxstack)
        task_max_stack = kernel_cmdline.maxstack;
    task_segment_cache = kernel_cmdline.segcache;
    gc_apply_cmdline(&kernel_cmdline);
    pprof_apply_cmdline(&kernel_cmdline);
    struct memstats m;
    read_memstats_heap(&m);
    kprintf("heap: ready in %lu us (%u CPUs, %lu arenas)\n", (nanotime() - t0) / 1000,
            plat_ncpu(), m.Arenas);
    if (ALLOC_DEBUG)
        kprintf("alloc: debug level %d (span recounts, free slots poisoned and checked)\n",
                ALLOC_DEBUG);
}

void alloc_bench_run(int which); /* bench.c */

void kinit_after_tests(const struct cmdline *c)
{
    pprof_after_tests(c);
    gc_after_tests(c);
    if (c->cpus)
        smp_print_cpus();
    if (c->hotsplit) {
        hot_split_bench(20000);
        stack_growth_bench();
    }
    if (c->bench)
        alloc_bench_run(0);
    if (c->gcbench)
        gcbench_run(c->gcbench_which, 16);
    if (c->classes)
        sizeclasses_print(emit_line);
    if (c->heapmap)
        shell_exec("heapmap -f"); /* the map make heapmap draws */
    if (c->stats) {
        memstats_print_table(emit_line);
        stack_stats_print(0);
        memstats_print_facts(emit_line);
        stack_stats_print(1);
    }
}

/* ---------------------------------------------------------------- shell */

static void cmd_stats(int argc, char **argv)
{
    int facts = argc > 1 && !__builtin_strcmp(argv[1], "-f");
    if (facts)
        memstats_print_facts(emit_line);
    else
        memstats_print_table(emit_line);
    stack_stats_print(facts);
}
SHELL_CMD("stats", "memory statistics (stats -f: one fact per line)", cmd_stats);

static void cmd_classes(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    sizeclasses_print(emit_line);
}
SHELL_CMD("classes", "the size-class table", cmd_classes);

static void cmd_verify(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    char err[300];
    if (heap_verify(err, sizeof err))
        kprintf("heap_verify: ok\n");
    else
        kprintf("%s\n", err);
}
SHELL_CMD("verify", "check every heap invariant (heap_verify)", cmd_verify);

static void cmd_scavenge(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    malloc_flush_all_mcaches();
    kprintf("scavenge: released %lu KiB of free heap pages\n", heap_scavenge(~0ull) >> 10);
}
SHELL_CMD("scavenge", "flush caches and return free heap pages' frames", cmd_scavenge);

static void cmd_shrink(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    task_request_shrink();
    kprintf("shrink: the next scheduling round halves stacks using under a quarter\n");
}
SHELL_CMD("shrink", "request a stack shrink pass", cmd_shrink);
