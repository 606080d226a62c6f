/*
 * debug.h — alloc/'s assertion tiers, fatal errors with context, and the
 * debug level's poisoning of free memory.
 *
 * TIERS (ALLOC_DEBUG, a compile-time level: 0 by default; the host tests
 * and one QEMU configuration build with 1)
 *   ALLOC_CHECK(cond, ...)   always on: cheap tests whose failure means the
 *                            heap is already corrupt (a lock not held by a
 *                            _locked function, a span with no free slot
 *                            handed to an mcache, ...).
 *   ALLOC_DCHECK(cond, ...)  debug level only: the expensive ones (span
 *                            invariants recounted at cache, uncache and
 *                            sweep).
 *   alloc_fatal_span(s, ...) the report both use: the span's fields and the
 *                            CPU first, then one greppable line, then
 *                            plat_panic.
 *
 * POISON (debug level): every free slot of a small span holds FREE_POISON
 * in every word.  New spans are filled when mheap_alloc creates them, kfree
 * fills the object it frees (owner undo and pending alike), and slots the
 * collector frees are filled at sweep.  Allocation checks the slot it hands
 * out (debug_check_free_slot) and heap_verify checks every free and pending
 * slot, so a write after free is caught at the next allocation of that slot
 * or the next verify:
 *   use after free: word 3 of free slot 0x... = 0x... (span 0x... class 5, 48 B, slot 12)
 * With poisoning every free slot is dirty, so spans always say needzero.
 */
#ifndef ALLOC_DEBUG_H
#define ALLOC_DEBUG_H

#include <stdbool.h>
#include <stdint.h>

#include "mspan.h"

#ifndef ALLOC_DEBUG
#define ALLOC_DEBUG 0
#endif

#define FREE_POISON 0xa5a5a5a5a5a5a5a5ull

/* Fatal: span context (NULL: none) and the calling CPU, then the message. */
_Noreturn void alloc_fatal_span(const mspan *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define ALLOC_CHECK(cond, s, ...)                                       \
    do {                                                                \
        if (__builtin_expect(!(cond), 0))                               \
            alloc_fatal_span((s), __VA_ARGS__);                         \
    } while (0)

#if ALLOC_DEBUG
#define ALLOC_DCHECK(cond, s, ...) ALLOC_CHECK(cond, s, __VA_ARGS__)
#else
#define ALLOC_DCHECK(cond, s, ...) ((void)0)
#endif

/* A _locked function's entry check: alloc_assert_locked always (where a
 * function is entered from several places), ALLOC_DLOCKED at the debug
 * level (static helpers called right after the lock). */
struct plat_lock;
void alloc_assert_locked(const struct plat_lock *l, const char *fn);
#define ALLOC_DLOCKED(l)                                                \
    do {                                                                \
        if (ALLOC_DEBUG)                                                \
            alloc_assert_locked((l), __func__);                         \
    } while (0)

/* The debug level's checks, out of line in debug.c.  Callers use the
 * inline wrappers below, which compile to nothing at level 0 (a call that
 * returns at once would still cost ~10 instructions on the free path). */
void debug_check_span_slow(const mspan *s, const char *where);
void debug_poison_slow(void *p, uint64_t n);
void debug_check_free_slot_slow(const mspan *s, const void *v);
bool debug_slot_poisoned_slow(const mspan *s, uint32_t idx, char *err, uint64_t errlen);

/* Recount a small span's allocation state (`where` names the caller in
 * the report).  Caller owns the span. */
static inline void debug_check_span(const mspan *s, const char *where)
{
    if (ALLOC_DEBUG)
        debug_check_span_slow(s, where);
}
/* Fill a free slot with FREE_POISON. */
static inline void debug_poison(void *p, uint64_t n)
{
    if (ALLOC_DEBUG)
        debug_poison_slow(p, n);
}
/* The slot just handed out must still hold the poison in every word
 * (fatal "use after free" otherwise). */
static inline void debug_check_free_slot(const mspan *s, const void *v)
{
    if (ALLOC_DEBUG)
        debug_check_free_slot_slow(s, v);
}
/* heap_verify's check of one free or pending slot: false + message. */
static inline bool debug_slot_poisoned(const mspan *s, uint32_t idx, char *err, uint64_t errlen)
{
    return !ALLOC_DEBUG || debug_slot_poisoned_slow(s, idx, err, errlen);
}

#endif
