/*
 * mbarrier.h — the write barrier for C (Go's mbarrier.go + mwbbuf.go):
 * how C code stores pointers into collected objects so that a collector
 * that marks while the program runs cannot lose what it reaches.
 *
 * THE RULE.  A store of a pointer into a COLLECTED object (mallocgc /
 * newobject / newarray memory, including a fresh one) goes through the
 * barrier:
 *     GC_WB(node->next, other);          a pointer field
 *     gc_wb_memmove(dst, src, n);        a copy of typed memory (Go's typedmemmove)
 *     gc_wb_memclr(dst, n);              zeroing typed memory (Go's memclrHasPointers)
 * Not needed for stores to stacks and locals, to globals (both are scanned
 * again at the end of a mark), or to kmalloc memory (never scanned: it must
 * not hold the only pointer to a collected object anyway).
 *
 * THE BARRIER is Go's hybrid one (Yuasa deletion + Dijkstra insertion,
 * proposal 17503): while gc_wb_enabled, each store records the slot's OLD
 * value and the NEW one in the calling CPU's buffer (512 entries; Go's
 * wbBuf), which is flushed into that CPU's mark queue when full and at the
 * end of the mark: both become grey.  When no mark runs, GC_WB is one load
 * and a predictable branch before the plain store.
 *
 * NEW OBJECTS need no barrier to survive: while a cycle runs mallocgc
 * allocates black (mgc.h gc_alloc_black), so one stored only into an
 * already-scanned root or object lives; the stores into it still go
 * through GC_WB (what they overwrite or install may be white).
 *
 * WHEN IT IS ON.  gc_wb_enabled is set and cleared only with the world
 * stopped (GC.md invariant I3), around the mark.  With gcstoptheworld=1
 * (the default) the world is stopped while it is on, so only code that
 * runs inside the mark — the test hook gc_debug_set_scan_hook, which plays
 * a mutator at a chosen point — meets it; with gcstoptheworld=0 (mgc.h)
 * every task meets it while the collector marks concurrently, and a store
 * that skips it can lose an object (gccheckmark finds it: the kernel tests
 * gc_concurrent_*).  What the buffers recorded is drained, with the world
 * stopped again, in rounds until no buffer holds work (mwbbuf.c, mgc.c).
 */
#ifndef ALLOC_MBARRIER_H
#define ALLOC_MBARRIER_H

#include <stdint.h>

extern volatile uint32_t gc_wb_enabled; /* Go's writeBarrier.enabled */
void gc_wb_slow(void **slot, void *val);

static inline void gc_wb_ptr(void **slot, void *val)
{
    if (__builtin_expect(__atomic_load_n(&gc_wb_enabled, __ATOMIC_RELAXED), 0))
        gc_wb_slow(slot, val);
    else
        *slot = val;
}
#define GC_WB(lvalue, val) gc_wb_ptr((void **)&(lvalue), (void *)(val))

/* memmove of n bytes into typed memory at dst: the pointer words of dst
 * (per the heap bitmap) have their old and new values shaded first. */
void gc_wb_memmove(void *dst, const void *src, uint64_t n);
/* Zero n bytes of typed memory at dst, shading its old pointer values. */
void gc_wb_memclr(void *dst, uint64_t n);
/* Grey the object p points into (no-op when no mark runs or p is not a
 * collected object). */
void gc_shade(const void *p);

/* ---- tests ---- */
/* 1: GC_WB stores without recording (the negative control: gccheckmark
 * must then find what the mark lost). */
extern volatile uint32_t gc_debug_disable_wb;
/* Run fn(obj) once, on the marker, right after it scanned obj (GC.md's
 * deterministic "mutator after a chosen object is scanned", T2).  Debug
 * builds only (ALLOC_DEBUG: the host tests, the debug kernel); elsewhere
 * the mark does not look for it. */
typedef void (*gc_scan_hook_fn)(uintptr_t obj);
void gc_debug_set_scan_hook(uintptr_t obj, gc_scan_hook_fn fn);
/* Run fn(arg) once, on the collecting CPU, at the start of the next mark:
 * gc_phase is GC_MARK and the barrier on, the roots are collected but not
 * scanned, so what fn allocates is allocated black and what it stores
 * through GC_WB is recorded.  All builds (one load per cycle): the barrier
 * benchmark (tests/bench/bench_barrier.c) times GC_WB and mallocgc there. */
void gc_debug_set_mark_start_hook(void (*fn)(void *), void *arg);

#endif
