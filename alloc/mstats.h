/*
 * mstats.h — allocator statistics with runtime.MemStats names, and their
 * printers.  See mstats.c for definitions and the output formats.
 *
 * Exact when the system is quiescent; otherwise per-CPU counters are read
 * without synchronisation and may be slightly behind.
 */
#ifndef ALLOC_MSTATS_H
#define ALLOC_MSTATS_H

#include <stdint.h>

#include "platform.h"
#include "sizeclass.h"

struct memstats {
    /* runtime.MemStats */
    uint64_t HeapAlloc;    /* bytes of live heap objects (small: class size; large: pages) */
    uint64_t HeapSys;      /* bytes of heap arenas mapped (Prepared or Ready) */
    uint64_t HeapIdle;     /* bytes in free pages (HeapSys - HeapInuse - StackInuse) */
    uint64_t HeapInuse;    /* bytes in in-use heap spans */
    uint64_t HeapReleased; /* bytes of free pages given back (Prepared) */
    uint64_t HeapObjects;  /* live objects = Mallocs - Frees */
    uint64_t Mallocs;      /* objects allocated, cumulative (incl. tiny) */
    uint64_t Frees;        /* objects freed, cumulative (incl. tiny: Go's rule) */
    uint64_t TotalAlloc;   /* bytes allocated, cumulative */
    uint64_t StackInuse;   /* bytes in manual (stack) spans */
    uint64_t StackSys;     /* = StackInuse until stacks have their own pool */
    uint64_t MSpanSys;     /* metadata bytes: arena index, arena metadata, spans */
    uint64_t GCBitsSys;    /* span bitmap bytes */
    uint64_t OtherSys;     /* everything else persistentalloc holds */

    uint64_t GCFrees;        /* objects the collector freed (part of Frees; no CPU's count) */
    uint64_t KmallocInuse;   /* bytes of live kmalloc objects (part of HeapAlloc; never collected) */
    uint64_t KmallocObjects; /* live kmalloc objects (part of HeapObjects) */
    uint64_t TinyAllocs;   /* tiny objects packed into existing blocks */
    uint64_t LargeAllocs, LargeFrees;          /* objects */
    uint64_t LargeAllocBytes, LargeFreeBytes;  /* bytes (whole pages) */
    uint64_t LargeObjects;                     /* live large objects */

    uint64_t Arenas;       /* 64 MiB arenas */
    /* Heap address space by state (Go's None/Reserved/Prepared/Ready) */
    uint64_t Reserved;     /* reserved, not (yet) Prepared */
    uint64_t Prepared;     /* Prepared, not Ready */
    uint64_t Ready;        /* Ready (backed) */
    uint64_t MetaReady;    /* persistentalloc's Ready bytes (metadata) */

    struct {
        uint32_t size;
        uint64_t mallocs, frees, spans;
    } BySize[NUM_SIZE_CLASSES]; /* [0]: large objects */

    uint32_t ncpu;
    struct {
        uint64_t mallocs, frees, refills;
        uint64_t remote_frees;   /* frees into spans another CPU had cached */
        uint64_t spans_returned; /* spans given back to mcentral */
        uint64_t sweeps_in_place; /* full cached spans swept and kept */
    } PerCPU[PLAT_MAX_CPUS];
};

/* Everything, aggregating the per-CPU counters. */
void read_memstats(struct memstats *out);
/* Only the page-heap figures (HeapSys, HeapInuse, HeapIdle, HeapReleased,
 * StackInuse, Arenas, Reserved/Prepared/Ready): cheap, no per-CPU walk. */
void read_memstats_heap(struct memstats *out);

typedef void (*memstats_emit_t)(const char *line);
/* Aligned tables for people. */
void memstats_print_table(memstats_emit_t emit);
/* One fact per line, `stat <Name> <value>` / `stat class C size S mallocs M
 * frees F spans N` / `stat cpu C mallocs M frees F refills R`. */
void memstats_print_facts(memstats_emit_t emit);
/* The size-class table: class, bytes/obj, bytes/span, pages/span, objects,
 * tail waste (bytes), max waste (percent, two decimals, integer math). */
void sizeclasses_print(memstats_emit_t emit);

#endif
