/*
 * stackgrow.h — growing, shrinking and releasing task stacks (the
 * scheduler calls these on its own stack; see stackgrow.c).
 */
#ifndef KERNEL_STACKGROW_H
#define KERNEL_STACKGROW_H

#include "task.h"

/* A STACK_MIN stack for a new task; false when out of memory. */
int stackgrow_alloc_initial(struct task *t);
/* Serve t's __morestack request (t->req_*).  Returns 0 when the task was
 * killed (stack limit or no memory) — the caller then finishes it. */
int stackgrow_morestack(struct task *t);
/* Release the innermost segment (segmented mode, the body returned). */
void stackgrow_pop(struct task *t);
/* Halve t's stack if it uses under a quarter (contiguous, not running). */
void stackgrow_shrink(struct task *t);
/* Free every stack and segment of a finished task. */
void stackgrow_release_all(struct task *t);
/* The collector's roots in t's stacks (t not running): the stack in use
 * from t->rsp, and the used part of every earlier segment. */
void stackgrow_gc_ranges(struct task *t, plat_gc_root_fn fn, void *ctx);
/* The concurrent stack scan's other half (t not running, claimed): zero
 * what lies below where t stopped — the dead part of the stack in use, of
 * every earlier segment below its split, and the spare segment.  A later
 * frame at those depths may never write some of its slots; checkmark's
 * rescan at the second pause would read a word left there before the scan
 * as a root the scan never saw. */
void stackgrow_scrub_dead(struct task *t);
/* Tests: 1 = the scrub does nothing (the negative control of
 * gc_concurrent_dead_frame_words_not_roots). */
extern volatile int stackgrow_debug_no_scrub;
/* Tests: 1 = hand stacks over without clearing another owner's words (the
 * negative control of the stale-stack test). */
extern volatile int stackgrow_debug_keep_stale;

#endif
