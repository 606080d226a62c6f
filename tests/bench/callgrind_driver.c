/*
 * callgrind_driver.c — the tiny program tests/bench/callgrind.sh runs under
 * valgrind --tool=callgrind to count instructions per kmalloc and kfree.
 *
 *   callgrind_driver pair  N     warm up, then N x { kmalloc(16); kfree }
 *   callgrind_driver lifo  N     warm up, then N/64 x { 64 x kmalloc(16); free LIFO }
 *   callgrind_driver fifo  N     the same, freed FIFO
 *   callgrind_driver mallocgc N  GOGC off, N x mallocgc(48, noscan, zeroed):
 *                                the collected path (no free: nothing
 *                                collects), with its safepoint, allocate-black
 *                                and mark-assist tests
 *
 * The script runs each shape with two values of N and divides the
 * difference of kmalloc's (and kfree's) inclusive instruction counts by the
 * difference of N: the warm-up, initialisation and slow-path start-up cancel
 * out, and what remains is the steady state per call, refills and sweeps
 * amortised in.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "malloc.h"
#include "mgc.h"
#include "platform_host.h"

#define OPAQUE(p) __asm__ volatile("" : : "r"(p) : "memory")

static void *slots[64];

static void batch(uint64_t n, int fifo)
{
    for (uint64_t r = 0; r < n / 64; r++) {
        for (int i = 0; i < 64; i++)
            slots[i] = kmalloc(16);
        if (fifo)
            for (int i = 0; i < 64; i++)
                kfree(slots[i]);
        else
            for (int i = 64; i-- > 0;)
                kfree(slots[i]);
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s pair|lifo|fifo|mallocgc N\n", argv[0]);
        return 2;
    }
    uint64_t n = strtoull(argv[2], 0, 10);
    host_set_ncpu(1);
    malloc_init();
    /* warm: the spans of class 16 B exist and are cached */
    batch(4096, 0);
    batch(4096, 1);
    if (!strcmp(argv[1], "pair")) {
        for (uint64_t i = 0; i < n; i++) {
            void *p = kmalloc(16);
            OPAQUE(p);
            kfree(p);
        }
    } else if (!strcmp(argv[1], "lifo")) {
        batch(n, 0);
    } else if (!strcmp(argv[1], "fifo")) {
        batch(n, 1);
    } else if (!strcmp(argv[1], "mallocgc")) {
        gc_set_percent(-1);
        for (uint64_t i = 0; i < n; i++)
            OPAQUE(mallocgc(48, 0, true));
    } else {
        return 2;
    }
    return 0;
}
