/*
 * debug.c — fatal errors with span context, the _locked assertion, and the
 * debug level's span recount and poisoning (see debug.h).
 *
 * Everything here is off the fast paths: alloc_fatal_span runs once, the
 * rest is called only at ALLOC_DEBUG >= 1 (debug.h's inline wrappers) or from
 * cold checks.
 */
#include "debug.h"
#include "mheap.h"
#include "malloc_impl.h"
#include "platform.h"

#define UL(x) ((unsigned long)(x))

_Noreturn void alloc_fatal_span(const mspan *s, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    plat_vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (s)
        plat_log("alloc: span 0x%lx npages %lu state %u class %u%s elemsize %lu nelems %u "
                 "freeindex %u allocCount %u pending %d sweepgen %u cachedBy %d, on cpu %u",
                 UL(s->startAddr), UL(s->npages), s->state, spanclass_sizeclass(s->spanclass),
                 spanclass_noscan(s->spanclass) ? " noscan" : "", UL(s->elemsize), s->nelems,
                 s->freeindex, s->allocCount, s->pendingCount, s->sweepgen, s->cachedBy,
                 plat_cpu_id());
    else
        plat_log("alloc: on cpu %u", plat_cpu_id());
    plat_panic(msg);
}

void alloc_assert_locked(const struct plat_lock *l, const char *fn)
{
    if (!plat_lock_held(l))
        alloc_fatal_span(0, "%s: lock 0x%lx (rank %u) not held", fn, UL((uintptr_t)l), l->rank);
}

void debug_check_span_slow(const mspan *s, const char *where)
{
    if (s->state != mSpanInUse || !spanclass_sizeclass(s->spanclass))
        return;
    uint32_t alloc = 0;
    for (uint32_t w = 0; w < s->nwords; w++) {
        uint64_t valid = w == s->nwords - 1 && (s->nelems % 64) ? (1ull << (s->nelems % 64)) - 1
                                                                : ~0ull;
        uint64_t a = (s->allocBits[w] | mspan_below_mask(w, s->freeindex)) & valid;
        ALLOC_CHECK(!(s->allocBits[w] & ~valid), s, "%s: allocBits set past nelems", where);
        ALLOC_CHECK(!s->tinyBits || !(s->tinyBits[w] & ~a), s, "%s: tiny block on a free slot",
                    where);
        alloc += (uint32_t)__builtin_popcountll(a);
    }
    ALLOC_CHECK(alloc == s->allocCount, s, "%s: allocCount != allocated slots (%u)", where, alloc);
    ALLOC_CHECK(s->freeindex <= s->nelems, s, "%s: freeindex past nelems", where);
}

void debug_poison_slow(void *p, uint64_t n)
{
    uint64_t *w = p;
    for (uint64_t i = 0; i < n / 8; i++)
        w[i] = FREE_POISON;
}

/* Index of the first word of the slot that is not poison, or -1. */
static int64_t first_bad_word(const mspan *s, const void *v)
{
    const uint64_t *w = v;
    /* a kmalloc slot released by a freed-object cache keeps the key in its
     * first word until it is handed out again (mobjcache.c) */
    for (uint64_t i = objcache_is_key(w[0], mheap_.objcache_key); i < s->elemsize / 8; i++)
        if (w[i] != FREE_POISON)
            return (int64_t)i;
    return -1;
}

void debug_check_free_slot_slow(const mspan *s, const void *v)
{
    int64_t i = first_bad_word(s, v);
    if (i >= 0)
        alloc_fatal_span(s, "use after free: word %ld of free slot 0x%lx = 0x%lx (span 0x%lx "
                         "class %u, %lu B, slot %u)", (long)i, UL((uintptr_t)v),
                         UL(((const uint64_t *)v)[i]), UL(s->startAddr),
                         spanclass_sizeclass(s->spanclass), UL(s->elemsize),
                         mspan_obj_index(s, (uintptr_t)v));
}

bool debug_slot_poisoned_slow(const mspan *s, uint32_t idx, char *err, uint64_t errlen)
{
    const void *v = (const void *)(s->startAddr + (uint64_t)idx * s->elemsize);
    int64_t i = first_bad_word(s, v);
    if (i < 0)
        return true;
    alloc_format(err, errlen, "use after free: word %ld of free slot 0x%lx = 0x%lx (slot %u)",
                 (long)i, UL((uintptr_t)v), UL(((const uint64_t *)v)[i]), idx);
    return false;
}
