/*
 * stackgrow.c — what __morestack asks for, done on the scheduler stack.
 *
 * CONTIGUOUS (Go 1.3+): stackgrow_morestack
 *   1. needed = bytes in use at the check + the frame + stack arguments +
 *      STACK_GUARD + room for __morestack's own frames;
 *   2. new size = old size doubled until it is >= needed; over
 *      task_max_stack → kill the task ("goroutine stack exceeds N-byte limit");
 *   3. allocate the new stack (stackalloc), copy the used part [rsp, hi) to
 *      the top of the new one, and adjust conservatively: every 8-byte word
 *      of the copy whose value lies in [old lo, old hi] moves by
 *      delta = new hi - old hi.  That covers the frame-pointer chain,
 *      pointers to locals held in frames, and every register, because the
 *      task's registers at the check (pushed by __morestack) and its
 *      callee-saved registers (pushed by switch_stack) are on the stack too;
 *   4. free the old stack; the task resumes on the new one, and __morestack
 *      jumps to the function body as if the check had passed.
 *   The conservative scan is safe because nothing outside the stack points
 *   into it (task.h's rule) — and can only misfire on an integer that
 *   happens to equal an address in the old stack, which the heap window's
 *   addresses (0xffffc000_00000000 and up) make implausible.
 *
 * SEGMENTED (Go 1.0–1.2): stackgrow_morestack
 *   1. take the spare segment if it is big enough, else allocate one of
 *      max(2 * STACK_MIN, next power of two >= frame + args + STACK_GUARD +
 *      slack); the total over task_max_stack → kill;
 *   2. at its top put a struct segment (the previous stack's bounds and the
 *      caller's rsp), below it a copy of the stack arguments, and below
 *      those the address of __morestack_return: the body's return address;
 *   3. the body runs on the segment.  When it returns, __morestack_return
 *      goes back to the old stack and stackgrow_pop restores the bounds and
 *      frees the segment (or keeps it as the spare, the cache option).
 *   A call at a segment boundary inside a loop pays steps 1–3 on every
 *   call: the hot split.
 *
 * SHRINKING: a runnable contiguous task whose use is under a quarter of its
 * stack moves to one half the size (same copy + adjust), never below
 * STACK_MIN.  Segmented stacks shrink by themselves as segments are freed.
 *
 * Invariants: guard == stack_lo + STACK_GUARD; contiguous: stack_lo ==
 * base_lo and stack_hi - stack_lo == base_size; segmented: seg_bytes ==
 * sum of the sizes of the segments in the t->seg chain.
 */
#include "stackgrow.h"
#include "../alloc/mgc.h"
#include "../alloc/stack.h"
#include "kernel.h"

uint64_t task_max_stack = 1000000000ull; /* Go's default: 1 GB */
int task_segment_cache;

struct segment {
    uint64_t lo, size;
    uint64_t prev_lo, prev_hi, prev_return_rsp;
    struct segment *prev;
};

struct mode_stats {
    uint64_t grows, copies, bytes_copied, segs_alloc, segs_free, shrinks, largest, killed;
};
static struct mode_stats stats[2];

void __morestack_return(void);

static void count(uint64_t *field, uint64_t v) { __atomic_fetch_add(field, v, __ATOMIC_RELAXED); }

static void note_size(struct task *t, uint64_t size)
{
    if (size > t->max_stack)
        t->max_stack = size;
    uint64_t *l = &stats[t->mode].largest;
    uint64_t cur = __atomic_load_n(l, __ATOMIC_RELAXED);
    while (size > cur && !__atomic_compare_exchange_n(l, &cur, size, 0, __ATOMIC_RELAXED,
                                                      __ATOMIC_RELAXED))
        ;
}

static void set_stack(struct task *t, uint64_t lo, uint64_t hi)
{
    t->stack_lo = lo;
    t->stack_hi = hi;
    t->guard = lo + STACK_GUARD;
}

/* STALE WORDS: the collector scans task stacks conservatively, so a stack
 * must not reach a new owner with an earlier owner's words in it (they
 * would sit in the new owner's uninitialised frame slots and keep garbage
 * alive).  A freed stack keeps its owner's tag in its second word (the
 * first links the free list); stack_take clears a stack whose tag is not
 * the taker's.  A task reusing its own segment (the hot split) pays
 * nothing; its own stale words are its own business, as in any
 * conservative collector. */
#define STACK_TAG (0x6b617473ull << 32) /* "stak" */

static uint64_t tag_of(const struct task *t) { return STACK_TAG | t->id; }

volatile int stackgrow_debug_keep_stale;
volatile int stackgrow_debug_no_scrub;

/* A stack for t, cleared unless t itself freed it (a hot split takes the
 * same segment back again and again) — and cleared even then while a mark
 * runs: t's stack may have been scanned (and scrubbed) already, and words
 * it left before the scan must not reappear below a later frame. */
static void *stack_take(const struct task *t, uint64_t size)
{
    uint64_t *s = stackalloc(size);
    if (s && !stackgrow_debug_keep_stale &&
        (s[1] != tag_of(t) || __atomic_load_n(&gc_phase, __ATOMIC_RELAXED) == GC_MARK))
        __builtin_memset(s, 0, size);
    return s;
}

static void stack_give_back(const struct task *t, uint64_t lo, uint64_t size)
{
    ((uint64_t *)lo)[1] = tag_of(t);
    stackfree((void *)lo, size);
}

int stackgrow_alloc_initial(struct task *t)
{
    void *s = stack_take(t, STACK_MIN);
    if (!s)
        return 0;
    t->base_lo = (uint64_t)s;
    t->base_size = STACK_MIN;
    set_stack(t, t->base_lo, t->base_lo + STACK_MIN);
    note_size(t, STACK_MIN);
    return 1;
}

static uint64_t pow2_at_least(uint64_t n)
{
    uint64_t p = STACK_MIN;
    while (p < n)
        p <<= 1;
    return p;
}

static void kill(struct task *t, uint64_t wanted, const char *why)
{
    t->killed = 1;
    count(&stats[t->mode].killed, 1);
    if (why)
        kprintf("task %u (%s): cannot grow stack to %lu bytes: %s; task killed\n", t->id, t->name,
                wanted, why);
    else
        kprintf("task %u (%s): goroutine stack exceeds %lu-byte limit (wanted %lu); task killed\n",
                t->id, t->name, task_max_stack, wanted);
}

/* Copy [t->rsp, old hi) to the top of [new_lo, new_lo + new_size) and
 * adjust every word pointing into the old stack; returns bytes copied. */
static uint64_t move_stack(struct task *t, uint64_t new_lo, uint64_t new_size)
{
    uint64_t old_lo = t->stack_lo, old_hi = t->stack_hi;
    uint64_t used = old_hi - t->rsp;
    uint64_t new_hi = new_lo + new_size;
    int64_t delta = (int64_t)(new_hi - old_hi);
    uint64_t *dst = (uint64_t *)(new_hi - used);
    const uint64_t *src = (const uint64_t *)t->rsp;
    for (uint64_t i = 0; i < used / 8; i++) {
        uint64_t w = src[i];
        if (w >= old_lo && w <= old_hi)
            w += (uint64_t)delta;
        dst[i] = w;
    }
    t->rsp += (uint64_t)delta;
    if (t->req_sp)
        t->req_sp += (uint64_t)delta;
    set_stack(t, new_lo, new_hi);
    t->base_lo = new_lo;
    t->base_size = new_size;
    return used;
}

static int grow_contiguous(struct task *t)
{
    uint64_t old_size = t->stack_hi - t->stack_lo;
    uint64_t needed = (t->stack_hi - t->req_sp) + t->req_frame + t->req_args + STACK_GUARD + 512;
    uint64_t size = old_size * 2;
    while (size < needed)
        size *= 2;
    if (size > task_max_stack) {
        kill(t, size, 0);
        return 0;
    }
    void *n = stack_take(t, size);
    if (!n) {
        kill(t, size, "out of memory");
        return 0;
    }
    uint64_t old_lo = t->stack_lo;
    uint64_t used = move_stack(t, (uint64_t)n, size);
    stack_give_back(t, old_lo, old_size);
    struct mode_stats *s = &stats[TASK_STACK_CONTIGUOUS];
    count(&s->grows, 1);
    count(&s->copies, 1);
    count(&s->bytes_copied, used);
    note_size(t, size);
    return 1;
}

static int grow_segmented(struct task *t)
{
    uint64_t want = t->req_frame + t->req_args + STACK_GUARD + 512 + sizeof(struct segment);
    uint64_t size = pow2_at_least(want < 2 * STACK_MIN ? 2 * STACK_MIN : want);
    if (t->base_size + t->seg_bytes + size > task_max_stack) {
        kill(t, t->base_size + t->seg_bytes + size, 0);
        return 0;
    }
    uint64_t lo;
    struct mode_stats *s = &stats[TASK_STACK_SEGMENTED];
    if (t->spare && t->spare->size >= size) {
        lo = t->spare->lo;
        size = t->spare->size;
        t->spare = 0;
    } else {
        void *n = stack_take(t, size);
        if (!n) {
            kill(t, size, "out of memory");
            return 0;
        }
        lo = (uint64_t)n;
        count(&s->segs_alloc, 1);
    }
    struct segment *seg = (struct segment *)(lo + size - sizeof(struct segment));
    seg->lo = lo;
    seg->size = size;
    seg->prev_lo = t->stack_lo;
    seg->prev_hi = t->stack_hi;
    seg->prev_return_rsp = t->seg_return_rsp;
    seg->prev = t->seg;
    t->seg = seg;
    t->seg_bytes += size;
    /* stack arguments live above the caller's return address */
    uint64_t args_start = ((uint64_t)seg - t->req_args) & ~15ull;
    __builtin_memcpy((void *)args_start, (const void *)(t->req_sp + 8), t->req_args);
    uint64_t body_rsp = args_start - 8;
    *(uint64_t *)body_rsp = (uint64_t)__morestack_return;
    t->seg_return_rsp = t->req_sp;
    t->req_sp = body_rsp; /* morestack_c returns it to __morestack */
    set_stack(t, lo, (uint64_t)seg);
    count(&s->grows, 1);
    note_size(t, t->base_size + t->seg_bytes);
    return 1;
}

int stackgrow_morestack(struct task *t)
{
    return t->mode == TASK_STACK_SEGMENTED ? grow_segmented(t) : grow_contiguous(t);
}

static void free_segment(const struct task *t, struct segment *seg)
{
    uint64_t lo = seg->lo, size = seg->size; /* the record lives in the segment */
    count(&stats[TASK_STACK_SEGMENTED].segs_free, 1);
    stack_give_back(t, lo, size);
}

void stackgrow_pop(struct task *t)
{
    struct segment *seg = t->seg;
    if (!seg)
        panic("task %u (%s): segment return without a segment", t->id, t->name);
    t->seg = seg->prev;
    t->seg_bytes -= seg->size;
    t->seg_return_rsp = seg->prev_return_rsp;
    set_stack(t, seg->prev_lo, seg->prev_hi);
    if (task_segment_cache && !t->spare)
        t->spare = seg; /* keep it, record and all, for the next split */
    else
        free_segment(t, seg);
}

void stackgrow_shrink(struct task *t)
{
    if (t->mode != TASK_STACK_CONTIGUOUS || t->state != TASK_RUNNABLE)
        return;
    uint64_t size = t->stack_hi - t->stack_lo;
    uint64_t used = t->stack_hi - t->rsp;
    if (size <= STACK_MIN || used >= size / 4)
        return;
    void *n = stack_take(t, size / 2);
    if (!n)
        return; /* shrinking is an optimisation */
    uint64_t old_lo = t->stack_lo;
    uint64_t copied = move_stack(t, (uint64_t)n, size / 2);
    stack_give_back(t, old_lo, size);
    count(&stats[TASK_STACK_CONTIGUOUS].shrinks, 1);
    count(&stats[TASK_STACK_CONTIGUOUS].bytes_copied, copied);
}

void stackgrow_release_all(struct task *t)
{
    while (t->seg) {
        struct segment *seg = t->seg;
        t->seg = seg->prev;
        free_segment(t, seg);
    }
    if (t->spare) {
        free_segment(t, t->spare);
        t->spare = 0;
    }
    t->seg_bytes = 0;
    if (t->base_lo)
        stack_give_back(t, t->base_lo, t->base_size);
    t->base_lo = 0;
    set_stack(t, 0, 0);
}

void stackgrow_gc_ranges(struct task *t, plat_gc_root_fn fn, void *ctx)
{
    /* the stack (segment) in use, from where the task stopped */
    if (t->rsp >= t->stack_lo && t->rsp <= t->stack_hi)
        fn(ctx, t->rsp, t->stack_hi, GC_ROOT_TASKS);
    /* each earlier segment, from where the call that split left it: the
     * innermost split's caller rsp is t->seg_return_rsp, older ones are
     * kept in the segment records */
    uint64_t ret = t->seg_return_rsp;
    for (struct segment *s = t->seg; s; ret = s->prev_return_rsp, s = s->prev)
        fn(ctx, ret, s->prev_hi, GC_ROOT_TASKS | GC_ROOT_SEGMENTS);
}

static void zero_range(uint64_t lo, uint64_t hi)
{
    if (hi > lo)
        __builtin_memset((void *)lo, 0, hi - lo);
}

void stackgrow_scrub_dead(struct task *t)
{
    if (stackgrow_debug_no_scrub)
        return;
    if (t->rsp >= t->stack_lo && t->rsp <= t->stack_hi)
        zero_range(t->stack_lo, t->rsp); /* no red zone: nothing lives below rsp */
    uint64_t ret = t->seg_return_rsp;
    for (struct segment *s = t->seg; s; ret = s->prev_return_rsp, s = s->prev)
        zero_range(s->prev_lo, ret);
    if (t->spare)
        zero_range(t->spare->lo, (uint64_t)t->spare); /* below its record */
}

void task_stack_stats(enum task_mode m, struct stack_stats *out)
{
    const struct mode_stats *s = &stats[m];
    out->grows = s->grows;
    out->copies = s->copies;
    out->bytes_copied = s->bytes_copied;
    out->segs_alloc = s->segs_alloc;
    out->segs_free = s->segs_free;
    out->shrinks = s->shrinks;
    out->largest = s->largest;
    out->killed = s->killed;
}

void task_stats_reset(void)
{
    __builtin_memset(stats, 0, sizeof stats);
}
