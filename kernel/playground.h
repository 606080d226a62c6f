/*
 * playground.h — the heap playground on the serial shell (playground.c):
 * alloc, drop, free, obj, span, heapmap and append.  Tests read the root
 * table through these accessors.
 */
#ifndef KERNEL_PLAYGROUND_H
#define KERNEL_PLAYGROUND_H

#include <stdbool.h>
#include <stdint.h>

#define PG_ENTRIES 64
#define PG_MAX_COUNT 1000000

enum pg_state {
    PG_EMPTY = 0,
    PG_HELD = 1,    /* rooted: the table points at its object array */
    PG_DROPPED = 2, /* unrooted: the collector may take the objects */
    PG_FREED = 3,   /* kfree'd by `free N` */
};

struct pg_info {
    uint8_t state, scan;
    uint64_t size, count;
};

/* Entry n (1..PG_ENTRIES): false when n is out of range. */
bool playground_entry(int n, struct pg_info *out);
/* The entry the last successful `alloc` made (0: none). */
int playground_last_entry(void);
/* Object i of a held entry, XOR'ed with `hide` so that a test can keep it
 * without keeping it alive; 0 when the entry is not held. */
uint64_t playground_object_hidden(int n, uint64_t i, uint64_t hide);
/* The entry's object array, XOR'ed with `hide`; 0 when not held. */
uint64_t playground_array_hidden(int n, uint64_t hide);
/* Forget every entry (tests: back to an empty table). */
void playground_reset(void);

#endif
