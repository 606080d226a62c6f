/*
 * mgcpacer.c — when the next cycle starts (Go's mgcpacer.go), GOGC, and the
 * pacer's clock.
 *
 * HEAP GOAL (Go 1.18+, gcControllerState.commit):
 *     goal = marked + (marked + stacks + globals) × GOGC / 100
 *     goal = max(goal, heap_minimum),  heap_minimum = 4 MiB × GOGC / 100
 *   marked: bytes the last cycle marked; stacks: the stack bytes it scanned
 *   (Go's lastStackScan); globals: the globals and registered roots it
 *   scanned.  GOGC off (-1): goal = ∞, no heap-triggered cycle and no
 *   forced one.  Before the first cycle the goal is the heap minimum.
 * TRIGGER: a stop-the-world mark (gcstoptheworld=1) allocates nothing
 *   while it marks and needs no runway: trigger = goal.  A concurrent mark
 *   must start early enough that the heap the world allocates while it
 *   marks still fits under the goal (Go 1.18+'s runway):
 *     runway  = cons/mark × (last_heap_scan + stacks + globals)
 *     trigger = goal − runway, clamped to [lo, hi]:
 *     lo = marked + (goal − marked) × 45/64  (≈ 0.7 of the way)
 *     hi = marked + (goal − marked) × 61/64  (≈ 0.95), or goal − 4 MiB
 *          when that is higher (a large heap keeps only the heap minimum)
 *   cons/mark: bytes the world allocated per heap byte the markers
 *   scanned, measured over each concurrent mark (heap_live at the second
 *   pause − at the restart, over the cycle's heap scan work), the largest
 *   of the last four (a burst is not forgotten after one quiet cycle).
 *   Before any concurrent mark cons/mark is 0 and the trigger is hi.  The
 *   trigger is tested where Go tests it: after mallocgc took a new span or
 *   made a large object (gc_after_alloc).
 * ASSIST RATIO (Go's revise; the assists themselves are in mgcmark.c):
 *     ratio = (expected − done) / (goal − heap_live)   scan bytes per byte
 *   expected: the last cycle's heap scan work; once done passes it, or
 *   heap_live passes the goal, the pacer assumes the worst — all of
 *   heap_live may need scanning — and paces against the hard goal,
 *   1.1 × goal (Go's bound on the overshoot).  Remaining work is at least
 *   4 KiB (marking races, and an estimate can be low) and the distance at
 *   least 1 byte: past the hard goal every byte owes 4 KiB of scanning,
 *   which in practice parks the allocator until the mark ends.
 * HEAP_LIVE (Go's heapLive) counts collected memory only: a span's free
 *   slots are credited when an mcache takes it and the unused part
 *   debited when it gives it back in the same cycle; a large collected
 *   object's pages when it is made.  At mark termination heap_live =
 *   marked (everything else is garbage).  kmalloc memory never counts (it
 *   is not the collector's: KmallocInuse shows it), and neither does an
 *   explicit kfree of a collected object (heap_live overestimates then,
 *   so a cycle comes early, never late).
 *
 * WORKERS (Go's startCycle, gcBackgroundUtilization = 25 %): a concurrent
 *   mark's background workers should take a quarter of the CPUs:
 *     total     = 0.25 × ncpu
 *     dedicated = ⌊total + 0.5⌋, one fewer if that misses total by more
 *                 than 30 % upwards (ncpu ≤ 3, 6), none more if downwards
 *     fractional share per CPU = (total − dedicated) / ncpu when it missed
 *   Go runs `dedicated` whole workers and lets every other P run a
 *   fractional worker for that share of its time.  Ours (gc_pacer_workers):
 *   the CPU that started the cycle runs the mark's main worker for
 *   min(1, total) of its time (dedicated at 1, else fractional: 0.25, 0.5,
 *   0.75 of a CPU on 1-3 CPUs), and whatever of the total is left (0.5 CPU
 *   on 6 CPUs, 1 on 7-8) is second workers any other CPU's scheduler runs
 *   before its tasks (gc_worker_mark_step): the same CPU total as Go's.
 *
 * All arithmetic is integer (no floating point in alloc/); GOGC is capped
 * at GC_PERCENT_MAX so that the products cannot overflow for any heap the
 * window allows.
 */
#include "malloc_impl.h"
#include "mgcpriv.h"

#define HEAP_MINIMUM (4ull << 20) /* Go's defaultHeapMinimum */

struct gc_pacer gc_pacer_ = {.percent = 100, .goal = HEAP_MINIMUM, .trigger = HEAP_MINIMUM};
static uint64_t clock_offset; /* gc_test_advance_clock */

uint64_t gc_pacer_heap_minimum(int32_t percent)
{
    return percent < 0 ? ~0ull : HEAP_MINIMUM * (uint64_t)percent / 100;
}

uint64_t gc_pacer_goal_for(int32_t percent, uint64_t marked, uint64_t stacks, uint64_t globals)
{
    if (percent < 0)
        return ~0ull;
    uint64_t goal = marked + (marked + stacks + globals) * (uint64_t)percent / 100;
    uint64_t min = gc_pacer_heap_minimum(percent);
    return goal > min ? goal : min;
}

static uint64_t max_cons_mark(const struct gc_pacer *p)
{
    uint64_t m = 0;
    for (int i = 0; i < 4; i++)
        m = p->cons_mark[i] > m ? p->cons_mark[i] : m;
    return m;
}

uint64_t gc_pacer_trigger_for(uint64_t goal, uint64_t marked, uint64_t stacks,
                              uint64_t globals, bool concurrent)
{
    if (!concurrent || goal == ~0ull || goal <= marked)
        return goal;
    uint64_t way = goal - marked;
    uint64_t lo = marked + way / 64 * 45, hi = marked + way / 64 * 61;
    if (goal > HEAP_MINIMUM && goal - HEAP_MINIMUM > hi)
        hi = goal - HEAP_MINIMUM;
    unsigned __int128 r = (unsigned __int128)max_cons_mark(&gc_pacer_) *
                          (gc_pacer_.last_heap_scan + stacks + globals) >> GC_ASSIST_SHIFT;
    uint64_t t = r >= goal ? lo : goal - (uint64_t)r;
    return t < lo ? lo : t > hi ? hi : t;
}

/* Goal and trigger for the current GOGC, mode and the last cycle's figures. */
void gc_pacer_recompute(void)
{
    struct gc_pacer *p = &gc_pacer_;
    p->goal = gc_pacer_goal_for(p->percent, p->heap_marked, p->last_stack_scan, p->globals_scan);
    p->trigger = gc_pacer_trigger_for(p->goal, p->heap_marked, p->last_stack_scan,
                                      p->globals_scan, !gc_get_stoptheworld());
}

void gc_pacer_note_mark(uint64_t heap_scan, uint64_t allocated, bool concurrent)
{
    struct gc_pacer *p = &gc_pacer_;
    p->last_heap_scan = heap_scan;
    if (!concurrent)
        return;
    __builtin_memmove(&p->cons_mark[1], &p->cons_mark[0], 3 * sizeof p->cons_mark[0]);
    uint64_t cm = ((unsigned __int128)allocated << GC_ASSIST_SHIFT) / (heap_scan ? heap_scan : 1);
    p->cons_mark[0] = cm > (64ull << GC_ASSIST_SHIFT) ? 64ull << GC_ASSIST_SHIFT : cm;
}

uint64_t gc_pacer_assist_ratio(uint64_t live, uint64_t goal, uint64_t expected, uint64_t done)
{
    if (goal == ~0ull)
        return 0;
    uint64_t limit = goal;
    if (done >= expected || live >= goal) { /* the worst case, the hard goal */
        expected = live > done ? live : done;
        limit = goal + goal / 10;
    }
    uint64_t remaining = expected > done ? expected - done : 0;
    remaining = remaining < 4096 ? 4096 : remaining;
    uint64_t distance = limit > live ? limit - live : 1;
    unsigned __int128 r = ((unsigned __int128)remaining << GC_ASSIST_SHIFT) / distance;
    return r > (1ull << 44) ? 1ull << 44 : (uint64_t)r;
}

void gc_pacer_commit(uint64_t marked, uint64_t stacks, uint64_t globals)
{
    gc_pacer_.heap_marked = marked;
    gc_pacer_.last_stack_scan = stacks;
    gc_pacer_.globals_scan = globals;
    gc_pacer_recompute();
}

int32_t gc_set_percent(int32_t percent)
{
    if (percent < -1 || percent > GC_PERCENT_MAX) {
        alloc_report("gogc: %d refused (0..%d, or off)", percent, GC_PERCENT_MAX);
        return INT32_MIN;
    }
    int32_t old = gc_pacer_.percent;
    gc_pacer_.percent = percent;
    gc_pacer_recompute();
    return old;
}

int32_t gc_get_percent(void) { return gc_pacer_.percent; }

void gc_heap_live_add(int64_t bytes)
{
    __atomic_fetch_add(&gc_pacer_.heap_live, (uint64_t)bytes, __ATOMIC_RELAXED);
}

uint64_t gc_now(void)
{
    return plat_nanotime() + __atomic_load_n(&clock_offset, __ATOMIC_RELAXED);
}

void gc_test_advance_clock(uint64_t ns)
{
    __atomic_fetch_add(&clock_offset, ns, __ATOMIC_RELAXED);
}

uint64_t gc_test_reset_clock(void)
{
    return __atomic_exchange_n(&clock_offset, 0, __ATOMIC_RELAXED);
}

struct gc_workers gc_pacer_workers(uint32_t ncpu)
{
    struct gc_workers w = {.ncpu = ncpu};
    uint64_t total = (uint64_t)ncpu * GC_PPM / 4; /* ppm of one CPU */
    uint64_t ded = (total + GC_PPM / 2) / GC_PPM;
    /* |ded / total − 1| > 0.3, in integers */
    if (total && (ded * GC_PPM * 10 > total * 13 || ded * GC_PPM * 10 < total * 7)) {
        if (ded * GC_PPM > total)
            ded--;
        w.go_frac_ppm = (uint32_t)((total - ded * GC_PPM) / ncpu);
    }
    w.go_dedicated = (uint32_t)ded;
    uint64_t bg = ded * GC_PPM + (uint64_t)w.go_frac_ppm * ncpu; /* Go's background total */
    w.main_ppm = (uint32_t)(bg < GC_PPM ? bg : GC_PPM);
    uint64_t rest = bg - w.main_ppm;
    w.second_slots = (uint32_t)((rest + GC_PPM - 1) / GC_PPM);
    w.second_ppm = w.second_slots ? (uint32_t)rest : 0;
    return w;
}
