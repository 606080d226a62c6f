/*
 * gomalloc.h — what lib/platform_linux.c and lib/preload.c share.
 */
#ifndef LIB_GOMALLOC_H
#define LIB_GOMALLOC_H

#include <stdint.h>

#define GM_EXPORT __attribute__((visibility("default")))

/* The heap window's address space (window_linux.c): reserved at first use
 * (PROT_NONE, MAP_NORESERVE), or mapped on demand under RLIMIT_AS. */
#define GM_HEAP_WINDOW (64ull << 30)

/* Initialise the allocator once (any thread, any time, re-entrancy safe). */
void gm_ensure_init(void);
/* Bytes of the heap window that are Ready (backed). */
uint64_t gm_ready_bytes(void);
/* Number of background-free scavenges done, bytes given back. */
uint64_t gm_scavenge_count(void);
uint64_t gm_scavenged_bytes(void);
/* preload.c's over-aligned table lock, held across fork (the fork
 * handlers in platform_linux.c call these). */
void gm_aligned_fork_prepare(void);
void gm_aligned_fork_release(void);
/* window_linux.c's lock (held across fork). */
void gm_window_lock(void);
void gm_window_unlock(void);
/* Write a line to stderr without allocating. */
void gm_write_err(const char *s);

#endif
