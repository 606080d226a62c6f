/*
 * mobjcache.h — freed-object caches for kmalloc's size classes: a LIFO
 * array per CPU and size class, and a transfer cache per size class
 * between the CPUs.  See the essay in mobjcache.c.
 *
 * CONTRACT
 *   - Only kmalloc's small span classes (KMALLOC_SPC_BASE + 1 ..) are
 *     cached.  Collected classes never are: the collector must see a freed
 *     object as a free slot, and their explicit frees are rare.
 *   - An object in a cache (a CPU's array or the transfer cache) is
 *     ALLOCATED as far as its span knows (allocBits / freeindex) and not
 *     pending.
 *   - THE KEY (mheap_.objcache_key, odd, bit 1 clear, drawn at
 *     malloc_init): a kmalloc slot holds it in its first word iff it is not
 *     a live object — KEY while cached, KEY | 2 once released to its span
 *     and while free there (a new span's slots are keyed before its kfree
 *     gate opens); objcache_is_key tests both.  kmalloc clears it whenever
 *     it hands a slot out (debug builds put the poison there instead), and
 *     hands an object out of a cache only if it holds KEY, out of its span
 *     only if it holds KEY | 2.
 *   - Mallocs and Frees count cached objects as freed: a push counts a free
 *     at once (objcache.pushes), a pop a malloc (derived, see objcache_counts).
 */
#ifndef ALLOC_MOBJCACHE_H
#define ALLOC_MOBJCACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "debug.h"
#include "sizeclass.h"

/* One size class's freed objects on one CPU: base[0..top - base), newest
 * at top[-1]; top == end: full.  And the class's push counter on that CPU
 * (in the same 32 bytes: the push touches one line and indexes once).
 * Owner (the CPU, pinned) only: plain loads and stores, except that top is
 * stored with release order after *top is written, so that a reader on
 * another CPU (statistics, heap_verify, a fork child's repair) that loads top
 * with acquire sees base[0..top - base) written.  All three pointers are
 * NULL until the CPU's first push allocates its arrays
 * (objcache_push_slow): a push then finds top == end, a pop top == base. */
typedef struct objcache {
    uintptr_t *top;    /* next free entry */
    uintptr_t *end;    /* base + objcache_capacity(class) */
    uintptr_t *base;   /* the CPU's own block (mcache.fcBlock) */
    uint64_t pushes;   /* kfrees into the array */
} objcache;

static inline uint32_t objcache_n(const objcache *fc)
{
    return (uint32_t)(__atomic_load_n(&fc->top, __ATOMIC_ACQUIRE) - fc->base);
}

struct mcache;
struct mspan;

/* How many objects of size class cls a CPU keeps (about 64 KiB of
 * objects: at most 1024, at least 4).  The transfer cache holds four
 * times as many. */
uint32_t objcache_capacity(uint8_t cls);

void objcache_init(void);
/* kfree's push when c's array fc (&c->fc[cls]) is full or not yet
 * allocated: spill its older half to the transfer cache (what does not
 * fit there goes back to the spans as pending frees), then push x.  Caller
 * pinned on c's CPU (tok) and x checked (first word now the key); unpins.
 * c == &mcache_unowned (not pinned): pins, as objcache_push_pinning. */
void objcache_push_slow(struct mcache *c, objcache *fc, uintptr_t x, uint64_t tok);
/* The CPU's array of class spc is empty: take a batch from the transfer
 * cache and return one object of it (its first word cleared), or 0 when
 * the transfer cache is empty too.  Caller pinned on c's CPU. */
void *objcache_refill(struct mcache *c, spanClass spc);
/* kmalloc_slow, for a small size class: if the newest object of this
 * CPU's array of spc lacks the key (kmalloc_fast refused it), take it out
 * and report it (DUPLICATES in mobjcache.c).  Pins itself. */
void objcache_drop_bad_top(spanClass spc);
/* Empty c's arrays: into the transfer cache (to_spans false; what does not
 * fit goes to the spans) or straight back to the spans as pending frees
 * (to_spans: the memory becomes free at the spans' next sweep).  Caller
 * pinned on c's CPU, or the system quiescent. */
void objcache_flush(struct mcache *c, bool to_spans);
/* Every transfer cache back to the spans (quiescent callers: tests,
 * malloc_flush_all_mcaches, a fork child). */
void objcache_flush_transfer(void);
/* kfree found the key in x's first word: report the double free. */
void objcache_double_free(uintptr_t x);
/* Slot x, just taken from kmalloc span s (its owner, pinned), lacks the
 * released key: written after its free, or pushed into a cache while free
 * (a double free of a free slot whose key a write after free erased).
 * Report it and leave it allocated (a leak: whichever copy a cache holds
 * stays the one owner); false.  objcache_debug_trust_key: hand it out
 * anyway (true). */
bool objcache_span_slot_bad(struct mspan *s, uintptr_t x);
/* mheap_alloc, a new small kmalloc span s (published, its gate closed, no
 * slot handed out): every slot's first word = KEY | 2, then open kfree's
 * gate (freeLimit, release).  So every free slot of a kmalloc span holds a
 * key, and kfree's key test alone tells an object that is not allocated. */
void objcache_key_span(struct mspan *s);
/* Statistics of CPU c, size class cls: *pops = objects handed out of the
 * array, *pushes = frees into it (racy unless quiescent). */
void objcache_counts(const struct mcache *c, uint8_t cls, uint64_t *pops, uint64_t *pushes);
/* Objects held by the transfer cache of cls and, summed, by every CPU's
 * array (heap_verify's equations; quiescent). */
uint64_t objcache_cached(uint8_t cls);
/* heap_verify: every cached object is an allocated, not pending object
 * start of its class holding the key, and no object is cached twice.
 * false + message otherwise.  Quiescent. */
bool objcache_verify(char *err, uint64_t errlen);

/* The key of a freed kmalloc slot: KEY (mheap_.objcache_key) while it is
 * in a cache, KEY | 2 once released to its span (pending, then free until
 * handed out).  w is either: one test (KEY has bit 1 clear). */
#define OBJCACHE_RELEASED 2ull
static inline bool objcache_is_key(uint64_t w, uint64_t key)
{
    return (w & ~OBJCACHE_RELEASED) == key;
}

/* Hand out o, just popped from a cache: its first word must not keep the
 * key (a later kfree would take it for a double free).  Debug builds check
 * the rest is still poison (use after free) and keep poison there. */
void objcache_debug_take(uintptr_t o);
static inline __attribute__((always_inline)) void objcache_take(uintptr_t o)
{
    if (ALLOC_DEBUG)
        objcache_debug_take(o);
    else
        *(uint64_t *)o = 0;
}
/* A kmalloc slot just handed out of its span: it may hold the key still,
 * from its release to the span (see the essay). */
static inline __attribute__((always_inline)) void objcache_unkey(void *o)
{
    *(uint64_t *)o = ALLOC_DEBUG ? FREE_POISON : 0;
}
/* Debug: poison a pushed object but its first word (the key). */
static inline __attribute__((always_inline)) void objcache_poison(uintptr_t x, uint64_t size)
{
    if (ALLOC_DEBUG)
        debug_poison((void *)(x + 8), size - 8);
}

/* Tests: 1 makes a CPU's first push find no metadata memory for its
 * arrays (persistentalloc failed): its frees then go straight back to the
 * spans as pending frees, and its mallocs use the spans alone. */
extern volatile uint32_t objcache_debug_no_block;
/* Tests' negative control: 1 turns off what catches a duplicate when it
 * leaves its cache (DUPLICATES): objcache_drop_bad_top puts the key back
 * instead of dropping the object (so it is handed out), release_batch skips
 * its checks, and objcache_span_slot_bad hands a keyless span slot out.
 * The fast paths' tests stay; nothing else reads this. */
extern volatile uint32_t objcache_debug_trust_key;
/* Tests' negative control: 1 makes a full transfer cache keep its oldest
 * objects and release the new ones instead (the policy before W7's fix). */
extern volatile uint32_t objcache_debug_keep_oldest;

/* fork (lib/preload.c): hold every transfer lock across fork. */
void objcache_fork_lock(void);
void objcache_fork_unlock(void);

#endif
