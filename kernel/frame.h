/*
 * frame.h — physical 4 KiB frames from the sanitised UEFI map.
 *
 * Contract:
 *   frame_init   once, on the BSP, before anything allocates.
 *   frame_alloc  returns a frame's physical address (never 0: the first
 *                MiB is never handed out by it), or 0 when none is left.
 *                Contents are undefined; frame_alloc_zeroed zeroes.
 *   frame_free   takes back a frame from frame_alloc; freeing anything else
 *                (unaligned, outside managed memory, already free) panics
 *                with the address and the reason.
 *   frame_alloc_low  a frame below 1 MiB (the AP trampoline), or 0.
 * All functions are SMP-safe (one spinlock).
 */
#ifndef KERNEL_FRAME_H
#define KERNEL_FRAME_H

#include <stdint.h>
#include "memmap.h"

#define FRAME_SIZE 4096ull
#define FRAME_LOW_LIMIT 0x100000ull /* 1 MiB */

void frame_init(const struct mem_range *usable, int n);
uint64_t frame_alloc(void);
uint64_t frame_alloc_zeroed(void);
uint64_t frame_alloc_low(void);
void frame_free(uint64_t pa);

uint64_t frame_total(void); /* frames managed (above 1 MiB) */
uint64_t frame_free_count(void);
/* True when pa lies in a managed (usable) frame, free or not. */
int frame_is_managed(uint64_t pa);

#endif
