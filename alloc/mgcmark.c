/*
 * mgcmark.c — marking (Go's mgcmark.go): finding the object a word points
 * into, greying it, scanning grey objects precisely from the heap bitmap,
 * scanning roots conservatively, and draining the grey queue.
 *
 * FIND (gc_mark_ptr, for a conservative root word and a precise heap
 * pointer alike; every candidate is validated, so a stale or made-up value
 * can only keep something alive, never corrupt):
 *   1. off = p - window_base; outside the window → not heap (one compare
 *      rejects small integers, kernel text/data, the direct map).
 *   2. span = arena index → spans[page] (never NULL: sentinels, mheap.h);
 *      state in use, a collected span class (kmalloc spans are never
 *      marked), p inside the span's pages.
 *   3. idx = divMul index (large: 0); idx < nelems (tail waste: no object);
 *      allocated (Go's isFree rule: idx < freeindex or allocBits) and not
 *      pending free (an explicit free wins over a mark).
 *   4. mark: atomic fetch-or of the bit in gcmarkBits; already set → done.
 *      pageMarks bit of the span's first page; bytes_marked += elemsize;
 *      a scan span's object goes on the marker's queue (grey), a noscan
 *      one is black at once.
 * Interior pointers count (C keeps pointers to fields and elements); a
 * pointer just past an object refers to the next slot (Boehm's off-the-end
 * problem): keep a pointer to the object, not past it.
 *
 * SCAN (scan_object, Go's scanobject): the object's words whose heap
 * bitmap bit says "pointer" (written by mallocgc from the gotype), 64 words
 * per bitmap word.  A large object bigger than 128 KiB is scanned in
 * oblets: the first scan queues the other oblet starts, so one huge array
 * is shared by every marker (Go's maxObletBytes).
 *
 * DRAIN (gc_drain): pop, scan, repeat; balance now and then; when the
 * marker's buffer is empty, take a full buffer from the global list or, if
 * every marker is idle, stop (mgcwork.c's termination).
 *
 * ALLOCATE BLACK (gc_mark_new_object, Go's gcmarknewobject): mallocgc's
 * new object during a cycle gets step 4 without the queue — mark bit
 * (atomic or), page mark, and its bytes in the calling CPU's own counter
 * (pinned; summed into the cycle's marked bytes at the end of the mark,
 * as Go's P-local gcWork.bytesMarked).  Never scanned: it holds nothing
 * the mutator did not store through the barrier.
 *
 * HELPERS (a concurrent mark; the window is mgcpriv.h's gc_markwin):
 *   IDLE (gc_idle_mark_step, Go's idle mark worker): one idle CPU per
 *   window takes the helper's role and scans batches from the global list;
 *   when it finds none it asks (gcwork_want) and the marker hands it the
 *   older half of its buffer.  Its work is background credit.
 *   SECOND WORKERS (gc_worker_mark_step, Go's dedicated and fractional
 *   workers past the first, mgcpacer.c's WORKERS): a CPU other than the
 *   main worker's takes one of second_slots (a bit in second_mask) before
 *   it picks a task, and scans batches from the global list while the
 *   window is open, there is shared work, and the second workers' time is
 *   within their share (second_ppm of the time since the world restarted;
 *   whole slots have no limit); else it gives the slot up and runs tasks.
 *   Its work is background credit.
 *   ASSISTS (gc_assist_alloc, Go's gcAssistAlloc): mallocgc debits the
 *   allocating task's account (struct gc_assist) by the bytes it asked
 *   for.  In debt:
 *     1. ratio = gc_pacer_assist_ratio(heap_live, goal, expected, done):
 *        scan bytes owed per byte; need = debt × ratio + min(256 KiB ×
 *        ratio, 64 KiB): one assist pays ahead for the next 256 KiB, or
 *        for 64 KiB of scan work (Go's gcOverAssistWork) when that buys
 *        less — near the goal a high ratio would otherwise make one
 *        assist scan the whole heap, the mark's workers idle meanwhile
 *        (Go's 64 KiB alone, at an early, low ratio, is megabytes of
 *        credit still spendable once the heap nears the hard goal).
 *     2. Take what it can of the background credit (the markers' and the
 *        idle helper's scan work, added every 64 objects): a task on a CPU
 *        next to fast markers pays little.
 *     3. Scan the rest itself, if the global list has work: join the
 *        window, drain until `need` bytes are scanned, flush what is left,
 *        leave.  Its credit grows by scanned / ratio, to at most 256 KiB
 *        (a batch that scanned past `need` gives the rest of its work to
 *        the background credit: the bound below holds whatever a batch
 *        holds).  (An empty list is
 *        not joined: the marker's termination waits for helpers to leave,
 *        and tasks that join and leave in a loop would hold it up.)
 *     4. Still in debt and nothing scanned, or the window closed (the
 *        collector between drain rounds or stack passes, or about to stop
 *        the world): ask the marker for work, stop at a safepoint, and
 *        park (plat_gc_assist_park: the task yields), then look again.
 *        The mark's end forgives any debt.  So a task's overshoot is its
 *        over-assist, 256 KiB.
 *   So the closer heap_live gets to the goal, the more scanning each byte
 *   costs, until past 1.1 × goal a task can only wait for the mark to end
 *   (the bound tested by gc_assist_bounds_peak_heap).  The main worker's
 *   CPU while inside a step (collector_cpu), a CPU already inside a helper
 *   step (the tests' scan hook runs mutators there) and a caller holding a
 *   lock never assist.
 *
 * LOCKING: none; marking is lock free (atomic OR on mark words and page
 * marks).  The stop-the-world mark runs with the world stopped, so spans,
 * allocBits and freeindex do not change under it; the concurrent one
 * copes with a world that allocates (black) and frees explicitly (a
 * scanned address whose span is gone is skipped).
 */
#include "debug.h"
#include "malloc_impl.h"
#include "mgcpriv.h"

#define OBLET_BYTES (128u * 1024u)

/* The real mark and the checkmark pass share every step; `cm` is a
 * constant in each instance, so the real mark's code has no checkmark test
 * in it (always_inline "templates"). */
static inline __attribute__((always_inline)) void mark_ptr_t(struct gcwork *w, uintptr_t p,
                                                             const bool cm)
{
    uint64_t off = p - mheap_.window_base;
    if (off >= mheap_.window_size)
        return;
    mspan *s = arena_index(off)->spans[(off >> PAGE_SHIFT) & (PAGES_PER_ARENA - 1)];
    if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != mSpanInUse ||
        spanclass_is_kmalloc(s->spanclass) || p < s->startAddr ||
        p >= s->startAddr + s->npages * PAGE_SIZE)
        return;
    uint32_t idx = spanclass_sizeclass(s->spanclass)
                       ? mspan_obj_index(s, p) : 0;
    if (idx >= s->nelems || !mspan_allocated(s, idx))
        return;
    uint64_t bit = 1ull << (idx % 64);
    if (__atomic_load_n(&s->pendingFree[idx / 64], __ATOMIC_RELAXED) & bit)
        return;
    if (cm) {
        gc_checkmark_grey(w, s, idx);
        return;
    }
    uint64_t *mw = &s->gcmarkBits[idx / 64];
    if ((__atomic_load_n(mw, __ATOMIC_RELAXED) & bit) ||
        (__atomic_fetch_or(mw, bit, __ATOMIC_RELAXED) & bit))
        return;
    gc_set_page_mark(s);
    w->bytes_marked += s->elemsize;
    if (!spanclass_noscan(s->spanclass))
        gcwork_put(w, s->startAddr + (uint64_t)idx * s->elemsize);
}

__attribute__((noinline)) void gc_mark_ptr(struct gcwork *w, uintptr_t p) { mark_ptr_t(w, p, false); }
__attribute__((noinline)) void gc_checkmark_ptr(struct gcwork *w, uintptr_t p) { mark_ptr_t(w, p, true); }

/* The pointer words of [b, b+n) per the heap bitmap, each marked. */
static inline __attribute__((always_inline)) void scan_words(struct gcwork *w, uintptr_t b,
                                                             uint64_t n, const bool cm)
{
    uintptr_t end = b + n;
    while (b < end) {
        heapArena *ha = arena_index(b - mheap_.window_base);
        uint64_t wi = (b - ha->base) / 8;
        uint64_t here = 64 - wi % 64; /* words this bitmap word still covers */
        uint64_t left = (end - b) / 8;
        uint64_t bits = ha->bitmap[wi / 64] >> (wi % 64);
        if (here > left) {
            here = left;
            bits &= (1ull << here) - 1; /* here < 64 */
        }
        for (; bits; bits &= bits - 1) {
            uintptr_t v = ((const uintptr_t *)b)[__builtin_ctzll(bits)];
            if (cm)
                gc_checkmark_ptr(w, v);
            else
                gc_mark_ptr(w, v); /* out of line, as before the checkmark existed */
        }
        b += here * 8;
    }
}

/* A grey address: an object base, or an oblet start inside a large object. */
static inline __attribute__((always_inline)) void scan_object(struct gcwork *w, uintptr_t b,
                                                              const bool cm)
{
    uint64_t off = b - mheap_.window_base;
    mspan *s = arena_index(off)->spans[(off >> PAGE_SHIFT) & (PAGES_PER_ARENA - 1)];
    /* a concurrent mark: a large object greyed, then kfree'd, is gone */
    if (__builtin_expect(__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != mSpanInUse ||
                             b < s->startAddr || b >= s->limit, 0))
        return;
    uint64_t n = s->elemsize;
    if (!spanclass_sizeclass(s->spanclass)) {
        uint64_t size = ((s->limit - s->startAddr) + 7) & ~7ull;
        if (b == s->startAddr && size > OBLET_BYTES)
            for (uint64_t o = OBLET_BYTES; o < size; o += OBLET_BYTES)
                gcwork_put(w, s->startAddr + o);
        n = s->startAddr + size - b;
        if (n > OBLET_BYTES)
            n = OBLET_BYTES;
    }
    if (cm) { /* for the report */
        w->from = b;
        w->from_kind = 0;
    }
    scan_words(w, b, n, cm);
    w->scanned += n;
    /* tests (debug builds only: not on the mark's path otherwise): the
     * "mutator" runs right after b's scan */
    if (ALLOC_DEBUG && !cm &&
        __builtin_expect(__atomic_load_n(&gc_debug_hook_obj, __ATOMIC_RELAXED) == b, 0))
        gc_debug_scan_hook(b);
}

void gc_scan_range(struct gcwork *w, uintptr_t lo, uintptr_t hi)
{
    lo = (lo + 7) & ~(uintptr_t)7;
    for (uintptr_t a = lo; a + 8 <= hi; a += 8)
        gc_mark_ptr(w, *(const uintptr_t *)a);
}

void gc_checkmark_scan_range(struct gcwork *w, uintptr_t lo, uintptr_t hi)
{
    lo = (lo + 7) & ~(uintptr_t)7;
    for (uintptr_t a = lo; a + 8 <= hi; a += 8) {
        w->from = a; /* the report names the word */
        gc_checkmark_ptr(w, *(const uintptr_t *)a);
    }
}

static inline __attribute__((always_inline)) bool drain_t(struct gcwork *w,
                                                          bool (*roots_left)(void),
                                                          bool (*stop)(void), const bool cm)
{
    for (uint64_t n = 0;; n++) {
        uintptr_t b = gcwork_try_get(w);
        if (!b) {
            if (!gcwork_get_full(w, roots_left))
                return true;
            continue;
        }
        scan_object(w, b, cm);
        if ((n & 63) == 63) {
            gcwork_balance(w);
            if (!cm)
                gc_note_scan(w);
            if (stop && stop())
                return false;
        }
    }
}

void gc_drain(struct gcwork *w, bool (*roots_left)(void)) { drain_t(w, roots_left, 0, false); }

bool gc_drain_until(struct gcwork *w, bool (*roots_left)(void), bool (*stop)(void))
{
    return drain_t(w, roots_left, stop, false);
}

uint64_t gc_drain_budget(struct gcwork *w, uint64_t budget)
{
    uint64_t n = 0;
    while (n < budget) {
        uintptr_t b = gcwork_try_get(w);
        if (!b) {
            if (!gcwork_try_refill(w))
                break;
            continue;
        }
        scan_object(w, b, false);
        if ((++n & 63) == 0)
            gcwork_balance(w); /* the collecting CPU may be waiting */
    }
    return n;
}
void gc_checkmark_drain(struct gcwork *w, bool (*roots_left)(void))
{
    drain_t(w, roots_left, 0, true);
}

void gc_note_scan(struct gcwork *w)
{
    uint64_t d = w->scanned - w->noted;
    w->noted = w->scanned;
    __atomic_fetch_add(&gc_markwin_.scan_done, d, __ATOMIC_RELAXED);
    if (w->background)
        __atomic_fetch_add(&gc_markwin_.bg_credit, (int64_t)d, __ATOMIC_RELEASE);
}

/* ------------------------------------------------------------ helpers */

/* An assist buys this much allocation beyond its debt (Go buys 64 KiB of
 * scan work, gcOverAssistWork, which at a low early ratio is megabytes of
 * credit that outlive the ratio; bytes bound the overshoot instead). */
#define OVERASSIST_BYTES (256u << 10)
#define OVERASSIST_WORK (64u << 10) /* ... and at most this much scan work (Go's) */
#define HELP_BATCH 64               /* objects between checks of `bytes` */

/* A CPU inside a helper step (the tests' scan hook may run a mutator
 * there: it must not assist from inside a drain). */
static uint8_t helping[PLAT_MAX_CPUS];
volatile uint32_t gc_debug_no_idle_mark; /* tests: idle CPUs do not help */
volatile uint32_t gc_debug_no_assist;    /* tests: allocations never assist */

struct help {
    uint64_t objects, bytes; /* limits: scan at most this many objects, stop at these bytes */
    uint64_t background;     /* a whole word (platform.h plat_systemstack) */
    uint64_t scanned, nobj;  /* what it did */
};

/* Join the window, drain within the limits, flush what is left to the
 * global list, leave (HELPERS in the essay).  On a stack with room for a
 * drain (the idle loop's, or plat_systemstack's). */
static void help_mark(void *arg)
{
    struct help *h = arg;
    struct gc_markwin *m = &gc_markwin_;
    uint32_t cpu = plat_cpu_id();
    helping[cpu] = 1;
    __atomic_add_fetch(&m->helpers, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&m->open, __ATOMIC_SEQ_CST)) {
        struct gcwork w;
        gcwork_init(&w);
        w.background = h->background;
        while (h->nobj < h->objects && w.scanned < h->bytes) {
            uint64_t n = gc_drain_budget(&w, HELP_BATCH);
            h->nobj += n;
            if (n < HELP_BATCH)
                break; /* nothing grey anywhere it may look */
        }
        gc_note_scan(&w);
        gcwork_flush(&w); /* what it greyed and did not scan: for the others */
        gcwork_dispose(&w);
        gc_add_marked(w.bytes_marked);
        h->scanned = w.scanned;
    }
    __atomic_sub_fetch(&m->helpers, 1, __ATOMIC_SEQ_CST);
    helping[cpu] = 0;
}

uint32_t gc_idle_mark_step(uint32_t budget)
{
    struct gc_markwin *m = &gc_markwin_;
    if (!__atomic_load_n(&m->open, __ATOMIC_ACQUIRE) || gc_debug_no_idle_mark)
        return 0;
    uint32_t me = plat_cpu_id() + 1, role = __atomic_load_n(&m->helper_cpu, __ATOMIC_RELAXED);
    if (role != me && (role || !__atomic_compare_exchange_n(&m->helper_cpu, &role, me, false,
                                                            __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)))
        return 0; /* another CPU helps: this one may halt */
    if (gcwork_empty()) { /* nothing shared yet: ask the marker, come back */
        gcwork_want();
        return 1;
    }
    uint64_t t0 = plat_nanotime();
    struct help h = {.objects = budget, .bytes = ~0ull, .background = true};
    help_mark(&h);
    if (h.nobj) {
        __atomic_fetch_add(&m->idle_objects, h.nobj, __ATOMIC_RELAXED);
        __atomic_fetch_add(&m->idle_ns, plat_nanotime() - t0, __ATOMIC_RELAXED);
    }
    /* nothing grey right now, but the mark goes on: the idle loop must come
     * back (and not halt) — the markers share work when a helper asks */
    return h.nobj ? (uint32_t)h.nobj : __atomic_load_n(&m->open, __ATOMIC_RELAXED);
}

/* Whether this CPU holds a second worker's slot, taking a free one if
 * there is (SECOND in the essay). */
static bool second_claim(struct gc_markwin *m, uint64_t bit)
{
    uint64_t mask = __atomic_load_n(&m->second_mask, __ATOMIC_ACQUIRE);
    while (!(mask & bit)) {
        if ((uint32_t)__builtin_popcountll(mask) >= m->second_slots)
            return false;
        if (__atomic_compare_exchange_n(&m->second_mask, &mask, mask | bit, true,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            break;
    }
    return true;
}

static uint32_t second_release(struct gc_markwin *m, uint64_t bit)
{
    if (__atomic_load_n(&m->second_mask, __ATOMIC_RELAXED) & bit)
        __atomic_and_fetch(&m->second_mask, ~bit, __ATOMIC_RELEASE);
    return 0;
}

/* The second workers' time so far is within their share of the mark. */
static bool second_within_share(const struct gc_markwin *m, uint64_t now)
{
    if (m->second_ppm >= m->second_slots * (uint64_t)GC_PPM)
        return true; /* whole workers: no share to keep */
    uint64_t used = __atomic_load_n(&m->second_ns, __ATOMIC_RELAXED);
    return used * GC_PPM <= (now - m->mark_t0) * m->second_ppm;
}

uint32_t gc_worker_mark_step(uint32_t budget)
{
    struct gc_markwin *m = &gc_markwin_;
    if (!__atomic_load_n(&m->open, __ATOMIC_ACQUIRE) || !m->second_slots)
        return 0;
    uint32_t cpu = plat_cpu_id();
    uint64_t bit = 1ull << cpu;
    if (m->main_cpu == cpu + 1 || !second_claim(m, bit))
        return 0;
    uint64_t t0 = plat_nanotime();
    if (gcwork_empty()) { /* nothing shared: ask the marker, run tasks meanwhile */
        gcwork_want();
        return second_release(m, bit);
    }
    if (!second_within_share(m, t0))
        return second_release(m, bit);
    struct help h = {.objects = budget, .bytes = ~0ull, .background = true};
    help_mark(&h);
    __atomic_fetch_add(&m->second_ns, plat_nanotime() - t0, __ATOMIC_RELAXED);
    __atomic_fetch_add(&m->second_objects, h.nobj, __ATOMIC_RELAXED);
    return h.nobj ? (uint32_t)h.nobj : second_release(m, bit);
}

/* Up to `want` of the background credit (step 2). */
static uint64_t steal_credit(uint64_t want)
{
    int64_t have = __atomic_load_n(&gc_markwin_.bg_credit, __ATOMIC_ACQUIRE);
    for (;;) {
        if (have <= 0)
            return 0;
        int64_t take = (uint64_t)have < want ? have : (int64_t)want;
        if (__atomic_compare_exchange_n(&gc_markwin_.bg_credit, &have, have - take, true,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return (uint64_t)take;
    }
}

/* Scan work → credit in bytes at `ratio` (<< GC_ASSIST_SHIFT). */
static int64_t work_to_credit(uint64_t work, uint64_t ratio)
{
    unsigned __int128 c = ((unsigned __int128)work << GC_ASSIST_SHIFT) / ratio;
    return c > (1ull << 62) ? (int64_t)(1ull << 62) : (int64_t)c;
}

/* A batch may scan past `need` (64 objects, an oblet each at worst): at a
 * low ratio that would be megabytes of credit, spendable past the hard
 * goal.  An account keeps at most the over-assist; the rest of the work
 * goes to the background credit, for the next task in debt. */
static void cap_credit(struct gc_assist *a, uint64_t ratio)
{
    if (a->credit > (int64_t)OVERASSIST_BYTES) {
        uint64_t extra = (unsigned __int128)(uint64_t)(a->credit - OVERASSIST_BYTES) * ratio >>
                         GC_ASSIST_SHIFT;
        __atomic_fetch_add(&gc_markwin_.bg_credit, (int64_t)extra, __ATOMIC_RELEASE);
        a->credit = OVERASSIST_BYTES;
    }
    if (a->credit > a->credit_peak)
        a->credit_peak = a->credit;
}

/* One round of steps 1-3; false when the account is square (or nothing is
 * owed any more).  *scanned: what step 3 scanned. */
static bool assist_round(struct gc_assist *a, uint64_t *scanned)
{
    struct gc_markwin *m = &gc_markwin_;
    *scanned = 0;
    uint64_t ratio = gc_pacer_assist_ratio(__atomic_load_n(&gc_pacer_.heap_live, __ATOMIC_RELAXED),
                                           gc_pacer_.goal, m->scan_expected,
                                           __atomic_load_n(&m->scan_done, __ATOMIC_RELAXED));
    if (!ratio) {
        a->credit = 0;
        return false;
    }
    unsigned __int128 owed = (unsigned __int128)(uint64_t)-a->credit * ratio >> GC_ASSIST_SHIFT;
    unsigned __int128 over = (unsigned __int128)OVERASSIST_BYTES * ratio >> GC_ASSIST_SHIFT;
    owed += over < OVERASSIST_WORK ? over : OVERASSIST_WORK;
    uint64_t need = owed > (1ull << 40) ? 1ull << 40 : owed < 1 ? 1 : (uint64_t)owed;
    uint64_t stolen = steal_credit(need);
    a->stolen += stolen;
    __atomic_fetch_add(&m->assist_stolen, stolen, __ATOMIC_RELAXED);
    a->credit += work_to_credit(stolen, ratio);
    cap_credit(a, ratio);
    if (a->credit >= 0 || stolen >= need)
        return false;
    if (gcwork_empty())
        return true; /* nothing shared to scan: joining would only hold the marker's
                        termination up (it waits for helpers to leave) — park */
    uint64_t t0 = plat_nanotime();
    struct help h = {.objects = ~0ull, .bytes = need - stolen};
    plat_systemstack(help_mark, &h); /* a drain needs more stack than a task has to spare */
    uint64_t dt = plat_nanotime() - t0;
    *scanned = h.scanned;
    a->work += h.scanned;
    a->ns += dt;
    __atomic_fetch_add(&m->assist_work, h.scanned, __ATOMIC_RELAXED);
    __atomic_fetch_add(&m->assist_ns, dt, __ATOMIC_RELAXED);
    a->credit += work_to_credit(h.scanned, ratio);
    cap_credit(a, ratio);
    return a->credit < 0;
}

static __attribute__((noinline)) void assist_slow(struct gc_assist *a)
{
    struct gc_markwin *m = &gc_markwin_;
    uint32_t cpu = plat_cpu_id();
    if (gc_debug_no_assist || helping[cpu] ||
        __atomic_load_n(&m->collector_cpu, __ATOMIC_RELAXED) == cpu + 1 || plat_locks_held())
        return; /* the debt stays: paid at a later allocation, or forgiven */
    uint64_t scanned;
    while (__atomic_load_n(&gc_phase, __ATOMIC_ACQUIRE) == GC_MARK && a->cycle == m->cycle) {
        /* a closed window (between the collector's drain rounds and stack
         * passes, or before it stops the world) has nothing to take: park */
        if (__atomic_load_n(&m->open, __ATOMIC_ACQUIRE)) {
            if (!assist_round(a, &scanned))
                break;
            if (scanned)
                continue;
        }
        uint64_t t0 = plat_nanotime(); /* step 4 */
        gcwork_want();
        gc_safepoint();
        plat_gc_assist_park();
        uint64_t dt = plat_nanotime() - t0;
        a->wait_ns += dt;
        a->parks++;
        __atomic_fetch_add(&m->assist_wait_ns, dt, __ATOMIC_RELAXED);
    }
}

void gc_assist_alloc(uint64_t size)
{
    struct gc_markwin *m = &gc_markwin_;
    /* Charged even while the second pause is asked for: until the world
     * has stopped, a CPU may still allocate (its safepoint can run before
     * the collector posts the stop), and a task in debt must park then
     * (the window is closed), not allocate freely. */
    if (!m->concurrent)
        return;
    struct gc_assist *a = plat_gc_assist();
    if (!a)
        return;
    uint32_t cycle = m->cycle;
    if (a->cycle != cycle) {
        a->cycle = cycle;
        a->credit = 0;
    }
    a->credit -= (int64_t)size;
    if (a->credit < 0)
        assist_slow(a);
}

/* ------------------------------------------------------------ allocate black */

/* The bytes allocated black, per CPU: written by that CPU only, pinned (as
 * Go adds them to its P's gcWork), summed by the collecting CPU with the
 * world stopped at the end of the mark.  A cache line each. */
static struct {
    uint64_t bytes;
} __attribute__((aligned(64))) black_bytes[PLAT_MAX_CPUS];

volatile uint32_t gc_debug_no_alloc_black;

/* mallocgc, pinned, gc_phase != GC_OFF (mgc.h gc_alloc_black): obj, which
 * it is about to return, is marked black.  The bit is usually clear; it is
 * already set when kfree's owner undo gave the slot back during this mark
 * and it is handed out again, or when a conservative root word reached the
 * fresh slot first — then nothing is counted twice.  The sweep keeps a mark
 * on a slot that is free again from reviving it ("& allocated"). */
void gc_mark_new_object(mspan *s, uintptr_t obj)
{
    if (ALLOC_DEBUG && __atomic_load_n(&gc_debug_no_alloc_black, __ATOMIC_RELAXED))
        return;
    uint32_t idx = spanclass_sizeclass(s->spanclass) ? mspan_obj_index(s, obj) : 0;
    uint64_t bit = 1ull << (idx % 64);
    if (__atomic_fetch_or(&s->gcmarkBits[idx / 64], bit, __ATOMIC_RELAXED) & bit)
        return;
    gc_set_page_mark(s);
    black_bytes[plat_cpu_id()].bytes += s->elemsize;
}

uint64_t gc_new_black_bytes_take(void)
{
    uint64_t sum = 0;
    for (uint32_t i = 0; i < mheap_.ncpu; i++) {
        sum += black_bytes[i].bytes;
        black_bytes[i].bytes = 0;
    }
    return sum;
}

void gc_clear_page_marks(void)
{
    for (heapArena *ha = mheap_.allArenas; ha; ha = ha->next)
        __builtin_memset(ha->pageMarks, 0, sizeof ha->pageMarks);
}

enum gc_obj_state gc_object_state(const void *ptr)
{
    uintptr_t p = (uintptr_t)ptr;
    mspan *s = span_of(p);
    if (!s || __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != mSpanInUse || p < s->startAddr ||
        p >= s->startAddr + s->npages * PAGE_SIZE)
        return GC_OBJ_NOT_HEAP;
    uint32_t idx = spanclass_sizeclass(s->spanclass) ? mspan_obj_index(s, p) : 0;
    if (idx >= s->nelems)
        return GC_OBJ_NOT_HEAP;
    if (!mspan_allocated(s, idx))
        return GC_OBJ_FREE;
    if (s->pendingFree &&
        (__atomic_load_n(&s->pendingFree[idx / 64], __ATOMIC_ACQUIRE) >> (idx % 64) & 1))
        return GC_OBJ_PENDING;
    return GC_OBJ_LIVE;
}

bool gc_is_marked(const void *ptr)
{
    uintptr_t p = (uintptr_t)ptr;
    mspan *s = span_of(p);
    if (!s || __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != mSpanInUse || p < s->startAddr ||
        p >= s->startAddr + s->npages * PAGE_SIZE || spanclass_is_kmalloc(s->spanclass))
        return false;
    uint32_t idx = spanclass_sizeclass(s->spanclass) ? mspan_obj_index(s, p) : 0;
    return idx < s->nelems &&
           (__atomic_load_n(&s->gcmarkBits[idx / 64], __ATOMIC_RELAXED) >> (idx % 64) & 1);
}
