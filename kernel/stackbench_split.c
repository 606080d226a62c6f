/*
 * stackbench_split.c — the stack benchmarks of the `hotsplit` word and
 * command (compiled with -fsplit-stack like task code):
 *   - the hot split: a loop calls a function whose 1 KiB frame does not fit
 *     the 2 KiB starting stack; segmented mode allocates and frees a segment
 *     per call (optionally with the spare-segment cache), contiguous mode
 *     grows once (Go's reason to switch to contiguous stacks in 1.3);
 *   - growth from 2 KiB to 1 MiB in each mode.
 * hot_split_run is also what the self-test stack_hot_split_counts checks
 * (counts, not times).
 */
#include "fmt.h"
#include "kernel.h"
#include "shell.h"
#include "stackbench.h"
#include "task.h"

/* The callee's 1 KiB frame never fits in what the 2 KiB starting stack has
 * above its guard: in segmented mode every call allocates and frees a
 * segment; in contiguous mode the first call grows the stack once. */
static __attribute__((noinline)) uint64_t hot_callee(uint64_t x)
{
    volatile uint8_t buf[1024];
    buf[0] = (uint8_t)x;
    buf[1023] = 1;
    return buf[0] + buf[1023];
}

struct hot_arg {
    uint64_t calls, ns, sum;
};

static void hot_task(void *p)
{
    struct hot_arg *a = p;
    uint64_t t0 = nanotime();
    for (uint64_t i = 0; i < a->calls; i++)
        a->sum += hot_callee(i);
    a->ns = nanotime() - t0;
}

void hot_split_run(enum task_mode m, uint64_t calls, int cache, struct hot_result *r)
{
    task_stats_reset();
    task_segment_cache = cache;
    struct hot_arg a = {calls, 0, 0};
    struct task *t = task_spawn("hot", hot_task, &a, m);
    if (!t)
        return;
    sched_run();
    task_segment_cache = 0;
    struct stack_stats s;
    task_stack_stats(m, &s);
    r->ns_per_call_x10 = a.ns * 10 / calls;
    r->segs_per_call_x100 = (s.segs_alloc + s.segs_free) * 100 / calls;
    r->grows = s.grows;
    task_reap(t);
}

static void print_x10(const char *label, uint64_t v) { kprintf("%s%lu.%lu", label, v / 10, v % 10); }

void hot_split_bench(uint64_t calls)
{
    struct hot_result seg = {0, 0, 0}, segc = {0, 0, 0}, cont = {0, 0, 0};
    hot_split_run(TASK_STACK_SEGMENTED, calls, 0, &seg);
    hot_split_run(TASK_STACK_SEGMENTED, calls, 1, &segc);
    hot_split_run(TASK_STACK_CONTIGUOUS, calls, 0, &cont);
    kprintf("hot split: %lu calls of a function whose 1 KiB frame does not fit the current stack\n", calls);
    kprintf("  %-22s %12s %16s %8s\n", "mode", "ns/call", "segment ops/call", "grows");
    struct {
        const char *n;
        struct hot_result *r;
    } rows[] = {{"segmented", &seg}, {"segmented+spare", &segc}, {"contiguous", &cont}};
    for (int i = 0; i < 3; i++) {
        kprintf("  %-22s", rows[i].n);
        print_x10("        ", rows[i].r->ns_per_call_x10);
        kprintf("           %lu.%02lu %8lu\n", rows[i].r->segs_per_call_x100 / 100,
                rows[i].r->segs_per_call_x100 % 100, rows[i].r->grows);
    }
    if (cont.ns_per_call_x10)
        kprintf("  segmented / contiguous time ratio: %lu.%02lu\n",
                seg.ns_per_call_x10 / cont.ns_per_call_x10,
                seg.ns_per_call_x10 * 100 / cont.ns_per_call_x10 % 100);
}

/* Growth by copying from 2 KiB to 1 MiB. */
struct growth_arg {
    uint64_t ns, size, sum;
};

/* A frame with a local array, so that each level takes real stack. */
static __attribute__((noinline)) uint64_t grow_recurse(uint64_t depth)
{
    volatile uint64_t local[6];
    for (int i = 0; i < 6; i++)
        local[i] = depth + (uint64_t)i;
    return (depth ? grow_recurse(depth - 1) : 0) + local[0];
}

static void growth_task(void *p)
{
    struct growth_arg *a = p;
    uint64_t t0 = nanotime();
    a->sum = grow_recurse(11000); /* ~96 bytes a frame: just over 1 MiB */
    a->ns = nanotime() - t0;
    a->size = task_current()->max_stack;
}

void stack_growth_bench(void)
{
    for (int mi = 0; mi < 2; mi++) {
        enum task_mode m = mi ? TASK_STACK_SEGMENTED : TASK_STACK_CONTIGUOUS;
        task_stats_reset();
        struct growth_arg a = {0, 0, 0};
        struct task *t = task_spawn("growth", growth_task, &a, m);
        if (!t)
            return;
        sched_run();
        struct stack_stats s;
        task_stack_stats(m, &s);
        kprintf("growth 2 KiB -> %lu KiB (%s): %lu us, %lu grows, %lu copies, %lu KiB copied, "
                "%lu segments\n",
                a.size >> 10, m == TASK_STACK_SEGMENTED ? "segmented" : "contiguous", a.ns / 1000, s.grows, s.copies,
                s.bytes_copied >> 10, s.segs_alloc);
        task_reap(t);
    }
}

static void cmd_hotsplit(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    hot_split_bench(20000);
    stack_growth_bench();
}
SHELL_CMD("hotsplit", "stack benchmark: hot split per mode, growth 2 KiB -> 1 MiB", cmd_hotsplit);
