/*
 * mwbbuf.c — the write barrier's per-CPU buffers (Go's mwbbuf.go) and the
 * typed copy/clear helpers (mbarrier.go).  The API and the rule for C code
 * are in mbarrier.h.
 *
 * PER CPU (struct wbcpu, one per CPU, persistentalloc'd at the first mark):
 *   e[]  the buffer: pairs (old value, new value) of barriered stores;
 *   gcw  the CPU's own mark queue for what its flushes grey.
 * Only the owning CPU touches its wbcpu while the mark runs (pinned), and
 * the collecting CPU while the world is stopped (start, rounds, stop).
 *
 * A BARRIERED STORE (gc_wb_slow, gc_wb_enabled set):
 *   1. pin (the buffer is this CPU's);
 *   2. record *slot and val (skipped under gc_debug_disable_wb);
 *   3. buffer full → flush: every recorded value is greyed through
 *      gc_mark_ptr (which ignores what is not a collected object);
 *   4. the store; unpin.
 * No safepoint lies between 2 and 4 (alloc/ code has none), so a stop of
 * the world never sees a recorded value whose store has not happened.
 *
 * THE MARK'S ROUNDS (mgc.c, world stopped between rounds): gc_wb_start
 * (buffers empty, queues ready, barrier on) → the parallel mark →
 * gc_wb_flush_round: flush every buffer and hand every CPU queue with work
 * to the global list; if any, the markers drain again; repeat until a
 * round finds nothing → gc_wb_stop (barrier off, queues disposed, their
 * marked bytes returned).
 * THE RAGGED BARRIER (a concurrent mark, before its second pause; Go's
 * gcMarkDone forEachP): each CPU, at its host's safepoint with the world
 * running, flushes its own buffer and hands its queue's work to the global
 * list (gc_wb_flush_mine, pinned: still only the owner touches it); the
 * main worker drains what they handed over and asks again, until a round
 * finds nothing — so the pause's rounds find only what was stored since.
 */
#include "malloc.h"
#include "malloc_impl.h"
#include "mbarrier.h"
#include "mgcpriv.h"
#include "persistent.h"

#define WB_ENTRIES 512 /* Go's wbBufEntries */

volatile uint32_t gc_wb_enabled;
volatile uint32_t gc_debug_disable_wb;

struct wbcpu {
    uintptr_t e[WB_ENTRIES];
    uint32_t n;
    struct gcwork gcw;
};
static struct wbcpu *cpus; /* [mheap_.ncpu], persistentalloc'd once */
static uint64_t wb_sys;

volatile uintptr_t gc_debug_hook_obj; /* atomic: the object whose scan runs the hook */
static gc_scan_hook_fn hook_fn;

void gc_debug_set_scan_hook(uintptr_t obj, gc_scan_hook_fn fn)
{
    hook_fn = fn;
    __atomic_store_n(&gc_debug_hook_obj, obj, __ATOMIC_RELEASE);
}

static void (*mark_start_fn)(void *); /* written outside cycles, read by the collector */
static void *mark_start_arg;

void gc_debug_set_mark_start_hook(void (*fn)(void *), void *arg)
{
    mark_start_arg = arg;
    __atomic_store_n(&mark_start_fn, fn, __ATOMIC_RELEASE);
}

void gc_debug_mark_start(void)
{
    void (*fn)(void *) = __atomic_exchange_n(&mark_start_fn, 0, __ATOMIC_ACQ_REL);
    if (__builtin_expect(fn != 0, 0))
        fn(mark_start_arg);
}

/* scan_object saw gc_debug_hook_obj == obj: run the hook once (the first
 * marker to claim it). */
void gc_debug_scan_hook(uintptr_t obj)
{
    uintptr_t want = obj;
    if (__atomic_compare_exchange_n(&gc_debug_hook_obj, &want, 0, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_RELAXED))
        hook_fn(obj);
}

static void flush(struct wbcpu *c)
{
    for (uint32_t i = 0; i < c->n; i++)
        if (c->e[i])
            gc_mark_ptr(&c->gcw, c->e[i]);
    c->n = 0;
}

void gc_wb_slow(void **slot, void *val)
{
    uint64_t tok = plat_pin();
    struct wbcpu *c = &cpus[plat_cpu_id()];
    if (!__atomic_load_n(&gc_debug_disable_wb, __ATOMIC_RELAXED)) {
        c->e[c->n++] = (uintptr_t)*slot;
        c->e[c->n++] = (uintptr_t)val;
        if (c->n == WB_ENTRIES)
            flush(c);
    }
    *slot = val;
    plat_unpin(tok);
}

void gc_shade(const void *p)
{
    if (!__atomic_load_n(&gc_wb_enabled, __ATOMIC_RELAXED) || !p)
        return;
    uint64_t tok = plat_pin();
    struct wbcpu *c = &cpus[plat_cpu_id()];
    c->e[c->n++] = (uintptr_t)p;
    c->e[c->n++] = 0;
    if (c->n == WB_ENTRIES)
        flush(c);
    plat_unpin(tok);
}

/* Shade the old pointer words of [dst, dst+n) and, when src, the values
 * that will land in them (Go's bulkBarrierPreWrite). */
static void shade_range(uintptr_t dst, const uintptr_t *src, uint64_t n)
{
    for (uint64_t off = 0; off + 8 <= n; off += 8)
        if (heap_bits_is_pointer(dst + off)) {
            gc_shade(*(void *const *)(dst + off));
            if (src)
                gc_shade((const void *)src[off / 8]);
        }
}

void gc_wb_memmove(void *dst, const void *src, uint64_t n)
{
    if (__builtin_expect(__atomic_load_n(&gc_wb_enabled, __ATOMIC_RELAXED), 0) &&
        !__atomic_load_n(&gc_debug_disable_wb, __ATOMIC_RELAXED))
        shade_range((uintptr_t)dst, src, n);
    __builtin_memmove(dst, src, n);
}

void gc_wb_memclr(void *dst, uint64_t n)
{
    if (__builtin_expect(__atomic_load_n(&gc_wb_enabled, __ATOMIC_RELAXED), 0) &&
        !__atomic_load_n(&gc_debug_disable_wb, __ATOMIC_RELAXED))
        shade_range((uintptr_t)dst, 0, n);
    __builtin_memset(dst, 0, n);
}

/* ------------------------------------------------------------ the mark's rounds */

bool gc_wb_start(void)
{
    if (!cpus)
        cpus = persistentalloc(mheap_.ncpu * sizeof *cpus, 64, &wb_sys);
    if (!cpus)
        return false; /* no barrier buffers: the mark runs without (stop the world) */
    for (uint32_t i = 0; i < mheap_.ncpu; i++) {
        cpus[i].n = 0;
        gcwork_init(&cpus[i].gcw);
    }
    __atomic_store_n(&gc_wb_enabled, 1, __ATOMIC_SEQ_CST);
    return true;
}

/* c's buffer greyed into its queue, and the queue's work to the global
 * list; whether there was any.  By c's owner, or with the world stopped. */
static bool flush_to_global(struct wbcpu *c)
{
    flush(c);
    if (!c->gcw.buf->n)
        return false;
    gcwork_flush(&c->gcw);
    return true;
}

uint32_t gc_wb_flush_round(void)
{
    uint32_t work = 0;
    for (uint32_t i = 0; cpus && gc_wb_enabled && i < mheap_.ncpu; i++)
        work += flush_to_global(&cpus[i]);
    return work;
}

bool gc_wb_flush_mine(void)
{
    if (!cpus || !__atomic_load_n(&gc_wb_enabled, __ATOMIC_ACQUIRE))
        return false;
    uint64_t tok = plat_pin();
    bool work = flush_to_global(&cpus[plat_cpu_id()]);
    plat_unpin(tok);
    return work;
}

uint64_t gc_wb_stop(void)
{
    if (!gc_wb_enabled)
        return 0;
    __atomic_store_n(&gc_wb_enabled, 0, __ATOMIC_SEQ_CST);
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < mheap_.ncpu; i++) {
        bytes += cpus[i].gcw.bytes_marked;
        gcwork_dispose(&cpus[i].gcw);
    }
    return bytes;
}
