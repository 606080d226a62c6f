/*
 * stackbench.h — the stack benchmarks (kernel/stackbench_split.c).
 */
#ifndef KERNEL_STACKBENCH_H
#define KERNEL_STACKBENCH_H

#include <stdint.h>

#include "task.h"

struct hot_result {
    uint64_t ns_per_call_x10, segs_per_call_x100, grows;
};

/* One hot-split run: a task in mode m makes `calls` calls of a function
 * whose frame does not fit; cache = keep a spare segment. */
void hot_split_run(enum task_mode m, uint64_t calls, int cache, struct hot_result *r);
/* The printed benchmarks (`hotsplit`). */
void hot_split_bench(uint64_t calls);
void stack_growth_bench(void);

#endif
