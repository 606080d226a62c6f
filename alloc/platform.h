/*
 * platform.h — everything alloc/ needs from its host, and nothing more.
 *
 * alloc/ is portable C: it includes only its own headers, <stdint.h>,
 * <stddef.h>, <stdbool.h>, <stdarg.h> and this file.  Two hosts implement it:
 *   kernel/alloc_platform.c   page tables over frames from the frame allocator
 *   tests/host/platform_host.c  mmap / mprotect / madvise on Linux
 *
 * Address-space states (Go's mem.go):
 *   None      nothing
 *   Reserved  virtual range claimed; touching it faults
 *   Prepared  page tables (kernel) exist; no physical memory behind it; touching faults
 *   Ready     backed by physical memory, zero-filled when it became Ready, usable
 * Transitions: None→Reserved (plat_reserve), Reserved→Prepared (plat_prepare),
 * Prepared→Ready (plat_back), Ready→Prepared (plat_unback).
 * All sizes and addresses passed to these are multiples of PLAT_PAGE_SIZE.
 */
#ifndef ALLOC_PLATFORM_H
#define ALLOC_PLATFORM_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PLAT_PAGE_SIZE 4096u /* granularity of plat_back / plat_unback */

/* The fixed virtual window every plat_reserve result falls in, so that
 * alloc/ can index arenas with a flat table: [*base, *base + *size).
 * *size is a multiple of 64 MiB.  Constant after the first call. */
void plat_heap_window(uintptr_t *base, uint64_t *size);

/* Reserve `size` bytes of virtual address space aligned to `align` (a power
 * of two, >= PLAT_PAGE_SIZE) for the heap.  Returns the base, or 0 when the
 * heap's virtual range is exhausted.  Never returns memory that is usable. */
uintptr_t plat_reserve(uint64_t size, uint64_t align);

/* Reserved → Prepared.  Returns false when the host cannot build the
 * mapping structures (e.g. no frame for a page table); the range is then
 * still Reserved. */
bool plat_prepare(uintptr_t base, uint64_t size);

/* Prepared → Ready: back every page with zeroed physical memory.
 * All-or-nothing: returns false (and leaves the whole range Prepared) when
 * physical memory runs out. */
bool plat_back(uintptr_t base, uint64_t size);

/* Ready → Prepared: give the physical memory back.  The contents are lost;
 * a later plat_back yields zeroed pages again. */
void plat_unback(uintptr_t base, uint64_t size);

/* Bytes of physical memory the host could still back right now (a hint for
 * statistics and tests; may change at any time). */
uint64_t plat_phys_free(void);

/* CPU identity.  plat_cpu_id() is in [0, plat_ncpu()); plat_ncpu() never
 * exceeds PLAT_MAX_CPUS and is fixed once the allocator is initialised. */
#define PLAT_MAX_CPUS 64
uint32_t plat_ncpu(void);

/* Interrupt/preemption control around per-CPU (mcache) work: while
 * "pinned" the caller stays on the same CPU and cannot be re-entered by an
 * interrupt handler that allocates.  plat_pin returns a token for
 * plat_unpin.
 *
 * These three sit on the malloc/free fast path, so a host may provide them
 * inline: each build names its header explicitly with
 * -DPLAT_INLINE_HEADER='"dir/platform_inline.h"' (a path from the repository
 * root; the kernel: kernel/platform_inline.h, the library:
 * lib/platform_inline.h, the benchmarks: tests/host/platform_inline.h),
 * which defines `static inline` plat_pin, plat_unpin and plat_cpu_id.
 * Without it they are ordinary functions of the platform. */
#ifdef PLAT_INLINE_HEADER
#include PLAT_INLINE_HEADER
#else
uint32_t plat_cpu_id(void);
uint64_t plat_pin(void);
void plat_unpin(uint64_t token);
void plat_systemstack(void (*fn)(void *), void *arg);
#endif

/* PLAT_NOSCAN marks alloc/'s own metadata globals (mheap_, the persistent
 * allocator's cursor).  They hold heap addresses as integers — bounds,
 * search cursors, an arena's base — which a conservative scan of the
 * globals would take for pointers, keeping whatever object sits at that
 * address alive for ever (a dropped object at an arena's first byte was).
 * A host that scans its globals for the collector defines it (in its
 * inline header) to put them somewhere it does not scan — the kernel: a
 * .noscan section outside data and bss; others leave it empty. */
#ifndef PLAT_NOSCAN
#define PLAT_NOSCAN
#endif

/* plat_systemstack(fn, arg) (inline header or function): run fn(arg) on a
 * stack with room for the allocator's slow paths.  The kernel's tasks run
 * on 2 KiB stacks with 1 KiB to spare for code without stack checks, less
 * than a refill that grows the heap needs; from a task the kernel runs fn
 * on the CPU's scheduler stack (Go's systemstack).  A host whose threads
 * have big stacks just calls fn.  alloc/ wraps every slow path in it: the
 * mcache refill, large objects, kfree's slow and mcentral paths, the
 * stack allocator's refills.
 * Its caller's argument block lives on a task stack, which the collector
 * scans conservatively: alloc/ makes every field a whole word.  A byte
 * field is stored as one byte, and the slot keeps the upper bytes of what
 * an earlier frame left there — a heap address whose low byte changed
 * points into a NEIGHBOURING object that nobody holds.  (gccheckmark
 * reported exactly such a word, next_free_args' class byte over an old
 * node pointer, as "reached from a task stack word" in gc_concurrent_
 * stress_trees: the concurrent mark had scanned that stack before the
 * store, so only the checkmark saw it.) */

/* Optional: a per-CPU pointer slot that saves the fast paths the
 * cpu-id → mcache address arithmetic.  A platform_inline.h that defines
 * PLAT_HAVE_CPU_CACHE provides `static inline void *plat_cpu_cache(void)`
 * (the calling CPU's slot, caller pinned) and an out-of-line
 * plat_set_cpu_cache(cpu, p), which malloc_init calls once per CPU with
 * that CPU's mcache before any allocation.  Without it, alloc/ indexes
 * its mcache array by plat_cpu_id(). */
#ifdef PLAT_HAVE_CPU_CACHE
void plat_set_cpu_cache(uint32_t cpu, void *p);
#endif

/* Optional: a platform whose pinning is usually free (a thread that owns
 * its CPU slot outright: lib/platform_inline.h) defines PLAT_HAVE_OWNER_CACHE
 * and `static inline void *plat_owner_cache(void)`: the calling CPU's mcache
 * when the caller is pinned for free — plat_pin() would return 0 and
 * plat_unpin(0) does nothing — else &mcache_unowned (alloc/mcache.h; never
 * NULL, including before the heap is initialised).  kmalloc/kfree's inline
 * fast paths (malloc_fast.h) then skip plat_pin/plat_unpin; with
 * mcache_unowned every fast path misses and the slow path pins. */

/* Optional: PLAT_KFREE_FAST_KMALLOC_ONLY 1 — a host whose C code frees
 * kmalloc objects all the time and collected ones hardly ever (the
 * preload library has no collector).  Collected spans then keep kfree's
 * gate closed (freeLimit 0), so a span that passes it is a kmalloc span
 * and the fast path skips the class test; kfree of a collected object
 * takes the slow path, which handles it in full. */
#ifndef PLAT_KFREE_FAST_KMALLOC_ONLY
#define PLAT_KFREE_FAST_KMALLOC_ONLY 0
#endif

/* Optional: PLAT_FLAT_PAGEMAP 1 — the host gives alloc/ a flat page → span
 * table beside the arenas' spans[] (mheap.h): 8 bytes per 8 KiB page of
 * the heap window, 1/1024 of it, so that kfree finds a pointer's span with
 * one load instead of two dependent ones.
 *   plat_pagemap_reserve(bytes): address space for the table, no memory
 *     (0 if none: alloc/ then does without, every kfree on its slow path);
 *   plat_pagemap_back(p, bytes): [p, p + bytes) of it becomes readable and
 *     writable zero memory, for good; page multiples, called in increasing
 *     order, never twice for a page; false when the host refuses (an
 *     address-space limit): alloc/ then fails the heap growth that needed
 *     it, as out of memory.
 * alloc/ backs the table as the heap grows, so it costs 64 KiB per 64 MiB
 * arena.  The kernel backs memory eagerly and keeps the two-level map. */
#ifndef PLAT_FLAT_PAGEMAP
#define PLAT_FLAT_PAGEMAP 0
#endif
#if PLAT_FLAT_PAGEMAP
uintptr_t plat_pagemap_reserve(uint64_t bytes);
bool plat_pagemap_back(uintptr_t p, uint64_t bytes);
#endif

/* Spinlock: fair (ticket), not recursive.  plat_lock disables interrupts
 * while held (kernel) and restores them on unlock.  Zero-initialised is
 * unlocked; every lock also needs its rank (alloc/lockrank.h), set with
 * PLAT_LOCK_INIT or before first use.  plat_lock checks the lock order
 * (lockrank_acquire: out of order, recursive or unranked is fatal) before
 * it spins. */
typedef struct plat_lock {
    volatile uint32_t next;   /* next ticket to hand out */
    volatile uint32_t owner;  /* ticket now served */
    uint64_t saved_flags;     /* interrupt state to restore (kernel) */
    int32_t holder_cpu;       /* cpu id holding it + 1, 0 when free (diagnostics) */
    uint32_t rank;            /* lock-order rank, see alloc/lockrank.h */
} plat_lock_t;
#define PLAT_LOCK_INIT(r) {.rank = (r)}

void plat_lock(plat_lock_t *l);
void plat_unlock(plat_lock_t *l);
/* True when the calling CPU holds `l` (for _locked assertions). */
bool plat_lock_held(const plat_lock_t *l);

/* Fatal error: print `msg` (already formatted) and stop.  Never returns. */
_Noreturn void plat_panic(const char *msg);

/* Log a line (printf-style: %d %u %x %lx %lu %llu %p %s %c %zu supported). */
void plat_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void plat_vlog(const char *fmt, va_list ap);

/* Format into buf (always NUL-terminated when n > 0); returns the length the
 * full output would have had, like vsnprintf.  Same formats as plat_log. */
int plat_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap);

/* Monotonic cycle/ns counter for benchmarks: nanoseconds since boot. */
uint64_t plat_nanotime(void);

/* ---------------------------------------------------------------- GC
 * The collector (alloc/mgc.c) needs a host that can stop the world and
 * enumerate its roots.  A host that cannot returns false from
 * plat_gc_supported, and then nothing is ever collected (mallocgc objects
 * live until kfree).
 *
 *   plat_gc_run(fn, arg): run fn(arg) on the calling CPU where the caller's
 *     own stack is a scannable root and the world may be stopped: the
 *     kernel moves a task to its CPU's scheduler stack first (the task
 *     parked like any other); code that is not a task calls fn directly.
 *     Then it runs the worker fn posted with plat_gc_worker, if any (the
 *     kernel: after requeueing the task).
 *   plat_gc_stop_world(): every other CPU stops at a safepoint; returns
 *     the nanoseconds it took once all have stopped.  A CPU that does not
 *     stop in time is reported (CPU, where it was) and is fatal.  Stopped
 *     CPUs are outside their mcaches: the collector may use them.
 *   plat_gc_parallel(fn, arg): while stopped, fn(arg) runs on every CPU
 *     (the caller included) at once; returns when all have returned.
 *     Returns the number of CPUs that ran it.
 *   plat_gc_start_world(): every stopped CPU resumes (their mcaches
 *     were already prepared for the sweep by the collecting CPU).
 *   plat_gc_roots(fn, ctx): while stopped, fn(ctx, lo, hi, kind) for every
 *     range the host owns (enum gc_root_kind in mgc.h): globals, each task
 *     stack (every segment), each stopped CPU's stack and saved registers.
 *   plat_gc_poll(): a stop is pending (gc_stop_pending): stop here until
 *     the world restarts.  Called unpinned, with no lock held.
 *   plat_locks_held(): locks the calling CPU holds (no cycle starts then).
 */
/* Mark assists (mgc.h struct gc_assist):
 *   plat_gc_assist(): the calling task's assist account (the host keeps
 *     one per task, zeroed when the task is made; code that is not a task
 *     may share one per CPU); NULL: this caller never assists.
 *   plat_gc_assist_park(): the caller is in assist debt and found neither
 *     grey work nor credit, or waits for a cycle to start or end: let
 *     other work run for a moment (a task yields its CPU — the cycle's
 *     main worker may share it) before it looks again.  Unpinned, no lock
 *     held. */
struct gc_assist;
struct gc_assist *plat_gc_assist(void);
void plat_gc_assist_park(void);
typedef void (*plat_gc_root_fn)(void *ctx, uintptr_t lo, uintptr_t hi, uint32_t kind);
/* A concurrent mark scans each task's stack once, while the world runs
 * (Go's markroot of each G, with its _Gscan claim):
 *   plat_gc_scan_stacks(fn, ctx, cycle): fn(ctx, lo, hi, kind) for the
 *     stack ranges of every task that is not running and whose stack was
 *     not yet scanned in `cycle`; each such task is claimed while its
 *     ranges are scanned (it cannot run, grow, move or shrink meanwhile)
 *     and remembered as scanned in `cycle`.  Before it is released, what
 *     lies below where it stopped is zeroed, and a stack it takes while the
 *     mark runs is handed over zeroed: a frame pushed after the scan may
 *     leave slots unwritten, and a word left there before the scan must not
 *     reach the second pause's checkmark as a root the scan never saw (a
 *     conservative scan's dead words; Go's precise scan has none).  Returns
 *     how many tasks it left (running): plat_gc_roots at mark termination
 *     covers them.
 *     Holding no lock; fn may take the collector's locks.
 *   plat_gc_roots skips a task scanned in gc_stack_scan_cycle() (mgc.h)
 *     when that is nonzero.
 * A host without tasks of its own returns 0 and scans nothing. */
uint32_t plat_gc_scan_stacks(plat_gc_root_fn fn, void *ctx, uint32_t cycle);
/* plat_gc_worker(fn, arg): called by a concurrent cycle inside plat_gc_run,
 * the world running again: fn is the mark's main worker on this CPU, in
 * steps (Go's 25 % rule may give it only a share of the CPU: mgcpacer.c's
 * WORKERS).  Once the caller of plat_gc_run can go on without it (a task
 * that triggered the cycle is requeued, for another CPU to run), the host
 * calls fn(arg, idle) on this CPU's own stack, holding no lock, again and
 * again until it returns true (the cycle is over: the world was stopped
 * and restarted inside): each time this CPU is about to choose a task
 * (idle = false: fn returns at once, false, when its share is used up)
 * and whenever it has no task to run (idle = true: fn marks without
 * limit).  A host with nothing to hand the caller to loops with idle =
 * true.  A host that runs tasks must not halt a CPU with a step pending,
 * and a task waiting for the cycle's end yields (plat_gc_assist_park). */
void plat_gc_worker(bool (*fn)(void *, bool), void *arg);
/* plat_gc_ragged(fn, timeout_ns): Go's forEachP for the ragged barrier of
 * a concurrent mark (mgc.c), the world running: fn() runs on the calling
 * CPU and on every other CPU at its next safepoint (the host asks a CPU
 * that runs a task to come to one, and wakes an idle one); returns once
 * all have run it, or after timeout_ns with the request withdrawn (a CPU
 * that was inside fn by then finishes it before it next stops).  Returns
 * how many CPUs ran fn.  Holding no lock.  A host without other CPUs runs
 * fn once and returns 1. */
uint32_t plat_gc_ragged(void (*fn)(void), uint64_t timeout_ns);
/* plat_gc_describe_word(addr, buf, n): for a gccheckmark report, the world
 * stopped: what the host knows of the root word at addr (a task's stack:
 * which task, the word's offset from its saved rsp, whether the running
 * mark scanned it while the world ran), short; "" if nothing. */
void plat_gc_describe_word(uintptr_t addr, char *buf, size_t n);
/* Spin-wait hint (pause; a host with more threads than cores may yield). */
void plat_cpu_relax(void);
/* Whether [lo, hi) is mapped readable memory (gc_add_root refuses others). */
bool plat_mapped(uintptr_t lo, uintptr_t hi);
bool plat_gc_supported(void);
void plat_gc_run(void (*fn)(void *), void *arg);
uint64_t plat_gc_stop_world(void);
uint32_t plat_gc_parallel(void (*fn)(void *), void *arg);
void plat_gc_start_world(void);
void plat_gc_roots(plat_gc_root_fn fn, void *ctx);
void plat_gc_poll(void);
uint32_t plat_locks_held(void);

#endif /* ALLOC_PLATFORM_H */
