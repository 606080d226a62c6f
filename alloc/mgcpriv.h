/*
 * mgcpriv.h — what the collector's files (mgc.c, mgcmark.c, mgcwork.c,
 * mgcpacer.c, mgcsweep.c) share.  Not an API.
 */
#ifndef ALLOC_MGCPRIV_H
#define ALLOC_MGCPRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "mgc.h"
#include "mheap.h"

/* ---- work queue (mgcwork.c) ---- */
#define WBUF_ENTRIES 254
struct workbuf {
    struct workbuf *next;
    uint32_t n; /* entries in obj[] */
    uint32_t pad;
    uintptr_t obj[WBUF_ENTRIES];
}; /* 2 KiB */

/* One marker's state (one per participating CPU, only that CPU touches it). */
struct gcwork {
    struct workbuf *buf;
    uint64_t bytes_marked; /* marked by this marker, added at the end */
    uint64_t scanned;      /* bytes scanned (heap objects) */
    uint64_t noted;        /* of those, already added to the window's scan_done */
    bool background;       /* a marker or idle helper: its scan work is assist credit */
    /* the checkmark pass (mcheckmark.c): what reached the object being
     * marked, for its report */
    uint32_t from_kind;    /* 0: the object `from`; else the root kind of the word at `from` */
    uintptr_t from;
    uint32_t reports;      /* reachable objects the mark had missed */
};

void gcwork_start(void); /* before a mark, world stopped */
/* Before another drain round of the same mark (world stopped): the
 * termination counts start again; the full list keeps its work. */
void gcwork_restart(void);
void gcwork_join(void);  /* a marker starts (before it claims root jobs) */
void gcwork_init(struct gcwork *w);
void gcwork_put_slow(struct gcwork *w, uintptr_t obj);
static inline void gcwork_put(struct gcwork *w, uintptr_t obj)
{
    if (__builtin_expect(w->buf->n < WBUF_ENTRIES, 1))
        w->buf->obj[w->buf->n++] = obj;
    else
        gcwork_put_slow(w, obj);
}
/* Next grey address, or 0 when the marker's buffer is empty. */
static inline uintptr_t gcwork_try_get(struct gcwork *w)
{
    return w->buf->n ? w->buf->obj[--w->buf->n] : 0;
}
void gcwork_balance(struct gcwork *w);
/* Hand the marker's buffer to the global list (for other markers). */
void gcwork_flush(struct gcwork *w);
/* Refill from the global list; false when marking is done everywhere
 * (roots_left() reports unclaimed root jobs). */
bool gcwork_get_full(struct gcwork *w, bool (*roots_left)(void));
/* Trade the (empty) buffer for a full one from the global list if there is
 * one; never waits, never counts as a waiting marker (idle helpers). */
bool gcwork_try_refill(struct gcwork *w);
/* An idle helper found nothing: the next marker to balance hands over a
 * buffer even though no joined marker waits. */
void gcwork_want(void);
void gcwork_dispose(struct gcwork *w);
bool gcwork_empty(void);
uint64_t gcwork_sys_bytes(void);

/* ---- marking (mgcmark.c) ---- */
/* Grey the object p points into (conservative or precise: p is checked). */
void gc_mark_ptr(struct gcwork *w, uintptr_t p);
/* Scan [lo, hi) conservatively (roots). */
void gc_scan_range(struct gcwork *w, uintptr_t lo, uintptr_t hi);
/* Drain: scan grey objects until marking is done everywhere. */
void gc_drain(struct gcwork *w, bool (*roots_left)(void));
/* gc_drain that also returns (false, having flushed nothing) when stop()
 * says so, checked every 64 objects; true when marking terminated. */
bool gc_drain_until(struct gcwork *w, bool (*roots_left)(void), bool (*stop)(void));
/* Scan up to budget grey objects from w and the global list, without
 * waiting for other markers; returns how many (what is left stays in w). */
uint64_t gc_drain_budget(struct gcwork *w, uint64_t budget);
/* Add w's scan work since the last call to the mark's progress (and to
 * the background credit when w->background); markers call it every 64
 * objects and when they stop. */
void gc_note_scan(struct gcwork *w);
/* Bytes a helper or assist marked (the cycle's total; mgc.c). */
void gc_add_marked(uint64_t bytes);

/* THE HELPERS' WINDOW of a concurrent mark (mgc.c opens and closes it,
 * mgcmark.c's idle helpers and assists work through it).
 *   open: set by the main worker once the world runs (and again for each
 *   drain round and stack wait), cleared before it stops it again (and
 *   between rounds); helpers: how many are inside a step (each joins,
 *   checks open again, drains, flushes its buffer to the global list,
 *   leaves).  The collector closes, then waits for helpers == 0 before it
 *   looks at the global list: seq_cst on both sides (a Dekker pair: a
 *   helper that saw open counted itself before the collector read the
 *   count).
 *   Written at mark start with the world stopped: collector_cpu, cycle,
 *   concurrent, scan_expected.  Atomic: the rest. */
struct gc_markwin {
    uint32_t open, helpers;
    /* 1 + the CPU that took the idle helper's role for this window (0:
     * none yet).  One idle helper: idle vCPUs that spin compete with the
     * marker for the host's cores under emulation, and a second one
     * measured no faster. */
    uint32_t helper_cpu;
    uint32_t collector_cpu; /* 1 + the CPU inside the cycle's own code or its main
                               worker's step right now: it never assists */
    uint32_t main_cpu;      /* 1 + the CPU whose scheduler runs the main worker */
    /* Workers by Go's 25 % rule (gc_pacer_workers), set at the mark's
     * start with the world stopped and read-only after: */
    uint32_t main_ppm, second_slots, second_ppm;
    uint64_t mark_t0;       /* the world restarted: the shares' clock starts */
    /* Second workers (gc_worker_mark_step).  second_mask: bit c = CPU c
     * holds a slot, popcount <= second_slots; a CPU sets its own bit by
     * CAS and clears it itself (release), nobody else writes it.
     * second_ns: their time marking (atomic add; read for the share and
     * into the cycle's record at mark termination, world stopped). */
    uint64_t second_mask, second_ns, second_objects;
    /* tasks in wait_cycle_done: the main worker then runs full time.
     * Each waiter adds 1 before it waits and takes it back after (seq_cst);
     * concurrent_step reads it (acquire) at each step's start.  Never
     * reset: a waiter may outlive the cycle it waited for. */
    uint32_t waiters;
    uint32_t cycle;         /* the cycle marking (NumGC + 1) */
    bool concurrent;        /* that mark runs with the world: allocations are charged */
    uint64_t scan_expected; /* heap scan work the pacer expects (the last cycle's) */
    uint64_t scan_done;     /* heap bytes scanned so far, everyone (gc_note_scan) */
    int64_t bg_credit;      /* background scan work not yet taken by assists */
    uint64_t idle_ns, idle_objects;
    uint64_t assist_ns, assist_wait_ns, assist_work, assist_stolen;
};
extern struct gc_markwin gc_markwin_;

/* Clear every arena's pageMarks (sweep termination). */
void gc_clear_page_marks(void);
/* Set the page mark of span s's first page (atomic). */
static inline void gc_set_page_mark(const mspan *s)
{
    heapArena *ha = arena_index(s->startAddr - mheap_.window_base);
    uint64_t pg = (s->startAddr - ha->base) >> PAGE_SHIFT;
    if (!(__atomic_load_n(&ha->pageMarks[pg / 8], __ATOMIC_RELAXED) & (1u << (pg % 8))))
        __atomic_fetch_or(&ha->pageMarks[pg / 8], (uint8_t)(1u << (pg % 8)), __ATOMIC_RELAXED);
}

/* ---- write barrier (mwbbuf.c; the API is mbarrier.h) ---- */
/* World stopped.  start: barrier on, buffers and per-CPU queues ready
 * (false: no memory for them, the mark runs without).  flush_round: every
 * buffer greyed, every per-CPU queue with work handed to the global list;
 * nonzero if there was any (the markers must drain again).  stop: barrier off;
 * returns the bytes the flushes marked. */
bool gc_wb_start(void);
uint32_t gc_wb_flush_round(void); /* the CPUs whose flush found work */
uint64_t gc_wb_stop(void);
/* The ragged barrier's part on the calling CPU (world running, at a
 * safepoint): its buffer greyed, its queue's work handed to the global
 * list; true if there was any. */
bool gc_wb_flush_mine(void);
/* The scan hook (mbarrier.h): the object it waits for (0: none). */
extern volatile uintptr_t gc_debug_hook_obj;
void gc_debug_scan_hook(uintptr_t obj);
/* The mark-start hook (mbarrier.h), if one is set: run it once. */
void gc_debug_mark_start(void);

/* gcclobber: fill [p, p+n) (an object the collector frees) with GC_CLOBBER_WORD. */
void gc_clobber_object(uintptr_t p, uint64_t n);

/* ---- checkmark (mcheckmark.c) ---- */
/* The checkmark pass's mark of object idx of s. */
void gc_checkmark_grey(struct gcwork *w, mspan *s, uint32_t idx);
/* gc_mark_ptr, gc_scan_range and gc_drain of the checkmark pass (the same
 * code, compiled again with the checkmark step: mgcmark.c). */
void gc_checkmark_ptr(struct gcwork *w, uintptr_t p);
void gc_checkmark_scan_range(struct gcwork *w, uintptr_t lo, uintptr_t hi);
void gc_checkmark_drain(struct gcwork *w, bool (*roots_left)(void));
/* Run the checkmark pass now (mark termination, world stopped, gcmarkBits
 * final): every root's reachable objects must already be marked.
 * scan_roots(w) scans every root (ignoring gc_debug_skip_roots) into w.
 * Returns the objects found unmarked (they are marked now). */
uint32_t gc_checkmark_pass(void (*scan_roots)(struct gcwork *w), uint64_t *repaired_bytes);
extern volatile uint32_t gc_checkmark_mode; /* enum: mgc.h gc_set_checkmark */

/* ---- sweepers (mgcsweep.c; the essay is there) ---- */
/* Mark termination, world stopped, after the flip and the pacer's commit:
 * the sweepers start on the new cycle's spans; proportional sweep is paced
 * so that it finishes before heap_live reaches `trigger`. */
void gc_sweep_start(uint64_t heap_live, uint64_t trigger);
/* Proportional sweep (Go's deductSweepCredit): an allocation is about to
 * add `bytes` to heap_live; sweep until the pages swept this cycle keep up
 * with the allocation.  Holding no lock. */
void gc_deduct_sweep_credit(uint64_t bytes);
/* The page reclaimer (Go's mheap.reclaim): before the page heap hands out
 * npages, sweep spans that pageMarks say are wholly garbage until npages
 * went back to it (or none is left).  Holding no lock. */
void gc_reclaim(uint64_t npages);
/* A GC sweep of an npages span happened (every sweeper; mspan_sweep and the
 * large sweep call it). */
void gc_count_gc_sweep(uint64_t npages);
/* gc_finish_sweep swept every span: this cycle's sweep is done. */
void gc_sweep_finished(void);
/* gc_finish_sweep's count (mcentral_sweep_all). */
void gc_count_finish_sweeps(uint64_t spans);
/* The next span sweepone can take: GC-sweep it and return its pages (0:
 * every collected class is swept).  count (may be 0): the sweeper's
 * counter, incremented while the span's class lock is held, so that the
 * sweep's end (gc_sweep_pending false) implies every count is visible. */
uint64_t gc_sweepone(uint64_t *count);

/* ---- allocate black (mgcmark.c) ---- */
/* The bytes gc_mark_new_object marked on every CPU since the last call
 * (summed and reset; world stopped, at the end of the mark). */
uint64_t gc_new_black_bytes_take(void);

/* ---- pacer (mgcpacer.c) ---- */
struct gc_pacer {
    int32_t percent;        /* GOGC; -1 off */
    uint64_t heap_live;     /* atomic: bytes in collected spans handed out */
    uint64_t heap_marked;   /* marked by the last cycle */
    uint64_t last_stack_scan, globals_scan;
    uint64_t goal;          /* of the cycle now running or next */
    uint64_t trigger;       /* heap_live that starts the next cycle */
    uint64_t last_heap_scan; /* heap bytes the last cycle scanned (Go's lastHeapScan) */
    /* allocated / scanned bytes during the last concurrent marks, << 16
     * (Go's cons/mark), newest at [0]; the runway uses the largest */
    uint64_t cons_mark[4];
};
extern struct gc_pacer gc_pacer_;
/* Goal and trigger after a cycle marked `marked` bytes (Go's commit). */
void gc_pacer_commit(uint64_t marked, uint64_t stacks, uint64_t globals);
/* Goal and trigger again (GOGC or gcstoptheworld changed). */
void gc_pacer_recompute(void);
/* Before the commit: what the cycle's mark scanned, and how much the
 * world allocated while it marked concurrently (concurrent: false for a
 * stop-the-world mark, which says nothing of the runway). */
void gc_pacer_note_mark(uint64_t heap_scan, uint64_t allocated, bool concurrent);
/* The trigger for a goal (Go's trigger(): the runway, bounded to 0.7-0.95
 * of the way from marked to goal); the goal itself when the world stops
 * to mark (nothing is allocated during it). */
uint64_t gc_pacer_trigger_for(uint64_t goal, uint64_t marked, uint64_t stacks,
                              uint64_t globals, bool concurrent);
/* Mark assists' exchange rate (Go's revise): scan work owed per byte
 * allocated, << 16, given heap_live, the goal, the scan work expected and
 * done.  0: none owed (GOGC off). */
uint64_t gc_pacer_assist_ratio(uint64_t live, uint64_t goal, uint64_t expected,
                               uint64_t done);
#define GC_ASSIST_SHIFT 16
uint64_t gc_pacer_heap_minimum(int32_t percent);
uint64_t gc_pacer_goal_for(int32_t percent, uint64_t marked, uint64_t stacks, uint64_t globals);
/* The pacer's clock: plat_nanotime plus what tests advanced. */
uint64_t gc_now(void);
/* gc_test_clock_back's half: the offset goes back to 0; returns what it was. */
uint64_t gc_test_reset_clock(void);

#endif
