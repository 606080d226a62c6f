/*
 * test_gc_split.c — the garbage collector in the kernel (GC.md T1, T5, T6,
 * T8, T9, T11), on every CPU the boot has, in both stack modes.  Compiled
 * with -fsplit-stack like task code (the tasks here grow their stacks
 * while collections run).
 *
 * Objects are typed (gnode: one pointer word).  Every node's address is
 * also kept in a kmalloc'd shadow table, which the collector never scans
 * (kmalloc memory is not a root): the test can tell what became of each
 * node without keeping it alive.  Garbage is built by tasks that exit
 * before the collection (their stacks are freed, so no stale word can keep
 * it), so the checks are exact counts, not tolerances.
 *
 * Task bodies never use KREQUIRE; they record results, checked after
 * sched_run().
 */
#include "../../alloc/malloc.h"
#include "../../alloc/mbarrier.h"
#include "../../alloc/mgc.h"
#include "../../alloc/mheap.h"
#include "../../alloc/mstats.h"
#include "fmt.h"
#include "kernel.h"
#include "ktest.h"
#include "smp.h"
#include "task.h"
#include "testutil.h"

struct gnode {
    struct gnode *next;
    uint64_t id, check;
};
static const uint8_t gnode_mask[1] = {0x1};
static const gotype gnode_type = {sizeof(struct gnode), 8, gnode_mask, "gnode"};

/* Zero the callee-saved registers for real (a clobber alone leaves the
 * old values in them, and every callee that saves them would copy a
 * pointer the test means to hold only in one frame). */
#define SCRUB_CALLEE_SAVED()                                                                   \
    __asm__ volatile("xor %%ebx, %%ebx\n\txor %%r12d, %%r12d\n\txor %%r13d, %%r13d\n\t"        \
                     "xor %%r14d, %%r14d\n\txor %%r15d, %%r15d" ::: "rbx", "r12", "r13", "r14", \
                     "r15", "memory")

static uint64_t gcheck(uint64_t id) { return id * 0x9E3779B97F4A7C15ull + 12345; }
static const enum task_mode gc_modes[2] = {TASK_STACK_CONTIGUOUS, TASK_STACK_SEGMENTED};
static const char *gc_mode_name(enum task_mode m)
{
    return m == TASK_STACK_SEGMENTED ? "segmented" : "contiguous";
}

/* Kept only in kmalloc memory (not a root): what each node should be. */
struct shadow {
    struct gnode *p;
    uint64_t id;
    uint8_t kind; /* SH_GLOBAL / SH_FRAME: reachable, SH_GARBAGE */
};
enum { SH_GLOBAL = 0, SH_FRAME = 1, SH_GARBAGE = 2, SH_BASE = 3 };

static struct shadow *shadow;
static uint32_t shadow_n; /* atomic */

static struct gnode *build_list(uint64_t first_id, uint32_t n, uint8_t kind)
{
    struct gnode *head = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct gnode *g = newobject(&gnode_type);
        g->id = first_id + i;
        g->check = gcheck(g->id);
        GC_WB(g->next, head); /* a collected object: the barrier (mbarrier.h) */
        head = g;
        uint32_t k = __atomic_fetch_add(&shadow_n, 1, __ATOMIC_RELAXED);
        shadow[k].p = g;
        shadow[k].id = g->id;
        shadow[k].kind = kind;
    }
    return head;
}

static uint32_t walk_ok(const struct gnode *head, uint32_t n)
{
    uint32_t ok = 0;
    for (; head && ok < n; head = head->next)
        ok += head->check == gcheck(head->id);
    return ok;
}

/* ------------------------------------------------------------ T1 */

#define T1_MAX_TASKS 32
#define T1_LIST 150

static struct gnode *t1_global[T1_MAX_TASKS]; /* roots: the kernel's bss */
static struct {
    volatile int phase; /* 0 building, 1 collected: holders may check and exit */
    volatile uint32_t built, garbage_done;
    uint32_t holders, garbage_tasks;
    int skip_check; /* negative control: the holders' lists were collected */
} t1;
static uint32_t t1_frame_ok[T1_MAX_TASKS];

/* The frame list's head lives only in this (base) frame: a volatile slot,
 * and no callee-saved register carries it across the deep call. */
static __attribute__((noinline)) uint32_t t1_deep_wait(uint32_t depth)
{
    /* segmented: several segments on the way down; initialised, as real
     * locals are (an uninitialised array would hold stale words of earlier
     * stacks, which the conservative scan may take for pointers) */
    volatile uint8_t pad[600];
    for (int i = 0; i < 600; i++)
        pad[i] = 0;
    pad[0] = (uint8_t)depth;
    if (depth)
        return t1_deep_wait(depth - 1) + pad[0] - (uint8_t)depth;
    while (__atomic_load_n(&t1.phase, __ATOMIC_ACQUIRE) == 0)
        task_yield();
    return 0;
}

static void t1_holder(void *arg)
{
    uint32_t i = (uint32_t)(uintptr_t)arg;
    t1_global[i] = build_list(1000000u * (i + 1), T1_LIST, SH_GLOBAL);
    struct gnode *volatile mine = build_list(1000000u * (i + 1) + 500000, T1_LIST, SH_FRAME);
    SCRUB_CALLEE_SAVED();
    __atomic_add_fetch(&t1.built, 1, __ATOMIC_RELEASE);
    t1_deep_wait(40);
    t1_frame_ok[i] = t1.skip_check ? T1_LIST : walk_ok(mine, T1_LIST);
}

static void t1_garbage(void *arg)
{
    uint32_t i = (uint32_t)(uintptr_t)arg;
    build_list(5000000000ull + 1000u * i, T1_LIST, SH_GARBAGE);
    __atomic_add_fetch(&t1.garbage_done, 1, __ATOMIC_RELEASE);
}

struct t1_result {
    uint32_t lost_global, lost_frame, corrupt, kept_garbage, garbage;
    uint64_t heap_before, heap_after;
};

static void t1_evaluate(struct t1_result *r)
{
    for (uint32_t k = 0; k < shadow_n; k++) {
        enum gc_obj_state st = gc_object_state(shadow[k].p);
        if (shadow[k].kind == SH_GARBAGE) {
            r->garbage++;
            r->kept_garbage += st != GC_OBJ_FREE && st != GC_OBJ_NOT_HEAP;
        } else if (st != GC_OBJ_LIVE) {
            r->lost_global += shadow[k].kind == SH_GLOBAL;
            r->lost_frame += shadow[k].kind == SH_FRAME;
        } else {
            r->corrupt += shadow[k].p->check != gcheck(shadow[k].id);
        }
    }
}

/* The coordinator: once every list is built and the garbage tasks have
 * exited, two collections, then the verdict. */
static void t1_coordinator(void *arg)
{
    struct t1_result *r = arg;
    while (__atomic_load_n(&t1.built, __ATOMIC_ACQUIRE) != t1.holders ||
           __atomic_load_n(&t1.garbage_done, __ATOMIC_ACQUIRE) != t1.garbage_tasks)
        task_yield();
    for (int i = 0; i < 8; i++) /* let the garbage tasks finish exiting */
        task_yield();
    struct memstats m;
    read_memstats(&m);
    r->heap_before = m.HeapAlloc;
    gc_collect();
    gc_collect();
    read_memstats(&m);
    r->heap_after = m.HeapAlloc;
    t1_evaluate(r);
    __atomic_store_n(&t1.phase, 1, __ATOMIC_RELEASE);
}

/* A negative control blinds the mark (gc_debug_skip_roots); a boot with
 * gccheckmark=1 would then stop at the first missed object, so the fatal
 * checkmark is off meanwhile (a test that asks for reports keeps them). */
static uint32_t blind_begin(uint32_t skip)
{
    uint32_t mode = gc_get_checkmark();
    if (skip && mode == GC_CHECKMARK_FATAL)
        gc_set_checkmark(GC_CHECKMARK_OFF);
    gc_debug_skip_roots = skip;
    return mode;
}

static void blind_end(uint32_t mode)
{
    gc_debug_skip_roots = 0;
    gc_set_checkmark(mode);
}

static void t1_run(enum task_mode mode, uint32_t skip_roots, struct t1_result *r)
{
    uint32_t ncpu = smp_ncpu();
    t1.holders = ncpu * 2 > T1_MAX_TASKS ? T1_MAX_TASKS : ncpu * 2;
    t1.garbage_tasks = ncpu * 2;
    t1.phase = 0;
    t1.built = t1.garbage_done = 0;
    t1.skip_check = skip_roots != 0;
    shadow_n = 0;
    __builtin_memset(r, 0, sizeof *r);
    gc_collect(); /* start clean: the previous tests' garbage is gone */
    uint32_t cm = blind_begin(skip_roots);
    static struct task *ts[3 * T1_MAX_TASKS];
    uint32_t nt = 0;
    for (uint32_t i = 0; i < t1.holders; i++)
        ts[nt++] = task_spawn("gc-holder", t1_holder, (void *)(uintptr_t)i, mode);
    for (uint32_t i = 0; i < t1.garbage_tasks; i++)
        ts[nt++] = task_spawn("gc-garbage", t1_garbage, (void *)(uintptr_t)i, mode);
    ts[nt++] = task_spawn("gc-coordinator", t1_coordinator, r, mode);
    sched_run();
    blind_end(cm);
    for (uint32_t i = 0; i < nt; i++)
        task_reap(ts[i]);
    /* no stale pointers in globals: a reaped task's memory is reused, and
     * a later test's garbage there would look held by this array */
    __builtin_memset(ts, 0, sizeof ts);
    __builtin_memset(t1_global, 0, sizeof t1_global);
}

KTEST(gc_reachable_survive_unreachable_reclaimed, KTEST_QUICK)
{
    shadow = kmalloc(3 * T1_MAX_TASKS * T1_LIST * sizeof *shadow);
    KREQUIRE(shadow);
    for (int m = 0; m < 2; m++) {
        struct t1_result r;
        t1_run(gc_modes[m], 0, &r);
        KCHECKF(r.lost_global == 0 && r.lost_frame == 0 && r.corrupt == 0,
                "%s: %u global-rooted and %u frame-rooted nodes lost, %u corrupted",
                gc_mode_name(gc_modes[m]), r.lost_global, r.lost_frame, r.corrupt);
        KCHECKF(r.kept_garbage == 0, "%s: %u of %u garbage nodes kept", gc_mode_name(gc_modes[m]),
                r.kept_garbage, r.garbage);
        uint64_t want = (uint64_t)r.garbage * class_to_size[size_to_class(sizeof(struct gnode))];
        KCHECKF(r.heap_before - r.heap_after >= want, "%s: HeapAlloc fell by %lu, want >= %lu",
                gc_mode_name(gc_modes[m]), r.heap_before - r.heap_after, want);
        for (uint32_t i = 0; i < t1.holders; i++)
            KCHECKF(t1_frame_ok[i] == T1_LIST, "%s: holder %u found %u of %u frame nodes intact",
                    gc_mode_name(gc_modes[m]), i, t1_frame_ok[i], T1_LIST);
        kprintf("# %s: %u CPUs, %u holders, %u reachable nodes kept, %u garbage nodes freed\n",
                gc_mode_name(gc_modes[m]), smp_ncpu(), t1.holders, shadow_n - r.garbage, r.garbage);
    }
    kfree(shadow);
    shadow = 0;
}

/* Negative control: with task stacks not scanned, the frame-rooted nodes
 * are lost — the checks above can fail. */
KTEST(gc_reachability_catches_unscanned_roots, KTEST_QUICK)
{
    shadow = kmalloc(3 * T1_MAX_TASKS * T1_LIST * sizeof *shadow);
    KREQUIRE(shadow);
    struct t1_result r;
    t1_run(TASK_STACK_CONTIGUOUS, GC_ROOT_TASKS, &r);
    KCHECKF(r.lost_frame == t1.holders * T1_LIST && r.lost_global == 0,
            "with task stacks unscanned: %u of %u frame nodes lost, %u global ones",
            r.lost_frame, t1.holders * T1_LIST, r.lost_global);
    kfree(shadow);
    shadow = 0;
    gc_collect();
}

/* gccheckmark catches the same broken mark: with task stacks skipped by the
 * real mark, the second mark from every root reports the frame-rooted
 * nodes (a head by the task stack word that holds it, the rest by the
 * node before them) and marks them, so none is lost. */
static uint32_t cm_reports, cm_from_stack, cm_from_object, cm_other;
static void cm_hook(const char *msg)
{
    if (testutil_starts_with(msg, "gccheckmark: 0x")) {
        bool stack = testutil_contains(msg, "reached from a task stack word at 0x");
        bool object = testutil_contains(msg, "reached from object 0x");
        if ((stack && !cm_from_stack) || (object && !cm_from_object))
            kprintf("# %s\n", msg); /* the first of each kind: the report's format */
        cm_reports++;
        cm_from_stack += stack;
        cm_from_object += object;
    } else if (testutil_starts_with(msg, "gccheckmark: ... ")) {
        kprintf("# %s\n", msg);
    } else {
        cm_other++;
        kprintf("# unexpected report: %s\n", msg);
    }
}

KTEST(gc_checkmark_catches_unscanned_stacks, KTEST_QUICK)
{
    shadow = kmalloc(3 * T1_MAX_TASKS * T1_LIST * sizeof *shadow);
    KREQUIRE(shadow);
    cm_reports = cm_from_stack = cm_from_object = cm_other = 0;
    alloc_error_hook_t old = alloc_set_error_hook(cm_hook);
    uint32_t mode = gc_get_checkmark();
    gc_set_checkmark(GC_CHECKMARK_REPORT);
    struct t1_result r;
    t1_run(TASK_STACK_CONTIGUOUS, GC_ROOT_TASKS, &r);
    gc_set_checkmark(mode);
    alloc_set_error_hook(old);
    KCHECKF(r.lost_frame == 0 && r.lost_global == 0 && r.corrupt == 0,
            "checkmark on: %u frame nodes and %u global ones lost, %u corrupted", r.lost_frame,
            r.lost_global, r.corrupt);
    KCHECKF(cm_reports > 0 && cm_from_stack > 0 && cm_other == 0,
            "%u checkmark reports, %u naming a task stack word, %u other messages", cm_reports,
            cm_from_stack, cm_other);
    kprintf("# %u reports (first 16 per cycle by name), %u from a task stack word\n", cm_reports,
            cm_from_stack);
    kfree(shadow);
    shadow = 0;
    gc_collect();
}

/* ------------------------------------------------------------ T5 */
/*
 * Stack growth while collections run (the stop-the-world version): tasks
 * keep a list in their base frame and one in every 8th frame on the way
 * down a deep recursion (contiguous: the stack is copied several times;
 * segmented: a chain of segments), yielding at every level so that cycles
 * fall between growths, copies, segment pops and shrinks.  A collector task
 * runs cycles until every task is done.  Each task checks, on its way back
 * up, that every node of its lists is still allocated and intact.
 * Negative control (segmented): with the earlier segments unscanned
 * (GC_ROOT_SEGMENTS) a cycle taken while every task is deep loses exactly
 * the base-frame lists.
 */
#define T5_MAX_TASKS 8
#define T5_DEPTH 48
#define T5_BASE 64
#define T5_LEVEL 8

static struct {
    volatile uint32_t deep, done, cycles, cycles_deep;
    volatile int release; /* negative control: tasks may unwind */
    uint32_t tasks, skip;
    uint32_t bad[T5_MAX_TASKS]; /* nodes found freed or corrupted */
    uint32_t lost_base;         /* negative control's count */
} t5;

static uint32_t walk_live_bad(const struct gnode *head, uint32_t n)
{
    uint32_t bad = 0, seen = 0;
    for (; head && seen < n; head = head->next, seen++)
        bad += gc_object_state(head) != GC_OBJ_LIVE || head->check != gcheck(head->id);
    return bad + (n - seen);
}

static __attribute__((noinline)) uint32_t t5_down(uint32_t i, uint32_t depth)
{
    volatile uint8_t pad[700];
    for (int k = 0; k < 700; k++)
        pad[k] = 0;
    struct gnode *volatile mine = 0;
    if (depth % 8 == 0)
        mine = build_list(100000000ull * (i + 1) + depth * 1000, T5_LEVEL, SH_FRAME);
    SCRUB_CALLEE_SAVED();
    task_yield();
    uint32_t bad = 0;
    if (depth) {
        bad = t5_down(i, depth - 1);
    } else {
        __atomic_add_fetch(&t5.deep, 1, __ATOMIC_RELEASE);
        while (t5.skip ? !__atomic_load_n(&t5.release, __ATOMIC_ACQUIRE)
                       : __atomic_load_n(&t5.cycles_deep, __ATOMIC_ACQUIRE) < 2)
            task_yield();
    }
    task_yield(); /* a cycle between the callee's return (segment pop) and the check */
    if (mine && !t5.skip)
        bad += walk_live_bad(mine, T5_LEVEL);
    return bad + pad[0];
}

static void t5_task(void *arg)
{
    uint32_t i = (uint32_t)(uintptr_t)arg;
    struct gnode *volatile base = build_list(100000000ull * (i + 1), T5_BASE, SH_BASE);
    SCRUB_CALLEE_SAVED();
    uint32_t bad = t5_down(i, T5_DEPTH);
    for (int k = 0; k < 64; k++) /* shallow again: the scheduler may shrink the stack */
        task_yield();
    if (!t5.skip)
        bad += walk_live_bad(base, T5_BASE);
    t5.bad[i] = bad;
    __atomic_add_fetch(&t5.done, 1, __ATOMIC_RELEASE);
}

static uint32_t t5_count_lost(uint8_t kind)
{
    uint32_t lost = 0;
    for (uint32_t k = 0; k < shadow_n; k++)
        lost += shadow[k].kind == kind && gc_object_state(shadow[k].p) != GC_OBJ_LIVE;
    return lost;
}

static void t5_collector(void *arg)
{
    (void)arg;
    if (t5.skip) { /* once every task is at the bottom: one blind cycle */
        while (__atomic_load_n(&t5.deep, __ATOMIC_ACQUIRE) != t5.tasks)
            task_yield();
        uint32_t cm = blind_begin(t5.skip);
        gc_collect();
        blind_end(cm);
        t5.lost_base = t5_count_lost(SH_BASE);
        __atomic_store_n(&t5.release, 1, __ATOMIC_RELEASE);
        return;
    }
    while (__atomic_load_n(&t5.done, __ATOMIC_ACQUIRE) != t5.tasks) {
        int all_deep = __atomic_load_n(&t5.deep, __ATOMIC_ACQUIRE) == t5.tasks;
        gc_collect();
        t5.cycles++;
        if (all_deep)
            __atomic_add_fetch(&t5.cycles_deep, 1, __ATOMIC_RELEASE);
        task_yield();
    }
}

static void t5_run(enum task_mode mode, uint32_t skip)
{
    __builtin_memset(&t5, 0, sizeof t5);
    t5.tasks = smp_ncpu() * 2 > T5_MAX_TASKS ? T5_MAX_TASKS : smp_ncpu() * 2;
    t5.skip = skip;
    shadow_n = 0;
    static struct task *ts[T5_MAX_TASKS + 1];
    for (uint32_t i = 0; i < t5.tasks; i++)
        ts[i] = task_spawn("gc-grow", t5_task, (void *)(uintptr_t)i, mode);
    ts[t5.tasks] = task_spawn("gc-cycles", t5_collector, 0, mode);
    sched_run();
    for (uint32_t i = 0; i <= t5.tasks; i++)
        task_reap(ts[i]);
    __builtin_memset(ts, 0, sizeof ts); /* no stale pointers in globals (t1_run) */
}

KTEST(gc_stack_growth_during_cycles, KTEST_QUICK)
{
    shadow = kmalloc(T5_MAX_TASKS * (T5_BASE + (T5_DEPTH / 8 + 1) * T5_LEVEL) * sizeof *shadow);
    KREQUIRE(shadow);
    for (int m = 0; m < 2; m++) {
        struct stack_stats before, after;
        task_stack_stats(gc_modes[m], &before);
        t5_run(gc_modes[m], 0);
        task_stack_stats(gc_modes[m], &after);
        for (uint32_t i = 0; i < t5.tasks; i++)
            KCHECKF(t5.bad[i] == 0, "%s: task %u found %u of its nodes freed or corrupted",
                    gc_mode_name(gc_modes[m]), i, t5.bad[i]);
        uint64_t grew = gc_modes[m] == TASK_STACK_SEGMENTED ? after.segs_alloc - before.segs_alloc
                                                           : after.copies - before.copies;
        KCHECKF(grew >= t5.tasks, "%s: the stacks grew only %lu times", gc_mode_name(gc_modes[m]),
                grew);
        KCHECKF(t5.cycles_deep >= 2, "%s: %u cycles with every task deep",
                gc_mode_name(gc_modes[m]), t5.cycles_deep);
        kprintf("# %s: %u tasks, %u cycles (%u with all at depth %u), %lu %s, %lu shrinks\n",
                gc_mode_name(gc_modes[m]), t5.tasks, t5.cycles, t5.cycles_deep, T5_DEPTH, grew,
                gc_modes[m] == TASK_STACK_SEGMENTED ? "segments" : "copies",
                after.shrinks - before.shrinks);
    }
    kfree(shadow);
    shadow = 0;
    gc_collect();
}

/* Negative control: a collector blind to earlier segments loses the lists
 * that only the base segments hold. */
KTEST(gc_stack_growth_catches_unscanned_segments, KTEST_QUICK)
{
    shadow = kmalloc(T5_MAX_TASKS * (T5_BASE + (T5_DEPTH / 8 + 1) * T5_LEVEL) * sizeof *shadow);
    KREQUIRE(shadow);
    t5_run(TASK_STACK_SEGMENTED, GC_ROOT_SEGMENTS);
    KCHECKF(t5.lost_base == t5.tasks * T5_BASE,
            "earlier segments unscanned: %u of %u base-frame nodes lost", t5.lost_base,
            t5.tasks * T5_BASE);
    kfree(shadow);
    shadow = 0;
    gc_collect();
}

/* ------------------------------------------------------------ T6 */
/*
 * kmalloc and the collector side by side.  A task makes kmalloc objects
 * (hidden: their addresses are kept XOR-ed), mallocgc objects whose only
 * pointer is in kmalloc memory (the documented rule: such objects are
 * collected), one mallocgc object it frees with kfree, and one it
 * abandons; then it exits.  Two cycles later: every kmalloc object is
 * allocated and intact, the kmalloc-held and abandoned mallocgc objects
 * are free, the explicit kfree was silent, and a kfree of the collected
 * object is reported as a double free with the heap still consistent.
 */
#define T6_N 64
#define T6_HIDE 0x5A5A5A5A5A5A5A5Aull

struct t6_state {
    uintptr_t kmallocs[T6_N]; /* XOR T6_HIDE */
    struct gnode **held;      /* kmalloc'd: the only pointers to T6_N gnodes */
    uintptr_t held_hidden[T6_N], abandoned, freed_gc;
    int err_in_task;
};

static void t6_task(void *arg)
{
    struct t6_state *s = arg;
    for (int i = 0; i < T6_N; i++) {
        uint64_t *k = kmalloc(48);
        k[0] = gcheck((uint64_t)i);
        k[5] = ~gcheck((uint64_t)i);
        s->kmallocs[i] = (uintptr_t)k ^ T6_HIDE;
        struct gnode *g = newobject(&gnode_type);
        g->id = (uint64_t)i;
        g->check = gcheck(g->id);
        s->held[i] = g;
        s->held_hidden[i] = (uintptr_t)g ^ T6_HIDE;
    }
    struct gnode *a = newobject(&gnode_type);
    s->abandoned = (uintptr_t)a ^ T6_HIDE;
    struct gnode *f = newobject(&gnode_type);
    s->freed_gc = (uintptr_t)f ^ T6_HIDE;
    kfree(f); /* legal: an explicit free of a collected object */
}

/* Freed: a free slot, or its whole span went back to the page heap. */
static int gone(const void *p)
{
    enum gc_obj_state st = gc_object_state(p);
    return st == GC_OBJ_FREE || st == GC_OBJ_NOT_HEAP;
}

static int t6_errs;
static char t6_msg[200];
static void t6_hook(const char *m)
{
    t6_errs++;
    ksnprintf(t6_msg, sizeof t6_msg, "%s", m);
    kprintf("# reported: %s\n", m);
}

KTEST(gc_kmalloc_coexistence, KTEST_QUICK)
{
    struct t6_state *s = kmalloc(sizeof *s);
    KREQUIRE(s);
    s->held = kmalloc(T6_N * sizeof *s->held);
    KREQUIRE(s->held);
    alloc_error_hook_t old = alloc_set_error_hook(t6_hook);
    t6_errs = 0;
    struct task *t = task_spawn("gc-kmalloc", t6_task, s, task_default_mode);
    KREQUIRE(t);
    sched_run();
    task_reap(t);
    KCHECKF(t6_errs == 0, "kfree of a live mallocgc object reported: %s", t6_msg);
    struct memstats m0, m1;
    read_memstats(&m0);
    KREQUIRE(gc_collect() && gc_collect());
    read_memstats(&m1);
    uint32_t kept = 0, intact = 0, collected = 0;
    for (int i = 0; i < T6_N; i++) {
        uint64_t *k = (uint64_t *)(s->kmallocs[i] ^ T6_HIDE);
        kept += gc_object_state(k) == GC_OBJ_LIVE;
        intact += k[0] == gcheck((uint64_t)i) && k[5] == ~gcheck((uint64_t)i);
        collected += gone((void *)(s->held_hidden[i] ^ T6_HIDE));
    }
    KCHECKF(kept == T6_N && intact == T6_N, "kmalloc objects: %u of %u allocated, %u intact",
            kept, T6_N, intact);
    KCHECKF(collected == T6_N, "mallocgc objects held only by kmalloc memory: %u of %u collected",
            collected, T6_N);
    void *ab = (void *)(s->abandoned ^ T6_HIDE);
    KCHECKF(gone(ab), "the abandoned object: state %d", gc_object_state(ab));
    KCHECKF(gone((void *)(s->freed_gc ^ T6_HIDE)), "the kfree'd object: state %d",
            gc_object_state((void *)(s->freed_gc ^ T6_HIDE)));
    KCHECKF(m1.Frees - m0.Frees >= T6_N + 1, "Frees rose by %lu, want >= %u",
            m1.Frees - m0.Frees, T6_N + 1);
    KCHECKF(m1.HeapObjects == m1.Mallocs - m1.Frees, "HeapObjects %lu != Mallocs %lu - Frees %lu",
            m1.HeapObjects, m1.Mallocs, m1.Frees);
    kfree(ab); /* the collector freed it already */
    KCHECKF(t6_errs == 1 && testutil_starts_with(t6_msg, "kfree: double free of"),
            "kfree of a collected object: %d reports, '%s'", t6_errs, t6_msg);
    alloc_set_error_hook(old);
    testutil_verify_or_fail("after kfree of a collected object");
    for (int i = 0; i < T6_N; i++)
        kfree((void *)(s->kmallocs[i] ^ T6_HIDE));
    kfree(s->held);
    kfree(s);
}

/* ------------------------------------------------------------ T11 */
/*
 * Large objects, oblets and interior pointers.  A task makes a 320 KiB
 * array of pointers (three oblets of 128 KiB) with nodes hung at its first,
 * middle and last element, and a small node; it keeps only an interior
 * pointer to each (into the array's third oblet, into the node's second
 * word) in its frame, collects twice and checks everything is live and
 * intact.  After it exits the array is freed whole (its pages leave
 * HeapAlloc) and the nodes with it.  Negative control: with task stacks
 * unscanned, the array and every node are lost.
 */
#define T11_ELEMS 40000u
static const uint8_t ptr_mask[1] = {0x1};
static const gotype ptr_type = {8, 8, ptr_mask, "*gnode"};

static struct {
    uintptr_t big, nodes[4]; /* hidden (XOR T6_HIDE): the shadow */
    uint32_t bad, skip;
} t11;

static __attribute__((noinline)) struct gnode *t11_node(uint64_t id)
{
    struct gnode *g = newobject(&gnode_type);
    g->id = id;
    g->check = gcheck(id);
    return g;
}

static void t11_task(void *arg)
{
    (void)arg;
    struct gnode **big = newarray(&ptr_type, T11_ELEMS);
    static const uint32_t at[3] = {0, T11_ELEMS / 2, T11_ELEMS - 1};
    for (int k = 0; k < 3; k++) {
        GC_WB(big[at[k]], t11_node(7000 + k));
        t11.nodes[k] = (uintptr_t)big[at[k]] ^ T6_HIDE;
    }
    struct gnode *small = t11_node(7003);
    t11.nodes[3] = (uintptr_t)small ^ T6_HIDE;
    t11.big = (uintptr_t)big ^ T6_HIDE;
    volatile uintptr_t big_in = (uintptr_t)&big[T11_ELEMS - 100] + 4;
    volatile uintptr_t small_in = (uintptr_t)&small->id + 3;
    big = 0;
    small = 0;
    SCRUB_CALLEE_SAVED();
    uint32_t cm = blind_begin(t11.skip);
    gc_collect();
    gc_collect();
    blind_end(cm);
    if (t11.skip)
        return;
    struct gnode **b = (struct gnode **)((big_in - 4) - (T11_ELEMS - 100) * 8);
    t11.bad += gc_object_state((void *)big_in) != GC_OBJ_LIVE;
    for (int k = 0; k < 3; k++)
        t11.bad += gc_object_state(b[at[k]]) != GC_OBJ_LIVE || b[at[k]]->check != gcheck(7000 + k);
    struct gnode *sm = (struct gnode *)(small_in - 3 - 8);
    t11.bad += gc_object_state(sm) != GC_OBJ_LIVE || sm->check != gcheck(7003);
}

static uint32_t t11_lost(void)
{
    uint32_t lost = gc_object_state((void *)(t11.big ^ T6_HIDE)) == GC_OBJ_LIVE ? 0 : 1;
    for (int k = 0; k < 4; k++)
        lost += gc_object_state((void *)(t11.nodes[k] ^ T6_HIDE)) != GC_OBJ_LIVE;
    return lost;
}

KTEST(gc_large_oblets_interior_pointers, KTEST_QUICK)
{
    KREQUIRE(gc_collect());
    for (int m = 0; m < 2; m++) {
        __builtin_memset(&t11, 0, sizeof t11);
        struct memstats a, b;
        read_memstats(&a);
        struct task *t = task_spawn("gc-large", t11_task, 0, gc_modes[m]);
        KREQUIRE(t);
        sched_run();
        task_reap(t);
        KCHECKF(t11.bad == 0, "%s: %u of the array, its 3 nodes and the small node lost",
                gc_mode_name(gc_modes[m]), t11.bad);
        KREQUIRE(gc_collect());
        read_memstats(&b);
        KCHECKF(t11_lost() == 5, "%s: after the task exited %u of 5 objects were freed",
                gc_mode_name(gc_modes[m]), t11_lost());
        KCHECKF(b.HeapAlloc <= a.HeapAlloc, "%s: HeapAlloc %lu after, %lu before",
                gc_mode_name(gc_modes[m]), b.HeapAlloc, a.HeapAlloc);
    }
}

KTEST(gc_large_catches_unscanned_stacks, KTEST_QUICK)
{
    KREQUIRE(gc_collect());
    __builtin_memset(&t11, 0, sizeof t11);
    t11.skip = GC_ROOT_TASKS;
    struct task *t = task_spawn("gc-large", t11_task, 0, TASK_STACK_CONTIGUOUS);
    KREQUIRE(t);
    sched_run();
    task_reap(t);
    /* the two blind cycles ran while the task held its pointers */
    KCHECKF(t11_lost() == 5, "task stacks unscanned: %u of 5 objects lost", t11_lost());
}
