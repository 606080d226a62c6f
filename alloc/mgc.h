/*
 * mgc.h — the garbage collector's interface inside alloc/ (see mgc.c).
 */
#ifndef ALLOC_MGC_H
#define ALLOC_MGC_H

#include <stdbool.h>
#include <stdint.h>

#include "sizeclass.h"

/* Sweep counters (mgcsweep.c): objects the collector freed, by collected
 * span class, and large objects (count, bytes). */
uint64_t gc_freed_objects(spanClass spc);
void gc_freed_large_totals(uint64_t *objects, uint64_t *bytes);
void gc_count_large_free(uint64_t bytes);

#endif
