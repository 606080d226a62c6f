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
 * LOCKING: none; marking is lock free (atomic OR on mark words and page
 * marks).  Runs only with the world stopped (part 1 of the collector), so
 * spans, allocBits and freeindex do not change under it.
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

static inline __attribute__((always_inline)) void drain_t(struct gcwork *w,
                                                          bool (*roots_left)(void), const bool cm)
{
    for (uint64_t n = 0;; n++) {
        uintptr_t b = gcwork_try_get(w);
        if (!b) {
            if (!gcwork_get_full(w, roots_left))
                return;
            continue;
        }
        scan_object(w, b, cm);
        if ((n & 63) == 63)
            gcwork_balance(w);
    }
}

void gc_drain(struct gcwork *w, bool (*roots_left)(void)) { drain_t(w, roots_left, false); }

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
void gc_checkmark_drain(struct gcwork *w, bool (*roots_left)(void)) { drain_t(w, roots_left, true); }

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
