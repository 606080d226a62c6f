/*
 * malloc.h — the allocator's public API: Go-style typed allocation and
 * C-style explicit allocation over one heap (see malloc.c for the design).
 *
 * INITIALISATION
 *   malloc_init() once, after the platform can answer plat_heap_window and
 *   plat_ncpu (later calls do nothing).  Every other function requires it.
 *
 * GO STYLE
 *   gotype describes a type: size, ptrdata (bytes of the prefix that may
 *   hold pointers; 0 = pointer free) and gcmask (1 bit per pointer-sized
 *   word of the first ptrdata bytes, bit i%8 of byte i/8; 1 = pointer).
 *   mallocgc(size, typ, needzero):
 *     - size 0 → the address of a shared zero-size object (Go's zerobase),
 *       not a heap object;
 *     - typ NULL or ptrdata 0 → pointer-free ("noscan") span classes; sizes
 *       below 16 B then go to the TINY allocator (packed into 16 B blocks);
 *     - typed objects with pointers → "scan" span classes, and the heap
 *       bitmap records which words are pointers (heap_bits_is_pointer);
 *     - needzero → the object reads as zero;
 *     - out of memory → plat_panic("out of memory: cannot allocate N-byte
 *       block (M in use)"), N = size, M = HeapSys (Go's wording and number).
 *   newobject(typ) = mallocgc(typ->size, typ, true).
 *   newarray(typ, n) = n elements, zeroed; n*size overflow → error hook
 *     "newarray: size overflow (N x M)" and NULL.
 *   Tiny objects are meant to be reclaimed by the collector: kfree of one
 *   is reported through the error hook and ignored.
 *
 * C STYLE (explicit free; never panics, never uses the tiny allocator)
 *   kmalloc(size): size <= 32768 → an object of the smallest size class that
 *     holds it, NOT zeroed; larger → whole pages.  kmalloc(0) returns a
 *     unique, non-NULL minimal (8-byte class) object that must be kfree'd.
 *     NULL when memory is exhausted (silently) or the request can never be
 *     satisfied (also reported: "kmalloc: cannot allocate N bytes: larger
 *     than memory (M bytes)").
 *   kcalloc(n, size): zeroed; overflow → hook "kcalloc: size overflow (N x M)"
 *     and NULL.
 *   krealloc(p, size): p NULL → kmalloc(size); size 0 → kfree(p), NULL;
 *     size <= ksize(p) → p unchanged; else a new object with the old
 *     contents (ksize(p) bytes), p freed; NULL on failure with p untouched.
 *   kfree(p): p NULL → nothing.  The slot becomes reusable when its span is
 *     next swept; a span whose objects are all free returns to the page heap.
 *     Any CPU may free any object.
 *   ksize(p): usable bytes: the class size (small) or npages * 8192 (large).
 *   ksize_op(p, op): ksize for a wrapper (lib/preload.c's malloc_usable_size
 *     and realloc): its messages name `op` instead of "ksize".
 *   kmalloc memory has span classes of its own (never shared with mallocgc
 *   objects) and is not scanned by the (future) collector — like C memory
 *   under cgo's rules, it must not hold the only reference to a GC object.
 *
 * ALIGNMENT: objects are aligned to their class's natural alignment: 8 at
 * least, 16 from 32 B... (class size's largest power-of-two divisor),
 * power-of-two sizes to themselves up to 8 KiB; large objects to 8 KiB.
 *
 * BAD INPUT: kfree/ksize/krealloc of a pointer outside the heap, an interior
 * pointer, a free slot (double free), a large object twice, a tiny object;
 * overflowing kcalloc/newarray; requests larger than memory.  Each produces
 * ONE message to the error hook naming pointer, span, class and size, e.g.
 *     kfree: 0x... is not in the heap
 *     kfree: interior pointer 0x... (object 0x... in span 0x... class 5, 48 B)
 *     kfree: double free of 0x... (span 0x... class 5, 48 B)
 *     kfree: 0x... is a tiny block (span 0x... class 2, 16 B): tiny objects are not freed
 *     ksize: 0x... is a tiny block (...): tiny objects have no size of their own
 *     krealloc: 0x... is a tiny block (...): tiny objects cannot be reallocated
 *     kfree: 0x... is in a manual span 0x... (N pages), not a heap object
 *     kfree: 0x... is in free heap memory (no span)
 * ksize/krealloc name themselves instead of kfree, and a pointer to a free
 * slot is not a double free for them but
 *     ksize: 0x... is not an allocated object: already freed (span 0x... class 5, 48 B)
 *     ksize: 0x... is not an allocated object: a free slot (span 0x... class 5, 48 B)
 * (pending free vs. swept or never handed out)
 * and the heap is left unchanged (heap_verify passes).  The default hook
 * passes the message to plat_log.
 */
#ifndef ALLOC_MALLOC_H
#define ALLOC_MALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void malloc_init(void);

typedef struct gotype {
    uint64_t size;
    uint64_t ptrdata;
    const uint8_t *gcmask;
    const char *name;
} gotype;

void *mallocgc(uint64_t size, const gotype *typ, bool needzero);
void *newobject(const gotype *typ);
void *newarray(const gotype *typ, uint64_t n);

void *kmalloc(size_t size);
void *kcalloc(size_t n, size_t size);
void *krealloc(void *p, size_t size);
void kfree(void *p);
size_t ksize(const void *p);
size_t ksize_op(const void *p, const char *op);

typedef void (*alloc_error_hook_t)(const char *msg);
/* Install `hook` (NULL = the default, plat_log); returns the previous one. */
alloc_error_hook_t alloc_set_error_hook(alloc_error_hook_t hook);

/* 1 when the 8-byte word at addr lies in a typed object with pointers and
 * its type says it holds a pointer (heap bitmap); 0 otherwise. */
bool heap_bits_is_pointer(uintptr_t addr);

/* Release the calling CPU's mcache (its freed-object caches and the shared
 * transfer caches back to their spans as pending frees, all cached spans
 * back to mcentral, pending frees swept, empty spans to the page heap).
 * Pinned internally. */
void malloc_flush_mcache(void);
/* The same, but the freed objects go to the transfer caches, where other
 * CPUs reuse them (a thread that exits: lib/platform_linux.c). */
void malloc_park_mcache(void);
/* malloc_flush_mcache for every CPU's mcache, the transfer caches
 * emptied, and the empty spans the mcentrals hold back to the page heap
 * (mcentral.c HELD EMPTY SPANS): only when no other CPU is allocating
 * (tests, shutdown, a stopped world). */
void malloc_flush_all_mcaches(void);
/* In a child process after fork(), before anything else allocates: make
 * the heap consistent again when other CPUs (threads) may have been inside
 * the allocator's lock-free paths at the fork (see mfork.c).  Every mcache
 * but keep_cpu's (the forking CPU's; >= ncpu for none) is emptied, so the
 * host may hand those CPUs' slots to new threads.  The host must have
 * released every allocator lock first.  O(arenas + spans). */
void malloc_repair_after_fork(uint32_t keep_cpu);
/* Give free Ready heap pages back to the host; returns bytes released. */
uint64_t heap_scavenge(uint64_t bytes);

/* Check every heap invariant (see verify.c).  Requires quiescence: no other
 * CPU allocating or freeing.  On failure writes the first broken invariant
 * (with the span's fields) into err and returns false. */
bool heap_verify(char *err, size_t errlen);

#endif
