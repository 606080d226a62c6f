/*
 * stack.c — stacks from manual spans (Go's stack.go, explicit-free flavour).
 *
 * Owns: stackpool[order] (32 KiB manual spans cut into stacks of
 * 2 KiB << order, with a free list through the free stacks' first words),
 * a per-CPU cache per order, and stackLarge free lists by log2(pages).
 *
 * stackalloc(n), n < 32 KiB:
 *   1. pin; take the CPU's cache for order log2(n / 2 KiB);
 *   2. empty → refill from the pool (lock) until it holds 16 KiB;
 *   3. pop a stack; unpin.
 * stackalloc(n), n >= 32 KiB: a stack from stackLarge.free[log2(pages)],
 *   else a manual span of n / 8 KiB pages from the page heap.
 * stackfree mirrors it: the per-CPU cache takes the stack; above 32 KiB it
 *   releases stacks to the pool down to 16 KiB; a pool span whose stacks
 *   are all free goes back to the page heap; large stacks go to their free
 *   list (stack_cache_flush_all returns those to the page heap).
 *
 * BAD FREES: every stack span records its kind (pool or large), its stack
 * size (elemsize) and which of its stacks are handed out (stackInUse bits,
 * set by stackalloc, cleared by stackfree with one atomic RMW).  stackfree
 * checks, in order: a stack span holds x, x is a stack start (offset a
 * multiple of elemsize), n == elemsize, and the in-use bit was set — so a
 * wrong size, a pool span passed as a large stack, or a second free is
 * reported ("stackfree: ...") and changes nothing.
 *
 * Invariants: for a pool span s: s->allocCount == stacks of s handed out or
 * cached (not on s's free list); s is on stackpool[order] iff its free list
 * is non-empty; popcount(stackInUse) <= allocCount (cached stacks are not
 * in use).  For every stack span: stackInUse has bits only below
 * npages * PAGE_SIZE / elemsize.  Locking: pool_lock and large_lock protect the pool and the
 * large lists; they are taken before mheap_.lock (lock order stackpool →
 * mheap).  Per-CPU caches are touched only by their pinned owner, except by
 * stack_cache_flush_all, which requires quiescence.
 */
#include "debug.h"
#include "stack.h"
#include "lockrank.h"
#include "malloc.h"
#include "malloc_impl.h"
#include "mheap.h"

#define POOL_PAGES (STACK_CACHE_SIZE / PAGE_SIZE)
#define LARGE_LISTS 48

struct stackcache {
    uintptr_t list; /* free stacks linked through their first word */
    uint64_t size;  /* bytes on the list */
} __attribute__((aligned(64)));

static struct stackcache cache[PLAT_MAX_CPUS][NUM_STACK_ORDERS];

static plat_lock_t pool_lock = PLAT_LOCK_INIT(LOCKRANK_STACKPOOL);
static mspan *pool[NUM_STACK_ORDERS]; /* spans with free stacks, linked by next/prev */
static uint64_t pool_spans;

static plat_lock_t large_lock = PLAT_LOCK_INIT(LOCKRANK_STACKLARGE);
static mspan *large_free[LARGE_LISTS]; /* free large-stack spans, linked by next */
static uint64_t large_spans;

static uint64_t inuse_bytes, nallocs, nfrees;

static int order_of(uint64_t n)
{
    int o = 0;
    while ((uint64_t)STACK_MIN_BYTES << o < n)
        o++;
    return o;
}

static void pool_insert_locked(int order, mspan *s)
{
    ALLOC_DLOCKED(&pool_lock);
    s->prev = 0;
    s->next = pool[order];
    if (pool[order])
        pool[order]->prev = s;
    pool[order] = s;
}

static void pool_remove_locked(int order, mspan *s)
{
    ALLOC_DLOCKED(&pool_lock);
    if (s->prev)
        s->prev->next = s->next;
    else
        pool[order] = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = 0;
}

/* One stack of the given order from the pool, or 0. */
static uintptr_t pool_alloc_locked(int order)
{
    ALLOC_DLOCKED(&pool_lock);
    mspan *s = pool[order];
    if (!s) {
        s = mheap_alloc(POOL_PAGES, 0, true);
        if (!s)
            return 0;
        uint64_t sz = (uint64_t)STACK_MIN_BYTES << order;
        s->manualKind = MANUAL_STACK_POOL;
        s->elemsize = sz;
        s->stackInUse = 0;
        s->manualFreeList = 0;
        for (uint64_t off = STACK_CACHE_SIZE; off >= sz; off -= sz) {
            uintptr_t x = s->startAddr + off - sz;
            *(uintptr_t *)x = s->manualFreeList;
            s->manualFreeList = x;
        }
        s->allocCount = 0;
        pool_insert_locked(order, s);
        pool_spans++;
    }
    uintptr_t x = s->manualFreeList;
    s->manualFreeList = *(uintptr_t *)x;
    s->allocCount++;
    if (!s->manualFreeList)
        pool_remove_locked(order, s);
    return x;
}

static void pool_free_locked(int order, uintptr_t x)
{
    ALLOC_DLOCKED(&pool_lock);
    mspan *s = span_of(x);
    if (!s->manualFreeList)
        pool_insert_locked(order, s);
    *(uintptr_t *)x = s->manualFreeList;
    s->manualFreeList = x;
    if (--s->allocCount == 0) {
        pool_remove_locked(order, s);
        pool_spans--;
        mheap_free_span(s);
    }
}

static void cache_refill_body(void *p);

struct refill_args { /* whole words (platform.h plat_systemstack) */
    struct stackcache *c;
    int64_t order;
    uint64_t keep;
};

/* Refill / release on a big stack (plat_systemstack): the pool may grow
 * or shrink the page heap. */
static void cache_refill(struct stackcache *c, int order)
{
    struct refill_args a = {c, order, 0};
    plat_systemstack(cache_refill_body, &a);
}

static void cache_refill_body(void *p)
{
    struct refill_args *a = p;
    struct stackcache *c = a->c;
    int order = a->order;
    uint64_t sz = (uint64_t)STACK_MIN_BYTES << order;
    plat_lock(&pool_lock);
    while (c->size < STACK_CACHE_SIZE / 2) {
        uintptr_t x = pool_alloc_locked(order);
        if (!x)
            break;
        *(uintptr_t *)x = c->list;
        c->list = x;
        c->size += sz;
    }
    plat_unlock(&pool_lock);
}

static void cache_release_body(void *p);

static void cache_release(struct stackcache *c, int order, uint64_t keep)
{
    struct refill_args a = {c, order, keep};
    plat_systemstack(cache_release_body, &a);
}

static void cache_release_body(void *p)
{
    struct refill_args *a = p;
    struct stackcache *c = a->c;
    int order = a->order;
    uint64_t keep = a->keep;
    uint64_t sz = (uint64_t)STACK_MIN_BYTES << order;
    plat_lock(&pool_lock);
    while (c->size > keep) {
        uintptr_t x = c->list;
        c->list = *(uintptr_t *)x;
        c->size -= sz;
        pool_free_locked(order, x);
    }
    plat_unlock(&pool_lock);
}

static int log2_pages(uint64_t npages)
{
    int l = 0;
    while ((1ull << (l + 1)) <= npages)
        l++;
    return l;
}

/* Stack x of its span is now handed out (in_use) or back (!in_use);
 * returns whether the bit changed. */
static bool mark_in_use(mspan *s, uintptr_t x, bool in_use)
{
    uint64_t bit = 1ull << ((x - s->startAddr) / s->elemsize);
    if (in_use)
        return !(__atomic_fetch_or(&s->stackInUse, bit, __ATOMIC_ACQ_REL) & bit);
    return (__atomic_fetch_and(&s->stackInUse, ~bit, __ATOMIC_ACQ_REL) & bit) != 0;
}

void *stackalloc(uint64_t n)
{
    if (n < STACK_MIN_BYTES || (n & (n - 1)))
        return 0;
    uintptr_t x = 0;
    if (n < STACK_CACHE_SIZE) {
        int order = order_of(n);
        uint64_t tok = plat_pin();
        struct stackcache *c = &cache[plat_cpu_id()][order];
        if (!c->list)
            cache_refill(c, order);
        x = c->list;
        if (x) {
            c->list = *(uintptr_t *)x;
            c->size -= n;
        }
        plat_unpin(tok);
    } else {
        uint64_t npages = n / PAGE_SIZE;
        int l = log2_pages(npages);
        plat_lock(&large_lock);
        mspan *s = l < LARGE_LISTS ? large_free[l] : 0;
        if (s)
            large_free[l] = s->next;
        plat_unlock(&large_lock);
        if (!s) {
            s = mheap_alloc(npages, 0, true);
            if (s) {
                s->manualKind = MANUAL_STACK_LARGE;
                __atomic_fetch_add(&large_spans, 1, __ATOMIC_RELAXED);
            }
        }
        if (s) {
            s->next = 0;
            x = s->startAddr;
        }
    }
    if (x) {
        if (!mark_in_use(span_of(x), x, true))
            plat_panic("stackalloc: handed out a stack that is already in use");
        __atomic_fetch_add(&inuse_bytes, n, __ATOMIC_RELAXED);
        __atomic_fetch_add(&nallocs, 1, __ATOMIC_RELAXED);
    }
    return (void *)x;
}

/* The stack span of stack (x, n) with x's in-use bit now cleared, or NULL
 * after reporting why (x, n) is not a stack in use. */
static mspan *check_free(uintptr_t x, uint64_t n)
{
    mspan *s = span_of(x);
    uint8_t kind = s && __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == mSpanManual
                       ? s->manualKind : MANUAL_NONE;
    if (kind == MANUAL_NONE || x < s->startAddr || x >= s->startAddr + s->npages * PAGE_SIZE ||
        (n & (n - 1)) || n < STACK_MIN_BYTES || (x - s->startAddr) % s->elemsize) {
        alloc_report("stackfree: 0x%lx (%lu bytes) is not a stack from stackalloc",
                     (unsigned long)x, (unsigned long)n);
        return 0;
    }
    if (n != s->elemsize) {
        alloc_report("stackfree: 0x%lx (%lu bytes) is a %lu-byte stack", (unsigned long)x,
                     (unsigned long)n, (unsigned long)s->elemsize);
        return 0;
    }
    if (!mark_in_use(s, x, false)) {
        alloc_report("stackfree: double free of 0x%lx (%lu bytes)", (unsigned long)x,
                     (unsigned long)n);
        return 0;
    }
    return s;
}

void stackfree(void *p, uint64_t n)
{
    uintptr_t x = (uintptr_t)p;
    mspan *s = check_free(x, n);
    if (!s)
        return;
    __atomic_fetch_sub(&inuse_bytes, n, __ATOMIC_RELAXED);
    __atomic_fetch_add(&nfrees, 1, __ATOMIC_RELAXED);
    if (n < STACK_CACHE_SIZE) {
        int order = order_of(n);
        uint64_t tok = plat_pin();
        struct stackcache *c = &cache[plat_cpu_id()][order];
        if (c->size >= STACK_CACHE_SIZE)
            cache_release(c, order, STACK_CACHE_SIZE / 2);
        *(uintptr_t *)x = c->list;
        c->list = x;
        c->size += n;
        plat_unpin(tok);
        return;
    }
    int l = log2_pages(s->npages);
    if (l >= LARGE_LISTS) {
        __atomic_fetch_sub(&large_spans, 1, __ATOMIC_RELAXED);
        mheap_free_span(s);
        return;
    }
    plat_lock(&large_lock);
    s->next = large_free[l];
    large_free[l] = s;
    plat_unlock(&large_lock);
}

void stack_cache_flush_all(void)
{
    for (uint32_t cpu = 0; cpu < plat_ncpu(); cpu++)
        for (int o = 0; o < NUM_STACK_ORDERS; o++)
            cache_release(&cache[cpu][o], o, 0);
    plat_lock(&large_lock);
    mspan *list[LARGE_LISTS];
    for (int l = 0; l < LARGE_LISTS; l++) {
        list[l] = large_free[l];
        large_free[l] = 0;
    }
    plat_unlock(&large_lock);
    for (int l = 0; l < LARGE_LISTS; l++)
        while (list[l]) {
            mspan *s = list[l];
            list[l] = s->next;
            s->next = 0;
            __atomic_fetch_sub(&large_spans, 1, __ATOMIC_RELAXED);
            mheap_free_span(s);
        }
}

void read_stackstats(struct stackstats *o)
{
    uint64_t cached = 0;
    for (uint32_t cpu = 0; cpu < plat_ncpu(); cpu++)
        for (int i = 0; i < NUM_STACK_ORDERS; i++)
            cached += cache[cpu][i].size;
    plat_lock(&large_lock);
    for (int l = 0; l < LARGE_LISTS; l++)
        for (mspan *s = large_free[l]; s; s = s->next)
            cached += s->npages * PAGE_SIZE;
    plat_unlock(&large_lock);
    o->inuse_bytes = __atomic_load_n(&inuse_bytes, __ATOMIC_RELAXED);
    o->cached_bytes = cached;
    o->pool_spans = pool_spans;
    o->large_spans = __atomic_load_n(&large_spans, __ATOMIC_RELAXED);
    o->allocs = __atomic_load_n(&nallocs, __ATOMIC_RELAXED);
    o->frees = __atomic_load_n(&nfrees, __ATOMIC_RELAXED);
}
