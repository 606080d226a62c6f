/*
 * platform_inline.h — libgomalloc's inline per-CPU hooks (alloc/platform.h,
 * PLAT_INLINE_HEADER).  A "CPU" is a slot: each thread takes one of the
 * first GM_EXCL_SLOTS mcache slots on its first allocation and owns it
 * alone, so pinning is free (one TLS load and a compare).  When every
 * exclusive slot is taken — or after the thread's exit destructor handed
 * its slot back — the thread uses one of the GM_SHARED_SLOTS shared slots,
 * whose mcache is only touched under that slot's lock (taken by plat_pin).
 */
#ifndef LIB_PLATFORM_INLINE_H
#define LIB_PLATFORM_INLINE_H

#include <stdint.h>

#define GM_SHARED_SLOTS 8
#define GM_EXCL_SLOTS (64 - GM_SHARED_SLOTS) /* PLAT_MAX_CPUS - shared */

enum { GM_MODE_NONE = 0, GM_MODE_OWNER = 1, GM_MODE_SHARED = 2, GM_MODE_EXITED = 3 };

extern __thread uint32_t gm_slot __attribute__((tls_model("initial-exec")));
extern __thread uint32_t gm_mode __attribute__((tls_model("initial-exec")));
/* the slot's mcache (PLAT_HAVE_CPU_CACHE), set with the slot */
extern __thread void *gm_cache __attribute__((tls_model("initial-exec")));
/* gm_cache while gm_mode == GM_MODE_OWNER, else &mcache_unowned
 * (PLAT_HAVE_OWNER_CACHE): the fast paths' whole pin is this one TLS load. */
extern __thread void *gm_owner_cache __attribute__((tls_model("initial-exec")));

uint64_t gm_pin_slow(void);
void gm_unpin_slow(uint64_t token);

static inline uint64_t plat_pin(void)
{
    if (__builtin_expect(gm_mode == GM_MODE_OWNER, 1))
        return 0;
    return gm_pin_slow();
}

static inline void plat_unpin(uint64_t token)
{
    if (__builtin_expect(token != 0, 0))
        gm_unpin_slow(token);
}

/* Threads have big stacks: the slow paths run where they are. */
static inline void plat_systemstack(void (*fn)(void *), void *arg) { fn(arg); }

static inline uint32_t plat_cpu_id(void) { return gm_slot; }

/* No collector here: kfree's fast path serves kmalloc spans only
 * (alloc/platform.h). */
#define PLAT_KFREE_FAST_KMALLOC_ONLY 1

/* kfree's page → span in one load (alloc/platform.h; window_linux.c maps
 * the table) */
#define PLAT_FLAT_PAGEMAP 1

#ifndef GM_NO_CPU_CACHE
#define PLAT_HAVE_CPU_CACHE 1
static inline void *plat_cpu_cache(void) { return gm_cache; }
#define PLAT_HAVE_OWNER_CACHE 1
static inline void *plat_owner_cache(void) { return gm_owner_cache; }
#endif

#endif
