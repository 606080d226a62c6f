/*
 * platform_inline.h (host) — inline versions of alloc/platform.h's per-CPU
 * hooks for Linux builds that name this file in PLAT_INLINE_HEADER (the
 * benchmarks; see tests/bench/alloc_bench.mk).
 *
 * Pinning is a no-op on the host (a "CPU" is whatever host_set_cpu said for
 * the calling thread); the CPU id is one thread-local load, already clamped
 * to [0, ncpu) by host_set_cpu; the CPU's mcache also one.
 */
#ifndef HOST_PLATFORM_INLINE_H
#define HOST_PLATFORM_INLINE_H

#include <stdint.h>

extern __thread uint32_t host_cur_cpu; /* platform_host.c */

static inline uint64_t plat_pin(void) { return 0; }
static inline void plat_unpin(uint64_t token) { (void)token; }

/* Threads have big stacks: the slow paths run where they are. */
static inline void plat_systemstack(void (*fn)(void *), void *arg) { fn(arg); }

static inline uint32_t plat_cpu_id(void) { return host_cur_cpu; }

/* Per-CPU cache slot (see alloc/platform.h): the thread's CPU's slot, kept
 * in a thread-local copy by host_set_cpu and plat_set_cpu_cache.  So with
 * these hooks every thread but the one that ran malloc_init must call
 * host_set_cpu before it allocates. */
#define PLAT_HAVE_CPU_CACHE 1

/* as the preload library: the flat page map (alloc/platform.h) */
#define PLAT_FLAT_PAGEMAP 1
#ifndef __PIC__ /* the benchmarks are linked -no-pie: one %fs-relative load */
extern __thread void *host_cur_cache __attribute__((tls_model("local-exec")));
#else
extern __thread void *host_cur_cache; /* platform_host.c */
#endif
static inline void *plat_cpu_cache(void) { return host_cur_cache; }

#endif
