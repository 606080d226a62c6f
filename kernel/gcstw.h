/* gcstw.h — knobs of the kernel's stop-the-world (gcstw.c) for tests. */
#ifndef KERNEL_GCSTW_H
#define KERNEL_GCSTW_H

#include <stdint.h>

/* A CPU that has not stopped deadline_ns after the request is asked (NMI)
 * to print where it is ("gc: cpu N not at a safepoint: rip=... rsp=...
 * task=..."), then the kernel panics naming it — or, with panic = 0 (a
 * test), says so and keeps waiting.  reports / last_cpu / last_rip record
 * the NMI reports (written by the straggler, read after it has stopped). */
struct gcstw_knobs {
    uint64_t deadline_ns;
    volatile uint32_t panic;
    volatile uint32_t reports;
    volatile uint32_t last_cpu;
    volatile uint64_t last_rip;
    /* each CPU's last reported rip (0: none): written by that CPU's NMI
     * handler before it bumps `reports` (release), read by a test once the
     * world restarted; tests clear it before a stop */
    volatile uint64_t cpu_rip[64];
};
extern struct gcstw_knobs gcstw;

/* A concurrent cycle's main mark worker (plat_gc_worker), for task.c's
 * scheduler: whether the cycle started on this CPU has posted one, and run
 * one step of it here (idle: this CPU has no task to run; the step then
 * marks without a share limit).  Returns whether a worker was pending. */
#include <stdbool.h>
bool gcstw_worker_pending(void);
bool gcstw_run_worker(bool idle);
/* The ragged barrier (plat_gc_ragged): serve a pending request on this CPU
 * (its scheduler's safepoint, idle loops); whether one waits for `cpu`
 * (task.c keeps the guard poisoned then, as for a stop). */
void gcstw_ragged_poll(void);
bool gcstw_ragged_wanted(uint32_t cpu);

#endif
