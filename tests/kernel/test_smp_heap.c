/*
 * test_smp_heap.c — the heap used from every CPU at once: per-CPU mcaches
 * on the fast path, cross-CPU frees, large objects, one span freed by many
 * CPUs, larson-style rotation of slot arrays between CPUs.  heap_verify
 * runs after each test (runner) once all CPUs are idle.
 */
#include "../../alloc/malloc.h"
#include "../../alloc/mstats.h"
#include "../../alloc/sizeclass.h"
#include "cpu.h"
#include "kernel.h"
#include "ktest.h"
#include "percpu.h"
#include "smp.h"

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Per-CPU results: written by their own CPU only, checked afterwards. */
static struct {
    uint64_t errors, allocs, frees;
} result[MAX_CPUS];

static void clear_results(void) { __builtin_memset(result, 0, sizeof result); }

static uint64_t total_errors(void)
{
    uint64_t e = 0;
    for (uint32_t c = 0; c < smp_ncpu(); c++)
        e += result[c].errors;
    return e;
}

/* Mallocs - Frees must equal live objects, and the per-CPU counters (with
 * the collector's frees) must add up to the totals. */
static void check_stats_add_up(void)
{
    struct memstats m;
    read_memstats(&m);
    uint64_t mal = 0, fr = 0;
    for (uint32_t c = 0; c < m.ncpu; c++) {
        mal += m.PerCPU[c].mallocs;
        fr += m.PerCPU[c].frees;
    }
    KCHECKF(m.HeapObjects == m.Mallocs - m.Frees, "HeapObjects %lu != Mallocs %lu - Frees %lu",
            m.HeapObjects, m.Mallocs, m.Frees);
    /* the collector's frees belong to no CPU */
    KCHECKF(mal - fr - m.GCFrees == m.HeapObjects,
            "per-CPU mallocs %lu - frees %lu - collected %lu != live %lu", mal, fr, m.GCFrees,
            m.HeapObjects);
}

/* ------------------------------------------------------------ storm */

#define STORM_SLOTS 256
#define STORM_OPS 6000

static void storm(void *arg)
{
    (void)arg;
    uint32_t cpu = this_cpu()->cpu_id;
    uint64_t seed = 0x1234567ull * (cpu + 1);
    void *slot[STORM_SLOTS];
    uint32_t size[STORM_SLOTS];
    __builtin_memset(slot, 0, sizeof slot);
    for (int op = 0; op < STORM_OPS; op++) {
        int i = (int)(rng_next(&seed) % STORM_SLOTS);
        if (slot[i]) {
            uint8_t *p = slot[i];
            if (p[0] != (uint8_t)cpu || p[size[i] - 1] != (uint8_t)i)
                result[cpu].errors++;
            kfree(p);
            slot[i] = 0;
            result[cpu].frees++;
        } else {
            uint64_t r = rng_next(&seed) % 100;
            uint32_t s = r < 70 ? 2 + rng_next(&seed) % 500
                       : r < 97 ? 500 + rng_next(&seed) % 8000 : 33000 + rng_next(&seed) % 100000;
            uint8_t *p = kmalloc(s);
            if (!p) {
                result[cpu].errors++;
                continue;
            }
            p[s - 1] = (uint8_t)i;
            p[0] = (uint8_t)cpu;
            slot[i] = p;
            size[i] = s;
            result[cpu].allocs++;
        }
    }
    for (int i = 0; i < STORM_SLOTS; i++)
        if (slot[i]) {
            kfree(slot[i]);
            result[cpu].frees++;
        }
}

KTEST(smp_heap_alloc_storm, KTEST_QUICK)
{
    clear_results();
    struct memstats before;
    read_memstats(&before);
    smp_run_on_all(storm, 0);
    KCHECKF(total_errors() == 0, "%lu corrupted or failed allocations", total_errors());
    uint64_t a = 0, f = 0;
    for (uint32_t c = 0; c < smp_ncpu(); c++) {
        a += result[c].allocs;
        f += result[c].frees;
        KCHECKF(result[c].allocs > 0, "cpu %u allocated nothing", c);
    }
    struct memstats after;
    read_memstats(&after);
    KCHECK(a == f);
    KCHECKF(after.Mallocs - before.Mallocs == a, "Mallocs grew by %lu, the CPUs made %lu",
            after.Mallocs - before.Mallocs, a);
    KCHECK(after.HeapObjects == before.HeapObjects);
    check_stats_add_up();
}

/* ------------------------------------------------------------ producer / consumer */

#define RING 64
#define PC_OBJECTS 20000
static void *volatile ring[RING];
static volatile uint64_t ring_head, ring_tail; /* head: produced, tail: consumed */
static uint32_t producer_cpu, consumer_cpu;

static void pc_work(void *arg)
{
    (void)arg;
    uint32_t cpu = this_cpu()->cpu_id;
    if (cpu == producer_cpu) {
        for (uint64_t n = 0; n < PC_OBJECTS; n++) {
            uint64_t *p = kmalloc(16 + (n % 7) * 16);
            if (!p) {
                result[cpu].errors++;
                break;
            }
            p[0] = n;
            while (ring_head - __atomic_load_n(&ring_tail, __ATOMIC_ACQUIRE) == RING)
                cpu_relax();
            ring[ring_head % RING] = p;
            __atomic_store_n(&ring_head, ring_head + 1, __ATOMIC_RELEASE);
            result[cpu].allocs++;
        }
    }
    if (cpu == consumer_cpu) {
        for (uint64_t n = 0; n < PC_OBJECTS; n++) {
            while (__atomic_load_n(&ring_head, __ATOMIC_ACQUIRE) == ring_tail)
                cpu_relax();
            uint64_t *p = ring[ring_tail % RING];
            if (p[0] != n)
                result[cpu].errors++;
            kfree(p); /* a remote free: the span is cached by the producer */
            __atomic_store_n(&ring_tail, ring_tail + 1, __ATOMIC_RELEASE);
            result[cpu].frees++;
        }
    }
}

KTEST(smp_heap_producer_consumer, KTEST_QUICK)
{
    clear_results();
    ring_head = ring_tail = 0;
    producer_cpu = 0;
    consumer_cpu = smp_ncpu() > 1 ? 1 : 0;
    if (consumer_cpu == producer_cpu) {
        /* one CPU: the same ring, filled and drained in turns; every object
         * must come out intact and in order (no remote frees possible) */
        uint64_t got = 0, bad = 0;
        for (uint64_t n = 0; n < PC_OBJECTS;) {
            for (int k = 0; k < RING && n < PC_OBJECTS; k++, n++) {
                uint64_t *p = kmalloc(16 + (n % 7) * 16);
                KREQUIRE(p);
                p[0] = n;
                ring[ring_head++ % RING] = p;
            }
            while (ring_tail != ring_head) {
                uint64_t *p = ring[ring_tail++ % RING];
                bad += p[0] != got++;
                kfree(p);
            }
        }
        KCHECKF(bad == 0 && got == PC_OBJECTS, "%lu of %lu objects out of order", bad, got);
        __builtin_memset((void *)ring, 0, sizeof ring); /* no stale pointers in globals */
        check_stats_add_up();
        return;
    }
    struct memstats before;
    read_memstats(&before);
    smp_run_on_all(pc_work, 0);
    KCHECKF(total_errors() == 0, "%lu objects arrived corrupted or out of order", total_errors());
    KCHECK(result[producer_cpu].allocs == PC_OBJECTS && result[consumer_cpu].frees == PC_OBJECTS);
    struct memstats after;
    read_memstats(&after);
    KCHECKF(after.PerCPU[consumer_cpu].frees - before.PerCPU[consumer_cpu].frees >= PC_OBJECTS,
            "consumer cpu %u counted %lu frees", consumer_cpu,
            after.PerCPU[consumer_cpu].frees - before.PerCPU[consumer_cpu].frees);
    /* every free is remote by construction (the consumer allocates
     * nothing); it lands in the consumer's freed-object cache, or as a
     * pending free in a span when that cache overflows (remote_frees) */
    kprintf("# consumer cpu %u: %lu frees, %lu of them pending in a span the producer held\n",
            consumer_cpu,
            after.PerCPU[consumer_cpu].frees - before.PerCPU[consumer_cpu].frees,
            after.PerCPU[consumer_cpu].remote_frees - before.PerCPU[consumer_cpu].remote_frees);
    KCHECK(after.HeapObjects == before.HeapObjects);
    __builtin_memset((void *)ring, 0, sizeof ring); /* no stale pointers in globals */
    check_stats_add_up();
}

/* ------------------------------------------------------------ large */

static void large_work(void *arg)
{
    (void)arg;
    uint32_t cpu = this_cpu()->cpu_id;
    uint64_t seed = 99 + cpu;
    for (int round = 0; round < 40; round++) {
        uint64_t size = 40000 + rng_next(&seed) % (2u << 20);
        uint8_t *p = kmalloc(size);
        if (!p) {
            result[cpu].errors++;
            continue;
        }
        for (uint64_t off = 0; off < size; off += 4096)
            p[off] = (uint8_t)(cpu + round);
        for (uint64_t off = 0; off < size; off += 4096)
            if (p[off] != (uint8_t)(cpu + round))
                result[cpu].errors++;
        kfree(p);
        result[cpu].allocs++;
    }
}

KTEST(smp_heap_large_all_cpus, KTEST_QUICK)
{
    clear_results();
    struct memstats before, after;
    read_memstats(&before);
    smp_run_on_all(large_work, 0);
    KCHECKF(total_errors() == 0, "%lu large-object errors", total_errors());
    read_memstats(&after);
    KCHECK(after.LargeAllocs - before.LargeAllocs == 40ull * smp_ncpu());
    KCHECK(after.LargeObjects == before.LargeObjects);
    check_stats_add_up();
}

/* ------------------------------------------------------------ one span */

#define SPAN_OBJS 128 /* class 64 B: one 8 KiB span */
static void *one_span[SPAN_OBJS];

static void free_share(void *arg)
{
    (void)arg;
    uint32_t cpu = this_cpu()->cpu_id, n = smp_ncpu();
    for (uint32_t i = cpu; i < SPAN_OBJS; i += n) {
        kfree(one_span[i]);
        result[cpu].frees++;
    }
}

KTEST(smp_heap_one_span_freed_by_all, KTEST_QUICK)
{
    clear_results();
    malloc_flush_all_mcaches();
    struct memstats before, after;
    read_memstats(&before);
    for (int i = 0; i < SPAN_OBJS; i++) {
        one_span[i] = kmalloc(64);
        KREQUIRE(one_span[i]);
    }
    /* all from one or two spans: distinct objects, 64-byte aligned */
    for (int i = 0; i < SPAN_OBJS; i++)
        KCHECK(((uintptr_t)one_span[i] & 63) == 0);
    smp_run_on_all(free_share, 0);
    uint64_t f = 0;
    for (uint32_t c = 0; c < smp_ncpu(); c++)
        f += result[c].frees;
    KCHECK(f == SPAN_OBJS);
    malloc_flush_all_mcaches(); /* sweeps: the emptied span goes back */
    read_memstats(&after);
    KCHECK(after.HeapObjects == before.HeapObjects);
    KCHECKF(after.HeapInuse <= before.HeapInuse, "HeapInuse %lu, was %lu: span not returned",
            after.HeapInuse, before.HeapInuse);
    __builtin_memset(one_span, 0, sizeof one_span); /* no stale pointers in globals */
    check_stats_add_up();
}

/* ------------------------------------------------------------ larson rotation */

/* Every CPU owns an array of LR_SLOTS blocks (8..1000 B, a few up to 40 KB:
 * large); in round r CPU c works on array (c + r) mod n: picks a slot,
 * checks the block's tag and frees it, kmallocs a new one.  So each round
 * frees blocks other CPUs allocated in the round before, while they
 * allocate.  Between rounds (all CPUs idle: smp_run_on_all returned) the
 * test checks every live block's tag and runs heap_verify.  Ownership:
 * array a belongs in round r only to CPU (a - r) mod n; smp_run_on_all's
 * completion orders one round before the next. */
#define LR_SLOTS 256
#define LR_ROUNDS 6
#define LR_OPS 600
static void *lr_blk[MAX_CPUS][LR_SLOTS];
static uint32_t lr_size[MAX_CPUS][LR_SLOTS], lr_seq[MAX_CPUS][LR_SLOTS];
static uint32_t lr_round;

static uint64_t lr_tag(uint32_t a, uint32_t k, uint32_t seq)
{
    return ((uint64_t)a << 48 | (uint64_t)k << 24 | (seq & 0xffffff)) * 0x9E3779B97F4A7C15ull | 1;
}

/* 1 when a's block k holds its tag (first word) and the tag's top byte
 * (last byte); an empty slot (a failed kmalloc) is not. */
static int lr_intact(uint32_t a, uint32_t k)
{
    const uint8_t *p = lr_blk[a][k];
    uint64_t t = lr_tag(a, k, lr_seq[a][k]);
    return p && *(const uint64_t *)p == t && p[lr_size[a][k] - 1] == (uint8_t)(t >> 56);
}

static int lr_put(uint32_t a, uint32_t k, uint64_t *seed)
{
    uint64_t r = rng_next(seed);
    uint32_t n = r % 64 ? 8 + (uint32_t)((r >> 8) % 993) : 2000 + (uint32_t)((r >> 8) % 38000);
    uint8_t *p = kmalloc(n);
    if (!p)
        return 0;
    uint64_t t = lr_tag(a, k, ++lr_seq[a][k]);
    *(uint64_t *)p = t;
    p[n - 1] = (uint8_t)(t >> 56);
    lr_blk[a][k] = p;
    lr_size[a][k] = n;
    return 1;
}

static void lr_work(void *arg)
{
    (void)arg;
    uint32_t cpu = this_cpu()->cpu_id, a = (cpu + lr_round) % smp_ncpu();
    uint64_t seed = 0xabcdefull * (cpu + 1) + lr_round;
    for (int i = 0; i < LR_OPS; i++) {
        uint32_t k = (uint32_t)(rng_next(&seed) % LR_SLOTS);
        if (!lr_intact(a, k))
            result[cpu].errors++;
        kfree(lr_blk[a][k]);
        result[cpu].frees++;
        if (!lr_put(a, k, &seed)) {
            result[cpu].errors++;
            lr_blk[a][k] = 0; /* kfree(NULL) next time; counted broken */
        }
        result[cpu].allocs++;
    }
}

static uint32_t lr_broken(uint32_t n)
{
    uint32_t bad = 0;
    for (uint32_t a = 0; a < n; a++)
        for (uint32_t k = 0; k < LR_SLOTS; k++)
            bad += !lr_intact(a, k);
    return bad;
}

KTEST(smp_heap_larson_rotation, KTEST_QUICK)
{
    uint32_t n = smp_ncpu();
    clear_results();
    struct memstats before, after;
    read_memstats(&before);
    uint64_t seed = 7;
    for (uint32_t a = 0; a < n; a++)
        for (uint32_t k = 0; k < LR_SLOTS; k++)
            KREQUIRE(lr_put(a, k, &seed));
    char err[300];
    for (lr_round = 0; lr_round < LR_ROUNDS; lr_round++) {
        smp_run_on_all(lr_work, 0);
        KCHECKF(total_errors() == 0, "round %u: %lu blocks with a wrong tag or failed kmallocs",
                lr_round, total_errors());
        KCHECKF(lr_broken(n) == 0, "round %u: %u live blocks with a wrong tag", lr_round,
                lr_broken(n));
        KCHECKF(heap_verify(err, sizeof err), "round %u: %s", lr_round, err);
    }
    /* negative control: a block overwritten as by a slot handed out twice
     * must show up in the check */
    uint8_t *victim = lr_blk[n - 1][LR_SLOTS / 2];
    victim[lr_size[n - 1][LR_SLOTS / 2] - 1] ^= 0x5a;
    KCHECKF(lr_broken(n) == 1, "the check found %u broken blocks after breaking one", lr_broken(n));
    victim[lr_size[n - 1][LR_SLOTS / 2] - 1] ^= 0x5a;
    read_memstats(&after);
    uint64_t remote = 0;
    for (uint32_t c = 0; c < n; c++) {
        remote += after.PerCPU[c].remote_frees - before.PerCPU[c].remote_frees;
        KCHECKF(result[c].frees == (uint64_t)LR_ROUNDS * LR_OPS, "cpu %u freed %lu", c,
                result[c].frees);
    }
    kprintf("# %u CPUs, %u rounds: %lu frees, %lu pending in another CPU's span\n", n, LR_ROUNDS,
            (unsigned long)n * LR_ROUNDS * LR_OPS, (unsigned long)remote);
    for (uint32_t a = 0; a < n; a++)
        for (uint32_t k = 0; k < LR_SLOTS; k++)
            kfree(lr_blk[a][k]);
    __builtin_memset(lr_blk, 0, sizeof lr_blk); /* no stale pointers in globals */
    read_memstats(&after);
    KCHECK(after.HeapObjects == before.HeapObjects);
    check_stats_add_up();
}
