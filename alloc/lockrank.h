/*
 * lockrank.h — every lock of the kernel, alloc/ and the Linux library, the
 * order in which they nest, and the run-time check of that order.
 *
 * THE RULE: a CPU (a thread, on Linux) may acquire a lock only while every
 * lock it holds has a LOWER rank.  Ranks marked "many" may be held several
 * at once when taken in ascending address order (heap_verify and fork take
 * every mcentral lock, in span-class order).  Acquiring out of order, a
 * lock it already holds, or a lock without a rank is a fatal error that
 * names both locks, their ranks and the CPUs holding them:
 *
 *   lock order: cpu 1 acquires mheap (rank 30, 0x..., held by cpu 2) while
 *   holding frames (rank 70, 0x...)          ("free" when no CPU holds it)
 *   lock order: cpu 0 acquires mcentral (rank 20, 0x...) which it already holds
 *
 * THE TABLE (lowest rank first; the usual nesting on the right)
 *
 *   rank name          lock                                   nests (→ acquired inside)
 *   ---- ------------- -------------------------------------- -------------------------
 *     2  bench         kernel/bench.c big lock around every    → everything below
 *                      kmalloc/kfree (the big-lock baseline)
 *     8  slot          libgomalloc shared-slot lock (plat_pin  → everything below
 *                      of a thread without its own slot)
 *     9  hchan         a channel's lock (alloc/chan.c): held   (leaf)
 *                      for one element copy
 *    10  stackpool     alloc/stack.c pool_lock                 → mcentral (mheap_alloc's
 *                                                                drain of held spans), mheap
 *    12  stacklarge    alloc/stack.c large_lock                (leaf in practice)
 *    18  transfer      alloc/mobjcache.c transfer cache of a   → mcentral (a release
 *                      kmalloc size class (many: fork holds      to the spans)
 *                      them all)
 *    20  mcentral      mheap_.central[spc].lock (many)         → mheap, persistent
 *                      (the collector's sweepers take them one
 *                      at a time, also on entry to mheap_alloc
 *                      of a span that is not manual, and its
 *                      step 1b drains held spans one class at a
 *                      time, for any span)
 *    30  mheap         mheap_.lock: pages, arenas, spans,      → persistent, window,
 *                      gcbits, heap statistics                   paging, frames, shootdown
 *    35  bigalign      lib/preload.c over-aligned side table   (leaf)
 *    36  gcroots       the collector's gc_add_root table       (leaf)
 *    38  gcwork        the collector's global work lists       → persistent
 *    39  mprof         alloc/mprof.c heap profile: buckets,     → persistent
 *                      sampled objects, spans' profSamples
 *                      (taken under mcentral / mheap by sweeps
 *                      and large frees)
 *    40  persistent    alloc/persistent.c                      → window, paging, frames
 *    50  window        the heap window's bump pointer (kernel  (leaf)
 *                      alloc_platform.c, lib, host test platform)
 *    60  paging        kernel/paging.c page-table lock         → frames
 *    70  frames        kernel/frame.c frame allocator          (leaf)
 *    80  shootdown     kernel/smp.c TLB shootdown initiator    (leaf; waits for NMIs)
 *    90  runq          kernel/task.c per-CPU run queue         (leaf)
 *    92  tasks         kernel/task.c live-task list            (leaf)
 *    96  test          locks of self-tests and host tests      (leaf)
 *   100  console       kernel/printf.c line lock               (leaf: printing is
 *                                                               allowed under any lock)
 *
 * A lock's rank is set where the lock is defined (PLAT_LOCK_INIT /
 * SPINLOCK_INIT, or an init function) and never changes.
 *
 * THE CHECK (lockrank.c) keeps, per CPU (per thread on Linux), a short
 * stack of held ranks; entries of a "many" rank collapse into one with a
 * count and the highest address.  Cost: a few compares per acquire, only
 * on lock slow paths (the malloc/free fast paths take no lock).  The
 * number of entries is also the CPU's lock count, which the collector's
 * safepoints require to be zero.
 */
#ifndef ALLOC_LOCKRANK_H
#define ALLOC_LOCKRANK_H

#include <stdbool.h>
#include <stdint.h>

enum lockrank {
    LOCKRANK_NONE = 0, /* not a valid rank: such a lock is refused */
    LOCKRANK_BENCH = 2,
    LOCKRANK_SLOT = 8,
    LOCKRANK_HCHAN = 9,
    LOCKRANK_STACKPOOL = 10,
    LOCKRANK_STACKLARGE = 12,
    LOCKRANK_TRANSFER = 18,
    LOCKRANK_MCENTRAL = 20,
    LOCKRANK_MHEAP = 30,
    LOCKRANK_BIGALIGN = 35,
    LOCKRANK_GCROOTS = 36,
    LOCKRANK_GCWORK = 38,
    LOCKRANK_MPROF = 39,
    LOCKRANK_PERSISTENT = 40,
    LOCKRANK_WINDOW = 50,
    LOCKRANK_PAGING = 60,
    LOCKRANK_FRAMES = 70,
    LOCKRANK_SHOOTDOWN = 80,
    LOCKRANK_RUNQ = 90,
    LOCKRANK_TASKS = 92,
    LOCKRANK_TEST = 96,
    LOCKRANK_CONSOLE = 100,
};

#define LOCKRANK_MAX_HELD 12

/* The locks one CPU (thread) holds, lowest rank first. */
struct lockrank_held {
    uint32_t n; /* entries in use: 0 means no lock held */
    struct {
        const void *lock;  /* the last lock of this rank acquired (highest address) */
        uint32_t rank;
        uint32_t count;    /* > 1 only for "many" ranks */
    } e[LOCKRANK_MAX_HELD];
};

/* The table's name for a rank ("?" for an unknown one). */
const char *lockrank_name(uint32_t rank);

/* Check that the owner of `h` (cpu `me`) may acquire `lock` of `rank`,
 * which cpu `holder` (-1: none) holds right now, and record it.  A
 * violation goes to the violation hook if one is set (tests; the hook may
 * longjmp out — nothing was recorded), else plat_panic.  Call before
 * spinning on the lock: a recursive acquire then reports instead of
 * spinning forever. */
void lockrank_acquire(struct lockrank_held *h, const void *lock, uint32_t rank, int32_t holder,
                      int32_t me);
/* `lock` of `rank` was released. */
void lockrank_release(struct lockrank_held *h, const void *lock, uint32_t rank);

typedef void (*lockrank_hook_t)(const char *msg);
/* Install a violation hook (NULL: panic); returns the previous one. */
lockrank_hook_t lockrank_set_hook(lockrank_hook_t hook);

#endif
