/*
 * mprof.c — the heap profile: which call stacks allocate the collected
 * heap, sampled the way Go samples (runtime/mprof.go, malloc.go's
 * nextSample), for `go tool pprof` (the encoding is mprof_proto.c, the
 * dump kernel/pprof.c).
 *
 * SAMPLING.  Allocated bytes are cut by a Poisson process of rate 1/R
 * (R = MemProfileRate, 512 KiB by default): the distance to the next
 * sample point is exponential with mean R.  Each mcache counts down
 * nextSample by the size of every mallocgc (the requested size for a tiny
 * object, the class size for a small one, the pages for a large one —
 * Go's sizes); an allocation that reaches zero is a sample and a new
 * distance is drawn.  Because the process has independent increments, an
 * object of s bytes is sampled with probability 1 - exp(-s/R) whatever
 * came before it, so dividing by that probability (mprof_scale) estimates
 * counts and bytes without bias for every size.  R = 1 samples everything
 * (nextSample stays 0), R = 0 nothing (nextSample = ~0).  The mallocgc
 * path pays one compare and one subtract on the pinned mcache
 * (malloc.c small_alloc); kmalloc is not sampled (its inline fast path has
 * no room: tests/bench/callgrind.sh).
 *
 * DISTANCES are drawn without floating point (the kernel has none):
 * -ln(U) for U uniform in (0, 1] with 26 random bits like Go, as a
 * fixed-point log2 (integer part from the leading zeros, 32 fraction bits
 * by repeated squaring) times ln 2.
 *
 * RATE CHANGES (mprof_set_rate) store nextSample = 0 in every mcache; each
 * CPU's next mallocgc then reaches mprof_sample_point, sees that its
 * distance was drawn at another rate (c->profRate) and draws a new one,
 * which starts at that allocation.  The store races with the owner's plain decrement: an
 * owner may keep its old distance once (a profiling knob, not a
 * correctness one).
 *
 * STACKS: frame pointers (the kernel and the host tests are built with
 * -fno-omit-frame-pointer).  The walk starts at the frame of the
 * allocator's entry point, so the first frame is the allocating function,
 * and follows saved frame pointers while each is above the last and inside
 * the bounds the platform gives for the stack (plat_stack_bounds; no
 * bounds: the caller's frame only), at most MPROF_MAX_DEPTH frames.  A
 * bad chain ends the walk; it never reads outside the stack.
 *
 * BUCKETS (Go's bucket): one per (stack, object size), in a hash table of
 * BUCKET_HASH chains; allocated from persistentalloc, never freed.  Counts
 * are of samples; scaling happens when the profile is written.
 *
 * SAMPLED OBJECTS.  Go hangs a "special" record on the span.  Here: a hash
 * table keyed by the object's slot start (a tiny sample: its 16-byte
 * block), each entry naming its bucket; the span counts its sampled
 * objects in profSamples.  The table holds the addresses complemented, so
 * that the profile can never keep what it watches alive, should its
 * memory ever be scanned conservatively (persistentalloc memory is not a
 * root today).  A span with profSamples != 0
 *   - has kfree's fast path closed (freeLimit = 0): kfree's owner undo
 *     would hand a slot back without a sweep, so every free of such a span
 *     goes through a pending free and a sweep;
 *   - makes mspan_sweep call mprof_sweep_free for the slots it frees
 *     (explicit kfrees and garbage alike), which moves their samples from
 *     in use to freed;
 *   - a large one is reported by kfree_large and the large-object sweep.
 * When profSamples drops to 0, a span without tiny blocks gets its
 * freeLimit back.  Spans without samples cost the sweep one test.
 * In-use figures therefore change when the span is swept: at once for the
 * collector's frees, at the span's next sweep for kfree's.
 *
 * LOCKING: mprof_lock (rank "mprof", lockrank.h) protects the buckets, the
 * object table and every span's profSamples (and the freeLimit changes made
 * with it).  It is taken by mprof_malloc (no lock held), by sweeps (under
 * an mcentral lock or pinned), by large frees (under mheap_.lock); inside
 * it only persistentalloc (rank "persistent") is called.
 * The sweep reads profSamples without the lock.  It cannot miss the sample
 * of a slot it frees: the sample was recorded (store under the lock)
 * before mallocgc returned the object, so before any kfree of it — whose
 * seq_cst RMW on pendingFree pairs with the sweeper's exchange of that
 * word — and before the next collection's stop-the-world (no safepoint
 * lies between the allocation and mprof_malloc), whose barriers order it
 * before the GC sweep.  A sample recorded after the sweep read 0 belongs to
 * an object allocated after that sweep began, which that sweep does not
 * free.
 */
#include "lockrank.h"
#include "malloc_impl.h"
#include "mheap.h"
#include "mprof.h"
#include "persistent.h"

#define BUCKET_HASH 1024
#define OBJ_HASH_MIN 1024

struct bucket {
    struct bucket *next;
    uint64_t hash;
    struct mprof_record r;
};

/* base is stored complemented (~address): see SAMPLED OBJECTS. */
struct objrec {
    struct objrec *next;
    uintptr_t nbase; /* ~ the object's slot start */
    struct bucket *b;
};

static plat_lock_t mprof_lock = PLAT_LOCK_INIT(LOCKRANK_MPROF);
/* ---- mprof_lock ---- */
static struct bucket *buckets[BUCKET_HASH];
static uint32_t nbuckets;
static struct objrec **objtab; /* [objcap] chains */
static uint64_t objcap, nobjs;
static struct objrec *objfree; /* recycled entries */
static uint64_t meta_bytes;    /* persistentalloc'd */
/* ---- atomic ---- */
static uint64_t profile_rate = MPROF_DEFAULT_RATE;
int mprof_test_drop_frees;

/* ------------------------------------------------------------ sampling */

uint64_t mprof_get_rate(void) { return __atomic_load_n(&profile_rate, __ATOMIC_RELAXED); }

void mprof_set_rate(uint64_t rate)
{
    __atomic_store_n(&profile_rate, rate, __ATOMIC_RELAXED);
    for (uint32_t i = 0; i < mheap_.ncpu; i++)
        __atomic_store_n(&mheap_.mcaches[i].nextSample, 0, __ATOMIC_RELAXED);
}

/* -log2(q / 2^26) for q in [1, 2^26], Q32. */
static uint64_t neg_log2_q32(uint64_t q)
{
    uint32_t ip = 63 - (uint32_t)__builtin_clzll(q);
    uint64_t m = q << (63 - ip); /* [1, 2) in Q63 */
    uint64_t frac = 0;
    for (int i = 0; i < 32; i++) {
        unsigned __int128 sq = (unsigned __int128)m * m; /* Q126 */
        frac <<= 1;
        if (sq >> 127) {
            frac |= 1;
            m = (uint64_t)(sq >> 64);
        } else {
            m = (uint64_t)(sq >> 63);
        }
    }
    uint64_t log2q = ((uint64_t)ip << 32) | frac;
    return (26ull << 32) - log2q;
}

uint64_t mprof_exp_draw(uint64_t *rng, uint64_t mean)
{
    uint64_t x = *rng; /* xorshift64 */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *rng = x;
    uint64_t q = (x >> 38) + 1; /* 26 bits, 1..2^26 */
    const uint64_t ln2_q64 = 0xB17217F7D1CF79ACull;
    /* -ln U * mean = -log2 U * ln 2 * mean: Q32 * Q64 * mean >> 96 */
    unsigned __int128 t = (unsigned __int128)neg_log2_q32(q) * ln2_q64; /* Q96 */
    unsigned __int128 d = (t >> 64) * mean;                            /* Q32 */
    return (uint64_t)(d >> 32);
}

static uint64_t draw(mcache *c, uint64_t rate)
{
    if (rate == 0)
        return ~0ull;
    if (rate == 1)
        return 0;
    if (!c->profRand)
        c->profRand = 0x9E3779B97F4A7C15ull * (c->cpu + 1); /* reproducible runs */
    if (!c->profRand)
        c->profRand = 1;
    return mprof_exp_draw(&c->profRand, rate);
}

bool mprof_sample_point(mcache *c, uint64_t size)
{
    uint64_t rate = mprof_get_rate();
    if (c->profRate != rate) { /* first draw at this rate: this object is its start */
        c->profRate = rate;
        c->nextSample = draw(c, rate);
        if (size < c->nextSample) {
            c->nextSample -= size;
            return false;
        }
    }
    c->nextSample = draw(c, rate);
    return rate != 0;
}

/* ------------------------------------------------------------ stacks */

static uint32_t walk(uintptr_t fp, uintptr_t *stk)
{
    uintptr_t lo = 0, hi = 0;
    uint32_t n = 0;
    /* fp is our caller's live frame: its return address is always there */
    stk[n++] = ((uintptr_t *)fp)[1] - 1;
    if (!plat_stack_bounds || !plat_stack_bounds(fp, &lo, &hi))
        return n;
    for (;;) {
        uintptr_t next = ((uintptr_t *)fp)[0];
        if (next <= fp || next & 7 || next < lo || next >= hi || hi - next < 16)
            break;
        fp = next;
        uintptr_t ra = ((uintptr_t *)fp)[1];
        if (ra == 0 || n == MPROF_MAX_DEPTH)
            break;
        stk[n++] = ra - 1;
    }
    return n;
}

/* ------------------------------------------------------------ tables */

static void *meta(uint64_t size) { return persistentalloc(size, 16, &meta_bytes); }

static uint64_t stack_hash(const uintptr_t *stk, uint32_t n, uint64_t size)
{
    uint64_t h = size * 0x9E3779B97F4A7C15ull;
    for (uint32_t i = 0; i < n; i++)
        h = (h ^ stk[i]) * 0xBF58476D1CE4E5B9ull;
    return h ^ (h >> 31);
}

/* The bucket of (stk, size), made if new; NULL when out of memory. */
static struct bucket *bucket_get(const uintptr_t *stk, uint32_t n, uint64_t size)
{
    uint64_t h = stack_hash(stk, n, size);
    struct bucket **head = &buckets[h % BUCKET_HASH];
    for (struct bucket *b = *head; b; b = b->next)
        if (b->hash == h && b->r.size == size && b->r.nstk == n &&
            !__builtin_memcmp(b->r.stk, stk, n * sizeof *stk))
            return b;
    struct bucket *b = meta(sizeof *b);
    if (!b)
        return 0;
    b->hash = h;
    b->r.size = size;
    b->r.nstk = n;
    __builtin_memcpy(b->r.stk, stk, n * sizeof *stk);
    b->next = *head;
    *head = b;
    nbuckets++;
    return b;
}

static uint64_t obj_slot(uintptr_t base, uint64_t cap)
{
    return ((base >> 4) * 0x9E3779B97F4A7C15ull >> 20) & (cap - 1);
}

/* Grow the object table to twice its size (the old array is abandoned to
 * persistentalloc: the arrays together are < 2x the last). */
static bool objtab_grow(void)
{
    uint64_t cap = objcap ? objcap * 2 : OBJ_HASH_MIN;
    struct objrec **t = meta(cap * sizeof *t);
    if (!t)
        return false;
    for (uint64_t i = 0; i < objcap; i++)
        for (struct objrec *o = objtab[i], *nx; o; o = nx) {
            nx = o->next;
            uint64_t k = obj_slot(~o->nbase, cap);
            o->next = t[k];
            t[k] = o;
        }
    objtab = t;
    objcap = cap;
    return true;
}

static bool obj_insert(uintptr_t base, struct bucket *b)
{
    if (nobjs >= objcap && !objtab_grow() && !objcap)
        return false;
    struct objrec *o = objfree;
    if (o)
        objfree = o->next;
    else if (!(o = meta(sizeof *o)))
        return false;
    uint64_t k = obj_slot(base, objcap);
    o->nbase = ~base;
    o->b = b;
    o->next = objtab[k];
    objtab[k] = o;
    nobjs++;
    return true;
}

/* Move every sample of the object at base from in use to freed; returns
 * how many there were (a tiny block may hold several). */
static uint32_t obj_free(uintptr_t base)
{
    if (!objcap)
        return 0;
    uint32_t n = 0;
    for (struct objrec **pp = &objtab[obj_slot(base, objcap)], *o; (o = *pp);) {
        if (o->nbase != ~base) {
            pp = &o->next;
            continue;
        }
        *pp = o->next;
        if (!mprof_test_drop_frees) {
            o->b->r.frees++;
            o->b->r.free_bytes += o->b->r.size;
        }
        o->next = objfree;
        objfree = o;
        nobjs--;
        n++;
    }
    return n;
}

/* ------------------------------------------------------------ events */

struct malloc_args {
    uintptr_t v, fp;
    uint64_t size;
};

static void record_sys(void *p)
{
    struct malloc_args *a = p;
    uintptr_t stk[MPROF_MAX_DEPTH];
    uint32_t n = walk(a->fp, stk);
    mspan *s = span_of(a->v);
    if (!s)
        return;
    uintptr_t base = s->startAddr;
    if (spanclass_sizeclass(s->spanclass))
        base += (uint64_t)mspan_obj_index(s, a->v) * s->elemsize;
    plat_lock(&mprof_lock);
    struct bucket *b = bucket_get(stk, n, a->size);
    if (b && obj_insert(base, b)) {
        b->r.allocs++;
        b->r.alloc_bytes += a->size;
        __atomic_store_n(&s->profSamples, s->profSamples + 1, __ATOMIC_RELAXED);
        /* close kfree's owner undo for this span (see SAMPLED OBJECTS) */
        if (spanclass_sizeclass(s->spanclass))
            __atomic_store_n(&s->freeLimit, 0, __ATOMIC_RELAXED);
    }
    plat_unlock(&mprof_lock);
}

void mprof_malloc(uintptr_t v, uint64_t size, uintptr_t fp)
{
    struct malloc_args a = {v, fp, size};
    plat_systemstack(record_sys, &a);
}

/* profSamples -= n (under mprof_lock); a small span left without samples
 * and without tiny blocks reopens kfree's fast path. */
static void span_drop_samples(mspan *s, uint32_t n)
{
    uint32_t left = s->profSamples - (n < s->profSamples ? n : s->profSamples);
    __atomic_store_n(&s->profSamples, left, __ATOMIC_RELAXED);
    if (!left && !s->tinyBits && spanclass_sizeclass(s->spanclass) && s->state == mSpanInUse &&
        (!PLAT_KFREE_FAST_KMALLOC_ONLY || spanclass_is_kmalloc(s->spanclass)))
        __atomic_store_n(&s->freeLimit, s->limit - s->startAddr, __ATOMIC_RELAXED);
}

void mprof_sweep_free(mspan *s, uint32_t w, uint64_t dead)
{
    uint32_t n = 0;
    plat_lock(&mprof_lock);
    for (; dead; dead &= dead - 1) {
        uint32_t idx = w * 64 + (uint32_t)__builtin_ctzll(dead);
        n += obj_free(s->startAddr + (uint64_t)idx * s->elemsize);
    }
    if (n)
        span_drop_samples(s, n);
    plat_unlock(&mprof_lock);
}

void mprof_free_large(mspan *s)
{
    plat_lock(&mprof_lock);
    obj_free(s->startAddr);
    __atomic_store_n(&s->profSamples, 0, __ATOMIC_RELAXED);
    plat_unlock(&mprof_lock);
}

/* ------------------------------------------------------------ reading */

uint32_t mprof_snapshot(struct mprof_record *out, uint32_t max)
{
    uint32_t k = 0;
    plat_lock(&mprof_lock);
    for (uint32_t i = 0; i < BUCKET_HASH; i++)
        for (struct bucket *b = buckets[i]; b; b = b->next)
            if (k < max)
                out[k++] = b->r;
    uint32_t n = nbuckets;
    plat_unlock(&mprof_lock);
    return n;
}

uint64_t mprof_live_samples(void)
{
    plat_lock(&mprof_lock);
    uint64_t n = nobjs;
    plat_unlock(&mprof_lock);
    return n;
}

/* ------------------------------------------------------------ scaling */

#define Q62 (1ull << 62)

static uint64_t mul_q62(uint64_t a, uint64_t b)
{
    return (uint64_t)(((unsigned __int128)a * b) >> 62);
}

/* exp(-y) for y = yq / 2^62 in [0, 1/2], Q62: Taylor series. */
static uint64_t exp_neg_small(uint64_t yq)
{
    uint64_t term = Q62, sum = Q62; /* alternating: track + and - apart */
    uint64_t neg = 0;
    for (uint32_t k = 1; k < 24 && term; k++) {
        term = mul_q62(term, yq) / k;
        if (k & 1)
            neg += term;
        else
            sum += term;
    }
    return sum - neg;
}

/* 1 - exp(-x) for x = xq / 2^62 in [0, 1/2], Q62: x - x^2/2! + x^3/3! ... */
static uint64_t one_minus_exp_small(uint64_t xq)
{
    uint64_t term = xq, pos = xq, neg = 0;
    for (uint32_t k = 2; k < 24 && term; k++) {
        term = mul_q62(term, xq) / k;
        if (k & 1)
            pos += term;
        else
            neg += term;
    }
    return pos - neg;
}

uint64_t mprof_one_minus_exp_q62(uint64_t avg, uint64_t rate)
{
    if (rate == 0 || avg >= 64 * rate) /* exp(-64) is below Q62's resolution */
        return Q62;
    if (2 * avg <= rate) /* x <= 1/2 */
        return one_minus_exp_small((uint64_t)(((unsigned __int128)avg << 62) / rate));
    /* exp(-x) = exp(-x/128)^128, x/128 < 1/2 */
    uint64_t e = exp_neg_small((uint64_t)(((unsigned __int128)avg << 55) / rate));
    for (int i = 0; i < 7; i++)
        e = mul_q62(e, e);
    return Q62 - e;
}

void mprof_scale(uint64_t count, uint64_t bytes, uint64_t rate, uint64_t *count_out,
                 uint64_t *bytes_out)
{
    if (count == 0 || bytes == 0) {
        *count_out = *bytes_out = 0;
        return;
    }
    if (rate <= 1) {
        *count_out = count;
        *bytes_out = bytes;
        return;
    }
    uint64_t p = mprof_one_minus_exp_q62(bytes / count, rate);
    if (!p)
        p = 1;
    *count_out = (uint64_t)(((unsigned __int128)count << 62) / p);
    *bytes_out = (uint64_t)(((unsigned __int128)bytes << 62) / p);
}
