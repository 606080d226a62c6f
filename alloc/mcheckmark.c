/*
 * mcheckmark.c — gccheckmark (Go's mcheckmark.go): a second, independent
 * mark that proves the real one found everything reachable.
 *
 * WHEN: at the end of the mark (mgc.c), the world still stopped, the real
 * mark's bits final in every span's gcmarkBits and nothing swept yet.
 *
 * THE PASS (serial, on the collecting CPU):
 *   1. Every arena gets its checkmark bitmap (1 bit per 8-byte word, 1 MiB
 *      per 64 MiB arena, persistentalloc'd once and cleared each pass; Go
 *      keeps the same per-arena bitmap).  No memory: the pass is skipped,
 *      with a message — a debug aid must not take the heap down.
 *   2. Every root is scanned again — ALL of them, ignoring the test switch
 *      gc_debug_skip_roots, which is what lets a test break the real mark
 *      and watch this pass catch it — with the checkmark instances of the
 *      marker (gc_checkmark_ptr/_scan_range/_drain: mgcmark.c's code with
 *      the checkmark step compiled in), which find objects exactly as the
 *      real mark does, then hand them here.
 *   3. gc_checkmark_grey: the object's first word's checkmark bit; already
 *      set → done.  If its gcmarkBits bit is clear, the real mark missed a
 *      reachable object: report it with what reached it (the object being
 *      scanned, or the root word and its kind), then mark it for real (bit,
 *      page mark, marked bytes) so that the sweep does not free it.  Scan
 *      objects are queued and drained like a normal mark.
 * The reports go through the error hook (alloc_report); the caller decides
 * whether they are fatal (GC_CHECKMARK_FATAL, Go's throw).
 *
 * FALSE REPORTS.  Go's checkmark scans stacks precisely; ours scans them
 * conservatively, as the real mark does — but the real mark scanned a
 * task's stack once, while the world ran, and this pass reads it now.  A
 * word stored after that scan which only LOOKS like a pointer (a byte
 * store over the upper bytes of an old heap address, a stale slot in a
 * fresh frame) can name an object nobody holds: reported as "reached from
 * a task stack word", though the real mark was right.  alloc/ keeps its
 * own frames free of such byte stores (platform.h plat_systemstack); the
 * kernel tests treat a misaligned stack word as no loss
 * (tests/kernel/test_gc_conc_split.c cc_hook).
 *
 * COST: a full second mark on one CPU, plus clearing 1 MiB per arena.  A
 * debug mode: off by default, on in one boot of the test matrix.
 *
 * LOCKING: none taken while marking (the world is stopped); the bitmaps
 * are allocated through persistentalloc (its own lock) before the pass.
 */
#include "malloc_impl.h"
#include "mgcpriv.h"
#include "persistent.h"

#define CHECKMARK_BYTES (ARENA_BYTES / 8 / 8) /* 1 bit per word: 1 MiB */
#define MAX_REPORTS 16                         /* lines; the count is always given */

volatile uint32_t gc_checkmark_mode;
static uint64_t checkmark_sys; /* bytes of bitmaps (persistentalloc'd) */

void gc_set_checkmark(uint32_t mode)
{
    __atomic_store_n(&gc_checkmark_mode, mode <= GC_CHECKMARK_REPORT ? mode : GC_CHECKMARK_FATAL,
                     __ATOMIC_RELAXED);
}

uint32_t gc_get_checkmark(void) { return __atomic_load_n(&gc_checkmark_mode, __ATOMIC_RELAXED); }

/* Step 1. */
static bool bitmaps_ready(void)
{
    for (heapArena *ha = mheap_.allArenas; ha; ha = ha->next) {
        if (!ha->checkmarks)
            ha->checkmarks = persistentalloc(CHECKMARK_BYTES, 4096, &checkmark_sys);
        if (!ha->checkmarks)
            return false;
        __builtin_memset(ha->checkmarks, 0, CHECKMARK_BYTES);
    }
    return true;
}

static const char *root_kind_name(uint32_t kind)
{
    switch (kind) {
    case GC_ROOT_GLOBALS: return "global";
    case GC_ROOT_TASKS: return "task stack";
    case GC_ROOT_TASKS | GC_ROOT_SEGMENTS: return "task stack segment";
    case GC_ROOT_CPUS: return "CPU stack";
    case GC_ROOT_TINY: return "tiny block";
    case GC_ROOT_TABLE: return "gc_add_root range";
    default: return "root";
    }
}

static void report(struct gcwork *w, const mspan *s, uintptr_t obj)
{
    if (w->reports++ >= MAX_REPORTS)
        return;
    char from[96], where[160] = "";
    if (w->from_kind == 0)
        alloc_format(from, sizeof from, "object 0x%lx", (unsigned long)w->from);
    else
        alloc_format(from, sizeof from, "a %s word at 0x%lx", root_kind_name(w->from_kind),
                     (unsigned long)w->from);
    if (w->from_kind & GC_ROOT_TASKS)
        plat_gc_describe_word(w->from, where, sizeof where);
    alloc_report("gccheckmark: 0x%lx (span 0x%lx class %u, %lu B) is reachable but was not "
                 "marked; reached from %s%s%s", (unsigned long)obj, (unsigned long)s->startAddr,
                 (unsigned)spanclass_sizeclass(s->spanclass), (unsigned long)s->elemsize, from,
                 where[0] ? " — " : "", where);
}

/* Step 3. */
void gc_checkmark_grey(struct gcwork *w, mspan *s, uint32_t idx)
{
    uintptr_t obj = s->startAddr + (uint64_t)idx * s->elemsize;
    heapArena *ha = arena_index(obj - mheap_.window_base);
    uint64_t wi = (obj - ha->base) / 8;
    uint64_t bit = 1ull << (wi % 64);
    if (ha->checkmarks[wi / 64] & bit)
        return;
    ha->checkmarks[wi / 64] |= bit;
    uint64_t mbit = 1ull << (idx % 64);
    if (!(__atomic_load_n(&s->gcmarkBits[idx / 64], __ATOMIC_RELAXED) & mbit)) {
        report(w, s, obj);
        __atomic_fetch_or(&s->gcmarkBits[idx / 64], mbit, __ATOMIC_RELAXED);
        gc_set_page_mark(s);
        w->bytes_marked += s->elemsize; /* now marked: counted as live */
    }
    if (!spanclass_noscan(s->spanclass))
        gcwork_put(w, obj);
}

static bool no_roots_left(void) { return false; }

uint32_t gc_checkmark_pass(void (*scan_roots)(struct gcwork *w), uint64_t *repaired_bytes)
{
    *repaired_bytes = 0;
    if (!bitmaps_ready()) {
        alloc_report("gccheckmark: no memory for the checkmark bits (1 MiB per arena): pass "
                     "skipped");
        return 0;
    }
    gcwork_start();
    struct gcwork w;
    gcwork_init(&w);
    gcwork_join();
    scan_roots(&w); /* step 2 */
    gc_checkmark_drain(&w, no_roots_left);
    gcwork_dispose(&w);
    if (w.reports > MAX_REPORTS)
        alloc_report("gccheckmark: ... %u more", w.reports - MAX_REPORTS);
    *repaired_bytes = w.bytes_marked;
    return w.reports;
}
