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
#include "../../alloc/mgc.h"
#include "../../alloc/mheap.h"
#include "../../alloc/mstats.h"
#include "fmt.h"
#include "kernel.h"
#include "ktest.h"
#include "smp.h"
#include "task.h"

struct gnode {
    struct gnode *next;
    uint64_t id, check;
};
static const uint8_t gnode_mask[1] = {0x1};
static const gotype gnode_type = {sizeof(struct gnode), 8, gnode_mask, "gnode"};

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
enum { SH_GLOBAL = 0, SH_FRAME = 1, SH_GARBAGE = 2 };

static struct shadow *shadow;
static uint32_t shadow_n; /* atomic */

static struct gnode *build_list(uint64_t first_id, uint32_t n, uint8_t kind)
{
    struct gnode *head = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct gnode *g = newobject(&gnode_type);
        g->id = first_id + i;
        g->check = gcheck(g->id);
        g->next = head;
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
    __asm__ volatile("" ::: "rbx", "r12", "r13", "r14", "r15", "memory");
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
    gc_debug_skip_roots = skip_roots;
    static struct task *ts[3 * T1_MAX_TASKS];
    uint32_t nt = 0;
    for (uint32_t i = 0; i < t1.holders; i++)
        ts[nt++] = task_spawn("gc-holder", t1_holder, (void *)(uintptr_t)i, mode);
    for (uint32_t i = 0; i < t1.garbage_tasks; i++)
        ts[nt++] = task_spawn("gc-garbage", t1_garbage, (void *)(uintptr_t)i, mode);
    ts[nt++] = task_spawn("gc-coordinator", t1_coordinator, r, mode);
    sched_run();
    gc_debug_skip_roots = 0;
    for (uint32_t i = 0; i < nt; i++)
        task_reap(ts[i]);
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

