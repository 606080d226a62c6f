/*
 * test_stack_split.c — tasks whose stacks grow.  This file is compiled with
 * -fsplit-stack (Makefile: *_split.c), so every function here checks its
 * frame against the running task's guard, exactly like task code.
 *
 * Task bodies never use KREQUIRE (it would jump off the task's stack); they
 * record results in their argument and the test checks after sched_run().
 */
#include "../../alloc/malloc.h"
#include "../../alloc/mstats.h"
#include "../../alloc/stack.h"
#include "cpu.h"
#include "kernel.h"
#include "ktest.h"
#include "shell.h"
#include "smp.h"
#include "stackbench.h"
#include "task.h"

#include <stdarg.h>

/* ------------------------------------------------------------ helpers */

static const enum task_mode modes[2] = {TASK_STACK_CONTIGUOUS, TASK_STACK_SEGMENTED};
static const char *mode_name(enum task_mode m)
{
    return m == TASK_STACK_SEGMENTED ? "segmented" : "contiguous";
}

static uint64_t stack_baseline(void)
{
    stack_cache_flush_all();
    struct memstats m;
    read_memstats_heap(&m);
    return m.StackInuse;
}

/* ------------------------------------------------------------ deep recursion */

/* Each frame holds a local array; a pointer to it goes down the chain and
 * is read back on the way up — if growth broke a pointer, sums differ. */
static __attribute__((noinline)) uint64_t recurse(uint64_t depth, uint64_t *parent)
{
    uint64_t local[6];
    for (int i = 0; i < 6; i++)
        local[i] = depth * 7 + (uint64_t)i;
    uint64_t below = depth ? recurse(depth - 1, local) : 0;
    /* the parent's array is still readable and intact through the pointer */
    uint64_t sum = below + local[0] + local[5];
    if (parent)
        sum += parent[0] - (depth + 1) * 7; /* == 0 when intact */
    return sum;
}

static uint64_t expected_sum(uint64_t depth)
{
    uint64_t s = 0;
    for (uint64_t d = 0; d <= depth; d++)
        s += d * 7 + d * 7 + 5;
    return s;
}

struct deep_arg {
    uint64_t depth, sum, stack_after;
};

static void deep_task(void *p)
{
    struct deep_arg *a = p;
    a->sum = recurse(a->depth, 0);
    a->stack_after = task_current()->max_stack;
}

KTEST(stack_deep_recursion_both_modes, KTEST_QUICK)
{
    for (int m = 0; m < 2; m++) {
        struct deep_arg a = {100000, 0, 0};
        struct task *t = task_spawn("deep", deep_task, &a, modes[m]);
        KREQUIRE(t);
        sched_run();
        KCHECKF(!t->killed, "%s: task killed", mode_name(modes[m]));
        KCHECKF(a.sum == expected_sum(a.depth), "%s: checksum %lu, want %lu", mode_name(modes[m]),
                a.sum, expected_sum(a.depth));
        KCHECKF(a.stack_after > 1000000, "%s: stack only reached %lu bytes", mode_name(modes[m]),
                a.stack_after);
        kprintf("# %s: 100000 frames, stack reached %lu KiB\n", mode_name(modes[m]), a.stack_after >> 10);
        task_reap(t);
    }
}

/* The command line's stack= word picks the mode of tasks spawned with
 * task_default_mode (the matrix boots once with stack=segmented). */
KTEST(stack_default_mode_from_cmdline, KTEST_QUICK)
{
    extern struct cmdline kernel_cmdline;
    enum task_mode want = kernel_cmdline.stack_segmented ? TASK_STACK_SEGMENTED : TASK_STACK_CONTIGUOUS;
    KCHECK(task_default_mode == want);
    struct deep_arg a = {20000, 0, 0};
    struct task *t = task_spawn("default", deep_task, &a, task_default_mode);
    KREQUIRE(t);
    KCHECK(t->mode == want);
    sched_run();
    KCHECK(a.sum == expected_sum(a.depth));
    kprintf("# default mode %s: 20000 frames, stack reached %lu KiB\n", mode_name(want),
            a.stack_after >> 10);
    task_reap(t);
}

/* ------------------------------------------------------------ pointers to locals */

struct regs_arg {
    int ok;
    uint64_t grows_seen;
};

static __attribute__((noinline)) uint64_t burn(uint64_t n)
{
    volatile uint8_t pad[512];
    pad[0] = (uint8_t)n;
    if (n == 0)
        return pad[0];
    return burn(n - 1) + pad[0];
}

/* `mine` lives in this frame; its address is kept in a callee-saved
 * register across the deep call (the compiler keeps p in rbx/r12..), and
 * `outer` points into the caller's frame.  After burn() grows and moves the
 * stack, both must point into the new stack and see the same data. */
static uint64_t frame_before; /* a global: the stack scan does not adjust it */

static __attribute__((noinline)) int check_after_growth(uint64_t *outer)
{
    uint64_t mine[4] = {11, 22, 33, 44};
    uint64_t *volatile pmine = mine;
    uint64_t *p = mine;
    frame_before = (uint64_t)p;
    burn(200); /* ~100 KiB of frames: several doublings */
    int ok = p[0] == 11 && p[3] == 44 && outer[0] == 0xabc && outer[1] == 0xdef;
    ok &= pmine == mine && (uint64_t)p == (uint64_t)mine;
    /* contiguous: the frame moved; segmented: it did not */
    if (task_current()->mode == TASK_STACK_CONTIGUOUS)
        ok &= (uint64_t)p != frame_before;
    else
        ok &= (uint64_t)p == frame_before;
    p[1] = 99;
    ok &= mine[1] == 99;
    return ok;
}

static void regs_task(void *arg)
{
    struct regs_arg *a = arg;
    uint64_t outer[2] = {0xabc, 0xdef};
    a->ok = check_after_growth(outer);
    a->grows_seen = task_current()->max_stack;
}

KTEST(stack_pointers_to_locals_survive_copy, KTEST_QUICK)
{
    for (int m = 0; m < 2; m++) {
        struct regs_arg a = {0, 0};
        struct task *t = task_spawn("locals", regs_task, &a, modes[m]);
        KREQUIRE(t);
        sched_run();
        KCHECKF(a.ok == 1, "%s: pointers to locals broken after growth", mode_name(modes[m]));
        KCHECK(a.grows_seen > 64 * 1024);
        task_reap(t);
    }
}

/* ------------------------------------------------------------ stack arguments */

/* 10 arguments: four are passed on the stack; the big frame forces the
 * split right at this function's entry, so __morestack must carry them. */
static __attribute__((noinline)) uint64_t many_args(uint64_t a, uint64_t b, uint64_t c, uint64_t d,
                                                    uint64_t e, uint64_t f, uint64_t g, uint64_t h,
                                                    uint64_t i, uint64_t j)
{
    volatile uint8_t big[1500];
    big[0] = 1;
    big[1499] = 2;
    return a + 2 * b + 3 * c + 4 * d + 5 * e + 6 * f + 7 * g + 8 * h + 9 * i + 10 * j + big[0] +
           big[1499];
}

static __attribute__((noinline)) uint64_t var_sum(int n, ...)
{
    volatile uint8_t big[1500];
    big[0] = 0;
    va_list ap;
    va_start(ap, n);
    uint64_t s = big[0];
    for (int k = 0; k < n; k++)
        s += va_arg(ap, uint64_t) * (uint64_t)(k + 1);
    va_end(ap);
    return s;
}

struct args_arg {
    uint64_t r1, r2, r3;
    int grew_at_varargs;
};

static __attribute__((noinline)) uint64_t nest_args(int depth)
{
    volatile uint8_t pad[300];
    pad[0] = 0;
    if (depth == 0)
        return many_args(1, 2, 3, 4, 5, 6, 7, 8, 9, 10) + pad[0];
    return nest_args(depth - 1) + pad[0];
}

static void args_task(void *p)
{
    struct args_arg *a = p;
    /* first call on the fresh 2 KiB stack: the varargs function itself splits */
    a->r2 = var_sum(12, 1ul, 2ul, 3ul, 4ul, 5ul, 6ul, 7ul, 8ul, 9ul, 10ul, 11ul, 12ul);
    a->grew_at_varargs = task_current()->max_stack > STACK_MIN;
    a->r1 = many_args(1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
    a->r3 = nest_args(50); /* growth at many depths */
}

KTEST(stack_args_and_varargs_across_growth, KTEST_QUICK)
{
    uint64_t want1 = 1 + 4 + 9 + 16 + 25 + 36 + 49 + 64 + 81 + 100 + 3;
    uint64_t want2 = 0;
    for (uint64_t k = 1; k <= 12; k++)
        want2 += k * k;
    for (int m = 0; m < 2; m++) {
        struct args_arg a = {0, 0, 0, 0};
        struct task *t = task_spawn("args", args_task, &a, modes[m]);
        KREQUIRE(t);
        sched_run();
        KCHECKF(a.r1 == want1, "%s: many_args %lu want %lu", mode_name(modes[m]), a.r1, want1);
        KCHECKF(a.r2 == want2, "%s: varargs %lu want %lu", mode_name(modes[m]), a.r2, want2);
        KCHECKF(a.r3 == want1, "%s: nested %lu want %lu", mode_name(modes[m]), a.r3, want1);
        KCHECKF(a.grew_at_varargs, "%s: the varargs call did not split", mode_name(modes[m]));
        task_reap(t);
    }
}

/* ------------------------------------------------------------ many tasks */

#define MANY 200
struct many_arg {
    uint64_t depth, sum;
    int yields;
};
static struct many_arg many[MANY];
static struct task *many_t[MANY];

static __attribute__((noinline)) uint64_t recurse_yield(uint64_t depth, uint64_t *parent)
{
    uint64_t local[6];
    for (int i = 0; i < 6; i++)
        local[i] = depth * 7 + (uint64_t)i;
    if (depth % 250 == 0)
        task_yield(); /* interleave with the other tasks, maybe move CPUs */
    uint64_t below = depth ? recurse_yield(depth - 1, local) : 0;
    uint64_t sum = below + local[0] + local[5];
    if (parent)
        sum += parent[0] - (depth + 1) * 7;
    return sum;
}

static void many_task(void *p)
{
    struct many_arg *a = p;
    a->sum = recurse_yield(a->depth, 0);
}

KTEST(stack_hundreds_of_tasks_all_cpus, KTEST_QUICK)
{
    uint64_t base = stack_baseline();
    for (int m = 0; m < 2; m++) {
        for (int i = 0; i < MANY; i++) {
            /* 300..1200 frames (~30–130 KiB each): 200 of them fit in 128 MiB */
            many[i].depth = 300 + (uint64_t)i * 37 % 900;
            many[i].sum = 0;
            many_t[i] = task_spawn("many", many_task, &many[i], modes[m]);
            KREQUIRE(many_t[i]);
        }
        sched_run();
        int bad = 0, killed = 0;
        for (int i = 0; i < MANY; i++) {
            killed += many_t[i]->killed;
            bad += !many_t[i]->killed && many[i].sum != expected_sum(many[i].depth);
            task_reap(many_t[i]);
        }
        KCHECKF(bad == 0, "%s: %d of %d tasks computed a wrong sum", mode_name(modes[m]), bad, MANY);
        KCHECKF(killed == 0, "%s: %d of %d tasks were killed", mode_name(modes[m]), killed, MANY);
    }
    __builtin_memset(many_t, 0, sizeof many_t); /* reaped: no stale pointers in a global */
    uint64_t after = stack_baseline();
    KCHECKF(after == base, "StackInuse %lu after all tasks exited, baseline %lu", after, base);
}

/* Regression: the live-task list was a 1024-entry array, so `tasks` (and
 * anything walking live tasks) silently lost the rest. */
static void yield_once(void *p)
{
    (void)p;
    task_yield();
}

KTEST(task_list_holds_more_than_1024, KTEST_QUICK)
{
    enum { N = 1100 };
    static struct task *t[N];
    uint64_t before = task_count_live();
    int spawned = 0;
    for (int i = 0; i < N; i++)
        spawned += (t[i] = task_spawn("many-small", yield_once, 0, TASK_STACK_CONTIGUOUS)) != 0;
    KCHECKF(spawned == N, "only %d of %d tasks spawned", spawned, N);
    KCHECKF(task_count_live() == before + (uint64_t)spawned, "%lu live tasks listed, want %lu",
            task_count_live(), before + (uint64_t)spawned);
    sched_run();
    KCHECK(task_count_live() == before);
    for (int i = 0; i < N; i++)
        task_reap(t[i]);
}

/* ------------------------------------------------------------ shrink */

struct shrink_arg {
    uint64_t big_size, small_size;
};

static void shrink_task(void *p)
{
    struct shrink_arg *a = p;
    recurse(3000, 0); /* grow to ~256 KiB */
    struct task *t = task_current();
    a->big_size = t->stack_hi - t->stack_lo;
    for (int i = 0; i < 8; i++) { /* each yield lets a shrink pass halve it */
        task_request_shrink();
        task_yield();
    }
    a->small_size = t->stack_hi - t->stack_lo;
}

KTEST(stack_grow_then_shrink_returns_memory, KTEST_QUICK)
{
    uint64_t base = stack_baseline();
    struct shrink_arg a = {0, 0};
    struct task *t = task_spawn("shrink", shrink_task, &a, TASK_STACK_CONTIGUOUS);
    KREQUIRE(t);
    sched_run();
    KCHECKF(a.big_size >= 128 * 1024, "grew only to %lu", a.big_size);
    KCHECKF(a.small_size < a.big_size / 8 && a.small_size >= STACK_MIN,
            "shrank from %lu to %lu only", a.big_size, a.small_size);
    struct stack_stats s;
    task_stack_stats(TASK_STACK_CONTIGUOUS, &s);
    KCHECK(s.shrinks >= 3);
    task_reap(t);
    KCHECK(stack_baseline() == base);
}

/* ------------------------------------------------------------ limit */

static __attribute__((noinline)) uint64_t forever(uint64_t n)
{
    volatile uint64_t pad[32];
    pad[0] = n;
    if (n == ~0ull) /* never: keeps the compiler from calling it infinite */
        return 0;
    return forever(n + 1) + pad[0];
}

static void runaway_task(void *p)
{
    (void)p;
    forever(0);
}

static void survivor_task(void *p)
{
    int *done = p;
    for (int i = 0; i < 50; i++)
        task_yield();
    *done = (int)recurse(200, 0) != 0;
}

KTEST(stack_limit_kills_only_the_task, KTEST_QUICK)
{
    uint64_t base = stack_baseline();
    uint64_t old = task_max_stack;
    task_max_stack = 1 << 20;
    for (int m = 0; m < 2; m++) {
        int survived = 0;
        struct task *r = task_spawn("runaway", runaway_task, 0, modes[m]);
        struct task *s = task_spawn("survivor", survivor_task, &survived, modes[m]);
        KREQUIRE(r && s);
        sched_run();
        KCHECKF(r->killed, "%s: runaway task not killed", mode_name(modes[m]));
        KCHECKF(!s->killed && survived, "%s: the other task did not finish", mode_name(modes[m]));
        task_reap(r);
        task_reap(s);
    }
    task_max_stack = old;
    KCHECKF(stack_baseline() == base, "killed tasks' stacks not freed");
}

/* ------------------------------------------------------------ hot split */

KTEST(stack_hot_split_counts, KTEST_QUICK)
{
    struct hot_result seg = {0, 0, 0}, cont = {0, 0, 0}, segc = {0, 0, 0};
    hot_split_run(TASK_STACK_SEGMENTED, 1000, 0, &seg);
    hot_split_run(TASK_STACK_CONTIGUOUS, 1000, 0, &cont);
    hot_split_run(TASK_STACK_SEGMENTED, 1000, 1, &segc);
    /* behaviour, not time: one alloc + one free per call vs. one growth */
    KCHECKF(seg.segs_per_call_x100 == 200, "segmented: %lu segment ops per 100 calls",
            seg.segs_per_call_x100);
    KCHECKF(seg.grows == 1000, "segmented: %lu grows", seg.grows);
    KCHECKF(cont.grows == 1 && cont.segs_per_call_x100 == 0, "contiguous: %lu grows", cont.grows);
    KCHECKF(segc.segs_per_call_x100 <= 1, "spare segment: %lu ops per 100 calls",
            segc.segs_per_call_x100);
}
