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
 * TRIGGER: this first collector stops the world to mark, so nothing is
 *   allocated while it marks and it needs no runway: trigger = goal
 *   (GC.md C9, stages A–C; the concurrent collector will start earlier).
 *   It is tested where Go tests it: after mallocgc took a new span or made
 *   a large object (gc_after_alloc).
 * HEAP_LIVE (Go's heapLive) counts collected memory only: a span's free
 *   slots are credited when an mcache takes it and the unused part
 *   debited when it gives it back in the same cycle; a large collected
 *   object's pages when it is made.  At mark termination heap_live =
 *   marked (everything else is garbage).  kmalloc memory never counts (it
 *   is not the collector's: KmallocInuse shows it), and neither does an
 *   explicit kfree of a collected object (heap_live overestimates then,
 *   so a cycle comes early, never late).
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

/* Goal and trigger for the current GOGC and the last cycle's figures. */
static void recompute(void)
{
    struct gc_pacer *p = &gc_pacer_;
    p->goal = gc_pacer_goal_for(p->percent, p->heap_marked, p->last_stack_scan, p->globals_scan);
    p->trigger = p->goal;
}

void gc_pacer_commit(uint64_t marked, uint64_t stacks, uint64_t globals)
{
    gc_pacer_.heap_marked = marked;
    gc_pacer_.last_stack_scan = stacks;
    gc_pacer_.globals_scan = globals;
    recompute();
}

int32_t gc_set_percent(int32_t percent)
{
    if (percent < -1 || percent > GC_PERCENT_MAX) {
        alloc_report("gogc: %d refused (0..%d, or off)", percent, GC_PERCENT_MAX);
        return INT32_MIN;
    }
    int32_t old = gc_pacer_.percent;
    gc_pacer_.percent = percent;
    recompute();
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
