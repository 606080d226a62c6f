/* gcbench.h — the collector's benchmarks (gcbench.c, gcbench_split.c). */
#ifndef KERNEL_GCBENCH_H
#define KERNEL_GCBENCH_H

#include <stdbool.h>
#include <stdint.h>

#include "../alloc/mgc.h"

#define GCBENCH_STOP_N 9 /* cycles per time-to-stop sample */

/* Run "all", "pause", "stop", "trees" (binary-trees of `depth`) or
 * "churn"; prints `gcbench: ...` lines and `gcbench: done`. */
void gcbench_run(const char *which, uint32_t depth);

/* The workloads, each run as a task (gcbench_split.c, split-stack code:
 * binary-trees recurses).  In: depth / live_bytes, steps; out: result. */
struct gcbench_work {
    uint32_t depth;
    uint64_t live_bytes, steps;
    uint64_t result; /* trees: nodes checked */
};
extern void *volatile gcbench_live; /* the pause benchmark's live tree (a root) */
void gcbench_build_live_task(void *work); /* gcbench_live = a tree of `depth` */
void gcbench_trees_task(void *work);      /* binary-trees of `depth` */
void gcbench_churn_task(void *work);      /* list churn */

/* The mutator benchmark's task (gcbench_split.c): until gcbench_spin_stop,
 * batches of GCBENCH_MUT_BATCH newobject calls (kind 0) and GC_WB stores
 * (kind 1), each timed and counted as [kind][0] (no cycle ran across it)
 * or [kind][1] (inside one concurrent mark); its assist account at the
 * end. */
#define GCBENCH_MUT_BATCH 256
struct gcbench_mutator {
    uint64_t ns[2][2], batches[2][2];
    struct gc_assist acct;
};
void gcbench_mutator_task(void *arg);
/* The world runs while a cycle marks (a concurrent mark's middle). */
static inline bool gcbench_in_concurrent_mark(void)
{
    return __atomic_load_n(&gc_phase, __ATOMIC_ACQUIRE) == GC_MARK &&
           !__atomic_load_n(&gc_stop_pending, __ATOMIC_ACQUIRE);
}

/* The busy CPUs of the time-to-stop benchmark (gcbench_split.c): each
 * task counts itself into gcbench_spinning, then calls a split-stack
 * function in a loop (a prologue every call: where a stop catches it)
 * until gcbench_spin_stop, or 20 s. */
extern volatile uint32_t gcbench_spinning, gcbench_spin_stop;
void gcbench_spin_task(void *arg);

#endif
