/*
 * task.h — goroutine-style tasks with growable stacks.
 *
 * A task starts on a STACK_MIN (2 KiB) stack.  Code compiled with
 * -fsplit-stack checks at every function entry that the frame fits above
 * the running task's guard (kept at %fs:0x70); when it does not, the
 * function calls __morestack, which grows the stack in the task's mode:
 *   TASK_STACK_SEGMENTED   (Go 1.0–1.2) a new segment for the rest of the
 *                          call, released when the function returns;
 *   TASK_STACK_CONTIGUOUS  (Go 1.3+) the whole stack is copied to one twice
 *                          as large and every pointer into it adjusted.
 * Scheduling is cooperative: a task runs until it yields, waits or exits.
 * Growth, shrinking and stack freeing run on the CPU's scheduler stack (g0).
 *
 * Rules for task code (the reasons are in stackgrow.c):
 *   - no heap object or global may point into a task's stack (contiguous
 *     mode moves stacks and adjusts only the stack itself and its saved
 *     registers — Go's escape analysis gives the same guarantee);
 *   - code without split-stack checks (the rest of the kernel) may use at
 *     most STACK_GUARD - 256 bytes below the guard;
 *   - no variable-length arrays or alloca in split-stack code.
 *
 * Contract: task_spawn may be called from anywhere once task_init ran;
 * sched_run() runs every CPU's scheduler until no task is left, so a test
 * spawns its tasks and then calls sched_run().  task_yield/task_wait/
 * task_exit only from inside a task.
 */
#ifndef KERNEL_TASK_H
#define KERNEL_TASK_H

#include <stdint.h>

#include "../alloc/mgc.h"

#define STACK_MIN   2048u
#define STACK_GUARD 1280u /* bytes below the guard word, for unchecked code */

enum task_mode { TASK_STACK_CONTIGUOUS = 0, TASK_STACK_SEGMENTED = 1 };
enum task_state { TASK_RUNNABLE = 1, TASK_RUNNING, TASK_DONE };

struct segment; /* segmented mode: one extra stack segment (stackgrow.c) */

struct task {
    /* Offsets 0 and 8 are used by switch.S: keep them first. */
    uint64_t rsp;            /* saved stack pointer while not running */
    uint64_t seg_return_rsp; /* segmented: caller's rsp to go back to */

    uint64_t stack_lo, stack_hi; /* the stack (or segment) now in use */
    uint64_t guard;              /* stack_lo + STACK_GUARD */
    uint64_t base_lo, base_size; /* the first segment (segmented) / the stack */
    struct segment *seg;         /* innermost extra segment, NULL if none */
    struct segment *spare;       /* one cached segment (segment cache option) */
    uint64_t seg_bytes;          /* bytes in extra segments now */

    uint32_t id;
    char name[24];
    enum task_mode mode;
    volatile int state;
    uint32_t cpu; /* CPU whose run queue holds it / that runs it */
    void (*fn)(void *);
    void *arg;
    struct task *next; /* run-queue link */
    struct task *all_next, *all_prev; /* list of live tasks (task.c all_lock) */

    /* why the task last switched to its scheduler (switch.S / stackgrow.c) */
    int reason;
    void (*gc_fn)(void *); /* REASON_GC: run on the scheduler stack */
    void *gc_arg;
    uint64_t req_frame, req_args, req_sp; /* __morestack request */
    int killed;
    uint64_t shrink_epoch; /* last shrink pass that looked at this task */

    /* mark assists (alloc/mgc.h): this task's account, only it touches it */
    struct gc_assist gc_assist;
    /* THE STACK CLAIM (task.c): 1 while a scheduler runs the task (from
     * before a shrink to after it is requeued or finished: its stack may
     * grow, move, shrink or lose segments) or while the collector scans
     * its stack during a concurrent mark; CAS 0 -> 1 acquire, store 0
     * release (publishes rsp and the segments to the next holder). */
    uint32_t gc_busy;
    /* the cycle whose concurrent mark scanned its stack: written by the
     * holder of the claim (the collector's pass, or the task's scheduler),
     * read under the claim or with the world stopped (task_gc_roots); the
     * claim's release/acquire orders it */
    uint32_t gc_scanned;
    /* the cycle whose stack scan found it running: stored (release) by the
     * collector's pass under all_lock, read (acquire) and cleared by the
     * task's scheduler under the claim, which then scans it (Go's
     * preemptscan); a lost request only leaves the stack to the second
     * pause */
    uint32_t gc_want;

    /* statistics */
    uint64_t max_stack; /* largest stack (contiguous) / total (segmented) */
    uint64_t grows, copies, bytes_copied, segs_alloc, segs_free, shrinks;
};

void task_init(void); /* BSP, after the heap */
/* Create a task running fn(arg) in `mode`; NULL when out of memory. */
struct task *task_spawn(const char *name, void (*fn)(void *), void *arg, enum task_mode mode);
/* Run the schedulers of all CPUs until every task has finished. */
void sched_run(void);
void task_yield(void);
_Noreturn void task_exit(void);
/* Inside a task: wait until `t` is done (t's struct stays valid until
 * task_reap). */
void task_wait(struct task *t);
/* Free a finished task's struct (its stack is already gone). */
void task_reap(struct task *t);
struct task *task_current(void);
/* Tasks spawned and not finished (the `tasks` listing shows each). */
uint64_t task_count_live(void);

/* The collector's hooks (kernel/gcstw.c):
 *   task_preempt_cpu: poison cpu's stack guard (its task stops at its next
 *     split-stack prologue); task_restore_guard: the right guard again;
 *   task_run_on_scheduler: from a task, run fn(arg) on this CPU's
 *     scheduler stack with the task parked (its stack then scannable);
 *   task_gc_roots: every live task's stack ranges (world stopped), but
 *     those a concurrent mark scanned already (gc_stack_scan_cycle);
 *   task_g0_sp: cpu's scheduler-stack pointer while a task runs there, 0
 *     when none does. */
#include "../alloc/platform.h"
void task_preempt_cpu(uint32_t cpu);
void task_restore_guard(uint32_t cpu);
void task_run_on_scheduler(void (*fn)(void *), void *arg);
/* From a task: back to the scheduler, requeued (it stops there for a
 * pending stop-the-world), and resume. */
void task_preempt_self(void);
void task_gc_roots(plat_gc_root_fn fn, void *ctx);
/* World running, a concurrent mark: fn for the stack of every task that is
 * not running and not yet scanned in `cycle`, each claimed meanwhile (so
 * that it cannot run, grow or shrink); returns the tasks left (running). */
uint32_t task_gc_scan_stacks(plat_gc_root_fn fn, void *ctx, uint32_t cycle);
uint64_t task_g0_sp(uint32_t cpu);

/* Stack use of the running task: bytes from its stack top to rsp. */
uint64_t task_stack_used(void);

/* Default mode for new tasks and the stack limit (command line words
 * stack=segmented|contiguous and maxstack=N). */
extern enum task_mode task_default_mode;
extern uint64_t task_max_stack;
extern int task_segment_cache; /* keep one spare segment per task */

/* Shrink pass: halve stacks of runnable tasks using under 1/4 (never below
 * STACK_MIN).  Called by the scheduler every SHRINK_INTERVAL switches and
 * by the `shrink` shell command through task_request_shrink. */
void task_request_shrink(void);

struct stack_stats {
    uint64_t grows, copies, bytes_copied, segs_alloc, segs_free, shrinks, largest, killed;
};
void task_stack_stats(enum task_mode m, struct stack_stats *out);
void task_stats_reset(void);

/* gccheckmark's report (plat_gc_describe_word), the world stopped: the
 * task whose current stack holds addr, the word's offset from its saved
 * rsp and whether the running mark scanned it while the world ran; "" if
 * none. */
void task_describe_stack_word(uintptr_t addr, char *buf, size_t n);

#endif
