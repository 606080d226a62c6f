/*
 * mgc.c — Go's garbage collector for alloc/: a tri-colour mark-sweep
 * collector that marks in parallel on every CPU with the world stopped
 * (gcstoptheworld=1, part 1; alloc/'s default) or concurrently with the
 * world running (gcstoptheworld=0, below; the kernel's default), and
 * sweeps lazily (Go's mgc.go;
 * GC.md stages A–D).
 *
 * COLOURS.  White: mark bit 0.  Grey: mark bit 1 and on a marker's queue.
 * Black: mark bit 1 and scanned (noscan objects are black when marked).
 *
 * A CYCLE (gc_cycle, on the CPU that triggered it, through plat_gc_run so
 * that its own stack is a scannable root; a concurrent one hands steps
 * 2b-4 to its main mark worker, concurrent_step on the same CPU through
 * plat_gc_worker, and the task that triggered it goes on — on this CPU
 * beside a fractional worker, or elsewhere — as Go's gcStart returns once
 * the background workers run;
 * gc_collect and the emergency cycle then wait for the end, cycle_end,
 * which clears gc_running):
 *   1. Sweep termination.  Finish sweeping the previous cycle (every span
 *      of every class swept: a span's marks must be consumed before new
 *      ones are set), with the world still running; stop the world
 *      (plat_gc_stop_world: every CPU at a safepoint); finish again (spans
 *      re-queued meanwhile); clear pageMarks; heap0 = heap_live.
 *   2. Mark (world stopped, gc_phase = MARK).  Root jobs are collected:
 *      the host's ranges (plat_gc_roots: globals, task stacks with all
 *      their segments, CPU stacks), the gc_add_root table, and each
 *      mcache's tiny block.  plat_gc_parallel runs mark_worker on every
 *      CPU: claim root jobs (an atomic index; globals in 256 KiB blocks)
 *      and scan them conservatively, then drain the grey queue (precise,
 *      from the heap bitmap) until every marker is idle (mgcwork.c).
 *      The write barrier is on while the mark runs (mbarrier.h); what
 *      barriered stores recorded is greyed and drained in further rounds
 *      until a round finds nothing (mwbbuf.c).
 *      Allocate black (Go's gcmarknewobject, GC.md I2): while gc_phase !=
 *      OFF every object mallocgc hands out — small, a fresh tiny block,
 *      large — is marked before it is returned (mark bit, page mark, its
 *      bytes in a per-CPU count added to the marked bytes at the end of
 *      the mark), so the mark never needs to find it; a tiny block current
 *      at the start is greyed with the roots, and any later one is made
 *      black, so every tiny object made during the mark lives in a marked
 *      block.  No heap trigger fires while a cycle runs.  With the world
 *      stopped only code inside the mark allocates (the tests' scan hook,
 *      the benchmark's mark-start hook: mbarrier.h); in a concurrent mark
 *      every CPU's tasks do.
 *      gccheckmark: a second, serial mark from every root then checks
 *      that nothing reachable was missed (mcheckmark.c).
 *      CONCURRENT MARK (gcstoptheworld=0; the record's `concurrent`): the
 *      mark above is cut in three.  (a) World stopped: the root jobs but
 *      task stacks are scanned in parallel (root_worker: grey only, no
 *      drain).  (b) gc_stop_pending cleared, the world restarted.
 *      CONCURRENT STACK SCAN: this CPU scans each task's stack once
 *      (plat_gc_scan_stacks, under the host's stack claim: the task cannot
 *      run, grow, move or shrink meanwhile; one it finds running is
 *      scanned by its own scheduler at its next switch,
 *      gc_scan_stack_for_mark, Go's preemptscan; the dead words below
 *      where it stopped are zeroed, platform.h), then drains the grey
 *      queue (marker) — this CPU runs the mark's main worker —
 *      while every other CPU runs tasks with the
 *      barrier on (their barriered stores grey into their own queues,
 *      mwbbuf.c) and mallocgc allocating black; passes repeat (at most
 *      STACK_PASSES) while tasks were left, each after waiting up to 5 ms
 *      (W_WAIT) for the running ones to come to a switch, where their own
 *      scheduler scans them.  (c) The world stopped again:
 *      globals, CPU stacks, the root table and the task stacks no pass
 *      covered are scanned (what moved into them while the world ran),
 *      then the barrier rounds as above until nothing is grey.  The
 *      pauses are (sweep termination + a) and (c + mark termination);
 *      mark_ns is (b), which is not a pause.  Safe because a white object
 *      can only hide from the marker in a black object or a scanned stack
 *      (the barrier greys every value stored into the heap — Dijkstra —
 *      and every value overwritten in it — Yuasa: a pointer a scanned
 *      stack loaded from the heap was greyed when the heap let it go) or
 *      in a root scanned again in (c); and no task stores into another
 *      task's stack (Go's escape analysis; a rule here, mgc.h).
 *      WORKERS (Go's 25 % rule, mgcpacer.c): the main worker is a state
 *      machine (concurrent_step: stack pass, drain, wait for running
 *      tasks, ragged barrier, end;
 *      its stage in cycle_args) that the host
 *      steps on the cycle's CPU.  Dedicated (4+ CPUs) it runs to the end
 *      in one step; fractional (1-3 CPUs: 25/50/75 % of its CPU) a step
 *      runs only while its time in steps is within that share of the time
 *      since the world restarted, and its drain leaves at 1.2 × the share
 *      (Go's pollFractionalWorkerExit), flushing its work to the global
 *      list, where the helpers go on; the CPU's tasks run in between.  A
 *      step runs without limit when the CPU has nothing else to run or a
 *      task waits for the cycle's end (gc_collect: Go's waiter parks and
 *      its P marks as an idle worker).  Second workers (6-8 CPUs) are
 *      helpers with priority over tasks (mgcmark.c).
 *      RAGGED BARRIER (Go's gcMarkDone): once the passes and drains are
 *      done, before the second pause, every CPU flushes its own barrier
 *      buffer at a safepoint (plat_gc_ragged, mwbbuf.c) and the main
 *      worker drains what they handed over, until a round finds nothing
 *      (at most RAGGED_ROUNDS; a CPU that does not answer within 20 ms is
 *      left to the pause).  The pause's flush rounds (c) then find only
 *      what was stored since (the record's wb_pause_flushes).
 *      HELPERS (mgcmark.c): while the window is open (gc_markwin_.open)
 *      a host's idle loop calls gc_idle_mark_step (Go's idle mark
 *      worker), and a task that allocates pays in scan work (mark assists,
 *      Go's gcAssistAlloc); each scans a bounded amount from the global
 *      list and flushes what it greyed back to it.  The main worker,
 *      when its drain finds the list empty, closes the window, waits for
 *      the helpers to leave, and drains again if they left work
 *      (drain_with_helpers).  Whatever is still grey at the second pause
 *      is drained there anyway.  The pacer starts a concurrent cycle
 *      before the goal (its runway, mgcpacer.c) and the assists keep the
 *      peak heap under 1.1 × goal.
 *   3. Mark termination.  The queues are empty; marked = Σ bytes marked;
 *      mheap_.sweepgen += 2, which turns every mcentral swept set into an
 *      unswept one in O(1) and every cached span stale (h+1);
 *      heap_live = marked; the pacer commits the next goal (mgcpacer.c);
 *      the sweepers start on the new cycle (gc_sweep_start: proportional
 *      sweep paced to end before the next trigger);
 *      statistics and the cycle record; gc_phase = OFF.
 *      Still stopped: gc_prepare_cpu for every CPU's mcache — its (stale)
 *      spans go back to their mcentral, which sweeps them, and its tiny
 *      block is dropped (Go's prepareForSweep, I7) — so no CPU allocates
 *      from a stale span and an eager sweep right after finds every span.
 *   4. Start the world.
 *   5. Sweep, concurrently with the world (mgcsweep.c): a span's first
 *      sweep after the mark frees its unmarked objects.  Whoever gets
 *      there first: mcentral before it hands a span out; the host's idle
 *      CPUs (gc_bgsweep_step); allocations paying their proportional
 *      sweep debt; the page reclaimer before the page heap hands out
 *      pages.  gc_finish_sweep sweeps what is left eagerly (gc_collect,
 *      and the next cycle's start: sweep_left in its record).
 *
 * TRIGGERS (Go's gcTrigger): heap (mallocgc took a span and heap_live >=
 * trigger), time (sysmon: no cycle for 2 minutes; never before the first
 * cycle, never with GOGC off), cycle (gc_collect: runtime.GC(), printed
 * " (forced)"), and, ours, out of memory (mallocgc failed: it waits for a
 * running cycle's end, then an emergency cycle — or one another task ran
 * meanwhile — up to three before the panic).  One cycle at a time:
 * gc_running (CAS); a CPU
 * that wants one while another runs waits at a safepoint, and the trigger
 * is tested again — except a heap or time trigger while the marks are
 * concurrent (gcstoptheworld=0): the running cycle satisfies it, and the
 * task goes on allocating (black, with assists) beside the mark once that
 * mark has started (until then it waits: Go's startSema).
 *
 * REPORTING: gctrace=1 prints Go's line per cycle (gc_format_trace);
 * GC_HISTORY cycle records keep exact byte counts (`stat gc` facts);
 * gc_read_stats gives MemStats' NumGC, PauseNs, GCCPUFraction, ...
 *
 * LOCKING.  gc_running serialises cycles (no lock is held across a cycle:
 * the world is stopped by the platform, and a CPU parks only at
 * safepoints, where it holds no lock).  The root table has its own lock.
 * Cycle state (work) is written by the cycle's CPU only, and read by the
 * markers while the world is stopped (the concurrent drain runs on the
 * cycle's CPU itself).  gc_phase stays GC_MARK while the world runs in a
 * concurrent mark: no other CPU starts a cycle (gc_after_alloc), and
 * gc_collect waits at safepoints for this one.
 */
#include "debug.h"
#include "lockrank.h"
#include "malloc_impl.h"
#include "malloc.h"
#include "mgcpriv.h"
#include "mstats.h"
#include "persistent.h"

#define ROOT_BLOCK_BYTES (256u * 1024u) /* Go's rootBlockBytes */
#define MAX_ROOTS 64                    /* gc_add_root table */

volatile uint32_t gc_stop_pending;
volatile uint32_t gc_phase;
volatile uint32_t gc_debug_skip_roots;
static uint32_t gc_running; /* atomic: a cycle is in progress */
/* gcstoptheworld (Go's GODEBUG): 1 marks with the world stopped (part 1's
 * collector; the default here, safe on a platform whose stop is a no-op),
 * 0 marks concurrently (the kernel sets it at boot).  Read once per cycle
 * (its record's `concurrent`). */
static uint32_t gc_stoptheworld = 1;

void gc_set_stoptheworld(uint32_t on)
{
    __atomic_store_n(&gc_stoptheworld, on != 0, __ATOMIC_RELAXED);
    gc_pacer_recompute(); /* a concurrent mark needs a runway */
}
uint32_t gc_get_stoptheworld(void) { return __atomic_load_n(&gc_stoptheworld, __ATOMIC_RELAXED); }

/* ---- the root table (gc_add_root) ---- */
static struct {
    plat_lock_t lock; /* rank GCROOTS, a leaf */
    struct { uintptr_t lo, hi; } r[MAX_ROOTS];
    uint32_t n;
} roots = {.lock = PLAT_LOCK_INIT(LOCKRANK_GCROOTS)};

/* ---- the cycle in progress (written by its CPU) ---- */
struct root_job {
    uintptr_t lo, hi;
    uint32_t kind;
};
static struct {
    struct root_job *jobs; /* persistentalloc'd, kept across cycles */
    struct gcwork *serial; /* the collecting CPU's marker (add_job's fallback) */
    uint32_t njobs, cap;
    uint32_t next;         /* atomic: next unclaimed job */
    uint64_t bytes_marked; /* atomic: markers add theirs */
    uint64_t mark_cpu_ns;  /* atomic */
    uint64_t stacks, globals;
    /* CONCURRENT STACK SCAN: during a concurrent mark's first pause task
     * stacks are not roots (defer_tasks); the world running, the
     * collecting CPU scans each once (plat_gc_scan_stacks); the second
     * pause skips those (stack_cycle, read by the host's plat_gc_roots
     * through gc_stack_scan_cycle; 0 while none is skipped). */
    bool defer_tasks;
    uint32_t stack_cycle;
    uint64_t stacks_conc; /* bytes of task stacks scanned with the world running */
    uint32_t stacks_left; /* tasks still running after the last pass */
} work;

uint32_t gc_mark_main_cpu(void)
{
    return __atomic_load_n(&gc_phase, __ATOMIC_ACQUIRE) == GC_MARK && gc_markwin_.concurrent
               ? gc_markwin_.main_cpu
               : 0;
}

uint32_t gc_stack_scan_cycle(void) { return __atomic_load_n(&work.stack_cycle, __ATOMIC_ACQUIRE); }

struct gc_markwin gc_markwin_;
volatile uint32_t gc_debug_stop_delay_us;
volatile uint32_t gc_debug_main_dedicated;
volatile uint32_t gc_debug_oom;
volatile uint32_t gc_debug_wait_helper;  /* tests: the drain waits for a helper's batch (1 s at most) */

void gc_add_marked(uint64_t bytes) { __atomic_fetch_add(&work.bytes_marked, bytes, __ATOMIC_RELAXED); }

/* ---- statistics ---- */
static struct {
    uint32_t numgc, numforced;
    uint64_t last_gc;      /* gc_now() at the end of the last cycle */
    uint64_t pause_total, pause[GC_HISTORY];
    uint64_t gc_cpu_ns;    /* Σ (pause × CPUs) */
    uint32_t oom_waits, oom_in_mark; /* atomic: gc_emergency found a cycle running / marking */
    struct gc_cycle_record rec[GC_HISTORY];
    int trace;
    uint64_t force_period;
} st = {.force_period = 120000000000ull};

/* ------------------------------------------------------------ root jobs */

/* A root job.  The job array comes from persistentalloc and is kept from
 * cycle to cycle (a collection may be the emergency one, with the heap
 * exhausted); when it cannot grow, the range is scanned right away by the
 * collecting CPU instead. */
static void add_job(uintptr_t lo, uintptr_t hi, uint32_t kind)
{
    if (lo >= hi || (gc_debug_skip_roots & kind))
        return;
    if (work.njobs == work.cap) {
        uint32_t cap = work.cap ? work.cap * 2 : 512;
        struct root_job *j = persistentalloc(cap * sizeof *j, 64, 0);
        if (!j) {
            gc_scan_range(work.serial, lo, hi);
            return;
        }
        if (work.jobs)
            __builtin_memcpy(j, work.jobs, work.njobs * sizeof *j);
        work.jobs = j; /* the old array is abandoned (metadata; rare) */
        work.cap = cap;
    }
    work.jobs[work.njobs++] = (struct root_job){lo, hi, kind};
}

/* plat_gc_roots' callback: stacks as one job, globals in blocks. */
static void root_range(void *ctx, uintptr_t lo, uintptr_t hi, uint32_t kind)
{
    (void)ctx;
    if (work.defer_tasks && (kind & GC_ROOT_TASKS))
        return; /* scanned once with the world running (CONCURRENT STACK SCAN) */
    if (kind == GC_ROOT_GLOBALS || kind == GC_ROOT_TABLE)
        work.globals += hi - lo;
    else
        work.stacks += hi - lo;
    for (uintptr_t b = lo; b < hi; b += ROOT_BLOCK_BYTES)
        add_job(b, hi - b > ROOT_BLOCK_BYTES ? b + ROOT_BLOCK_BYTES : hi, kind);
}

static void collect_roots(void)
{
    work.njobs = 0;
    work.stacks = work.globals = 0;
    __atomic_store_n(&work.next, 0, __ATOMIC_RELAXED);
    plat_gc_roots(root_range, 0);
    /* copied out: adding jobs may allocate (kmalloc: mcentral locks rank
     * below the table's) */
    struct { uintptr_t lo, hi; } r[MAX_ROOTS];
    plat_lock(&roots.lock);
    uint32_t n = roots.n;
    __builtin_memcpy(r, roots.r, n * sizeof r[0]);
    plat_unlock(&roots.lock);
    for (uint32_t i = 0; i < n; i++)
        root_range(0, r[i].lo, r[i].hi, GC_ROOT_TABLE);
}

static bool roots_left(void)
{
    return __atomic_load_n(&work.next, __ATOMIC_ACQUIRE) < work.njobs;
}

/* The concurrent drain's termination test: an idle helper inside a step
 * may hold work it will flush (gc_idle_mark_step). */
static bool roots_or_helpers_left(void)
{
    return roots_left() || __atomic_load_n(&gc_markwin_.helpers, __ATOMIC_SEQ_CST) != 0;
}

/* One marker: claim root jobs, then drain until marking terminates (true)
 * or stop() says to leave (false: what it holds goes to the global list).
 * concurrent: the main worker's drain, whose termination also waits for
 * helpers. */
static bool marker(bool concurrent, bool (*stop)(void))
{
    uint64_t t0 = plat_nanotime();
    struct gcwork w;
    gcwork_init(&w);
    w.background = true;
    gcwork_join();
    for (;;) {
        uint32_t j = __atomic_fetch_add(&work.next, 1, __ATOMIC_ACQ_REL);
        if (j >= work.njobs)
            break;
        gc_scan_range(&w, work.jobs[j].lo, work.jobs[j].hi);
    }
    bool done = gc_drain_until(&w, concurrent ? roots_or_helpers_left : roots_left, stop);
    gc_note_scan(&w);
    gcwork_flush(&w);
    gcwork_dispose(&w);
    __atomic_fetch_add(&work.bytes_marked, w.bytes_marked, __ATOMIC_RELAXED);
    __atomic_fetch_add(&work.mark_cpu_ns, plat_nanotime() - t0, __ATOMIC_RELAXED);
    return done;
}

/* plat_gc_parallel's function: one marker per CPU, the world stopped. */
static void mark_worker(void *arg)
{
    (void)arg;
    marker(false, 0);
}

/* plat_gc_parallel's function for the concurrent mark's first pause: the
 * root jobs only; what they grey goes to the global list for the drain
 * that runs with the world. */
static void root_worker(void *arg)
{
    (void)arg;
    uint64_t t0 = plat_nanotime();
    struct gcwork w;
    gcwork_init(&w);
    for (;;) {
        uint32_t j = __atomic_fetch_add(&work.next, 1, __ATOMIC_ACQ_REL);
        if (j >= work.njobs)
            break;
        gc_scan_range(&w, work.jobs[j].lo, work.jobs[j].hi);
    }
    gcwork_flush(&w);
    gcwork_dispose(&w);
    __atomic_fetch_add(&work.bytes_marked, w.bytes_marked, __ATOMIC_RELAXED);
    __atomic_fetch_add(&work.mark_cpu_ns, plat_nanotime() - t0, __ATOMIC_RELAXED);
}

/* Each mcache's tiny block is a root (Go's gcMarkTinyAllocs). */
static void mark_tiny_blocks(struct gcwork *w)
{
    if (gc_debug_skip_roots & GC_ROOT_TINY)
        return;
    for (uint32_t i = 0; i < mheap_.ncpu; i++)
        if (mheap_.mcaches[i].tiny)
            gc_mark_ptr(w, mheap_.mcaches[i].tiny);
}

/* ------------------------------------------------------------ the cycle */

struct cycle_args {
    enum gc_trigger trigger;
    uintptr_t extra_root; /* the object mallocgc just made (0: none) */
    struct gc_cycle_record *rec;
    /* timestamps: start, mark start, world restarted / stopped again (a
     * concurrent mark's halves run apart: gc_cycle, then its worker) */
    uint64_t t0, t1, tm[2];
    /* the main worker's progress (concurrent_step): stack pass, drain,
     * wait for running tasks, ragged barrier, end; passes and ragged
     * rounds so far */
    enum { W_PASS, W_DRAIN, W_WAIT, W_RAGGED, W_END } stage;
    uint32_t pass, ragged;
    uint64_t wait_t0; /* W_WAIT's start */
};
static uintptr_t checkmark_extra_root; /* the cycle's extra root, for the pass */

/* gccheckmark's roots: every one, whatever gc_debug_skip_roots says (the
 * real mark's counts of stack and global bytes are kept). */
static void checkmark_roots(struct gcwork *w)
{
    uint32_t skip = gc_debug_skip_roots, stack_cycle = work.stack_cycle;
    uint64_t stacks = work.stacks, globals = work.globals;
    gc_debug_skip_roots = 0;
    work.stack_cycle = 0; /* every stack, however the mark covered it */
    work.serial = w;
    collect_roots();
    gc_debug_skip_roots = skip;
    work.stack_cycle = stack_cycle;
    for (uint32_t j = 0; j < work.njobs; j++) {
        w->from_kind = work.jobs[j].kind;
        gc_checkmark_scan_range(w, work.jobs[j].lo, work.jobs[j].hi);
    }
    work.stacks = stacks;
    work.globals = globals;
    w->from_kind = GC_ROOT_TINY;
    for (uint32_t i = 0; i < mheap_.ncpu; i++) {
        w->from = (uintptr_t)&mheap_.mcaches[i].tiny;
        if (mheap_.mcaches[i].tiny)
            gc_checkmark_ptr(w, mheap_.mcaches[i].tiny);
    }
    w->from_kind = GC_ROOT_CPUS; /* mallocgc's new object: its caller's frame */
    w->from = checkmark_extra_root;
    if (checkmark_extra_root)
        gc_checkmark_ptr(w, checkmark_extra_root);
}

/* After the mark, world stopped: gccheckmark's pass (mcheckmark.c). */
static void checkmark(struct cycle_args *a)
{
    uint32_t mode = __atomic_load_n(&gc_checkmark_mode, __ATOMIC_RELAXED);
    if (mode == GC_CHECKMARK_OFF)
        return;
    checkmark_extra_root = a->extra_root;
    uint64_t repaired;
    uint32_t missed = gc_checkmark_pass(checkmark_roots, &repaired);
    __atomic_fetch_add(&work.bytes_marked, repaired, __ATOMIC_RELAXED);
    if (missed && mode == GC_CHECKMARK_FATAL) {
        char msg[96];
        alloc_format(msg, sizeof msg, "gccheckmark: %u reachable objects were not marked",
                     missed);
        plat_panic(msg);
    }
}

/* Step 1 from the stop request on (the sweep before it ran with the world
 * running, outside the pause, as in Go). */
static void sweep_termination(struct cycle_args *a)
{
    __atomic_store_n(&gc_stop_pending, 1, __ATOMIC_SEQ_CST);
    a->rec->stop_ns = plat_gc_stop_world();
    gc_finish_sweep();
    gc_clear_page_marks();
    a->rec->heap0 = __atomic_load_n(&gc_pacer_.heap_live, __ATOMIC_RELAXED);
}

/* The helpers' window for this cycle (closed until the world restarts):
 * the assists' accounts of older cycles expire, the scan work expected is
 * the last cycle's (the first cycle: half the heap). */
static void start_window(const struct gc_cycle_record *r)
{
    struct gc_markwin *m = &gc_markwin_;
    __atomic_store_n(&m->open, 0, __ATOMIC_SEQ_CST);
    m->cycle = st.numgc + 1;
    m->concurrent = r->concurrent;
    m->scan_expected = st.numgc ? gc_pacer_.last_heap_scan : r->heap0 / 2;
    m->collector_cpu = m->main_cpu = plat_cpu_id() + 1; /* the cycle runs on this CPU */
    struct gc_workers wp = gc_pacer_workers(mheap_.ncpu ? mheap_.ncpu : 1);
    if (gc_debug_main_dedicated)
        wp.main_ppm = GC_PPM, wp.second_slots = wp.second_ppm = 0;
    m->main_ppm = wp.main_ppm;
    m->second_slots = wp.second_slots;
    m->second_ppm = wp.second_ppm;
    __atomic_store_n(&m->second_mask, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&m->scan_done, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&m->bg_credit, 0, __ATOMIC_RELAXED);
    uint64_t *zero[] = {&m->idle_ns,     &m->idle_objects, &m->assist_ns,
                        &m->assist_wait_ns, &m->assist_work, &m->assist_stolen,
                        &m->second_ns,   &m->second_objects};
    for (uint32_t i = 0; i < sizeof zero / sizeof zero[0]; i++)
        __atomic_store_n(zero[i], 0, __ATOMIC_RELAXED);
}

/* Step 2a (world stopped): barrier on, roots collected, tiny blocks and
 * the extra root greyed. */
static void mark_start(struct cycle_args *a)
{
    __atomic_store_n(&gc_phase, GC_MARK, __ATOMIC_SEQ_CST);
    __atomic_store_n(&work.bytes_marked, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&work.mark_cpu_ns, 0, __ATOMIC_RELAXED);
    gcwork_start();
    start_window(a->rec);
    gc_wb_start(); /* barrier on for the mark (mwbbuf.c) */
    struct gcwork w; /* the tiny blocks and the extra root, greyed here */
    gcwork_init(&w);
    work.serial = &w;
    work.defer_tasks = a->rec->concurrent;
    work.stacks_conc = 0;
    work.stacks_left = 0;
    collect_roots();
    work.defer_tasks = false;
    mark_tiny_blocks(&w);
    if (a->extra_root)
        gc_mark_ptr(&w, a->extra_root);
    gcwork_flush(&w); /* to the markers */
    __atomic_fetch_add(&work.bytes_marked, w.bytes_marked, __ATOMIC_RELAXED);
    gcwork_dispose(&w);
    work.serial = 0;
    gc_debug_mark_start(); /* a benchmark's mutator, if any (mbarrier.h) */
}

/* Step 2c (world stopped): what barriered stores greyed, drained again
 * until a round finds none; barrier off; gccheckmark. */
static void mark_finish(struct cycle_args *a)
{
    uint32_t n;
    while ((n = gc_wb_flush_round()) != 0) {
        a->rec->wb_pause_flushes += n;
        gcwork_restart();
        plat_gc_parallel(mark_worker, 0);
    }
    __atomic_fetch_add(&work.bytes_marked, gc_wb_stop() + gc_new_black_bytes_take(),
                       __ATOMIC_RELAXED);
    ALLOC_CHECK(gcwork_empty(), 0, "gc: mark finished with grey objects queued");
    checkmark(a);
}

/* The main worker's share of its CPU (mgcpacer.c's WORKERS): its time in
 * steps against main_ppm of the time since the world restarted.  Written
 * and read by the main worker's CPU only (one cycle at a time). */
static struct {
    uint64_t used; /* ns in steps before this one */
    uint64_t t0;   /* this step's start */
    bool full;     /* this step has no limit: dedicated, idle, or waited for */
} slice;

/* Whether the main worker should leave its CPU to tasks (Go's fractional
 * worker leaves at 1.2 × its goal: pollFractionalWorkerExit). */
static bool over_share(void)
{
    if (slice.full)
        return false;
    uint64_t now = plat_nanotime(), used = slice.used + (now - slice.t0);
    return used * GC_PPM * 5 > (now - gc_markwin_.mark_t0) * gc_markwin_.main_ppm * 6;
}

/* The concurrent drain on the main worker, with idle CPUs, second workers
 * and assists helping: drain until the global list is empty, close the
 * window, wait for the helpers to leave (they flush what they hold), and
 * go again if they left work behind.  False: the main worker's share ran
 * out first; the window stays open and the helpers go on. */
static bool drain_with_helpers(void)
{
    for (;;) {
        /* (re)opened: the first round of a later stack pass, or helpers
         * left work behind — and allocating tasks must assist meanwhile */
        __atomic_store_n(&gc_markwin_.open, 1, __ATOMIC_SEQ_CST);
        gcwork_restart();
        if (!marker(true, over_share)) /* ends when nothing is grey and no
                                          helper is inside a step */
            return false;
        __atomic_store_n(&gc_markwin_.open, 0, __ATOMIC_SEQ_CST);
        while (__atomic_load_n(&gc_markwin_.helpers, __ATOMIC_SEQ_CST))
            plat_cpu_relax();
        if (gcwork_empty())
            return true;
    }
}

/* Tests (gc_debug_wait_helper): the drain starts once an idle helper has
 * scanned a batch, or after 1 s. */
static void wait_for_helper(void)
{
    uint64_t t0 = plat_nanotime();
    while (__atomic_load_n(&gc_debug_wait_helper, __ATOMIC_RELAXED) &&
           !__atomic_load_n(&gc_markwin_.idle_objects, __ATOMIC_ACQUIRE) &&
           plat_nanotime() - t0 < 1000000000ull)
        plat_cpu_relax();
}

static void open_for_helpers(void)
{
    struct gc_markwin *m = &gc_markwin_;
    __atomic_store_n(&m->helper_cpu, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&m->open, 1, __ATOMIC_SEQ_CST);
}

/* plat_gc_scan_stacks' callback: a task's range, into the collector's
 * marker. */
static void stack_range(void *ctx, uintptr_t lo, uintptr_t hi, uint32_t kind)
{
    if (gc_debug_skip_roots & kind)
        return; /* a negative control: as add_job */
    __atomic_fetch_add(&work.stacks_conc, hi - lo, __ATOMIC_RELAXED);
    gc_scan_range(ctx, lo, hi);
}

/* The world running: every task stack not yet scanned this cycle and not
 * running, once; what it greys goes to the global list.  Returns the
 * tasks left (running right now). */
static uint32_t scan_stacks_once(uint32_t cycle)
{
    struct gcwork w;
    gcwork_init(&w);
    w.background = true;
    uint32_t left = plat_gc_scan_stacks(stack_range, &w, cycle);
    gc_note_scan(&w);
    gcwork_flush(&w);
    gcwork_dispose(&w);
    __atomic_fetch_add(&work.bytes_marked, w.bytes_marked, __ATOMIC_RELAXED);
    return left;
}

#define STACK_PASSES 4 /* then the running ones wait for the second pause */
/* A pass that found tasks running waits this long, the window open, for
 * them to come to a switch (their CPU's guard is poisoned: the next
 * split-stack prologue), where their own scheduler scans them: else a task
 * that computes without yielding is only scanned in the second pause, and
 * all it holds is marked there. */
#define STACK_WAIT_NS 5000000ull

bool gc_scan_stack_for_mark(uint32_t cycle,
                            void (*each)(void (*fn)(void *, uintptr_t, uintptr_t, uint32_t),
                                         void *ctx, void *arg),
                            void *arg)
{
    struct gc_markwin *m = &gc_markwin_;
    bool done = false;
    __atomic_add_fetch(&m->helpers, 1, __ATOMIC_SEQ_CST); /* the window's Dekker pair */
    if (__atomic_load_n(&m->open, __ATOMIC_SEQ_CST) && m->cycle == cycle) {
        struct gcwork w;
        gcwork_init(&w);
        w.background = true;
        each(stack_range, &w, arg);
        gc_note_scan(&w);
        gcwork_flush(&w);
        gcwork_dispose(&w);
        gc_add_marked(w.bytes_marked);
        done = true;
    }
    __atomic_sub_fetch(&m->helpers, 1, __ATOMIC_SEQ_CST);
    return done;
}

/* Step 2b, concurrent (CONCURRENT MARK in the essay): the root jobs are
 * scanned with the world stopped (grey only), the world restarts while
 * this CPU scans the task stacks once and drains the grey queue, then
 * stops again and the other roots and the stacks left are scanned.
 * Timestamps: t[0] world restarted, t[1] stopped again (the concurrent
 * part is t[1] - t[0]). */
static void mark_concurrent_start(struct cycle_args *a)
{
    a->rec->ncpu = plat_gc_parallel(root_worker, 0);
    open_for_helpers(); /* before the restart: a CPU leaving the pause sees it */
    a->rec->heap_restart = __atomic_load_n(&gc_pacer_.heap_live, __ATOMIC_RELAXED);
    a->stage = W_PASS;
    a->pass = a->ragged = 0;
    slice.used = 0;
    __atomic_store_n(&gc_stop_pending, 0, __ATOMIC_SEQ_CST);
    a->tm[0] = gc_markwin_.mark_t0 = plat_nanotime();
    plat_gc_start_world();
}

/* (c), on the main worker once its passes and drains are done: the
 * second pause and its rescan. */
static void mark_concurrent_end(struct cycle_args *a)
{
    uint64_t *t = a->tm;
    __atomic_store_n(&gc_stop_pending, 1, __ATOMIC_SEQ_CST);
    t[1] = plat_nanotime();
    while (plat_nanotime() - t[1] < gc_debug_stop_delay_us * 1000ull)
        plat_cpu_relax();
    a->rec->stop_ns += plat_gc_stop_world();
    /* the world allocated this much while it was marked (the runway's
     * cons/mark); nothing more is allocated until the pause ends */
    a->rec->heap1 = __atomic_load_n(&gc_pacer_.heap_live, __ATOMIC_RELAXED);
    /* mark termination's rescan: globals, CPU stacks, the root table and
     * the task stacks the passes missed (running at the time); whatever
     * moved into them while the world ran */
    struct gcwork w;
    gcwork_init(&w);
    work.serial = &w;
    collect_roots();
    gcwork_flush(&w);
    gcwork_dispose(&w);
    work.serial = 0;
    gcwork_restart();
    plat_gc_parallel(mark_worker, 0);
}

/* What the idle helpers and the assists did, into the record. */
static void record_helpers(struct gc_cycle_record *r)
{
    struct gc_markwin *m = &gc_markwin_;
    r->heap_scan = __atomic_load_n(&m->scan_done, __ATOMIC_RELAXED);
    r->idle_ns = __atomic_load_n(&m->idle_ns, __ATOMIC_RELAXED);
    r->idle_objects = __atomic_load_n(&m->idle_objects, __ATOMIC_RELAXED);
    r->assist_ns = __atomic_load_n(&m->assist_ns, __ATOMIC_RELAXED);
    r->assist_wait_ns = __atomic_load_n(&m->assist_wait_ns, __ATOMIC_RELAXED);
    r->assist_work = __atomic_load_n(&m->assist_work, __ATOMIC_RELAXED);
    r->assist_stolen = __atomic_load_n(&m->assist_stolen, __ATOMIC_RELAXED);
    r->second_ns = __atomic_load_n(&m->second_ns, __ATOMIC_RELAXED);
    r->second_objects = __atomic_load_n(&m->second_objects, __ATOMIC_RELAXED);
    r->main_ppm = m->main_ppm;
}

/* Step 3. */
static void mark_termination(struct cycle_args *a)
{
    __atomic_store_n(&gc_phase, GC_MARKTERM, __ATOMIC_SEQ_CST);
    struct gc_cycle_record *r = a->rec;
    r->marked = __atomic_load_n(&work.bytes_marked, __ATOMIC_RELAXED);
    if (!r->concurrent)
        r->heap1 = __atomic_load_n(&gc_pacer_.heap_live, __ATOMIC_RELAXED);
    record_helpers(r);
    r->stacks = work.stacks + work.stacks_conc;
    r->stacks_conc = work.stacks_conc;
    r->stacks_left = work.stacks_left;
    r->globals = work.globals;
    __atomic_store_n(&work.stack_cycle, 0, __ATOMIC_RELEASE);
    r->goal = gc_pacer_.goal;
    r->mark_cpu_ns = work.mark_cpu_ns + r->second_ns; /* background: main and second */
    plat_lock(&mheap_.lock);
    __atomic_store_n(&mheap_.sweepgen, mheap_.sweepgen + 2, __ATOMIC_RELEASE);
    plat_unlock(&mheap_.lock);
    /* Go's forEachP(prepareForSweep), with every CPU stopped at a
     * safepoint (outside its mcache): no span escapes a sweep that follows */
    for (uint32_t c = 0; c < mheap_.ncpu; c++)
        gc_prepare_cpu(c);
    __atomic_store_n(&gc_pacer_.heap_live, r->marked, __ATOMIC_RELAXED);
    /* heap_live can also fall during a mark (an mcache hands back a span's
     * unused part): count growth only */
    gc_pacer_note_mark(r->heap_scan, r->heap1 > r->heap_restart ? r->heap1 - r->heap_restart : 0,
                       r->concurrent);
    gc_pacer_commit(r->marked, r->stacks, r->globals);
    r->next_goal = gc_pacer_.goal;
    gc_sweep_start(r->marked, gc_pacer_.trigger); /* the sweepers' new cycle */
    work.njobs = 0;
    __atomic_store_n(&gc_phase, GC_OFF, __ATOMIC_SEQ_CST);
}

static void record_cycle(struct gc_cycle_record *r, uint64_t t_end)
{
    uint64_t pause = gc_record_pause(r);
    uint32_t i = st.numgc % GC_HISTORY;
    st.pause[i] = pause;
    st.pause_total += pause;
    /* concurrent: the workers' time, not the mark's wall time (a
     * fractional main worker shares its CPU with tasks) */
    st.gc_cpu_ns += pause * r->ncpu + r->assist_ns +
                    (r->concurrent ? r->worker_ns + r->second_ns + r->idle_ns : 0);
    st.numgc++;
    st.numforced += r->forced;
    r->n = st.numgc;
    st.last_gc = t_end;
    st.rec[i] = *r;
}

/* Spans gc_finish_sweep has GC-swept since boot. */
static uint64_t finish_swept(void)
{
    struct gc_sweep_stats ss;
    gc_read_sweep_stats(&ss);
    return ss.finish_spans;
}

static __attribute__((noinline)) void gc_trace(void *p);

/* From the end of the mark's drains (world stopped): the barrier rounds,
 * mark termination, the times and the record, the world restarted, the
 * trace, and gc_running cleared — the cycle is over. */
static void cycle_end(struct cycle_args *a)
{
    struct gc_cycle_record *r = a->rec;
    mark_finish(a);
    uint64_t t2 = plat_nanotime();
    mark_termination(a);
    __atomic_store_n(&gc_stop_pending, 0, __ATOMIC_SEQ_CST);
    uint64_t t3 = plat_nanotime();
    if (r->concurrent) { /* pauses: start to restart, stop to the end */
        r->stw1_ns = a->tm[0] - a->t0;
        r->mark_ns = a->tm[1] - a->tm[0];
        r->stw2_ns = t3 - a->tm[1];
    } else {
        r->stw1_ns = a->t1 - a->t0;
        r->mark_ns = t2 - a->t1;
        r->stw2_ns = t3 - t2;
    }
    record_cycle(r, gc_now());
    plat_gc_start_world();
    /* formatting needs more stack than a task has to spare: this is the
     * CPU's own stack (plat_gc_run, plat_gc_worker) */
    plat_systemstack(gc_trace, &st.rec[(st.numgc - 1) % GC_HISTORY]);
    __atomic_store_n(&gc_running, 0, __ATOMIC_RELEASE);
}

#define RAGGED_ROUNDS 4              /* then the second pause flushes what is left */
#define RAGGED_TIMEOUT_NS 20000000ull /* a CPU that has not flushed by then: the pause does */
volatile uint32_t gc_debug_no_ragged;
static uint32_t ragged_found; /* atomic: CPUs whose flush handed work over, this round */

/* plat_gc_ragged's fn, on every CPU at a safepoint. */
static void ragged_flush(void)
{
    if (gc_wb_flush_mine())
        __atomic_add_fetch(&ragged_found, 1, __ATOMIC_RELAXED);
}

/* Go's ragged barrier (gcMarkDone's forEachP), the window closed and
 * nothing grey: every CPU flushes its barrier buffer and hands its queue
 * over at its own safepoint.  True if one had work: drain it and ask
 * again (at most RAGGED_ROUNDS; then, or if a CPU did not answer in time,
 * the second pause flushes the rest itself). */
static bool ragged_barrier(struct cycle_args *a)
{
    if (gc_debug_no_ragged || a->ragged >= RAGGED_ROUNDS)
        return false;
    a->ragged++;
    __atomic_store_n(&ragged_found, 0, __ATOMIC_RELAXED);
    uint32_t ran = plat_gc_ragged(ragged_flush, RAGGED_TIMEOUT_NS);
    uint32_t found = __atomic_load_n(&ragged_found, __ATOMIC_RELAXED);
    struct gc_cycle_record *r = a->rec;
    r->ragged_rounds++;
    r->ragged_flushes += found;
    r->ragged_missed += mheap_.ncpu > ran ? mheap_.ncpu - ran : 0;
    return found != 0;
}

/* The main worker's stages, as far as its share allows; true once the
 * cycle is over (then `a` belongs to the next cycle: not touched). */
static bool worker_stages(struct cycle_args *a)
{
    uint32_t cycle = st.numgc + 1;
    for (;;) {
        if (a->stage == W_PASS) {
            if (!a->pass)
                __atomic_store_n(&work.stack_cycle, cycle, __ATOMIC_RELEASE);
            work.stacks_left = scan_stacks_once(cycle);
            wait_for_helper();
            a->stage = W_DRAIN;
        } else if (a->stage == W_DRAIN) {
            if (!drain_with_helpers())
                return false;
            a->wait_t0 = plat_nanotime();
            a->stage = work.stacks_left && ++a->pass < STACK_PASSES ? W_WAIT : W_RAGGED;
        } else if (a->stage == W_WAIT) {
            /* their schedulers scan them (gc_scan_stack_for_mark), and
             * this claims the ones that stopped; the window open meanwhile */
            __atomic_store_n(&gc_markwin_.open, 1, __ATOMIC_SEQ_CST);
            work.stacks_left = scan_stacks_once(cycle);
            if (!work.stacks_left || plat_nanotime() - a->wait_t0 > STACK_WAIT_NS)
                a->stage = W_DRAIN;
            else
                for (int i = 0; i < 64; i++)
                    plat_cpu_relax();
        } else if (a->stage == W_RAGGED) {
            a->stage = ragged_barrier(a) ? W_DRAIN : W_END;
        } else {
            a->rec->worker_ns = slice.used + (plat_nanotime() - slice.t0);
            mark_concurrent_end(a);
            cycle_end(a);
            return true;
        }
        if (over_share())
            return false;
    }
}

/* A concurrent mark's main worker (plat_gc_worker): one step — stack
 * passes, drains, and at last the second pause and the end — if its share
 * allows (always when idle, dedicated, or a task waits for the cycle). */
static bool concurrent_step(void *arg, bool idle)
{
    struct gc_markwin *m = &gc_markwin_;
    uint64_t t0 = plat_nanotime();
    slice.full = idle || m->main_ppm >= GC_PPM || __atomic_load_n(&m->waiters, __ATOMIC_ACQUIRE);
    if (!slice.full && slice.used * GC_PPM > (t0 - m->mark_t0) * m->main_ppm)
        return false; /* its share is used up: the CPU's tasks run */
    slice.t0 = t0;
    __atomic_store_n(&m->collector_cpu, plat_cpu_id() + 1, __ATOMIC_RELAXED);
    if (worker_stages(arg))
        return true;
    slice.used += plat_nanotime() - t0;
    __atomic_store_n(&m->collector_cpu, 0, __ATOMIC_RELAXED); /* its tasks assist */
    return false;
}

/* Steps 1-2a, then either the whole stop-the-world mark and the end, or
 * the concurrent mark's first pause, the world restarted, and the rest
 * handed to the mark's worker (the triggering task goes on: Go's gcStart
 * returns once the background workers run). */
static void gc_cycle(void *arg)
{
    struct cycle_args *a = arg;
    struct gc_cycle_record *r = a->rec;
    uint64_t left = finish_swept();
    gc_finish_sweep();
    a->t0 = plat_nanotime();
    r->start_ns = a->t0;
    sweep_termination(a);
    r->sweep_left = finish_swept() - left;
    a->t1 = plat_nanotime();
    mark_start(a);
    if (r->concurrent) {
        mark_concurrent_start(a);
        plat_gc_worker(concurrent_step, a);
        return;
    }
    r->ncpu = plat_gc_parallel(mark_worker, 0);
    a->tm[0] = a->tm[1] = plat_nanotime();
    cycle_end(a);
}

/* ------------------------------------------------------------ gctrace */

/* Go's itoaDiv: val with a decimal point dec digits from the right. */
static char *itoa_div(char *end, uint64_t val, int dec)
{
    char *p = end;
    *p = 0;
    char *idec = end - 1 - dec;
    p--;
    while (val >= 10 || p >= idec) {
        *p-- = (char)('0' + val % 10);
        if (p == idec)
            *p-- = '.';
        val /= 10;
    }
    *p = (char)('0' + val);
    return p;
}

/* Go's fmtNSAsMS: whole milliseconds from 10 ms, else two significant
 * digits with at most three decimals. */
static char *fmt_ms(char *end, uint64_t ns)
{
    if (ns >= 10000000)
        return itoa_div(end, ns / 1000000, 0);
    uint64_t x = ns / 1000;
    if (x == 0) {
        end[-1] = '0';
        end[0] = 0;
        return end - 1;
    }
    int dec = 3;
    while (x >= 100) {
        x /= 10;
        dec--;
    }
    return itoa_div(end, x, dec);
}

/* GC CPU time over all CPU time since boot, in parts per million (Go's
 * gc_cpu_fraction; stop-the-world time counts on every CPU). */
static uint64_t gc_cpu_fraction_ppm(void)
{
    uint64_t elapsed = plat_nanotime() * (mheap_.ncpu ? mheap_.ncpu : 1);
    return elapsed ? st.gc_cpu_ns * 1000000 / elapsed : 0;
}

/* One gctrace line, Go's format (runtime/mgc.go gcMarkTermination):
 * gc N @T.TTTs P%: a+b+c ms clock, a+b/c/d+e ms cpu, h0->h1->h2 MB,
 * G MB goal, S MB stacks, G MB globals, N P[ (forced)]
 * The cpu figures: sweep termination and mark termination count on every
 * CPU (the world is stopped), the assist one is the tasks' mark-assist
 * time (gc_assist_alloc), the background one the markers' CPU time, the
 * idle one the idle CPUs' marking during a concurrent mark
 * (gc_idle_mark_step). */
int gc_format_trace(char *buf, size_t size, const struct gc_cycle_record *r, uint64_t cpu_ppm)
{
    char b[9][24];
    uint64_t n = r->ncpu ? r->ncpu : 1;
    char *at = itoa_div(b[0] + 23, r->start_ns / 1000000, 3);
    char *c1 = fmt_ms(b[1] + 23, r->stw1_ns), *c2 = fmt_ms(b[2] + 23, r->mark_ns);
    char *c3 = fmt_ms(b[3] + 23, r->stw2_ns);
    char *u1 = fmt_ms(b[4] + 23, r->stw1_ns * n), *u2 = fmt_ms(b[5] + 23, r->assist_ns);
    char *u3 = fmt_ms(b[6] + 23, r->mark_cpu_ns), *u4 = fmt_ms(b[7] + 23, r->idle_ns);
    char *u5 = fmt_ms(b[8] + 23, r->stw2_ns * n);
    return alloc_format(buf, size,
                        "gc %u @%ss %lu%%: %s+%s+%s ms clock, %s+%s/%s/%s+%s ms cpu, "
                        "%lu->%lu->%lu MB, %lu MB goal, %lu MB stacks, %lu MB globals, %u P%s",
                        r->n, at, (unsigned long)(cpu_ppm / 10000), c1, c2, c3, u1, u2, u3, u4,
                        u5, (unsigned long)(r->heap0 >> 20), (unsigned long)(r->heap1 >> 20),
                        (unsigned long)(r->marked >> 20), (unsigned long)(r->goal >> 20),
                        (unsigned long)(r->stacks >> 20), (unsigned long)(r->globals >> 20),
                        r->ncpu, r->forced ? " (forced)" : "");
}

static __attribute__((noinline)) void gc_trace(void *p)
{
    if (!st.trace)
        return;
    char line[256];
    gc_format_trace(line, sizeof line, p, gc_cpu_fraction_ppm());
    plat_log("%s", line);
}

/* ------------------------------------------------------------ starting */

static bool trigger_holds(enum gc_trigger t)
{
    if (t == GC_TRIGGER_HEAP)
        return gc_pacer_.percent >= 0 &&
               __atomic_load_n(&gc_pacer_.heap_live, __ATOMIC_RELAXED) >= gc_pacer_.trigger;
    if (t == GC_TRIGGER_TIME)
        return gc_pacer_.percent >= 0 && st.last_gc != 0 && gc_now() > st.last_gc &&
               gc_now() - st.last_gc > st.force_period;
    if (t == GC_TRIGGER_OOM) /* GOGC=off turns the collector off (Go) */
        return gc_pacer_.percent >= 0;
    return true;
}

/* Wait at safepoints until no cycle runs.  A task yields meanwhile (the
 * main worker may share its CPU), and counts as a waiter: the main worker
 * then marks full time (Go's waiter parks, and its P's idle worker marks). */
static void wait_cycle_done(void)
{
    if (!__atomic_load_n(&gc_running, __ATOMIC_ACQUIRE))
        return;
    __atomic_add_fetch(&gc_markwin_.waiters, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&gc_running, __ATOMIC_ACQUIRE)) {
        gc_safepoint();
        plat_gc_assist_park();
    }
    __atomic_sub_fetch(&gc_markwin_.waiters, 1, __ATOMIC_SEQ_CST);
}

/* Wait at safepoints until the running cycle marks (its assists then pace
 * this CPU's allocations) or has ended: a task that allocated past the
 * trigger must not go on while that cycle is still finishing the last
 * sweep, before any assist is asked of it. */
static void wait_mark_started(void)
{
    while (__atomic_load_n(&gc_running, __ATOMIC_ACQUIRE) &&
           __atomic_load_n(&gc_phase, __ATOMIC_ACQUIRE) == GC_OFF) {
        gc_safepoint();
        plat_gc_assist_park(); /* the cycle's CPU may be this one's */
    }
}

static __attribute__((noinline)) void log_gc_forced(void *p)
{
    (void)p;
    plat_log("GC forced");
}

/* Run one cycle for trigger t if it (still) holds; false if none ran. */
static bool start_cycle(enum gc_trigger t, uintptr_t extra_root)
{
    if (!plat_gc_supported() || plat_locks_held())
        return false;
    uint32_t expect = 0;
    if (!__atomic_compare_exchange_n(&gc_running, &expect, 1, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_RELAXED)) {
        /* With a concurrent mark, a heap or time trigger is satisfied by
         * the cycle that runs (Go's gcStart: the trigger test fails outside
         * _GCoff): no wait, or an allocating task would sit out the mark.
         * Stopping the world, wait: a platform that cannot stop its
         * threads (the host tests) relies on that to keep allocators out
         * of the cycle. */
        bool satisfied = (t == GC_TRIGGER_HEAP || t == GC_TRIGGER_TIME) &&
                         !__atomic_load_n(&gc_stoptheworld, __ATOMIC_RELAXED);
        if (satisfied)
            wait_mark_started(); /* Go's startSema: not past the cycle's start */
        else
            wait_cycle_done();
        return false;
    }
    bool ok = trigger_holds(t);
    if (ok) {
        if (t == GC_TRIGGER_TIME && st.trace) /* Go's forcegchelper; once per cycle */
            plat_systemstack(log_gc_forced, 0);
        /* not on the caller's stack: a task's has 1 KiB to spare here */
        static struct gc_cycle_record rec; /* gc_running's */
        static struct cycle_args a;
        __builtin_memset(&rec, 0, sizeof rec);
        rec.trigger = (uint8_t)t;
        rec.forced = t == GC_TRIGGER_CYCLE;
        rec.gogc = gc_pacer_.percent;
        rec.concurrent = !__atomic_load_n(&gc_stoptheworld, __ATOMIC_RELAXED);
        rec.trigger_heap = gc_pacer_.trigger;
        a = (struct cycle_args){.trigger = t, .extra_root = extra_root, .rec = &rec};
        plat_gc_run(gc_cycle, &a); /* its end clears gc_running (cycle_end) */
        return true;
    }
    __atomic_store_n(&gc_running, 0, __ATOMIC_RELEASE);
    return false;
}

void gc_after_alloc(void *v)
{
    /* no trigger while a cycle runs (Go's gcTrigger.test: gcphase must be
     * _GCoff) — and the collector's own CPU, allocating inside the mark
     * (a mutator in a test hook), must not wait for its own cycle */
    if (__builtin_expect(__atomic_load_n(&gc_pacer_.heap_live, __ATOMIC_RELAXED) <
                             gc_pacer_.trigger, 1) ||
        gc_pacer_.percent < 0 || __atomic_load_n(&gc_phase, __ATOMIC_RELAXED) != GC_OFF)
        return;
    start_cycle(GC_TRIGGER_HEAP, (uintptr_t)v);
}

bool gc_collect(void)
{
    if (!plat_gc_supported() || plat_locks_held())
        return false;
    wait_cycle_done();
    while (!start_cycle(GC_TRIGGER_CYCLE, 0))
        if (!plat_gc_supported() || plat_locks_held())
            return false;
    wait_cycle_done(); /* a concurrent mark's worker finishes it */
    if (!(gc_debug_sweep & GC_SWEEP_COLLECT_LAZY))
        gc_finish_sweep();
    return true;
}

bool gc_start(void)
{
    if (!plat_gc_supported() || plat_locks_held())
        return false;
    return start_cycle(GC_TRIGGER_CYCLE, 0); /* returns once a concurrent mark runs */
}

bool gc_emergency(void)
{
    if (!plat_gc_supported() || plat_locks_held() || (gc_debug_oom & GC_OOM_NO_EMERGENCY))
        return false;
    uint32_t n0 = gc_num_cycles();
    if (__atomic_load_n(&gc_running, __ATOMIC_ACQUIRE)) {
        /* out of memory while a cycle runs (a concurrent mark: its assists
         * pace the others meanwhile): its end frees what it found dead */
        __atomic_add_fetch(&st.oom_waits, 1, __ATOMIC_RELAXED);
        if (__atomic_load_n(&gc_phase, __ATOMIC_ACQUIRE) == GC_MARK)
            __atomic_add_fetch(&st.oom_in_mark, 1, __ATOMIC_RELAXED);
        wait_cycle_done();
    }
    /* one emergency cycle of our own — unless another task's cycle got in
     * first, which collected as much */
    if (start_cycle(GC_TRIGGER_OOM, 0) || gc_num_cycles() != n0) {
        wait_cycle_done();
        gc_finish_sweep();
        return true;
    }
    return false;
}

void gc_test_clock_back(void)
{
    uint64_t off = gc_test_reset_clock();
    st.last_gc = st.last_gc > off ? st.last_gc - off : (st.last_gc ? 1 : 0);
}

void gc_sysmon_tick(void)
{
    if (!trigger_holds(GC_TRIGGER_TIME) || __atomic_load_n(&gc_running, __ATOMIC_RELAXED))
        return;
    start_cycle(GC_TRIGGER_TIME, 0);
}

void gc_safepoint(void)
{
    if (__builtin_expect(__atomic_load_n(&gc_stop_pending, __ATOMIC_ACQUIRE), 0))
        plat_gc_poll();
}

/* ------------------------------------------------------------ sweep, cpus */

static void finish_sweep_body(void *unused)
{
    (void)unused;
    for (int spc = 0; spc < NUM_SPAN_CLASSES; spc++)
        mcentral_sweep_all(&mheap_.central[spc]);
    gc_sweep_finished();
}

void gc_finish_sweep(void) { plat_systemstack(finish_sweep_body, 0); }

void gc_prepare_cpu(uint32_t cpu)
{
    mcache *c = &mheap_.mcaches[cpu];
    uint32_t sg = __atomic_load_n(&mheap_.sweepgen, __ATOMIC_ACQUIRE);
    if (c->flushGen != sg) {
        mcache_release_all(c);
        c->flushGen = sg;
    }
}

/* ------------------------------------------------------------ roots */

bool gc_add_root(const void *p, size_t len)
{
    uintptr_t lo = (uintptr_t)p, hi = lo + len;
    const char *why = 0;
    if (len == 0 || hi < lo)
        why = "empty or wrapping range";
    else if (lo < mheap_.window_base + mheap_.window_size && hi > mheap_.window_base)
        why = "overlaps the heap";
    else if (!plat_mapped(lo, hi))
        why = "not mapped";
    if (!why) {
        plat_lock(&roots.lock);
        if (roots.n < MAX_ROOTS) {
            roots.r[roots.n].lo = lo;
            roots.r[roots.n].hi = hi;
            roots.n++;
        } else {
            why = "root table full";
        }
        plat_unlock(&roots.lock);
    }
    if (why)
        alloc_report("gc_add_root: [0x%lx, 0x%lx) refused: %s", (unsigned long)lo,
                     (unsigned long)hi, why);
    return !why;
}

bool gc_remove_root(const void *p)
{
    bool found = false;
    plat_lock(&roots.lock);
    for (uint32_t i = 0; i < roots.n && !found; i++)
        if (roots.r[i].lo == (uintptr_t)p) {
            roots.r[i] = roots.r[--roots.n];
            found = true;
        }
    plat_unlock(&roots.lock);
    if (!found)
        alloc_report("gc_remove_root: 0x%lx is not a registered root", (unsigned long)p);
    return found;
}

/* ------------------------------------------------------------ reporting */

void gc_set_trace(int level) { st.trace = level; }
int gc_get_trace(void) { return st.trace; }
void gc_set_force_period(uint64_t ns) { st.force_period = ns ? ns : 120000000000ull; }

bool gc_cycle_record(uint32_t n, struct gc_cycle_record *out)
{
    if (n == 0 || n > st.numgc || st.numgc - n >= GC_HISTORY)
        return false;
    *out = st.rec[(n - 1) % GC_HISTORY];
    return true;
}

uint32_t gc_num_cycles(void) { return __atomic_load_n(&st.numgc, __ATOMIC_ACQUIRE); }

void gc_read_stats(struct gc_stats *o)
{
    __builtin_memset(o, 0, sizeof *o);
    o->NumGC = st.numgc;
    o->NumForcedGC = st.numforced;
    o->NextGC = gc_pacer_.goal;
    o->LastGC = st.last_gc;
    o->PauseTotalNs = st.pause_total;
    __builtin_memcpy(o->PauseNs, st.pause, sizeof st.pause);
    o->GCCPUFractionPPM = gc_cpu_fraction_ppm();
    o->HeapMarked = gc_pacer_.heap_marked;
    o->HeapLive = __atomic_load_n(&gc_pacer_.heap_live, __ATOMIC_RELAXED);
    o->GOGC = gc_pacer_.percent;
    o->EnableGC = plat_gc_supported();
    o->OOMWaits = __atomic_load_n(&st.oom_waits, __ATOMIC_RELAXED);
    o->OOMInMark = __atomic_load_n(&st.oom_in_mark, __ATOMIC_RELAXED);
}
