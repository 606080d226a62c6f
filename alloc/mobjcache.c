/*
 * mobjcache.c — freed-object caches for kmalloc's size classes.
 *
 * WHY.  Go has no free(): its mcache hands out slots from one span per
 * class, and only the sweep makes freed memory reusable.  kfree on top of
 * that (pending bits, swept at refill) made server churn slow: a slot freed
 * by another CPU waited ~1600 operations for a sweep, each refill swept a
 * span to recover ~6 slots under two mcentral lock round trips, and every
 * free cost ~3.4 atomic read-modify-writes on lines all CPUs write
 * (docs/issue12-profile.md).  Here a freed kmalloc object is reusable at
 * once, on the CPU that freed it, without touching its span: the design of
 * tcmalloc's per-CPU caches and transfer cache, kept inside Go's span and
 * sweep model (an object in a cache stays allocated as far as its span
 * knows, so the sweep and every span invariant are unchanged).
 *
 * OWNS
 *   - per CPU and size class, a LIFO array of freed objects (mcache.fc[cls],
 *     capacity objcache_capacity(cls): about 64 KiB of objects, 4..1024);
 *   - per size class, a transfer cache (xfer[cls]): a bounded ring under a
 *     lock, where CPUs leave the older half of a full array and take a
 *     batch when theirs is empty, and where an exiting thread's objects
 *     wait for the next thread.
 *
 * THE KEY (mheap_.objcache_key = KEY: odd, bit 1 clear, drawn at
 * malloc_init).  A kmalloc slot's first word is KEY while the object sits
 * in a cache, and KEY | 2 (the released key) once a cache released it to
 * its span (pending, then a free slot until handed out) — and in every
 * slot of a new span, never handed out yet (objcache_key_span, before
 * mheap_alloc opens the span's kfree gate).  kfree stores KEY;
 * release_batch stores KEY | 2; kmalloc clears the word whenever it hands a
 * slot out, from an array or from the span.  So, unless the program
 * wrote into a slot after freeing it,
 *     first word is a key  ⇔  the slot is not a live object
 * (free, pending or cached; heap_verify checks the free and pending
 * slots): one load and compare tells a double free, and a free of a slot
 * never handed out, without reading freeindex or allocBits.  A write after
 * free that erases a free slot's key, followed by a second free, passes
 * that test and leaves the slot in a cache while its span holds it free:
 * kmalloc therefore hands a slot out of its span only if it holds KEY | 2
 * (objcache_span_slot_bad reports it otherwise and leaves it allocated),
 * so whichever copy goes first is the only one (host test
 * freed_free_slot_handed_out_once).  Odd: no
 * pointer a program stores equals it; other data equals it with
 * probability 2^-62 (that object's free is then reported as a double free
 * and it leaks).  The price: a new kmalloc span's slots are written once
 * (one store per object, before the first is handed out; W2's 100000-
 * object batches create spans all the time and pay it).
 *
 * DUPLICATES.  kfree tests and stores the key with a plain load and store,
 * not an atomic swap: the swap's lock prefix drains the store buffer, and
 * cost W1's malloc/free pair 40 % of its time (0.129 s against 0.078 s,
 * tcmalloc 0.062 s).  The price: two frees of x at the same instant on two
 * CPUs can both load x's first word before either stores the key, and
 * both push x — a double free no test at the free can see.  It is caught
 * when the second copy leaves its cache, because every exit checks the
 * key first:
 *   - kmalloc's pop hands x out only if its first word is KEY (handing out
 *     clears it, so the other copy then fails); else kmalloc_slow drops
 *     the copy and reports it (objcache_drop_bad_top);
 *   - a release to the span (release_batch) requires KEY, an allocated slot
 *     and no pending bit, and writes KEY | 2 before setting the bit; else
 *     it reports and drops the copy;
 *   - refill from the transfer cache checks the object it hands out.
 * A dropped copy's push counted a free that was none: a pop counts it as a
 * malloc, a release undoes the free (alloc_undo_frees).  Until the second
 * copy leaves, heap_verify reports "cached twice".  Still missed: the two
 * copies leaving their caches within the same few instructions too (two
 * pops at once on two CPUs), or a program writing KEY itself into a freed
 * object's first word.  A write after free to the first word of a cached
 * object is reported the same way, when the object is next handed out.
 *
 * FREE (kfree of a kmalloc object, inline in malloc_fast.h: kfree_cached)
 *   1-3. As every kfree: span, gate, object start (malloc.c FREE).
 *   4. The first word is KEY or KEY | 2 → not a live object (cached,
 *      pending or free in its span: THE KEY): objcache_double_free
 *      reports, nothing else changes.  Else store KEY (a plain store:
 *      DUPLICATES).
 *   5. Pin.  x's span cached by another CPU → objcache_free_remote (PASSIVE
 *      FALSE SHARING).  Else fc = &mcache.fc[cls]; top == end (full, never
 *      used, or mcache_unowned's) → objcache_push_slow; else *top++ = x,
 *      pushes + 1.  No lock, no atomic read-modify-write.
 *
 * PASSIVE FALSE SHARING.  A CPU that frees an object of a span another CPU
 * is still carving objects from does not keep it: the object's neighbours
 * are that CPU's newest objects, and this CPU would hand the object out
 * again at once — two CPUs writing one cache line for good (W6: a thread
 * frees the object another thread allocated next to its own, and mallocs
 * one of the same size: 3.1 s against 0.12 s, 27 times the time, as with
 * tcmalloc).  It goes back to its span as a pending free
 * (objcache_free_remote: two atomic RMWs), like mimalloc's frees to
 * another thread's page.  Price: 3 instructions on every kfree (the
 * span's cachedMask ANDed with the mcache's othersMask, and a branch;
 * W1's pair about 7 % slower), and producer/consumer churn, whose consumer
 * frees into the producer's span, pays the atomics (W5 2P mix: from 17 %
 * faster to 30 % slower across A/B runs, still ahead of every peer).  Spans no CPU holds (cachedBy 0), the usual case
 * for memory freed by another thread a while later (larson), still go to
 * this CPU's cache.
 * MALLOC (kmalloc_fast): pin; top > base → the newest object, if its first
 *   word is KEY (else kmalloc_slow drops it: DUPLICATES): pop it, clear its
 *   first word, zero it for calloc.  Else the span fast path as
 *   before, if the slot holds KEY | 2 (THE KEY), clearing it; when the span is full, kmalloc's slow
 *   path asks objcache_refill for a batch from the transfer cache before
 *   it refills the span from mcentral.
 * SLOW PATHS
 *   push_slow: the array full → its older half (the bottom: the newest
 *     objects stay, their lines are warmest) goes to the transfer cache,
 *     which first releases its oldest objects to the spans to make room
 *     (an object that sits in a cache for good pins its span).
 *   refill: half an array from the top of the transfer cache.
 *   release (to spans): each object becomes an ordinary pending free —
 *     pendingFree bit, pendingCount, mcentral_note_free when its span is
 *     not cached (malloc.c step 6) — so memory flows back to the page heap
 *     when caches overflow.  Its first word becomes KEY | 2 (debug builds
 *     too: their poison checks accept either key in a free slot's first
 *     word).
 *   flush: thread exit (lib: to the transfer cache), malloc_flush_mcache
 *     and fork repair (to the spans).
 *
 * INVARIANTS (heap_verify, objcache_verify; quiescent)
 *   - each cached object is an object start of its class, allocated, not
 *     pending, first word == key, cached once (debug: the rest poisoned);
 *   - every free or pending slot of a kmalloc span holds KEY or KEY | 2,
 *     and every kmalloc span's gate is open (THE KEY);
 *   - Σ live objects of kmalloc class cls in spans
 *         = (Mallocs - Frees of cls) + objcache_cached(cls);
 *   - per CPU: pops = pushes + fcMoved - n (objcache_counts).
 *
 * LOCKING AND ORDER.  A CPU's arrays: its own, pinned, no lock.  xfer[cls]
 * .lock (rank transfer, a "many" rank below mcentral: a release under it
 * may take the span's mcentral lock) protects the transfer cache, and every
 * move of objects between a CPU's array and the transfer cache or the
 * spans happens under it, with fc.top stored (release) before the unlock.
 * (A reader holding the lock thus sees every object cached before it took
 * it: an object leaves an array only by a pop, when it is allocated again,
 * or under that lock.)
 */
#include "debug.h"
#include "lockrank.h"
#include "malloc_fast.h"
#include "malloc_impl.h"
#include "mcache.h"
#include "mcentral.h"
#include "mheap.h"
#include "mobjcache.h"
#include "persistent.h"

#define CACHE_BYTES 65536u /* per CPU and class */
#define CACHE_MIN 4u
#define CACHE_MAX 1024u
#define XFER_FACTOR 4u /* transfer cache = XFER_FACTOR CPU arrays */

/* The transfer caches: rings of cap slots.  Their n objects sit at ring
 * positions 0 (the oldest) .. n - 1 (the newest); position i is
 * objs[(head + i) % cap].  A ring, so that releasing the oldest objects
 * moves none of the others (a shifted array cost W2 100000 x 16 B a
 * quarter of its instructions in memmove). */
static PLAT_NOSCAN struct xfer {
    plat_lock_t lock;
    uint32_t n;    /* under lock; read without it only as a hint */
    uint32_t head; /* under lock: the oldest object's slot */
    uint32_t cap;
    uintptr_t *objs;
} xfer[NUM_SIZE_CLASSES];

static spanClass xfer_spanclass(const struct xfer *xf)
{
    return make_kmalloc_spanclass((uint8_t)(xf - xfer));
}

/* Ring positions [i, i + k) of xf (i + k <= cap) as at most two runs of
 * its array, in order. */
struct xfer_runs {
    uintptr_t *p[2];
    uint32_t n[2];
};

static struct xfer_runs runs_of(const struct xfer *xf, uint32_t i, uint32_t k)
{
    uint32_t at = xf->head + i;
    if (at >= xf->cap)
        at -= xf->cap;
    uint32_t first = xf->cap - at < k ? xf->cap - at : k;
    return (struct xfer_runs){{xf->objs + at, xf->objs}, {first, k - first}};
}

uint32_t objcache_capacity(uint8_t cls)
{
    if (cls == 0 || cls >= NUM_SIZE_CLASSES)
        return 0;
    uint32_t n = CACHE_BYTES / class_to_size[cls];
    return n < CACHE_MIN ? CACHE_MIN : n > CACHE_MAX ? CACHE_MAX : n;
}

void objcache_init(void)
{
    /* odd: no pointer the program stores can equal it; varies per boot so
     * that no program data matches it by design */
    uint64_t k = plat_nanotime() ^ (uint64_t)(uintptr_t)&k;
    k = (k ^ (k >> 31)) * 0x9E3779B97F4A7C15ull;
    /* odd, and bit 1 clear: KEY | OBJCACHE_RELEASED is the released key */
    mheap_.objcache_key = ((k ^ (k >> 29)) | 1) & ~OBJCACHE_RELEASED;
    uint64_t total = 0;
    for (uint8_t cls = 1; cls < NUM_SIZE_CLASSES; cls++)
        total += XFER_FACTOR * objcache_capacity(cls);
    uintptr_t *mem = persistentalloc(total * sizeof(uintptr_t), 64, &mheap_.meta_bytes);
    for (uint8_t cls = 0; cls < NUM_SIZE_CLASSES; cls++) {
        xfer[cls].lock = (plat_lock_t)PLAT_LOCK_INIT(LOCKRANK_TRANSFER);
        xfer[cls].n = 0;
        xfer[cls].head = 0;
        xfer[cls].cap = mem && cls ? XFER_FACTOR * objcache_capacity(cls) : 0;
        xfer[cls].objs = mem && cls ? mem : 0;
        if (mem && cls)
            mem += xfer[cls].cap;
    }
}

/* c's arrays, on its first push (false: no metadata memory; the caller
 * then frees the object the old way). */
volatile uint32_t objcache_debug_no_block;
volatile uint32_t objcache_debug_trust_key;
volatile uint32_t objcache_debug_keep_oldest;

static bool alloc_block(mcache *c)
{
    if (objcache_debug_no_block) /* tests: metadata memory exhausted */
        return false;
    uint64_t total = 0;
    for (uint8_t cls = 1; cls < NUM_SIZE_CLASSES; cls++)
        total += objcache_capacity(cls);
    uintptr_t *mem = persistentalloc(total * sizeof(uintptr_t), 64, &mheap_.meta_bytes);
    if (!mem)
        return false;
    c->fcBlock = mem;
    for (uint8_t cls = 1; cls < NUM_SIZE_CLASSES; cls++) {
        objcache *fc = &c->fc[cls];
        fc->base = mem;
        fc->end = mem + objcache_capacity(cls);
        __atomic_store_n(&fc->top, mem, __ATOMIC_RELEASE);
        mem = fc->end;
    }
    return true;
}

/* A cached object that is not fit to leave its cache (DUPLICATES): report
 * it; it is dropped.  Its push counted a free that was none: the caller
 * balances it (a pop counts a malloc; a release undoes the free). */
static void report_lost(uintptr_t x, const char *what)
{
    const mspan *s = span_of(x);
    if (!s || __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != mSpanInUse) {
        alloc_report("objcache: cached object 0x%lx (no span in use there) %s: freed twice at "
                     "once on two CPUs, or written after its free; dropped", (unsigned long)x, what);
        return;
    }
    alloc_report("objcache: cached object 0x%lx (span 0x%lx class %u, %lu B) %s: freed twice at "
                 "once on two CPUs, or written after its free; dropped",
                 (unsigned long)x, (unsigned long)s->startAddr,
                 (unsigned)spanclass_sizeclass(s->spanclass), (unsigned long)s->elemsize, what);
}

/* Releases to one span, applied with one atomic OR per bitmap word and one
 * add per span: a cache overflowing in a FIFO or LIFO batch releases runs
 * of neighbouring slots (W2 100000 x 16 B spent 65 % of its time in one
 * OR and one add per object). */
struct release_run {
    mspan *s;      /* the run's span (NULL: none yet) */
    uint32_t w;    /* the bitmap word bits belongs to */
    uint64_t bits; /* slots of word w whose first word is KEY | 2, bits not set yet */
    int32_t count; /* pending frees added to s by this run so far */
};

/* Set the run's bits in pendingFree.  A bit already set means another CPU
 * released a copy of the same object at this instant (DUPLICATES): that
 * copy counted the pending free; this one is reported and dropped. */
static void run_flush_word(struct release_run *r)
{
    uint64_t bits = r->bits;
    if (!bits)
        return;
    uint64_t old = __atomic_fetch_or(&r->s->pendingFree[r->w], bits, __ATOMIC_SEQ_CST);
    uint64_t dup = objcache_debug_trust_key ? 0 : old & bits;
    for (uint64_t d = dup; d; d &= d - 1) {
        uint32_t i = r->w * 64 + (uint32_t)__builtin_ctzll(d);
        alloc_undo_frees(r->s, 1);
        report_lost(r->s->startAddr + (uint64_t)i * r->s->elemsize, "was released twice");
    }
    r->count += __builtin_popcountll(bits & ~dup);
    r->bits = 0;
}

/* The run's pending count, and mcentral_note_free on the span's first
 * pending free and when every allocated object is pending (malloc.c step
 * 6; Dekker with mcentral_uncache_span: the bits and count are set with
 * seq_cst RMWs before cachedBy is read). */
static void run_flush_span(mcache *c, struct release_run *r)
{
    run_flush_word(r);
    int32_t k = r->count;
    mspan *s = r->s;
    if (!k)
        return;
    r->count = 0;
    int32_t n = __atomic_fetch_add(&s->pendingCount, k, __ATOMIC_SEQ_CST);
    int32_t cb = __atomic_load_n(&s->cachedBy, __ATOMIC_SEQ_CST);
    if (c && cb != 0 && cb != c->tag) /* into a span another CPU has cached */
        c->remoteFrees += (uint64_t)k;
    if (cb == 0 &&
        (n == 0 || (uint32_t)(n + k) >= __atomic_load_n(&s->allocCount, __ATOMIC_RELAXED)))
        mcentral_note_free(&mheap_.central[s->spanclass], s);
}

/* Slots of bitmap word w of s that a cached object may be released from:
 * allocated (Go's isFree rule: below freeindex, or allocBits set) and not
 * pending.  Read once per word, as safe as per object: a cached object's
 * slot stays allocated until it is released (a sweep, which resets
 * freeindex, publishes allocBits first and keeps the slot's bit), and a
 * pending bit set after this read is caught by run_flush_word. */
static uint64_t word_releasable(const mspan *s, uint32_t w)
{
    uint32_t fi = __atomic_load_n(&s->freeindex, __ATOMIC_ACQUIRE);
    uint64_t alloc = __atomic_load_n(&s->allocBits[w], __ATOMIC_RELAXED) | mspan_below_mask(w, fi);
    return alloc & ~__atomic_load_n(&s->pendingFree[w], __ATOMIC_ACQUIRE);
}

/* The release's inner loop: objs[i..n) while each lies in word w of the
 * run's span (start, len, divmul) and passes the checks (first word KEY, a
 * releasable slot: ok) — keyed KEY | 2 (before its pending bit is set: once
 * it is, a sweep may free the slot and hand it out again), its bit added
 * to *bits.  Returns the index of the first object that is not.  No call
 * inside, so the span's fields, the key and the bits stay in registers
 * (37 → 25 instructions per released object). */
static inline __attribute__((always_inline)) uint32_t
release_word(const uintptr_t *objs, uint32_t i, uint32_t n, uintptr_t start, uintptr_t len,
             uint32_t divmul, uint32_t w, uint64_t key, uint64_t ok, uint64_t *bits)
{
    uint64_t b = *bits;
    for (; i < n; i++) {
        uintptr_t x = objs[i];
        if (x - start >= len)
            break;
        uint32_t idx = obj_index((uint32_t)(x - start), divmul);
        uint64_t bit = 1ull << (idx % 64);
        if (idx / 64 != w || *(volatile uint64_t *)x != key || !(ok & bit))
            break;
        *(volatile uint64_t *)x = key | OBJCACHE_RELEASED;
        b |= bit;
    }
    *bits = b;
    return i;
}

/* objs[i..n) while they lie in the run's span: checked (DUPLICATES: first
 * word KEY, slot allocated and not pending), keyed and added to the run,
 * one bitmap word at a time (release_word).  Returns the index of the
 * first object outside the span.  (Run-wise, the page map walk and bitmap
 * loads per object were 30 of its 57 instructions.) */
static uint32_t release_span_run(struct release_run *r, const uintptr_t *objs, uint32_t i,
                                 uint32_t n)
{
    mspan *s = r->s;
    uintptr_t start = s->startAddr, len = s->limit - start;
    uint32_t divmul = s->divMul;
    uint64_t key = mheap_.objcache_key, ok = 0, bits = 0;
    run_flush_word(r);
    uint32_t w = UINT32_MAX;
    for (;;) {
        i = release_word(objs, i, n, start, len, divmul, w, key, ok, &bits);
        if (i >= n || objs[i] - start >= len)
            break;
        uintptr_t x = objs[i];
        uint32_t idx = obj_index((uint32_t)(x - start), divmul);
        if (idx / 64 != w) { /* the next word */
            r->bits = bits;
            run_flush_word(r);
            r->w = w = idx / 64;
            bits = 0;
            /* (past nwords only for a stale copy racing the span's reuse:
             * nothing is releasable, the copy is reported) */
            ok = w < s->nwords ? word_releasable(s, w) : 0;
            continue;
        }
        uint64_t bit = 1ull << (idx % 64);
        i++;
        if (!objcache_debug_trust_key) { /* refused (the control takes it anyway) */
            alloc_undo_frees(s, 1);
            report_lost(x, *(volatile uint64_t *)x != key ? "lost its key"
                                                          : "is already free or pending in its span");
            continue;
        }
        *(volatile uint64_t *)x = key | OBJCACHE_RELEASED;
        bits |= bit;
    }
    r->bits = bits;
    return i;
}

/* Cached objects objs[0..n) back to their spans as pending frees (malloc.c
 * steps 5-6 without the free-time checks), a run of one span's objects at
 * a time.  An object refused (release_span_run) is reported and dropped; a
 * second copy later in the same batch finds KEY | 2. */
static void release_batch(mcache *c, spanClass spc, const uintptr_t *objs, uint32_t n)
{
    struct release_run r = {0, 0, 0, 0};
    for (uint32_t i = 0; i < n;) {
        mspan *s = span_of(objs[i]);
        if (!s || __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != mSpanInUse ||
            s->spanclass != spc || objs[i] - s->startAddr >= s->limit - s->startAddr) {
            /* a stale copy whose span went back to the heap */
            alloc_undo_frees_class(spc, 1);
            report_lost(objs[i++], "is not an object of a span of its class");
            continue;
        }
        if (s != r.s) {
            if (r.s)
                run_flush_span(c, &r);
            r.s = s;
        }
        i = release_span_run(&r, objs, i, n);
    }
    if (r.s)
        run_flush_span(c, &r);
}

/* Move objs[0..n) into the transfer cache (xf locked); the rest back to
 * the spans (counted in c's remoteFrees when another CPU has the span
 * cached; c may be NULL).  Returns how many went to the transfer cache.
 * A full transfer cache first releases its oldest objects to the spans,
 * as many as objs needs room for: the objects that waited longest go, not
 * the ones just freed.  Kept, an old object pins its span — never empty,
 * never back to the page heap — and a transfer cache that kept its first
 * 4096 objects while every later one went past it pinned 3638 spans of
 * 64 B objects, 30 MB, for good (W7: RSS no longer fell after the final
 * free).  (Releasing half the cache at once instead, to move less, made W5
 * 2P mix 10-29 % slower: the cache then holds less.) */
static uint32_t stash_locked(mcache *c, struct xfer *xf, const uintptr_t *objs, uint32_t n,
                             bool to_spans)
{
    if (!to_spans && n > xf->cap - xf->n && n <= xf->cap && !objcache_debug_keep_oldest) {
        uint32_t k = n - (xf->cap - xf->n); /* the oldest k make room for objs */
        struct xfer_runs old = runs_of(xf, 0, k);
        release_batch(c, xfer_spanclass(xf), old.p[0], old.n[0]);
        release_batch(c, xfer_spanclass(xf), old.p[1], old.n[1]);
        xf->head = (xf->head + k) % xf->cap;
        __atomic_store_n(&xf->n, xf->n - k, __ATOMIC_RELAXED);
    }
    uint32_t room = to_spans ? 0 : xf->cap - xf->n;
    uint32_t m = n < room ? n : room;
    struct xfer_runs dst = runs_of(xf, xf->n, m);
    __builtin_memcpy(dst.p[0], objs, dst.n[0] * sizeof(uintptr_t));
    __builtin_memcpy(dst.p[1], objs + dst.n[0], dst.n[1] * sizeof(uintptr_t));
    __atomic_store_n(&xf->n, xf->n + m, __ATOMIC_RELAXED);
    release_batch(c, xfer_spanclass(xf), objs + m, n - m);
    return m;
}

struct push_args { /* whole words (platform.h plat_systemstack) */
    mcache *c;
    uint64_t cls;
    uintptr_t x;
};

static void push_slow_body(void *p)
{
    struct push_args *a = p;
    mcache *c = a->c;
    objcache *fc = &c->fc[a->cls];
    struct xfer *xf = &xfer[a->cls];
    if (!c->fcBlock && !alloc_block(c)) {
        plat_lock(&xf->lock);
        stash_locked(c, xf, &a->x, 1, true);
        fc->pushes++;
        c->fcMoved[a->cls]--;
        plat_unlock(&xf->lock);
        return;
    }
    uint32_t n = objcache_n(fc);
    if (fc->top == fc->end) { /* the older half to the transfer cache */
        uint32_t k = n / 2;
        plat_lock(&xf->lock);
        stash_locked(c, xf, fc->base, k, false);
        __builtin_memmove(fc->base, fc->base + k, (n - k) * sizeof(uintptr_t));
        n -= k;
        __atomic_store_n(&fc->top, fc->base + n, __ATOMIC_RELEASE);
        c->fcMoved[a->cls] -= k;
        plat_unlock(&xf->lock);
    }
    fc->base[n] = a->x;
    __atomic_store_n(&fc->top, fc->base + n + 1, __ATOMIC_RELEASE);
    fc->pushes++;
}

void objcache_push_slow(mcache *c, objcache *fc, uintptr_t x, uint64_t tok)
{
    uint8_t cls = (uint8_t)(fc - c->fc);
    if (c == &mcache_unowned) { /* not pinned (PLAT_HAVE_OWNER_CACHE) */
        objcache_push_pinning(x, make_kmalloc_spanclass(cls));
        return;
    }
    struct push_args a = {c, cls, x};
    plat_systemstack(push_slow_body, &a);
    plat_unpin(tok);
}

void *objcache_refill(mcache *c, spanClass spc)
{
    uint8_t cls = spanclass_sizeclass(spc);
    struct xfer *xf = &xfer[cls];
    objcache *fc = &c->fc[cls];
    if (!__atomic_load_n(&xf->n, __ATOMIC_RELAXED) || (!c->fcBlock && !alloc_block(c)))
        return 0;
    plat_lock(&xf->lock);
    uint32_t k = (uint32_t)(fc->end - fc->base) / 2;
    if (k > xf->n)
        k = xf->n;
    if (k == 0 || fc->top != fc->base) {
        plat_unlock(&xf->lock);
        return 0;
    }
    xf->n -= k;
    struct xfer_runs src = runs_of(xf, xf->n, k); /* the newest k */
    __builtin_memcpy(fc->base, src.p[0], src.n[0] * sizeof(uintptr_t));
    __builtin_memcpy(fc->base + src.n[0], src.p[1], src.n[1] * sizeof(uintptr_t));
    c->fcMoved[cls] += k;
    /* the top one is handed out: never in the array as far as a reader
     * holding the lock can tell */
    __atomic_store_n(&fc->top, fc->base + k - 1, __ATOMIC_RELEASE);
    plat_unlock(&xf->lock);
    uintptr_t v = fc->base[k - 1];
    if (*(volatile uint64_t *)v != mheap_.objcache_key) { /* kmalloc_slow drops it */
        __atomic_store_n(&fc->top, fc->base + k, __ATOMIC_RELEASE);
        return 0;
    }
    objcache_take(v);
    return (void *)v;
}

void __attribute__((noinline)) objcache_free_remote(uintptr_t x, uintptr_t spc)
{
    uint64_t tok = plat_pin();
    mcache *c = my_mcache();
    c->smallFreeCount[spc]++; /* a drop in release_batch undoes it */
    release_batch(c, (spanClass)spc, &x, 1);
    plat_unpin(tok);
}

void objcache_drop_bad_top(spanClass spc)
{
    uint64_t tok = plat_pin();
    objcache *fc = &my_mcache()->fc[spanclass_sizeclass(spc)];
    uintptr_t *top = fc->top, x = 0;
    if (top != fc->base && *(volatile uint64_t *)top[-1] != mheap_.objcache_key) {
        x = top[-1];
        if (objcache_debug_trust_key) { /* negative control: hand it out */
            *(volatile uint64_t *)x = mheap_.objcache_key;
            x = 0;
        } else {
            __atomic_store_n(&fc->top, top - 1, __ATOMIC_RELEASE);
        }
    }
    plat_unpin(tok);
    if (x)
        report_lost(x, "lost its key");
}

static void flush_class(mcache *c, uint8_t cls, bool to_spans)
{
    objcache *fc = &c->fc[cls];
    uint32_t n = objcache_n(fc);
    if (!n)
        return;
    struct xfer *xf = &xfer[cls];
    plat_lock(&xf->lock);
    stash_locked(c, xf, fc->base, n, to_spans);
    __atomic_store_n(&fc->top, fc->base, __ATOMIC_RELEASE);
    c->fcMoved[cls] -= n;
    plat_unlock(&xf->lock);
}

static void flush_body(void *p)
{
    mcache *c = p;
    for (uint8_t cls = 1; cls < NUM_SIZE_CLASSES; cls++)
        flush_class(c, cls, false);
}

static void flush_spans_body(void *p)
{
    mcache *c = p;
    for (uint8_t cls = 1; cls < NUM_SIZE_CLASSES; cls++)
        flush_class(c, cls, true);
}

void objcache_flush(mcache *c, bool to_spans)
{
    if (c->fcBlock)
        plat_systemstack(to_spans ? flush_spans_body : flush_body, c);
}

static void flush_transfer_body(void *p)
{
    (void)p;
    for (uint8_t cls = 1; cls < NUM_SIZE_CLASSES; cls++) {
        struct xfer *xf = &xfer[cls];
        plat_lock(&xf->lock);
        struct xfer_runs all = runs_of(xf, 0, xf->n);
        xf->n = 0;
        xf->head = 0;
        release_batch(0, xfer_spanclass(xf), all.p[0], all.n[0]);
        release_batch(0, xfer_spanclass(xf), all.p[1], all.n[1]);
        plat_unlock(&xf->lock);
    }
}

void objcache_flush_transfer(void) { plat_systemstack(flush_transfer_body, 0); }

void objcache_debug_take(uintptr_t o)
{
    *(uint64_t *)o = FREE_POISON;
    debug_check_free_slot_slow(span_of(o), (const void *)o);
}

static void double_free_body(void *p)
{
    uintptr_t x = (uintptr_t)p;
    const mspan *s = span_of(x);
    alloc_report("kfree: double free of 0x%lx (span 0x%lx class %u, %lu B)", (unsigned long)x,
                 (unsigned long)s->startAddr, (unsigned)spanclass_sizeclass(s->spanclass),
                 (unsigned long)s->elemsize);
}

void objcache_double_free(uintptr_t x) { plat_systemstack(double_free_body, (void *)x); }

bool objcache_span_slot_bad(mspan *s, uintptr_t x)
{
    if (objcache_debug_trust_key)
        return true;
    alloc_report("kmalloc: free slot 0x%lx (span 0x%lx class %u, %lu B) lost its key: written "
                 "after its free, or freed again while free; left allocated",
                 (unsigned long)x, (unsigned long)s->startAddr,
                 (unsigned)spanclass_sizeclass(s->spanclass), (unsigned long)s->elemsize);
    return false;
}

void objcache_key_span(mspan *s)
{
    uint64_t k = mheap_.objcache_key | OBJCACHE_RELEASED;
    for (uintptr_t p = s->startAddr; p < s->limit; p += s->elemsize)
        *(uint64_t *)p = k;
    /* release: a kfree that passes the gate sees the keys */
    __atomic_store_n(&s->freeLimit, s->limit - s->startAddr, __ATOMIC_RELEASE);
}

#define LD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

void objcache_counts(const mcache *c, uint8_t cls, uint64_t *pops, uint64_t *pushes)
{
    const objcache *fc = &c->fc[cls];
    *pushes = LD(fc->pushes);
    *pops = *pushes + (uint64_t)LD(c->fcMoved[cls]) - objcache_n(fc);
}

uint64_t objcache_cached(uint8_t cls)
{
    uint64_t n = LD(xfer[cls].n);
    for (uint32_t i = 0; i < mheap_.ncpu; i++)
        n += objcache_n(&mheap_.mcaches[i].fc[cls]);
    return n;
}

/* Debug builds: words 1.. of a cached object still hold the poison; the
 * first one that does not is reported as heap_verify reports free slots. */
static bool debug_cached_poisoned(const mspan *s, uintptr_t x, char *err, uint64_t errlen)
{
    const uint64_t *w = (const uint64_t *)x;
    for (uint64_t i = 1; i < s->elemsize / 8; i++)
        if (w[i] != FREE_POISON) {
            alloc_format(err, errlen,
                         "use after free: word %lu of free slot 0x%lx = 0x%lx (in a freed-object "
                         "cache, class %u)", (unsigned long)i, (unsigned long)x,
                         (unsigned long)w[i], (unsigned)spanclass_sizeclass(s->spanclass));
            return false;
        }
    return true;
}

/* One cached object: see objcache_verify.  The span's gcmarkBits (never
 * used by kmalloc spans) mark the objects seen, to find one cached twice. */
static bool verify_one(uintptr_t x, uint8_t cls, char *err, uint64_t errlen)
{
    const char *why = 0;
    mspan *s = arena_of(x) ? span_of(x) : 0;
    if (!s || s->state != mSpanInUse || s->spanclass != make_kmalloc_spanclass(cls) ||
        x < s->startAddr || x >= s->limit)
        why = "not an object of its class";
    uint32_t idx = why ? 0 : mspan_obj_index(s, x);
    uint64_t bit = 1ull << (idx % 64);
    if (!why && s->startAddr + (uint64_t)idx * s->elemsize != x)
        why = "not an object start";
    else if (!why && !mspan_allocated(s, idx))
        why = "a free slot";
    else if (!why && (s->pendingFree[idx / 64] & bit))
        why = "pending free";
    else if (!why && *(const uint64_t *)x != mheap_.objcache_key)
        why = "first word is not the key (written after free?)";
    else if (!why && ALLOC_DEBUG && !debug_cached_poisoned(s, x, err, errlen))
        return false;
    else if (!why && (s->gcmarkBits[idx / 64] & bit))
        why = "cached twice";
    if (why) {
        alloc_format(err, errlen, "objcache: class %u object 0x%lx is %s", (unsigned)cls,
                     (unsigned long)x, why);
        return false;
    }
    s->gcmarkBits[idx / 64] |= bit;
    return true;
}

/* Every object of one array through fn. */
static bool each(const uintptr_t *a, uint32_t n, uint8_t cls, bool check, char *err,
                 uint64_t errlen)
{
    for (uint32_t i = 0; i < n; i++) {
        if (check && !verify_one(a[i], cls, err, errlen))
            return false;
        if (!check && arena_of(a[i])) { /* undo the marks */
            mspan *s = span_of(a[i]);
            if (s && s->gcmarkBits && a[i] >= s->startAddr && a[i] < s->limit) {
                uint32_t idx = mspan_obj_index(s, a[i]);
                s->gcmarkBits[idx / 64] &= ~(1ull << (idx % 64));
            }
        }
    }
    return true;
}

static bool walk_all(bool check, char *err, uint64_t errlen)
{
    for (uint8_t cls = 1; cls < NUM_SIZE_CLASSES; cls++) {
        struct xfer_runs xr = runs_of(&xfer[cls], 0, xfer[cls].n);
        if (!each(xr.p[0], xr.n[0], cls, check, err, errlen) ||
            !each(xr.p[1], xr.n[1], cls, check, err, errlen))
            return false;
        for (uint32_t i = 0; i < mheap_.ncpu; i++) {
            const objcache *fc = &mheap_.mcaches[i].fc[cls];
            if (fc->top < fc->base || fc->top > fc->end) {
                alloc_format(err, errlen, "objcache: cpu %u class %u: top %p outside [%p, %p]",
                             i, (unsigned)cls, (void *)fc->top, (void *)fc->base,
                             (void *)fc->end);
                return false;
            }
            if (!each(fc->base, objcache_n(fc), cls, check, err, errlen))
                return false;
        }
    }
    return true;
}

bool objcache_verify(char *err, uint64_t errlen)
{
    bool ok = walk_all(true, err, errlen);
    walk_all(false, 0, 0);
    return ok;
}

void objcache_fork_lock(void)
{
    for (uint8_t cls = 0; cls < NUM_SIZE_CLASSES; cls++)
        plat_lock(&xfer[cls].lock);
}

void objcache_fork_unlock(void)
{
    for (int cls = NUM_SIZE_CLASSES - 1; cls >= 0; cls--)
        plat_unlock(&xfer[cls].lock);
}
