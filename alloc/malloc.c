/*
 * malloc.c — the front end: mallocgc / newobject / newarray (Go style) and
 * kmalloc / kcalloc / krealloc / kfree / ksize (C style), the tiny
 * allocator, large objects, and bad-input reporting.
 *
 *   kmalloc / mallocgc ──► mcache (per CPU, no lock) ──► mcentral ──► mheap
 *
 * SMALL ALLOCATION (size <= 32 KiB)
 *   1. kmalloc: spc = kmalloc_spc[(size+7)/8] (one table load: kmalloc's
 *      own span classes, 136 + class); mallocgc: class = size_to_class(size)
 *      (Go's two tables), spc = class<<1|noscan.
 *   1a. kmalloc: the newest object this CPU freed of that class, when its
 *      freed-object array has one (mobjcache.c): pop, clear its first word
 *      (the free-slot key).  Else step 2; and when the span is full, a
 *      batch from the class's transfer cache before a refill (step 3).
 *   2. Pin; c = this CPU's mcache (plat_cpu_cache() when the platform has
 *      the per-CPU slot, else mcaches[cpu]);
 *      v = mspan_next_free_fast(c->alloc[spc]).  kmalloc's whole fast
 *      path (1a or 2) is 18 x86-64 instructions per call, no call, no
 *      atomic RMW (tests/bench/callgrind.sh).
 *   3. Miss → mcache_next_free (refill from mcentral, see mcache.c); NULL →
 *      out of memory (kmalloc: NULL; mallocgc: panic).
 *   4. Zero when asked and the span may be dirty (span.needzero); typed
 *      objects with pointers get their heap bitmap written.  mallocgc
 *      only: count the size down from c->nextSample, the heap profile's
 *      distance to its next sample (profile_count; mprof.c).  Unpin.
 *   4b. mallocgc only, while a cycle runs (gc_phase != GC_OFF): allocate
 *      black — the object is marked before it is returned (mgc.h
 *      gc_alloc_black: one load and a branch predicted not taken when no
 *      cycle runs; kmalloc's copy of small_alloc has no such test).
 *   5. mallocgc: a sample is recorded (mprof_malloc: stack walk from the
 *      entry point's frame, bucket, sampled-object table) after unpinning.
 *   6. mallocgc, while a mark runs (gc_phase == GC_MARK: one load and a
 *      branch): the allocation is charged to the task's assist account
 *      and paid in scan work when in debt (gc_assist_alloc, mgcmark.c).
 * TINY (mallocgc, pointer-free, size < 16): Go's rules — align the offset
 *   in the current 16-byte block (8 if size%8==0, 4 if %4, 2 if %2), use the
 *   block if it fits; else take a fresh zeroed 16-byte slot of class 2
 *   (noscan), mark it in the span's tinyBits so kfree can refuse it,
 *   allocate it black during a cycle (an object put into an older block
 *   needs nothing: that block was black or greyed at the mark start), and
 *   keep whichever block has more room left.
 * LARGE (> 32 KiB): mheap_alloc(ceil(size/8K) pages, class 0 — span
 *   class 0/1 for mallocgc, 136 for kmalloc): a span with one object, page
 *   aligned; zeroed when asked and not known zero; mallocgc's allocated
 *   black during a cycle.
 * FREE (kfree) — steps 1-4 inline, no call on the LIFO path
 *   1. span = arena index → spans[page] (lock free; never NULL: holes map
 *      to the sentinel span, mheap.h).
 *   2. One gate: x - startAddr < span.freeLimit, which is the object bytes
 *      of a small in-use span with no tiny blocks and 0 otherwise (large,
 *      manual, dead, sentinel, tiny blocks, a kmalloc span whose slots are
 *      still being keyed) — so in use, small, in range
 *      and "no tiny block here" cost one compare.
 *   3. Object start and index in one multiply by the inverse of elemsize's
 *      odd part, rotated by its power of two (mspan_exact_index).
 *   K. A kmalloc class (the C heap: lib/, kernel): test and store the key
 *      in the object's first word with a plain load and store (a key there
 *      → not a live object: every slot of a kmalloc span that is free,
 *      pending or cached holds one, mobjcache.c THE KEY; a double free or a
 *      slot never handed out, reported; two frees at the same instant are caught
 *      when the second copy leaves its cache: mobjcache.c DUPLICATES) and
 *      push it onto this CPU's freed-object array of its class — reusable
 *      at once by the next kmalloc of that class on this CPU, no lock, no
 *      atomic — unless another CPU is carving the object's span: then
 *      back to the span as a pending free (mobjcache.c PASSIVE FALSE
 *      SHARING).  Steps 4-6 below serve collected objects that C code
 *      frees explicitly.
 *   4. Owner undo: pinned, the span is cached by this CPU (cachedBy ==
 *      c->tag) and the slot is freeindex-1 with its allocBits bit clear →
 *      xchg freeindex = idx, then check its pendingFree bit (see OWNER UNDO
 *      VERSUS REMOTE FREE), allocCache gains the slot, allocCount--,
 *      needzero = 1 (the slot comes back dirty), undoCount++ (a malloc and
 *      a free).  No lock, one fence; the slot is reusable at once (pairs
 *      and LIFO batches never reach the sweep).
 *   5. Otherwise (kfree_pending): allocated (Go's isFree rule)?  Atomic
 *      test-and-set of the slot's pendingFree bit: already set → double
 *      free.  Re-check that the slot is still allocated (the owner may have
 *      undone it meanwhile).  pendingCount++ (atomic).  Count the free on
 *      this CPU, and as a remote free when another CPU has the span cached.
 *   6. Span not cached, and this is its first pending free or probably its
 *      last live object → mcentral_note_free (re-queue for sweeping / sweep
 *      and release).  Frees into cached spans never lock: the owner sweeps
 *      them at uncache.  Remote frees (another CPU's cached span) always
 *      take 5-6 and never touch the owner's lock or fields.
 *   Anything failing 1-3 → kfree_slow: NULL; large: under mheap_.lock check
 *   the span still starts at p and is in use, then free its pages
 *   directly; small in a span with tiny blocks: refuse tiny blocks, else
 *   5-6; bad pointers: check_object reports.
 *   Any failed check → one message to the error hook, nothing changes.
 *
 *   WHERE EACH STEP LIVES
 *     step  function                            file
 *     1-3   kfree_inline                        malloc_fast.h (inline)
 *     K     kfree_cached → objcache_push        malloc_fast.h (inline),
 *           (full: objcache_push_slow; another  mobjcache.c
 *           CPU's span: objcache_free_remote)
 *     4     kfree_owner                         malloc_fast.h (inline)
 *     4 ✗   kfree_owner_conflict                malloc.c (race lost: report)
 *     5     kfree_pending / kfree_pending0      malloc.c → free_pending
 *     6     mcentral_note_free                  mcentral.c
 *     slow  kfree_slow → check_object,          malloc.c
 *           kfree_large, free_pending
 *     pin   kfree_pinned (collected objects     malloc.c
 *           with PLAT_HAVE_OWNER_CACHE)
 *     sweep mspan_sweep_bits (pending → free)   mspan.c, by mcache.c /
 *                                               mcentral.c
 *
 * OWNER UNDO VERSUS REMOTE FREE (a double free of one slot racing between
 * the span's owner, step 4, and another CPU, step 5).  Owner O: checks,
 * xchg(freeindex = idx) [full barrier], load pendingFree bit.  Remote R:
 * load freeindex (allocated?), lock-or pendingFree bit [full barrier],
 * re-load freeindex (still allocated?).  Whatever the interleaving, one of
 * them sees the other: O sees R's bit → O restores freeindex = idx + 1 and
 * reports the double free (R's pending free then frees the slot at the
 * next sweep); R sees the slot free → R takes its bit back (fetch-and; if
 * a sweep already consumed it, its free simply happened) and reports.
 * When both see each other, both report and neither free takes effect:
 * the slot stays allocated (leaked) — never a pending bit on a free slot,
 * never a live object handed out twice (tests/host/test_fastpath.c,
 * owner_undo_races_remote_double_free).
 *
 * STATISTICS kept here: per-CPU counters in the mcache (pending frees at
 * kfree, by span class; owner undos, each a malloc and a free; small
 * mallocs at refill, from allocCount - allocCountBeforeCache; large and
 * tiny at allocation).  Go's convention:
 * Mallocs and Frees both include tiny objects (they die with their block).
 *
 * INLINE FAST PATHS: SMALL ALLOCATION 1-2 and FREE 1-4 are the static
 * inline kmalloc_fast / kfree_inline in malloc_fast.h, so that
 * lib/preload.c's malloc/free/calloc inline them with no kmalloc/kfree call
 * in between; everything else (kmalloc_slow, kfree_pending, kfree_slow,
 * kfree_pinned) stays out of line here.  A platform with
 * PLAT_HAVE_OWNER_CACHE (alloc/platform.h) pins for free with one load.
 *
 * LOCKING: none on the fast paths; see mcentral.c / mheap.c.
 */
#include "debug.h"
#include "lockrank.h"
#include "malloc.h"
#include "malloc_fast.h"
#include "malloc_impl.h"
#include "mgc.h"
#include "mheap.h"
#include "mprof.h"
#include "mstats.h"
#include "persistent.h"

static uint64_t zerobase; /* mallocgc(0) */
/* kmalloc's size → noscan span class in one load: kmalloc_spc[(size+7)/8]
 * for size <= MAX_SMALL_SIZE (entry 0 is span class 0, whose mcache slot is
 * always the empty span: size 0 takes the slow path).  Filled by
 * malloc_init from size_to_class; the sizes (8k-7 .. 8k) share a class
 * because every class size is a multiple of 8. */
uint8_t kmalloc_spc[MAX_SMALL_SIZE / 8 + 1];
static alloc_error_hook_t error_hook;
static uint64_t undone_frees[NUM_SPAN_CLASSES]; /* atomic, by span class */

/* ------------------------------------------------------------ reporting */

int alloc_format(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = plat_vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    return r;
}

void alloc_report(const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    plat_vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    alloc_error_hook_t h = __atomic_load_n(&error_hook, __ATOMIC_ACQUIRE);
    if (h)
        h(msg);
    else
        plat_log("%s", msg);
}

alloc_error_hook_t alloc_set_error_hook(alloc_error_hook_t hook)
{
    return __atomic_exchange_n(&error_hook, hook, __ATOMIC_ACQ_REL);
}

void alloc_undo_frees(const mspan *s, uint32_t n) { alloc_undo_frees_class(s->spanclass, n); }

void alloc_undo_frees_class(spanClass spc, uint32_t n)
{
    __atomic_fetch_add(&undone_frees[spc], n, __ATOMIC_RELAXED);
}

uint64_t alloc_undone_frees(spanClass spc)
{
    return __atomic_load_n(&undone_frees[spc], __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------ init */

void malloc_init(void)
{
    if (mheap_.inited)
        return;
    mheap_init();
    uint32_t n = plat_ncpu();
    if (n == 0 || n > PLAT_MAX_CPUS)
        plat_panic("malloc_init: bad CPU count");
    mheap_.mcaches = persistentalloc(n * sizeof(mcache), 64, &mheap_.meta_bytes);
    if (!mheap_.mcaches)
        plat_panic("malloc_init: cannot allocate mcaches");
    for (uint32_t i = 0; i < n; i++) {
        mcache_init(&mheap_.mcaches[i], i);
#ifdef PLAT_HAVE_CPU_CACHE
        plat_set_cpu_cache(i, &mheap_.mcaches[i]);
#endif
    }
    /* size 0: kmalloc class 0, whose span slot is always the empty span
     * and whose object cache is always empty (no large object is cached):
     * the slow path makes it an 8-byte object */
    kmalloc_spc[0] = make_kmalloc_spanclass(0);
    for (uint32_t i = 1; i <= MAX_SMALL_SIZE / 8; i++)
        kmalloc_spc[i] = make_kmalloc_spanclass(size_to_class((uint64_t)i * 8));
    objcache_init();
    for (uint32_t i = 0; i < n; i++) /* kmalloc's pop reads its own copy */
        mheap_.mcaches[i].objcacheKey = mheap_.objcache_key;
    mheap_.ncpu = n;
}

/* ------------------------------------------------------------ large */

/* Bytes the heap could ever have Ready now: free physical memory plus
 * what it already holds. */
static uint64_t memory_bound(void)
{
    return plat_phys_free() + __atomic_load_n(&mheap_.ready_bytes, __ATOMIC_RELAXED);
}

struct large_args { /* whole words (platform.h plat_systemstack) */
    uint64_t size;
    uint64_t spc;
    uint64_t needzero;
    void *v;
};

static void *large_alloc_body(uint64_t size, spanClass spc, bool needzero);
static void large_alloc_sys(void *p)
{
    struct large_args *a = p;
    a->v = large_alloc_body(a->size, a->spc, a->needzero);
}

/* spc: 0 / 1 (collected, scan / noscan) or KMALLOC_SPC_BASE (kmalloc).
 * On a big stack (plat_systemstack): the page heap's paths are deep. */
static void *large_alloc(uint64_t size, spanClass spc, bool needzero)
{
    struct large_args a = {size, spc, needzero, 0};
    plat_systemstack(large_alloc_sys, &a);
    return a.v;
}

static void *large_alloc_body(uint64_t size, spanClass spc, bool needzero)
{
    if (size > mheap_.window_size || size > memory_bound())
        return 0; /* can never fit: do not reserve arenas for it */
    uint64_t npages = (size + PAGE_SIZE - 1) >> PAGE_SHIFT;
    mspan *s = mheap_alloc(npages, spc, false);
    if (!s)
        return 0;
    s->limit = s->startAddr + size;
    if (!spanclass_is_kmalloc(spc)) {
        mcentral_add_large(&mheap_.central[spc], s); /* where the sweeper finds it */
        gc_heap_live_add((int64_t)(npages * PAGE_SIZE));
    }
    if (needzero && s->needzero)
        __builtin_memset((void *)s->startAddr, 0, size);
    uint64_t tok = plat_pin();
    mcache *c = my_mcache();
    c->largeAllocCount[spanclass_is_kmalloc(spc)]++;
    c->largeAlloc[spanclass_is_kmalloc(spc)] += npages * PAGE_SIZE;
    plat_unpin(tok);
    return (void *)s->startAddr;
}

/* ------------------------------------------------------------ small */

/* TINY: Go's rules (see the essay).  Caller pinned on c's CPU. */
static void *tiny_alloc(mcache *c, uint64_t size)
{
    uint64_t off = c->tinyoffset;
    if ((size & 7) == 0)
        off = (off + 7) & ~7ull;
    else if ((size & 3) == 0)
        off = (off + 3) & ~3ull;
    else if ((size & 1) == 0)
        off = (off + 1) & ~1ull;
    if (off + size <= TINY_SIZE && c->tiny) {
        c->tinyoffset = off + size;
        c->tinyAllocs++;
        return (void *)(c->tiny + off);
    }
    spanClass spc = make_spanclass(TINY_SIZE_CLASS, true);
    mspan *s = c->alloc[spc];
    void *v = mspan_next_free_fast(s);
    if (!v && !(v = mcache_next_free(c, spc, &s)))
        return 0;
    s = c->alloc[spc];
    debug_check_free_slot(s, v);
    uint32_t idx = mspan_obj_index(s, (uintptr_t)v);
    __atomic_fetch_or(&s->tinyBits[idx / 64], 1ull << (idx % 64), __ATOMIC_RELAXED);
    /* kfree's fast path must not see tiny blocks: close it for this span
     * for good (before v is published to anyone). */
    if (s->freeLimit)
        __atomic_store_n(&s->freeLimit, 0, __ATOMIC_RELAXED);
    ((uint64_t *)v)[0] = 0;
    ((uint64_t *)v)[1] = 0;
    gc_alloc_black(s, v); /* a block made during a mark is black, whoever fills it */
    if (size < c->tinyoffset || c->tiny == 0) { /* keep the block with more room */
        c->tiny = (uintptr_t)v;
        c->tinyoffset = size;
    }
    return v;
}

/* The heap profile's countdown (mprof.c SAMPLING), pinned on c's CPU:
 * *sampled = size when this allocation of size bytes is a sample. */
static inline void profile_count(mcache *c, uint64_t size, uint64_t *sampled)
{
    if (__builtin_expect(size < c->nextSample, 1))
        c->nextSample -= size;
    else if (mprof_sample_point(c, size))
        *sampled = size;
}

/* kmalloc's slot v of span *sp lacks the released key (mobjcache.c THE
 * KEY): report it and leave it allocated (objcache_span_slot_bad), and take
 * the next slot that holds it (refilling as needed); NULL when memory runs
 * out.  Pinned on c's CPU.  Out of line: small_alloc's mallocgc copy must
 * not pay for the loop. */
static void *__attribute__((noinline)) kmalloc_next_keyed_slot(mcache *c, spanClass spc,
                                                               mspan **sp, void *v)
{
    uint64_t want = c->objcacheKey | OBJCACHE_RELEASED;
    while (v && *(const uint64_t *)v != want && !objcache_span_slot_bad(*sp, (uintptr_t)v)) {
        *sp = c->alloc[spc];
        v = mspan_next_free_fast(*sp);
        if (!v)
            v = mcache_next_free(c, spc, sp);
    }
    return v;
}

/* Slow path of kmalloc and the body of mallocgc for small sizes (typ ==
 * NULL or pointer free → noscan).  sampled: NULL for kmalloc (its own span
 * classes, no tiny allocator, not profiled); mallocgc's, see profile_count.
 * *refilled (may be NULL): a span was taken from mcentral for it.  Inlined
 * into both callers, so that kmalloc's copy has no profiling tests. */
static inline __attribute__((always_inline)) void *small_alloc(uint64_t size, const gotype *typ,
                                                             bool needzero, bool *refilled,
                                                             uint64_t *sampled)
{
    bool kmalloc = !sampled;
    bool noscan = !typ || typ->ptrdata == 0;
    uint64_t tok = plat_pin();
    mcache *c = my_mcache();
    uint64_t refills = c->refills;
    void *v;
    if (noscan && !kmalloc && size < TINY_SIZE) {
        v = tiny_alloc(c, size);
        if (v)
            profile_count(c, size, sampled);
        goto out;
    }
    uint8_t cls = size ? size_to_class(size) : 1;
    spanClass spc = kmalloc ? make_kmalloc_spanclass(cls) : make_spanclass(cls, noscan);
    mspan *s = c->alloc[spc];
    v = mspan_next_free_fast(s);
    if (!v && kmalloc && (v = objcache_refill(c, spc))) { /* mobjcache.c */
        if (needzero)
            __builtin_memset(v, 0, class_to_size[cls]);
        goto out;
    }
    if (!v && !(v = mcache_next_free(c, spc, &s)))
        goto out;
    if (kmalloc && __builtin_expect(*(const uint64_t *)v != (c->objcacheKey | OBJCACHE_RELEASED), 0) &&
        !(v = kmalloc_next_keyed_slot(c, spc, &s, v)))
        goto out;
    debug_check_free_slot(s, v);
    uint64_t elemsize = class_to_size[cls];
    if (needzero && s->needzero)
        __builtin_memset(v, 0, elemsize);
    else if (kmalloc)
        objcache_unkey(v);
    if (!noscan)
        heap_bits_set_type((uintptr_t)v, elemsize, size, typ);
    if (!kmalloc) { /* kmalloc's instance has neither test */
        profile_count(c, elemsize, sampled);
        gc_alloc_black(s, v);
    }
out:
    if (refilled)
        *refilled = c->refills != refills;
    plat_unpin(tok);
    return v;
}

/* ------------------------------------------------------------ Go style */

/* One allocation attempt; *took_span: a span was taken or a large object
 * made (Go's shouldhelpgc: test the trigger afterwards); *sampled: the
 * heap profile's size when the object is a sample. */
static void *mallocgc_once(uint64_t size, const gotype *typ, bool needzero, bool *took_span,
                           uint64_t *sampled)
{
    bool noscan = !typ || typ->ptrdata == 0;
    if (!noscan)
        needzero = true; /* Go: objects with pointers are always zeroed */
    if (size <= MAX_SMALL_SIZE)
        return small_alloc(size, typ, needzero, took_span, sampled);
    void *v = large_alloc(size, make_spanclass(0, noscan), needzero);
    *took_span = true;
    if (v) {
        mspan *s = span_of((uintptr_t)v);
        if (!noscan)
            heap_bits_set_type((uintptr_t)v, s->npages * PAGE_SIZE, size, typ);
        uint64_t tok = plat_pin();
        profile_count(my_mcache(), s->npages * PAGE_SIZE, sampled);
        gc_alloc_black(s, v);
        plat_unpin(tok);
    }
    return v;
}

#define OOM_CYCLES 3
uint64_t gc_debug_oom_nulls;

/* Go's fatal out-of-memory report (on a big stack: memstats is large). */
static void out_of_memory(void *p)
{
    uint64_t size = *(uint64_t *)p;
    struct memstats st;
    read_memstats_heap(&st);
    char msg[160];
    alloc_format(msg, sizeof msg, "out of memory: cannot allocate %lu-byte block (%lu in use)",
                 (unsigned long)size, (unsigned long)st.HeapSys);
    plat_panic(msg);
}

/* mallocgc found no memory: an emergency cycle, then Go's out of memory
 * — a few, as other CPUs may take what one freed before this one
 * retries. */
static __attribute__((noinline)) void *mallocgc_no_memory(uint64_t size, const gotype *typ,
                                                          bool needzero, bool *took_span,
                                                          uint64_t *sampled)
{
    void *v = 0;
    for (int i = 0; !v && i < OOM_CYCLES && gc_emergency(); i++)
        v = mallocgc_once(size, typ, needzero, took_span, sampled);
    if (v)
        return v;
    if (gc_debug_oom & GC_OOM_RETURN_NULL) {
        __atomic_add_fetch(&gc_debug_oom_nulls, 1, __ATOMIC_RELAXED);
        return 0;
    }
    plat_systemstack(out_of_memory, &size); /* does not return */
    return 0;
}

/* mallocgc for an entry point whose frame is fp (the heap profile's stack
 * starts at its return address). */
static inline __attribute__((always_inline)) void *mallocgc_at(uint64_t size, const gotype *typ,
                                                               bool needzero, uintptr_t fp)
{
    if (size == 0)
        return &zerobase;
    gc_safepoint(); /* a stop the world may be pending */
    bool took_span = false;
    uint64_t sampled = 0;
    void *v = mallocgc_once(size, typ, needzero, &took_span, &sampled);
    if (__builtin_expect(!v, 0) &&
        !(v = mallocgc_no_memory(size, typ, needzero, &took_span, &sampled)))
        return 0; /* tests only (GC_OOM_RETURN_NULL) */
    if (__builtin_expect(sampled != 0, 0))
        mprof_malloc((uintptr_t)v, sampled, fp);
    if (took_span)
        gc_after_alloc(v);
    if (__builtin_expect(__atomic_load_n(&gc_phase, __ATOMIC_RELAXED) == GC_MARK, 0))
        gc_assist_alloc(size); /* v is black: it survives whatever the assist waits for */
    return v;
}

void *mallocgc(uint64_t size, const gotype *typ, bool needzero)
{
    return mallocgc_at(size, typ, needzero, (uintptr_t)__builtin_frame_address(0));
}

void *newobject(const gotype *typ)
{
    return mallocgc_at(typ->size, typ, true, (uintptr_t)__builtin_frame_address(0));
}

void *newarray(const gotype *typ, uint64_t n)
{
    uint64_t total;
    if (__builtin_mul_overflow(typ->size, n, &total) || total > mheap_.window_size) {
        alloc_report("newarray: size overflow (%lu x %lu)", (unsigned long)n,
                     (unsigned long)typ->size);
        return 0;
    }
    return mallocgc_at(total, typ, true, (uintptr_t)__builtin_frame_address(0));
}

/* ------------------------------------------------------------ C style */

void *__attribute__((noinline)) kmalloc_slow(uint64_t size, bool needzero)
{
    void *v;
    if (size - 1 < MAX_SMALL_SIZE) /* the fast path may have refused a cached object */
        objcache_drop_bad_top(kmalloc_spc[(size + 7) >> 3]);
    if (size <= MAX_SMALL_SIZE)
        v = small_alloc(size, 0, needzero, 0, 0);
    else
        v = large_alloc(size, make_kmalloc_spanclass(0), needzero);
    if (!v && size > memory_bound())
        alloc_report("kmalloc: cannot allocate %lu bytes: larger than memory (%lu bytes)",
                     (unsigned long)size, (unsigned long)memory_bound());
    return v;
}

void *kmalloc(size_t size)
{
    void *v;
    if (__builtin_expect(kmalloc_fast(size, false, &v), 1))
        return v;
    return kmalloc_slow(size, false);
}

void *kcalloc(size_t n, size_t size)
{
    uint64_t total;
    if (__builtin_mul_overflow((uint64_t)n, (uint64_t)size, &total)) {
        alloc_report("kcalloc: size overflow (%lu x %lu)", (unsigned long)n, (unsigned long)size);
        return 0;
    }
    return kmalloc_slow(total, true);
}

static void report_double_free(const char *op, uintptr_t x, const mspan *s)
{
    alloc_report("%s: double free of 0x%lx (span 0x%lx class %u, %lu B)", op, (unsigned long)x,
                 (unsigned long)s->startAddr, (unsigned)spanclass_sizeclass(s->spanclass),
                 (unsigned long)s->elemsize);
}

/* A tiny block (the tiny allocator's 16-byte unit, many objects in one) is
 * bad input to every C-style call: it has no size of its own and dies only
 * with all its objects. */
static bool op_is(const char *op, const char *word)
{
    for (; *op; op++) {
        const char *a = op, *b = word;
        while (*b && *a == *b)
            a++, b++;
        if (!*b)
            return true;
    }
    return false;
}

static void report_tiny(const char *op, uintptr_t x, const mspan *s)
{
    const char *why = op_is(op, "size") ? "have no size of their own"
                    : op_is(op, "realloc") ? "cannot be reallocated" : "are not freed";
    alloc_report("%s: 0x%lx is a tiny block (span 0x%lx class %u, %lu B): tiny objects %s", op,
                 (unsigned long)x, (unsigned long)s->startAddr, (unsigned)TINY_SIZE_CLASS,
                 (unsigned long)s->elemsize, why);
}

/* x starts a slot that is not allocated (pending: freed, not yet swept).
 * To a free that is a double free; to a size query or a realloc, x is
 * simply not an allocated object. */
static void report_unallocated(const char *op, bool freeing, bool pending, uintptr_t x,
                               const mspan *s)
{
    unsigned cls = spanclass_sizeclass(s->spanclass);
    unsigned long sa = s->startAddr, es = s->elemsize;
    if (freeing)
        alloc_report("%s: double free of 0x%lx (span 0x%lx class %u, %lu B)", op,
                     (unsigned long)x, sa, cls, es);
    else
        alloc_report("%s: 0x%lx is not an allocated object: %s (span 0x%lx class %u, %lu B)", op,
                     (unsigned long)x, pending ? "already freed" : "a free slot", sa, cls, es);
}

/* Validate that x is the start of a live heap object that is not a tiny
 * block; report and return NULL otherwise.  op names the caller's
 * operation in the message; freeing: op frees x (an unallocated x is then
 * a double free).  *idxp = slot index (small). */
static mspan *check_object(const char *op, bool freeing, uintptr_t x, uint32_t *idxp)
{
    if (!arena_of(x)) {
        alloc_report("%s: 0x%lx is not in the heap", op, (unsigned long)x);
        return 0;
    }
    mspan *s = span_of(x);
    uint8_t state = s ? __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) : mSpanDead;
    uintptr_t end = s ? s->startAddr + s->npages * PAGE_SIZE : 0;
    if (!s || x < s->startAddr || x >= end) {
        alloc_report("%s: 0x%lx is in free heap memory (no span)", op, (unsigned long)x);
        return 0;
    }
    uint8_t cls = spanclass_sizeclass(s->spanclass);
    unsigned long sa = s->startAddr, es = s->elemsize;
    if (state == mSpanManual) {
        alloc_report("%s: 0x%lx is in a manual span 0x%lx (%lu pages), not a heap object", op,
                     (unsigned long)x, sa, (unsigned long)s->npages);
        return 0;
    }
    uint64_t off = x - s->startAddr;
    uint32_t idx = cls ? obj_index((uint32_t)off, s->divMul) : 0;
    uintptr_t obj = s->startAddr + (uint64_t)idx * s->elemsize;
    if (state != mSpanInUse) {
        if (obj == x)
            report_unallocated(op, freeing, true, x, s);
        else
            alloc_report("%s: 0x%lx is in free heap memory (no span)", op, (unsigned long)x);
        return 0;
    }
    if (cls && idx >= s->nelems) {
        alloc_report("%s: 0x%lx is past the last object (span 0x%lx class %u, %lu B)", op,
                     (unsigned long)x, sa, cls, es);
        return 0;
    }
    if (obj != x) {
        alloc_report("%s: interior pointer 0x%lx (object 0x%lx in span 0x%lx class %u, %lu B)", op,
                     (unsigned long)x, (unsigned long)obj, sa, cls, es);
        return 0;
    }
    if (cls) {
        uint64_t bit = 1ull << (idx % 64);
        bool allocated = mspan_allocated(s, idx);
        if (!allocated || (__atomic_load_n(&s->pendingFree[idx / 64], __ATOMIC_ACQUIRE) & bit) ||
            /* freed into a cache (or released from one, pending) */
            (spanclass_is_kmalloc(s->spanclass) &&
             objcache_is_key(*(const uint64_t *)x, mheap_.objcache_key))) {
            report_unallocated(op, freeing, allocated, x, s);
            return 0;
        }
        if (s->tinyBits && (__atomic_load_n(&s->tinyBits[idx / 64], __ATOMIC_RELAXED) & bit)) {
            report_tiny(op, x, s);
            return 0;
        }
    }
    *idxp = idx;
    return s;
}

/* A large object's pages back to the heap.  A collected one is first taken
 * off its mcentral set (lock order mcentral → mheap); losing the race to
 * another kfree of the same object (or to the sweeper) reports it. */
static void kfree_large(uintptr_t x)
{
    mspan *s = span_of(x);
    spanClass spc = s ? __atomic_load_n(&s->spanclass, __ATOMIC_RELAXED) : 0;
    if (s && !spanclass_is_kmalloc(spc) && spc < 2 &&
        !mcentral_remove_large(&mheap_.central[spc], s, x)) {
        uint32_t idx;
        check_object("kfree", true, x, &idx); /* reports */
        return;
    }
    plat_lock(&mheap_.lock);
    if (!s || s->state != mSpanInUse || s->startAddr != x || spanclass_sizeclass(s->spanclass)) {
        plat_unlock(&mheap_.lock);
        uint32_t idx;
        check_object("kfree", true, x, &idx); /* reports */
        return;
    }
    uint64_t bytes = s->npages * PAGE_SIZE;
    int kind = spanclass_is_kmalloc(s->spanclass);
    if (__atomic_load_n(&s->profSamples, __ATOMIC_RELAXED))
        mprof_free_large(s);
    mheap_free_span_locked(s);
    plat_unlock(&mheap_.lock);
    uint64_t tok = plat_pin();
    mcache *c = my_mcache();
    c->largeFreeCount[kind]++;
    c->largeFree[kind] += bytes;
    plat_unpin(tok);
}

static void note_free_sys(void *p)
{
    mspan *s = p;
    mcentral_note_free(&mheap_.central[s->spanclass], s);
}

/* Record the free of slot idx of small span s (x its address, already
 * checked to be an allocated object start, not a tiny block) as pending:
 * the span's next sweep makes the slot free.  Any CPU, no lock.  Called
 * pinned on c's CPU (tok from plat_pin) and unpins: the free is counted
 * under the same pin as kfree's owner check, so the path pins once. */
static inline __attribute__((always_inline)) void free_pending(mspan *s, uintptr_t x, uint32_t idx,
                                                               mcache *c, uint64_t tok)
{
    uint64_t bit = 1ull << (idx % 64);
    /* debug: poison while the object is still ours (once the bit is set a
     * sweep may hand the slot out again) */
    debug_poison((void *)x, s->elemsize);
    uint64_t old = __atomic_fetch_or(&s->pendingFree[idx / 64], bit, __ATOMIC_SEQ_CST);
    if (__builtin_expect(old & bit, 0) ||
        /* still allocated after the full barrier?  else the owner undid the
         * slot meanwhile: take the bit back unless a sweep already used it */
        (__builtin_expect(!mspan_allocated(s, idx), 0) &&
         (__atomic_fetch_and(&s->pendingFree[idx / 64], ~bit, __ATOMIC_SEQ_CST) & bit))) {
        plat_unpin(tok);
        report_double_free("kfree", x, s);
        return;
    }
    spanClass spc = s->spanclass;
    int32_t n = __atomic_fetch_add(&s->pendingCount, 1, __ATOMIC_SEQ_CST);
    c->smallFreeCount[spc]++;
    int32_t cb = __atomic_load_n(&s->cachedBy, __ATOMIC_RELAXED);
    c->remoteFrees += cb != 0 && cb != c->tag; /* cached by another CPU */
    plat_unpin(tok);
    /* A cached span is swept by its owner at uncache.  Dekker pairing with
     * mcentral_uncache_span (store cachedBy = 0; load pendingCount, both
     * seq_cst): either the owner sees this free, or we see cachedBy == 0. */
    if (__atomic_load_n(&s->cachedBy, __ATOMIC_SEQ_CST) == 0 &&
        (n == 0 || (uint32_t)n + 1 >= __atomic_load_n(&s->allocCount, __ATOMIC_RELAXED)))
        plat_systemstack(note_free_sys, s);
}

/* kfree steps 5-6 (not the owner's last slot), entered pinned (c, tok):
 * check that slot idx is allocated (Go's isFree rule: idx < freeindex,
 * read as fi, or its allocBits bit), then record a pending free.  Out of
 * line so that kfree's own fast path needs no stack frame. */
static inline __attribute__((always_inline)) void kfree_pending_body(mspan *s, uintptr_t x, uint32_t idx,
                                                                     uint32_t fi, mcache *c, uint64_t tok)
{
    if (idx >= fi &&
        !((__atomic_load_n(&s->allocBits[idx / 64], __ATOMIC_RELAXED) >> (idx % 64)) & 1)) {
        plat_unpin(tok);
        kfree_slow(x); /* not allocated: reports the double free */
        return;
    }
    free_pending(s, x, idx, c, tok);
}

void __attribute__((noinline)) kfree_pending(mspan *s, uintptr_t x, uint32_t idx, uint32_t fi,
                                             mcache *c, uint64_t tok)
{
    kfree_pending_body(s, x, idx, fi, c, tok);
}

void __attribute__((noinline)) kfree_pending0(mspan *s, uintptr_t x, uint32_t idx, uint32_t fi,
                                              mcache *c)
{
    kfree_pending_body(s, x, idx, fi, c, 0);
}

/* Everything the fast path of kfree does not handle: NULL, large objects,
 * spans whose fast path is closed (tiny blocks, manual, dead), bad
 * pointers, and small objects that failed a fast check (which then either
 * are reported here or turn out fine on the full look and are freed). */
static void kfree_slow_body(void *p);

void __attribute__((noinline)) kfree_slow(uintptr_t x)
{
    if (x)
        plat_systemstack(kfree_slow_body, (void *)x); /* reports format on the stack */
}

static void kfree_slow_body(void *p)
{
    uintptr_t x = (uintptr_t)p;
    uint32_t idx;
    mspan *s = check_object("kfree", true, x, &idx);
    if (!s)
        return;
    if (spanclass_sizeclass(s->spanclass) == 0) {
        kfree_large(x);
        return;
    }
    if (spanclass_is_kmalloc(s->spanclass)) { /* a pending kmalloc object keeps the key */
        kfree_cached(s, x, s->spanclass);
        return;
    }
    uint64_t tok = plat_pin();
    free_pending(s, x, idx, my_mcache(), tok);
}

void __attribute__((noinline)) kfree_owner_conflict(mspan *s, uintptr_t x, uint32_t idx,
                                                    uint64_t tok)
{
    __atomic_store_n(&s->freeindex, idx + 1, __ATOMIC_RELEASE);
    plat_unpin(tok);
    report_double_free("kfree", x, s);
}

void __attribute__((noinline)) objcache_push_pinning(uintptr_t x, spanClass spc)
{
    uint64_t tok = plat_pin();
    objcache_push(my_mcache(), spc, x, tok);
}

void __attribute__((noinline)) kfree_pinned(mspan *s, uintptr_t x)
{
    uint64_t tok = plat_pin();
    kfree_owner(s, x, mspan_obj_index(s, x), my_mcache(), tok);
}

void kfree(void *p) { kfree_inline(p); }

size_t ksize_op(const void *p, const char *op)
{
    uint32_t idx;
    mspan *s = check_object(op, false, (uintptr_t)p, &idx);
    if (!s)
        return 0;
    return spanclass_sizeclass(s->spanclass) ? s->elemsize : s->npages * PAGE_SIZE;
}

size_t ksize(const void *p) { return ksize_op(p, "ksize"); }

void *krealloc(void *p, size_t size)
{
    if (!p)
        return kmalloc(size);
    uint32_t idx;
    mspan *s = check_object("krealloc", false, (uintptr_t)p, &idx);
    if (!s)
        return 0;
    if (size == 0) {
        kfree(p);
        return 0;
    }
    uint64_t have = spanclass_sizeclass(s->spanclass) ? s->elemsize : s->npages * PAGE_SIZE;
    if (size <= have)
        return p;
    void *q = kmalloc(size);
    if (!q)
        return 0;
    __builtin_memcpy(q, p, have);
    kfree(p);
    return q;
}

/* ------------------------------------------------------------ flushing */

void malloc_flush_mcache(void)
{
    uint64_t tok = plat_pin();
    objcache_flush(my_mcache(), true);
    objcache_flush_transfer(); /* shared, under its locks: nobody's objects */
    mcache_release_all(my_mcache());
    plat_unpin(tok);
}

void malloc_park_mcache(void)
{
    uint64_t tok = plat_pin();
    objcache_flush(my_mcache(), false);
    mcache_release_all(my_mcache());
    plat_unpin(tok);
}

void malloc_flush_all_mcaches(void)
{
    for (uint32_t i = 0; i < mheap_.ncpu; i++)
        objcache_flush(&mheap_.mcaches[i], true);
    objcache_flush_transfer();
    for (uint32_t i = 0; i < mheap_.ncpu; i++)
        mcache_release_all(&mheap_.mcaches[i]);
    mcentral_drain_all_held();
}
