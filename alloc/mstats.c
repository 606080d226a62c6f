/*
 * mstats.c — statistics (runtime.MemStats names) and their two printed
 * forms, plus the size-class table.
 *
 * SOURCES
 *   - Page heap (under mheap_.lock): HeapSys = pages grown, HeapInuse =
 *     in-use span pages, StackInuse = manual span pages, HeapIdle = free
 *     pages, HeapReleased = free scavenged pages, address-space states.
 *     The empty kmalloc spans mcentral holds (mcentral.c HELD EMPTY SPANS)
 *     count as HeapIdle, not HeapInuse: Go's rule that in-use spans have an
 *     object in them and idle ones have none.
 *   - Per CPU (mcache, owner-written, read relaxed): small mallocs are added
 *     at refill plus the in-flight count of cached spans, frees at kfree,
 *     owner undos (kfree step 4) count as one malloc and one free each,
 *     large objects at alloc/free, tiny objects at allocation.
 *   - The collector's frees (mgcsweep.c, counted by the sweeper, atomic):
 *     added to Frees, per class and large, and shown as GCFrees; they
 *     belong to no CPU, so Σcpu (mallocs - frees) - GCFrees == HeapObjects.
 *   - Adjustments: frees a sweep dropped as raced double frees
 *     (alloc_undone_frees) come off the free counts; after fork, the
 *     child's repair (mfork.c) adds a per-class correction to the free
 *     counts (and large free bytes), not to the per-CPU figures.
 *   Derived: Mallocs = Σclass mallocs + large + tiny; Frees likewise (tiny
 *   objects count as freed at once — Go's convention, their 16-byte block is
 *   the real object); HeapObjects = Mallocs - Frees; HeapAlloc =
 *   Σ(mallocs - frees) × class size + live large bytes; TotalAlloc =
 *   Σ mallocs × class size + large bytes.
 *
 * FORMATS
 *   Table (people): a "heap" block of `Name  value` lines aligned in two
 *   columns with KiB figures, then a per-class table (only classes with
 *   activity) and a per-CPU table.
 *   Facts (scripts), one per line:
 *       stat <Name> <integer>
 *       stat class <c> size <bytes> mallocs <n> frees <n> spans <n>
 *       stat cpu <i> mallocs <n> frees <n> remote_frees <n> refills <n> spans_returned <n>
 *   Size classes: Go's sizeclasses.go header columns.
 *
 * No floating point: percentages are computed in integers.
 */
#include "gcbits.h"
#include "malloc_impl.h"
#include "mgc.h"
#include "mheap.h"
#include "mstats.h"
#include "persistent.h"

uint64_t alloc_undone_frees(spanClass spc); /* malloc.c */

void read_memstats_heap(struct memstats *o)
{
    plat_lock(&mheap_.lock);
    o->HeapSys = pagealloc_total_pages(&mheap_.pages) * PAGE_SIZE;
    /* (held_pages changes under mcentral locks: read once, both fields
     * use the same value, so HeapSys = HeapInuse + StackInuse + HeapIdle) */
    uint64_t held = __atomic_load_n(&mheap_.held_pages, __ATOMIC_RELAXED);
    o->HeapInuse = (mheap_.inuse_pages - held) * PAGE_SIZE;
    o->StackInuse = mheap_.manual_pages * PAGE_SIZE;
    o->StackSys = o->StackInuse;
    o->HeapIdle = (pagealloc_free_pages(&mheap_.pages) + held) * PAGE_SIZE;
    o->HeapReleased = pagealloc_scav_pages(&mheap_.pages) * PAGE_SIZE;
    o->Arenas = mheap_.narenas;
    o->Reserved = mheap_.reserved_bytes - mheap_.prepared_bytes;
    o->Ready = mheap_.ready_bytes;
    o->Prepared = mheap_.prepared_bytes - mheap_.ready_bytes;
    o->LargeObjects = mheap_.large_live;
    o->MSpanSys = mheap_.meta_bytes + pagealloc_meta_bytes(&mheap_.pages);
    for (int c = 0; c < NUM_SIZE_CLASSES; c++)
        o->BySize[c].spans = mheap_.nspans[c];
    plat_unlock(&mheap_.lock);
    o->GCBitsSys = gcbits_sys_bytes();
    o->MetaReady = persistent_sys_bytes();
    uint64_t known = o->MSpanSys + o->GCBitsSys;
    o->OtherSys = o->MetaReady > known ? o->MetaReady - known : 0;
}

#define LD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

/* One CPU's small-object counts of span class spc: mallocs and frees. */
static void small_counts(const mcache *c, spanClass spc, uint64_t *m, uint64_t *f)
{
    uint64_t undo = LD(c->undoCount[spc]);
    *m = LD(c->smallAllocCount[spc]) + mcache_inflight_allocs(c, spc) + undo;
    *f = LD(c->smallFreeCount[spc]) + undo;
    if (spanclass_is_kmalloc(spc)) { /* freed-object cache: mobjcache.c */
        uint64_t pops, pushes;
        objcache_counts(c, spanclass_sizeclass(spc), &pops, &pushes);
        *m += pops;
        *f += pushes;
    }
}

/* Per-CPU counters into o (BySize mallocs/frees, large and tiny, per CPU,
 * kmalloc's share). */
static void read_cpu_counters(struct memstats *o, uint32_t i)
{
    const mcache *c = &mheap_.mcaches[i];
    uint64_t m = 0, f = 0;
    for (int spc = 0; spc < NUM_SPAN_CLASSES; spc++) {
        uint8_t cls = spanclass_sizeclass((spanClass)spc);
        if (!cls)
            continue;
        uint64_t cm, cf;
        small_counts(c, (spanClass)spc, &cm, &cf);
        o->BySize[cls].mallocs += cm;
        o->BySize[cls].frees += cf;
        if (spanclass_is_kmalloc((spanClass)spc)) {
            o->KmallocObjects += cm - cf;
            o->KmallocInuse += (cm - cf) * class_to_size[cls];
        }
        m += cm;
        f += cf;
    }
    uint64_t tiny = LD(c->tinyAllocs);
    o->TinyAllocs += tiny;
    uint64_t la = LD(c->largeAllocCount[0]) + LD(c->largeAllocCount[1]);
    uint64_t lf = LD(c->largeFreeCount[0]) + LD(c->largeFreeCount[1]);
    o->LargeAllocs += la;
    o->LargeFrees += lf;
    o->LargeAllocBytes += LD(c->largeAlloc[0]) + LD(c->largeAlloc[1]);
    o->LargeFreeBytes += LD(c->largeFree[0]) + LD(c->largeFree[1]);
    o->KmallocObjects += LD(c->largeAllocCount[1]) - LD(c->largeFreeCount[1]);
    o->KmallocInuse += LD(c->largeAlloc[1]) - LD(c->largeFree[1]);
    o->PerCPU[i].mallocs = m + tiny + la;
    /* tiny objects count as freed at once (Go's rule for Frees), so that
     * the per-CPU mallocs - frees add up to HeapObjects too */
    o->PerCPU[i].frees = f + tiny + lf;
    o->PerCPU[i].refills = LD(c->refills);
    o->PerCPU[i].remote_frees = LD(c->remoteFrees);
    o->PerCPU[i].spans_returned = LD(c->spansReturned);
    o->PerCPU[i].sweeps_in_place = LD(c->sweepsInPlace);
}

void read_memstats(struct memstats *o)
{
    __builtin_memset(o, 0, sizeof *o);
    read_memstats_heap(o);
    o->ncpu = mheap_.ncpu;
    for (uint32_t i = 0; i < mheap_.ncpu; i++)
        read_cpu_counters(o, i);
    /* after fork, malloc_repair_after_fork's adjustments (mfork.c) */
    o->LargeFrees += (uint64_t)malloc_fork_frees_adjust(0);
    o->LargeFreeBytes += (uint64_t)malloc_fork_large_bytes_adjust();
    o->BySize[0].mallocs = o->LargeAllocs;
    o->BySize[0].frees = o->LargeFrees;
    uint64_t gcl, gclb;
    gc_freed_large_totals(&gcl, &gclb); /* the collector's frees, at sweep */
    o->LargeFrees += gcl;
    o->LargeFreeBytes += gclb;
    o->GCFrees = gcl;
    o->BySize[0].frees = o->LargeFrees;
    for (int spc = 0; spc < NUM_SPAN_CLASSES; spc++) {
        uint8_t cls = spanclass_sizeclass((spanClass)spc);
        uint64_t gcf = cls ? gc_freed_objects((spanClass)spc) : 0;
        o->BySize[cls].frees += gcf;
        o->GCFrees += gcf;
        uint64_t undone = alloc_undone_frees((spanClass)spc);
        o->BySize[cls].frees -= undone;
        if (spanclass_is_kmalloc((spanClass)spc)) {
            o->KmallocObjects += undone;
            o->KmallocInuse += undone * class_to_size[cls];
        }
    }
    for (int cls = 0; cls < NUM_SIZE_CLASSES; cls++) {
        o->BySize[cls].size = class_to_size[cls];
        if (cls) {
            o->BySize[cls].frees += (uint64_t)malloc_fork_frees_adjust(cls);
            o->Mallocs += o->BySize[cls].mallocs;
            o->Frees += o->BySize[cls].frees;
            o->HeapAlloc += (o->BySize[cls].mallocs - o->BySize[cls].frees) * class_to_size[cls];
            o->TotalAlloc += o->BySize[cls].mallocs * class_to_size[cls];
        }
    }
    o->Mallocs += o->LargeAllocs + o->TinyAllocs;
    o->Frees += o->LargeFrees + o->TinyAllocs;
    o->HeapObjects = o->Mallocs - o->Frees;
    o->HeapAlloc += o->LargeAllocBytes - o->LargeFreeBytes;
    o->TotalAlloc += o->LargeAllocBytes;
}

static void emitf(memstats_emit_t emit, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emitf(memstats_emit_t emit, const char *fmt, ...)
{
    char line[200];
    va_list ap;
    va_start(ap, fmt);
    plat_vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    emit(line);
}

#define UL(x) ((unsigned long)(x))

static const char *const trigger_names[] = {"heap", "time", "cycle", "oom"};

/* The collector's MemStats fields, for people. */
static void print_gc_table(memstats_emit_t emit)
{
    struct gc_stats g;
    gc_read_stats(&g);
    emit("garbage collector");
    if (!g.EnableGC) {
        emit("  (no collector on this platform)");
        return;
    }
    char gogc[16];
    if (g.GOGC < 0)
        alloc_format(gogc, sizeof gogc, "off");
    else
        alloc_format(gogc, sizeof gogc, "%d", g.GOGC);
    emitf(emit, "  %-14s %14u  (%u forced)   GOGC %s", "NumGC", g.NumGC, g.NumForcedGC, gogc);
    emitf(emit, "  %-14s %14lu B %10lu KiB", "NextGC", UL(g.NextGC), UL(g.NextGC >> 10));
    emitf(emit, "  %-14s %14lu B %10lu KiB", "HeapMarked", UL(g.HeapMarked), UL(g.HeapMarked >> 10));
    emitf(emit, "  %-14s %14lu B %10lu KiB", "HeapLive", UL(g.HeapLive), UL(g.HeapLive >> 10));
    emitf(emit, "  %-14s %14lu ns  (last %lu ns)", "PauseTotalNs", UL(g.PauseTotalNs),
          UL(g.NumGC ? g.PauseNs[(g.NumGC + GC_HISTORY - 1) % GC_HISTORY] : 0));
    emitf(emit, "  %-14s %14lu ns since boot", "LastGC", UL(g.LastGC));
    emitf(emit, "  %-14s %9lu.%04lu %%", "GCCPUFraction", UL(g.GCCPUFractionPPM / 10000),
          UL(g.GCCPUFractionPPM % 10000));
    struct gc_sweep_stats w;
    gc_read_sweep_stats(&w);
    uint64_t named = w.bg_spans + w.prop_spans + w.reclaim_spans + w.finish_spans;
    emitf(emit, "  %-14s %14lu spans  (background %lu, proportional %lu, reclaimer %lu, "
          "finish %lu, on demand %lu)", "Swept", UL(w.spans), UL(w.bg_spans), UL(w.prop_spans),
          UL(w.reclaim_spans), UL(w.finish_spans), UL(w.spans > named ? w.spans - named : 0));
    emitf(emit, "  %-14s %14lu pages  (%lu spans await their sweep)", "Reclaimed",
          UL(w.reclaim_pages), UL(gc_sweep_pending_spans()));
}

/* The sweepers' counters (mgcsweep.c) as one fact. */
static void print_sweep_fact(memstats_emit_t emit)
{
    struct gc_sweep_stats w;
    gc_read_sweep_stats(&w);
    emitf(emit, "stat sweep spans %lu pages %lu bg %lu proportional %lu reclaim_spans %lu "
          "reclaim_pages %lu finish %lu pending %lu", UL(w.spans), UL(w.pages), UL(w.bg_spans),
          UL(w.prop_spans), UL(w.reclaim_spans), UL(w.reclaim_pages), UL(w.finish_spans),
          UL(gc_sweep_pending_spans()));
}

/* One `stat gc ...` fact per kept cycle record (exact bytes and times). */
static void print_gc_records(memstats_emit_t emit)
{
    struct gc_stats g;
    gc_read_stats(&g);
    uint32_t first = g.NumGC > GC_HISTORY ? g.NumGC - GC_HISTORY + 1 : 1;
    for (uint32_t n = first; n <= g.NumGC; n++) {
        struct gc_cycle_record r;
        if (!gc_cycle_record(n, &r))
            continue;
        emitf(emit, "stat gc n %u trigger %s forced %u ncpu %u gogc %d start_ns %lu heap0 %lu "
              "heap1 %lu marked %lu goal %lu next_goal %lu stacks %lu globals %lu",
              r.n, trigger_names[r.trigger & 3], r.forced, r.ncpu, r.gogc, UL(r.start_ns),
              UL(r.heap0), UL(r.heap1), UL(r.marked), UL(r.goal), UL(r.next_goal), UL(r.stacks),
              UL(r.globals));
        emitf(emit, "stat gc n %u stw1_ns %lu mark_ns %lu stw2_ns %lu stop_ns %lu mark_cpu_ns %lu "
              "sweep_left %lu", r.n, UL(r.stw1_ns), UL(r.mark_ns), UL(r.stw2_ns), UL(r.stop_ns),
              UL(r.mark_cpu_ns), UL(r.sweep_left));
    }
}

void memstats_print_table(memstats_emit_t emit)
{
    struct memstats st;
    read_memstats(&st);
    static const char *const names[] = {
        "HeapAlloc", "HeapSys", "HeapIdle", "HeapInuse", "HeapReleased", "TotalAlloc",
        "StackInuse", "StackSys", "MSpanSys", "GCBitsSys", "OtherSys",
    };
    const uint64_t bytes[] = {
        st.HeapAlloc, st.HeapSys, st.HeapIdle, st.HeapInuse, st.HeapReleased, st.TotalAlloc,
        st.StackInuse, st.StackSys, st.MSpanSys, st.GCBitsSys, st.OtherSys,
    };
    emit("heap statistics");
    for (unsigned i = 0; i < sizeof bytes / sizeof bytes[0]; i++)
        emitf(emit, "  %-14s %14lu B %10lu KiB", names[i], UL(bytes[i]), UL(bytes[i] >> 10));
    emitf(emit, "  %-14s %14lu", "HeapObjects", UL(st.HeapObjects));
    emitf(emit, "  %-14s %14lu B %10lu KiB  (%lu objects: kmalloc's share of HeapAlloc)",
          "KmallocInuse", UL(st.KmallocInuse), UL(st.KmallocInuse >> 10), UL(st.KmallocObjects));
    emitf(emit, "  %-14s %14lu", "Mallocs", UL(st.Mallocs));
    emitf(emit, "  %-14s %14lu  (%lu by the collector)", "Frees", UL(st.Frees), UL(st.GCFrees));
    emitf(emit, "  %-14s %14lu", "TinyAllocs", UL(st.TinyAllocs));
    emitf(emit, "  %-14s %14lu  (%lu freed, %lu live)", "LargeAllocs", UL(st.LargeAllocs),
          UL(st.LargeFrees), UL(st.LargeObjects));
    emitf(emit, "  %-14s %14lu  (64 MiB each)", "Arenas", UL(st.Arenas));
    emitf(emit, "  address space  reserved %lu KiB  prepared %lu KiB  ready %lu KiB  metadata %lu KiB",
          UL(st.Reserved >> 10), UL(st.Prepared >> 10), UL(st.Ready >> 10),
          UL(st.MetaReady >> 10));
    print_gc_table(emit);
    emit("size classes in use");
    emit("  class   size       mallocs         frees          live  spans");
    for (int c = 0; c < NUM_SIZE_CLASSES; c++) {
        if (!st.BySize[c].mallocs && !st.BySize[c].spans)
            continue;
        if (c == 0)
            emitf(emit, "  %5s %6s %13lu %13lu %13lu %6lu", "large", "-", UL(st.BySize[c].mallocs),
                  UL(st.BySize[c].frees), UL(st.BySize[c].mallocs - st.BySize[c].frees),
                  UL(st.BySize[c].spans));
        else
            emitf(emit, "  %5d %6u %13lu %13lu %13lu %6lu", c, st.BySize[c].size,
                  UL(st.BySize[c].mallocs), UL(st.BySize[c].frees),
                  UL(st.BySize[c].mallocs - st.BySize[c].frees), UL(st.BySize[c].spans));
    }
    emit("per cpu");
    emit("  cpu       mallocs         frees  remote frees   refills  spans returned");
    for (uint32_t i = 0; i < st.ncpu; i++)
        emitf(emit, "  %3u %13lu %13lu %13lu %9lu %15lu", i, UL(st.PerCPU[i].mallocs),
              UL(st.PerCPU[i].frees), UL(st.PerCPU[i].remote_frees), UL(st.PerCPU[i].refills),
              UL(st.PerCPU[i].spans_returned));
}

void memstats_print_facts(memstats_emit_t emit)
{
    struct memstats st;
    read_memstats(&st);
#define FACT(name) emitf(emit, "stat " #name " %lu", UL(st.name))
    FACT(HeapAlloc); FACT(HeapSys); FACT(HeapIdle); FACT(HeapInuse); FACT(HeapReleased);
    FACT(HeapObjects); FACT(Mallocs); FACT(Frees); FACT(TotalAlloc); FACT(StackInuse);
    FACT(StackSys); FACT(MSpanSys); FACT(GCBitsSys); FACT(OtherSys); FACT(TinyAllocs);
    FACT(LargeAllocs); FACT(LargeFrees); FACT(LargeAllocBytes); FACT(LargeFreeBytes);
    FACT(LargeObjects); FACT(GCFrees); FACT(KmallocInuse); FACT(KmallocObjects); FACT(Arenas); FACT(Reserved); FACT(Prepared); FACT(Ready);
    FACT(MetaReady);
#undef FACT
    struct gc_stats g;
    gc_read_stats(&g);
    emitf(emit, "stat NumGC %u", g.NumGC);
    emitf(emit, "stat NumForcedGC %u", g.NumForcedGC);
    emitf(emit, "stat NextGC %lu", UL(g.NextGC));
    emitf(emit, "stat HeapMarked %lu", UL(g.HeapMarked));
    emitf(emit, "stat LastGC %lu", UL(g.LastGC));
    emitf(emit, "stat PauseTotalNs %lu", UL(g.PauseTotalNs));
    emitf(emit, "stat GCCPUFractionPPM %lu", UL(g.GCCPUFractionPPM));
    emitf(emit, "stat GOGC %d", g.GOGC);
    print_sweep_fact(emit);
    print_gc_records(emit);
    for (int c = 0; c < NUM_SIZE_CLASSES; c++)
        emitf(emit, "stat class %d size %u mallocs %lu frees %lu spans %lu", c, st.BySize[c].size,
              UL(st.BySize[c].mallocs), UL(st.BySize[c].frees), UL(st.BySize[c].spans));
    for (uint32_t i = 0; i < st.ncpu; i++)
        emitf(emit, "stat cpu %u mallocs %lu frees %lu remote_frees %lu refills %lu spans_returned %lu",
              i, UL(st.PerCPU[i].mallocs), UL(st.PerCPU[i].frees), UL(st.PerCPU[i].remote_frees),
              UL(st.PerCPU[i].refills), UL(st.PerCPU[i].spans_returned));
}

void sizeclasses_print(memstats_emit_t emit)
{
    emit("class  bytes/obj  bytes/span  pages/span  objects  tail waste  max waste");
    for (int c = 1; c < NUM_SIZE_CLASSES; c++) {
        uint32_t bp = class_max_waste_bp(c);
        emitf(emit, "%5d  %9u  %10u  %10u  %7u  %10u  %6u.%02u%%", c, class_to_size[c],
              class_span_bytes(c), (unsigned)class_to_allocnpages[c], class_objects(c),
              class_tail_waste(c), bp / 100, bp % 100);
    }
}
