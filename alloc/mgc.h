/*
 * mgc.h — Go's garbage collector for alloc/: the API (this part is public)
 * and the pieces the collector's files share.  The design essay is at the
 * top of mgc.c.
 *
 * WHAT IS COLLECTED: objects from mallocgc/newobject/newarray (span classes
 * 0..135).  Never kmalloc objects (their own span classes), stacks, or
 * anything outside the heap.  kfree of a collected object stays legal (an
 * explicit free wins over a mark).  A collected object stays alive while a
 * pointer to it, or into it (interior pointers count), is in:
 *   - a task's stack (every segment of a segmented stack) or registers,
 *   - a CPU's own stack (the code that is not a task) or registers,
 *   - the kernel's data and bss (globals),
 *   - a range registered with gc_add_root,
 *   - a pointer word (per its gotype) of another live collected object.
 * Not in kmalloc memory: like C memory under cgo's rules, it is not scanned
 * and must not hold the only pointer to a collected object.  And while a
 * concurrent mark runs, a task must not store such a pointer into another
 * task's stack (that stack may be scanned already: mgc.c CONCURRENT STACK
 * SCAN; Go's escape analysis keeps Go code from doing it).
 */
#ifndef ALLOC_MGC_H
#define ALLOC_MGC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sizeclass.h"

/* ------------------------------------------------------------ public API */

/* What started a cycle (Go's gcTrigger kinds, plus the out-of-memory one). */
enum gc_trigger {
    GC_TRIGGER_HEAP = 0,  /* heap_live reached the trigger */
    GC_TRIGGER_TIME = 1,  /* no cycle for forcegc_period (2 min): sysmon */
    GC_TRIGGER_CYCLE = 2, /* gc_collect(): runtime.GC() */
    GC_TRIGGER_OOM = 3,   /* mallocgc could not allocate: one emergency cycle */
};

/* runtime.GC(): run a complete cycle now (after the one in progress, if
 * any) and finish its sweep.  Returns false when the collector cannot run
 * here (no collector on this platform, or the caller holds a lock). */
/* Tests: start a forced cycle (printed " (forced)") and return once its
 * concurrent mark runs, without waiting for its end — a heap trigger's
 * way, so the caller counts as no waiter (the main worker keeps its share).
 * False if none started (a cycle was running: then it waited for that). */
bool gc_start(void);
bool gc_collect(void);
/* debug.SetGCPercent: GOGC (>= 0), or -1 for off; returns the previous
 * value.  Out-of-range values are refused (returns INT32_MIN, no change). */
int32_t gc_set_percent(int32_t percent);
int32_t gc_get_percent(void);
#define GC_PERCENT_MAX 100000 /* larger GOGC values are refused */
/* GODEBUG=gctrace=N (0 off, 1 one line per cycle, Go's format). */
void gc_set_trace(int level);
int gc_get_trace(void);
/* The forced-GC period (Go's forcegcperiod, 2 minutes); 0 restores it. */
void gc_set_force_period(uint64_t ns);
/* Sysmon: start a time-triggered cycle if none ran for the forced-GC
 * period (Go's rules: not before the first cycle, not with GOGC off).
 * Cheap when nothing is due; the kernel calls it from its idle loops. */
void gc_sysmon_tick(void);
/* Tests: pretend this much time passed (the pacer's clock only); and
 * undo all of it (LastGC moves back with the clock). */
void gc_test_advance_clock(uint64_t ns);
void gc_test_clock_back(void);

/* Roots outside the collector's view (Boehm's GC_add_roots): [p, p+len) is
 * scanned conservatively every cycle.  Refused (false, one message) when
 * the range is empty, overlaps the heap window, or the table is full. */
bool gc_add_root(const void *p, size_t len);
bool gc_remove_root(const void *p);

/* What the heap holds at p, for tests and the playground: */
enum gc_obj_state {
    GC_OBJ_NOT_HEAP = 0, /* not a heap object address (or in free pages) */
    GC_OBJ_FREE = 1,     /* a free slot (never allocated, freed or collected) */
    GC_OBJ_LIVE = 2,     /* an allocated object (p may be interior) */
    GC_OBJ_PENDING = 3,  /* kfree'd, not swept yet */
};
enum gc_obj_state gc_object_state(const void *p);
/* Tests: the collected object holding p has its mark bit set (grey or
 * black in the mark running now; false for anything not a collected
 * object). */
bool gc_is_marked(const void *p);

/* Eagerly finish the current sweep (every span swept). */
void gc_finish_sweep(void);

/* Background sweep (Go's bgsweep; the essay is in mgcsweep.c): GC-sweep up
 * to `budget` spans that still await their sweep after the last mark, for
 * a host's idle CPUs (Go sweeps batches of 10).  Returns the spans swept;
 * 0 when nothing is left (then cheap: one load).  Takes mcentral locks one
 * at a time: call it holding no lock, outside any mcache operation. */
#define GC_BGSWEEP_BATCH 10
uint32_t gc_bgsweep_step(uint32_t budget);
/* Whether spans still await their GC sweep this cycle (one load). */
bool gc_sweep_pending(void);
/* Spans awaiting their GC sweep, counted now (walks every collected
 * class's unswept sets under its lock: for tests and stats, not hot). */
uint64_t gc_sweep_pending_spans(void);

/* Who swept what since boot (atomic counters, mgcsweep.c).  Every GC
 * sweep (the first sweep of a span after a mark) counts in spans/pages;
 * the other fields say which sweeper did it; what is left is the on-demand
 * sweeping of mcentral and mcache (a span swept because it was needed). */
struct gc_sweep_stats {
    uint64_t spans, pages;          /* GC sweeps, all sweepers */
    uint64_t bg_spans;              /* gc_bgsweep_step (idle CPUs) */
    uint64_t prop_spans;            /* proportional sweep (allocation debt) */
    uint64_t reclaim_spans;         /* the page reclaimer (wholly free spans) */
    uint64_t reclaim_pages;         /* pages it gave back to the page heap */
    uint64_t finish_spans;          /* gc_finish_sweep (sweep termination, gc_collect) */
};
void gc_read_sweep_stats(struct gc_sweep_stats *out);

/* Test knobs (negative controls): each bit turns one sweeper off.
 * GC_SWEEP_COLLECT_LAZY: gc_collect leaves the sweep to the sweepers, as a
 * heap-triggered cycle does (Go's runtime.GC sweeps eagerly). */
enum {
    GC_SWEEP_NO_BG = 1u << 0,
    GC_SWEEP_NO_PROPORTIONAL = 1u << 1,
    GC_SWEEP_NO_RECLAIM = 1u << 2,
    GC_SWEEP_COLLECT_LAZY = 1u << 3,
};
extern volatile uint32_t gc_debug_sweep;

/* One record per completed cycle (the `stat gc` facts); the last
 * GC_HISTORY are kept. */
struct gc_cycle_record {
    uint32_t n;             /* cycle number (NumGC after it) */
    uint8_t trigger;        /* enum gc_trigger */
    uint8_t forced;         /* a user-forced cycle (gc_collect): " (forced)" */
    uint32_t ncpu;          /* CPUs that took part (Go's P) */
    int32_t gogc;           /* GOGC in effect */
    uint64_t start_ns;      /* since boot, at sweep termination */
    uint64_t heap0, heap1;  /* heap_live at the start / at mark termination */
    uint64_t marked;        /* bytes marked (live after the cycle) */
    uint64_t goal;          /* the goal this cycle was paced against */
    uint64_t next_goal;     /* the goal set for the next cycle */
    uint64_t stacks, globals; /* bytes of stacks / globals + roots scanned */
    uint64_t stw1_ns, mark_ns, stw2_ns; /* sweep termination, mark, mark termination */
    uint64_t stop_ns;       /* time to stop the world (inside stw1) */
    uint64_t mark_cpu_ns;   /* CPU time spent marking, all CPUs */
    uint64_t freed_objects, freed_bytes; /* what the sweep freed (filled when swept) */
    uint64_t sweep_left;    /* spans of the previous cycle still unswept at this one's start
                               (swept by its sweep termination: the sweepers were late) */
    uint8_t concurrent;     /* marked with the world running (gcstoptheworld=0): mark_ns is
                               not a pause */
    uint64_t idle_ns;       /* idle CPUs' marking during a concurrent mark (gctrace's idle) */
    uint64_t idle_objects;  /* objects they scanned */
    /* the pacer (mgcpacer.c) and mark assists (mgcmark.c), concurrent marks */
    uint64_t trigger_heap;  /* the heap trigger in force when the cycle started */
    uint64_t heap_restart;  /* heap_live when the world restarted to mark (concurrent) */
    uint64_t heap_scan;     /* heap bytes the markers, helpers and assists scanned */
    uint64_t assist_ns;     /* tasks' time doing mark assists (gctrace's assist figure) */
    uint64_t assist_wait_ns; /* their time parked: in debt, no grey work to take */
    uint64_t assist_work;   /* heap bytes scanned by assists */
    uint64_t assist_stolen; /* background scan credit assists took instead */
    /* who marked (mgcpacer.c's WORKERS): the main worker's share of its
     * CPU (GC_PPM: dedicated) and its time in steps while the world ran
     * (stack passes, drains); the second workers' time and objects */
    uint32_t main_ppm;
    uint64_t worker_ns, second_ns, second_objects;
    /* the ragged barrier: rounds, CPU flushes that handed work over, CPUs
     * that did not answer in time; CPU flushes with work in the pause */
    uint32_t ragged_rounds, ragged_flushes, ragged_missed, wb_pause_flushes;
    uint64_t stacks_conc;   /* of `stacks`, task stacks scanned while the world ran */
    uint32_t stacks_left;   /* tasks still running after the last concurrent pass
                               (their stacks scanned at the second pause) */
};
#define GC_HISTORY 256

/* The world-stopped time of a cycle (MemStats' PauseNs): all of it with
 * the world stopped, both pauses of a concurrent cycle. */
static inline uint64_t gc_record_pause(const struct gc_cycle_record *r)
{
    return r->stw1_ns + (r->concurrent ? 0 : r->mark_ns) + r->stw2_ns;
}

/* Collector statistics (MemStats' GC fields). */
struct gc_stats {
    uint32_t NumGC, NumForcedGC;
    uint64_t NextGC;        /* heap goal of the next cycle */
    uint64_t LastGC;        /* ns since boot at the end of the last cycle (0: none) */
    uint64_t PauseTotalNs;
    uint64_t PauseNs[GC_HISTORY]; /* circular, PauseNs[(NumGC+255)%256] is the last */
    uint64_t GCCPUFractionPPM;    /* GC CPU time / (elapsed × CPUs), parts per million */
    uint64_t HeapMarked;    /* marked by the last cycle */
    uint64_t HeapLive;      /* the pacer's heap_live now */
    int32_t GOGC;
    bool EnableGC;          /* a collector exists here */
    /* ours: allocations that found no memory while a cycle ran (they
     * waited for its end before their emergency cycle), and of those while
     * it marked */
    uint32_t OOMWaits, OOMInMark;
};
void gc_read_stats(struct gc_stats *out); /* 2 KiB: not on a task's stack */
uint32_t gc_num_cycles(void);              /* NumGC, cheaply */
/* The record of cycle n (1-based), or false if not kept. */
bool gc_cycle_record(uint32_t n, struct gc_cycle_record *out);

/* The gctrace line of record r (Go's format, no newline) into buf; the
 * GC CPU fraction is given (parts per million).  Returns the length. */
int gc_format_trace(char *buf, size_t size, const struct gc_cycle_record *r, uint64_t cpu_ppm);

/* Debug switches for tests (not for production):
 *   skip_roots: bitmask of enum gc_root_kind classes not scanned (a
 *   negative control: the reachability test must then find lost objects). */
extern volatile uint32_t gc_debug_skip_roots;

/* Debug modes (Go's GODEBUG gccheckmark / clobberfree):
 *   gccheckmark: after every mark, with the world still stopped, mark
 *   everything again from ALL roots into separate bits; a reachable object
 *   the real mark missed is reported through the error hook, with what
 *   reached it:
 *     gccheckmark: 0x... (span 0x... class 5, 48 B) is reachable but was not
 *     marked; reached from object 0x... | from a task stack word at 0x...
 *     [— what the host knows of that word: plat_gc_describe_word]
 *   and then marked (so it survives).  GC_CHECKMARK_FATAL ends with
 *   plat_panic("gccheckmark: N reachable objects were not marked") after
 *   the reports (Go's throw); GC_CHECKMARK_REPORT goes on (tests).  Costs a
 *   second, serial mark and 1 MiB per arena of checkmark bits (allocated on
 *   first use; without them the pass is skipped with a message).
 *   gcclobber: the sweep fills every object the collector frees with
 *   0xdeadbeefdeadbeef, so a use after collection reads garbage loudly
 *   (debug builds already poison freed slots with their own pattern). */
enum { GC_CHECKMARK_OFF = 0, GC_CHECKMARK_FATAL = 1, GC_CHECKMARK_REPORT = 2 };
void gc_set_checkmark(uint32_t mode);
uint32_t gc_get_checkmark(void);
void gc_set_clobber(bool on);
/* gcstoptheworld (Go's GODEBUG name): 1 marks with the world stopped — the
 * default in alloc/, for hosts that cannot stop their threads (the host
 * tests' platform); 0 marks concurrently, the kernel's default (set at boot
 * from the command line) — a short pause to scan the
 * roots, marking while the world runs (the barrier on, new objects black),
 * a short pause that scans every root again and drains (mgc.c's CONCURRENT
 * MARK).  Every pointer store into a collected object must then use the
 * barrier (mbarrier.h).  Takes effect at the next cycle. */
void gc_set_stoptheworld(uint32_t on);
uint32_t gc_get_stoptheworld(void);

/* Who marks during a concurrent mark, by Go's 25 % rule (mgcpacer.c's
 * WORKERS).  Shares are in parts per million of one CPU's time. */
#define GC_PPM 1000000u
struct gc_workers {
    uint32_t ncpu;
    uint32_t go_dedicated, go_frac_ppm; /* Go: whole workers; share of every other P */
    uint32_t main_ppm;                  /* ours: the cycle's CPU's main worker (GC_PPM: dedicated) */
    uint32_t second_slots, second_ppm;  /* ours: second workers on other CPUs, their total share */
};
struct gc_workers gc_pacer_workers(uint32_t ncpu);
/* Tests: 1 = the main worker dedicated and no second workers, whatever
 * the CPU count (the negative control of the 25 % rule). */
extern volatile uint32_t gc_debug_main_dedicated;
/* Tests: no ragged barrier (the second pause flushes every CPU's barrier
 * buffer, as before it). */
extern volatile uint32_t gc_debug_no_ragged;
/* Tests: GC_OOM_NO_EMERGENCY: an allocation that finds no memory runs no
 * emergency cycle (and waits for none); GC_OOM_RETURN_NULL: mallocgc then
 * returns NULL (counted in gc_debug_oom_nulls) instead of Go's fatal
 * "out of memory" — the negative control of the emergency path. */
enum { GC_OOM_NO_EMERGENCY = 1, GC_OOM_RETURN_NULL = 2 };
extern volatile uint32_t gc_debug_oom;
extern uint64_t gc_debug_oom_nulls;
/* 1 + the CPU that runs the main worker of the concurrent mark under way
 * (0: none).  Set and cleared with the world stopped: a running task sees
 * it consistent with gc_phase. */
uint32_t gc_mark_main_cpu(void);
/* Second mark workers (the plan's second_slots): a host's scheduler calls
 * this before it picks a task, holding no lock.  While a concurrent mark
 * has grey work and a slot is free (or held by this CPU) and within its
 * share, it scans up to `budget` objects and returns nonzero: the
 * scheduler loops back instead of running a task.  0 otherwise (one load
 * outside a mark); the slot is then released. */
uint32_t gc_worker_mark_step(uint32_t budget);

/* Idle-CPU marking (Go's idle mark workers): while a concurrent mark runs
 * with the world, a host's idle CPU scans up to `budget` grey objects.
 * Returns nonzero while that mark runs (the objects scanned, or 1 when
 * none was grey at that moment): the idle loop should come back rather
 * than halt; 0 outside a concurrent mark (one load).  Bounded, never waits
 * for other markers.  Call holding no lock.  gc_debug_no_idle_mark
 * (tests): never. */
#define GC_IDLE_MARK_BUDGET 1024
uint32_t gc_idle_mark_step(uint32_t budget);
extern volatile uint32_t gc_debug_no_idle_mark;
/* Tests: the concurrent drain starts only once an idle helper has scanned
 * a batch (or after 1 s): on a loaded host a vCPU may not run at all during
 * a short mark. */
extern volatile uint32_t gc_debug_wait_helper;
/* Tests: the collecting CPU waits this many microseconds between asking for
 * the second pause (gc_stop_pending) and stopping the world — what a
 * descheduled vCPU does under a loaded host; tasks in debt must wait too. */
extern volatile uint32_t gc_debug_stop_delay_us;
#define GC_CLOBBER_WORD 0xdeadbeefdeadbeefull
extern volatile uint32_t gc_clobber;

/* ------------------------------------------------------------ inside alloc/ */

enum gc_root_kind {
    GC_ROOT_GLOBALS = 1u << 0, /* kernel data/bss */
    GC_ROOT_TASKS = 1u << 1,   /* task stacks */
    GC_ROOT_CPUS = 1u << 2,    /* CPU (scheduler) stacks */
    GC_ROOT_TINY = 1u << 3,    /* mcache tiny blocks */
    GC_ROOT_TABLE = 1u << 4,   /* gc_add_root ranges */
    /* the earlier segments of segmented task stacks: reported as
     * GC_ROOT_TASKS | GC_ROOT_SEGMENTS, so that a test can skip only them */
    GC_ROOT_SEGMENTS = 1u << 5,
};

/* CONCURRENT STACK SCAN (mgc.c; platform.h plat_gc_scan_stacks): while a
 * concurrent mark's termination runs, the cycle whose stack scan covered
 * the tasks a host's plat_gc_roots should skip; 0 otherwise (every stack
 * is a root: stop-the-world marks, the checkmark pass). */
uint32_t gc_stack_scan_cycle(void);
/* A host's scheduler holds the claim of a task whose stack the mark's
 * pass found running (Go's preemptscan): scan it now for the mark of
 * `cycle` — each(fn, ctx, arg) reports the task's ranges to fn.  False,
 * nothing scanned, when that mark's window is closed (the second pause
 * then scans it).  Holding no lock, on a stack with room for a drain. */
bool gc_scan_stack_for_mark(uint32_t cycle,
                            void (*each)(void (*fn)(void *, uintptr_t, uintptr_t, uint32_t),
                                         void *ctx, void *arg),
                            void *arg);

/* Set (seq_cst) by the collecting CPU before it stops the world, cleared
 * before it restarts it: platforms read it at their safepoints (and the
 * scheduler when it loads a task's stack guard). */
extern volatile uint32_t gc_stop_pending;

/* Each CPU's mcache before that CPU allocates after a cycle (mark
 * termination calls it for every CPU, the world stopped): hand back the
 * stale spans and drop the tiny block. */
void gc_prepare_cpu(uint32_t cpu);

/* The cycle's phase (Go's gcphase): GC_MARK from the start of the mark to
 * its end, GC_MARKTERM during mark termination, GC_OFF otherwise.  Written
 * by the collecting CPU with the world stopped (GC.md I3); read by anyone. */
extern volatile uint32_t gc_phase;
enum gc_phase { GC_OFF = 0, GC_MARK = 1, GC_MARKTERM = 2 };

/* ALLOCATE BLACK (Go's gcmarknewobject; GC.md invariant I2): while
 * gc_phase != GC_OFF, mallocgc marks each object it hands out (a small
 * object, a fresh tiny block, a large object) before returning it — mark
 * bit, the span's page mark (I8), its bytes in the cycle's marked bytes —
 * so that the mark never has to find it: it may be stored only where the
 * mark already looked.  kmalloc never pays (its classes are never marked).
 * gc_alloc_black is mallocgc's test: one load and a branch predicted not
 * taken while no cycle runs; s is obj's span, the caller is pinned. */
struct mspan;
void gc_mark_new_object(struct mspan *s, uintptr_t obj);
static inline void gc_alloc_black(struct mspan *s, void *obj)
{
    if (__builtin_expect(__atomic_load_n(&gc_phase, __ATOMIC_RELAXED) != GC_OFF, 0))
        gc_mark_new_object(s, (uintptr_t)obj);
}
/* Tests (ALLOC_DEBUG builds only; elsewhere it is never read): 1 makes
 * gc_mark_new_object do nothing — the negative control of allocate black,
 * which gccheckmark must then catch. */
extern volatile uint32_t gc_debug_no_alloc_black;

/* MARK ASSISTS (Go's gcAssistAlloc; mgcmark.c's essay).  A task that
 * allocates during a concurrent mark pays for it in scan work, through its
 * account, which the host keeps per task (plat_gc_assist) and only that
 * task touches.  Zeroed at the task's creation; an account whose cycle is
 * not the running one starts again from 0. */
struct gc_assist {
    int64_t credit;    /* bytes it may still allocate this cycle (< 0: debt) */
    uint32_t cycle;    /* the cycle the credit belongs to */
    uint32_t parks;    /* times it waited for work or credit (all cycles) */
    uint64_t work;     /* heap bytes it scanned in assists (all cycles) */
    uint64_t stolen;   /* background scan credit it took instead (all cycles) */
    uint64_t ns, wait_ns; /* time assisting / parked (all cycles) */
    int64_t credit_peak;  /* the most credit a round left it with (all cycles;
                             at most the 256 KiB over-assist) */
};
/* mallocgc, unpinned, after an allocation of `size` bytes with gc_phase ==
 * GC_MARK (its inline test is one load and a branch): debit the caller's
 * account; in debt → take background credit, scan, or park until there is
 * some or the mark ends.  May stop at a safepoint and yield the CPU. */
void gc_assist_alloc(uint64_t size);
/* Tests: assists do nothing (the negative control of the 1.1 x goal bound). */
extern volatile uint32_t gc_debug_no_assist;

/* mallocgc's hooks (malloc.c). */
void gc_after_alloc(void *v);      /* a span was taken or a large object made */
void gc_heap_live_add(int64_t bytes);
/* OOM: wait for a running cycle's end, then one full cycle (or take one
 * another task ran meanwhile); false if none ran (no collector, a lock
 * held, GC off or GC_OOM_NO_EMERGENCY). */
bool gc_emergency(void);
void gc_safepoint(void);           /* a stop may be pending: honour it */

/* Sweep counters (mgcsweep.c): objects the collector freed, by collected
 * span class, and large objects (count, bytes). */
uint64_t gc_freed_objects(spanClass spc);
void gc_freed_large_totals(uint64_t *objects, uint64_t *bytes);
void gc_count_large_free(uint64_t bytes);

#endif
