/* gcbench.h — the collector's benchmarks (gcbench.c, gcbench_split.c). */
#ifndef KERNEL_GCBENCH_H
#define KERNEL_GCBENCH_H

#include <stdint.h>

#define GCBENCH_STOP_N 9 /* cycles per time-to-stop sample */

/* Run "all", "pause", "stop", "trees" (binary-trees of `depth`) or
 * "churn"; prints `gcbench: ...` lines and `gcbench: done`. */
void gcbench_run(const char *which, uint32_t depth);

/* The busy CPUs of the time-to-stop benchmark (gcbench_split.c): each
 * task counts itself into gcbench_spinning, then calls a split-stack
 * function in a loop (a prologue every call: where a stop catches it)
 * until gcbench_spin_stop, or 20 s. */
extern volatile uint32_t gcbench_spinning, gcbench_spin_stop;
void gcbench_spin_task(void *arg);

#endif
