/*
 * persistent.c — bump allocator for metadata that lives forever.
 *
 * Owns: a list of regions obtained from plat_reserve; the current region's
 * bump pointer and the end of its Ready prefix.
 *
 * Allocation (one path; metadata allocation is rare):
 *   1. Round the bump pointer up to `align`.
 *   2. If the object would cross the region's end, reserve a new region
 *      (max(size, PERSISTENT_REGION)) and prepare it.
 *   3. If it would cross the Ready prefix, plat_back the missing
 *      PERSISTENT_CHUNK-rounded span; on failure return NULL unchanged.
 *   4. Advance the bump pointer; the memory is zero because plat_back
 *      zero-fills and nothing ever wrote it.
 *
 * Invariants: base <= next <= ready <= end; [base, ready) is Ready,
 * [ready, end) is Prepared.  Locking: `lock` protects all fields (leaf rank).
 */
#include "debug.h"
#include "lockrank.h"
#include "persistent.h"
#include "platform.h"

#define PERSISTENT_REGION (64ull << 20)

static PLAT_NOSCAN struct { /* bounds are heap-window addresses: not a root */
    plat_lock_t lock;
    uintptr_t next, ready, end;
    uint64_t sys;
} pa = {.lock = PLAT_LOCK_INIT(LOCKRANK_PERSISTENT)};

static uint64_t round_up(uint64_t x, uint64_t a) { return (x + a - 1) & ~(a - 1); }

static int new_region_locked(uint64_t size)
{
    ALLOC_DLOCKED(&pa.lock);
    uint64_t rsize = round_up(size > PERSISTENT_REGION ? size : PERSISTENT_REGION,
                              PERSISTENT_REGION);
    uintptr_t base = plat_reserve(rsize, PLAT_PAGE_SIZE);
    if (base == 0)
        return 0;
    if (!plat_prepare(base, rsize))
        return 0; /* the reservation is leaked as Reserved VA: harmless */
    pa.next = pa.ready = base;
    pa.end = base + rsize;
    return 1;
}

void *persistentalloc(uint64_t size, uint64_t align, uint64_t *stat)
{
    if (size == 0 || align == 0 || (align & (align - 1)) || align > 4096)
        return 0;
    plat_lock(&pa.lock);
    uintptr_t p = round_up(pa.next, align);
    if (pa.end == 0 || p + size > pa.end || p + size < p) {
        if (!new_region_locked(size)) {
            plat_unlock(&pa.lock);
            return 0;
        }
        p = pa.next;
    }
    if (p + size > pa.ready) {
        uint64_t want = round_up(p + size - pa.ready, PERSISTENT_CHUNK);
        if (pa.ready + want > pa.end)
            want = pa.end - pa.ready;
        if (!plat_back(pa.ready, want)) {
            plat_unlock(&pa.lock);
            return 0;
        }
        pa.ready += want;
        pa.sys += want;
    }
    pa.next = p + size;
    plat_unlock(&pa.lock);
    if (stat)
        __atomic_fetch_add(stat, size, __ATOMIC_RELAXED);
    return (void *)p;
}

uint64_t persistent_sys_bytes(void)
{
    return __atomic_load_n(&pa.sys, __ATOMIC_RELAXED);
}
