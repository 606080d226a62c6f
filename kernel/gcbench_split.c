/*
 * gcbench_split.c — gcbench's task code, compiled with -fsplit-stack
 * (Makefile: *_split.c): the workloads (binary-trees recurses, so its
 * stack grows) and the busy CPUs of the time-to-stop benchmark, where
 * every call of spin_step checks the stack guard — the place a pending
 * stop catches a running task (the poisoned guard, gcstw.c).
 */
#include "../alloc/malloc.h"
#include "../alloc/mbarrier.h"
#include "../alloc/mgc.h"
#include "gcbench.h"
#include "kernel.h"
#include "task.h"

/* ------------------------------------------------------------ workloads */

struct bnode {
    struct bnode *l, *r;
};
static const uint8_t bnode_mask[1] = {0x3};
static const gotype bnode_type = {sizeof(struct bnode), 16, bnode_mask, "bnode"};

struct lnode {
    struct lnode *next;
    uint64_t pad[7];
};
static const uint8_t lnode_mask[1] = {0x1};
static const gotype lnode_type = {sizeof(struct lnode), 8, lnode_mask, "lnode"};

void *volatile gcbench_live;

static struct bnode *bottom_up(uint32_t depth)
{
    struct bnode *n = newobject(&bnode_type);
    if (n && depth) {
        GC_WB(n->l, bottom_up(depth - 1)); /* into a collected object (mbarrier.h) */
        GC_WB(n->r, bottom_up(depth - 1));
    }
    return n;
}

static uint64_t check(const struct bnode *n)
{
    return n ? 1 + check(n->l) + check(n->r) : 0;
}

void gcbench_build_live_task(void *work)
{
    gcbench_live = bottom_up(((struct gcbench_work *)work)->depth);
}

/* The benchmarks-game shape: a stretch tree of depth D+1, a long-lived
 * tree of depth D, then 2^(D-d+4) trees of depth d for d = 4, 6, ... D. */
void gcbench_trees_task(void *work)
{
    struct gcbench_work *w = work;
    uint32_t depth = w->depth;
    uint64_t sum = check(bottom_up(depth + 1));
    struct bnode *volatile long_lived = bottom_up(depth);
    for (uint32_t d = 4; d <= depth; d += 2)
        for (uint64_t i = 0; i < 1ull << (depth - d + 4); i++)
            sum += check(bottom_up(d));
    sum += check(long_lived);
    w->result = sum;
}

/* A list of live_bytes of 64-byte nodes; each step appends one and drops
 * the head. */
void gcbench_churn_task(void *work)
{
    struct gcbench_work *w = work;
    struct lnode *tail = newobject(&lnode_type), *head = tail;
    for (uint64_t i = 1; i < w->live_bytes / sizeof(struct lnode); i++) {
        GC_WB(tail->next, newobject(&lnode_type));
        tail = tail->next;
    }
    for (uint64_t i = 0; i < w->steps; i++) {
        GC_WB(tail->next, newobject(&lnode_type));
        tail = tail->next;
        head = head->next;
    }
    w->result = head != 0;
}

/* ------------------------------------------------------------ mutator */

/* One timed batch: GCBENCH_MUT_BATCH calls, classified by what the
 * collector was doing across it (both ends in a concurrent mark of the
 * same cycle, or both ends with no cycle and none in between). */
static void mut_account(struct gcbench_mutator *m, uint32_t kind, uint32_t n0, bool mark0,
                        bool off0, uint64_t t0)
{
    uint64_t dt = nanotime() - t0;
    bool same = gc_num_cycles() == n0;
    if (same && mark0 && gcbench_in_concurrent_mark()) {
        m->ns[kind][1] += dt;
        m->batches[kind][1]++;
    } else if (same && off0 && __atomic_load_n(&gc_phase, __ATOMIC_ACQUIRE) == GC_OFF) {
        m->ns[kind][0] += dt;
        m->batches[kind][0]++;
    }
}

void gcbench_mutator_task(void *arg)
{
    struct gcbench_mutator *m = arg;
    struct lnode *keep = newobject(&lnode_type); /* the barrier's target: a live object */
    while (!__atomic_load_n(&gcbench_spin_stop, __ATOMIC_ACQUIRE)) {
        for (uint32_t kind = 0; kind < 2; kind++) {
            uint32_t n0 = gc_num_cycles();
            bool mark0 = gcbench_in_concurrent_mark();
            bool off0 = __atomic_load_n(&gc_phase, __ATOMIC_ACQUIRE) == GC_OFF;
            uint64_t t0 = nanotime();
            if (kind == 0) { /* mallocgc: a 64-byte object with a pointer, garbage at once */
                for (int i = 0; i < GCBENCH_MUT_BATCH; i++)
                    __asm__ volatile("" : : "r"(newobject(&lnode_type)) : "memory");
            } else { /* the barrier: pointer stores into a collected object */
                for (int i = 0; i < GCBENCH_MUT_BATCH; i++) {
                    GC_WB(keep->next, (i & 1) ? keep : (struct lnode *)0);
                    __asm__ volatile("" : : : "memory");
                }
            }
            mut_account(m, kind, n0, mark0, off0, t0);
        }
    }
    m->acct = task_current()->gc_assist;
}

/* ------------------------------------------------------------ busy CPUs */

volatile uint32_t gcbench_spinning, gcbench_spin_stop;

static __attribute__((noinline)) uint64_t spin_step(uint64_t x)
{
    return x * 6364136223846793005ull + 1442695040888963407ull;
}

void gcbench_spin_task(void *arg)
{
    (void)arg;
    uint64_t x = 1, end = nanotime() + 20000000000ull;
    __atomic_add_fetch(&gcbench_spinning, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&gcbench_spin_stop, __ATOMIC_ACQUIRE) && nanotime() < end)
        for (int i = 0; i < 1000; i++)
            x = spin_step(x);
    __asm__ volatile("" ::"r"(x));
}
