/*
 * platform_host.h — knobs of the Linux implementation of alloc/platform.h,
 * for host tests.
 *
 * The heap window is one PROT_NONE mapping of HOST_HEAP_WINDOW bytes made at
 * first use (MAP_NORESERVE: costs nothing until backed).  "Physical memory"
 * is simulated: plat_back fails once the Ready bytes would exceed
 * host_phys_limit, which lets tests exhaust memory deterministically.
 */
#ifndef PLATFORM_HOST_H
#define PLATFORM_HOST_H

#include <stdint.h>

#define HOST_HEAP_WINDOW (1ull << 40) /* 1 TiB of address space (default) */

/* The window size in use: HOST_HEAP_WINDOW, or $HOST_HEAP_WINDOW_GB GiB when
 * that environment variable is set (read once, at first use). */
uint64_t host_heap_window_size(void);

/* Simulated physical memory (bytes that may be Ready at once). Default 4 GiB. */
void host_set_phys_limit(uint64_t bytes);
uint64_t host_ready_bytes(void);

/* Nonzero: plat_pagemap_back refuses (as under an address-space limit),
 * so a heap growth that needs more of the flat page map fails. */
void host_set_pagemap_refuse(int on);

/* Simulated CPUs: plat_ncpu() returns host_ncpu (default 1, set before the
 * allocator is initialised); plat_cpu_id() returns the calling thread's
 * host_set_cpu value (default 0; ids >= ncpu become 0). */
void host_set_ncpu(uint32_t n);
void host_set_cpu(uint32_t id);

/* When non-NULL, plat_panic calls this instead of aborting (tests of fatal
 * paths longjmp out of it). */
extern void (*host_panic_hook)(const char *msg);

/* Threads that mark at once when the collector runs (default 1). */
void host_set_gc_markers(uint32_t n);

/* Locks the calling thread holds (alloc/lockrank.h's held count). */
uint32_t host_locks_held(void);

/* Last message passed to plat_log (for tests that check wording). */
const char *host_last_log(void);
/* Silence plat_log output on stderr (messages are still recorded). */
void host_set_quiet(int quiet);

#endif
