/*
 * bench.c — in-kernel allocator benchmarks (command-line word `bench`, shell
 * command `bench [w|lock|larson]`).  Benchmarks, not tests: they print what they
 * measured and never fail.
 *
 * (a) W1 / W2, per CPU (issue 6 item 7).  Each CPU in turn (smp_run_on, the
 *     others idle) times with the TSC (nanotime):
 *       W1 pair   n x { p = kmalloc(s); kfree(p) }       s = 16, 64, 256, 2048
 *       W2 batch  kmalloc B objects of s bytes, kfree them LIFO or FIFO,
 *                 B = 64, 1024, 100000, s = 16, 256
 *     and prints ns per pair (W1) and per object (W2, its kmalloc + kfree).
 *
 * (b) The big lock (issue 4 item 6).  The same mixed workload — per CPU 64
 *     slots; each operation picks a slot (xorshift), frees what it holds and
 *     kmallocs a new object of 16..2048 B (writing its first byte) — runs on
 *     k = 1..N CPUs at once (smp_run_on_all; CPUs >= k return at once), in
 *     two designs:
 *       percore  kmalloc / kfree as they are: per-CPU mcache, no lock on the
 *                fast paths;
 *       biglock  every kmalloc and every kfree inside one global ticket
 *                spinlock (interrupts off), the design per-CPU caches exist
 *                to replace.
 *     A run is bounded by time, not just by operations: the k CPUs meet at
 *     a barrier, then each works until it has done BIG_OPS operations or
 *     RUN_NS have passed (checked every 32 operations), because under QEMU
 *     TCG with more vCPUs than host cores one ticket-lock hand-over can take
 *     milliseconds.  ops/s = all operations / (last CPU's end - first CPU's
 *     start).  Printed per k: ops and ms measured, ops/s for both designs,
 *     percore / biglock, each design's scaling against its own k = 1, and
 *     the mcache refills per 1000 operations of the percore run (each takes
 *     an mcentral lock twice, some the mheap lock: the shared part of the
 *     per-core design).
 *
 * (c) Cross-CPU churn, larson-style (issue 12 item 3).  Every CPU taking
 *     part owns a slot array of LAR_SLOTS blocks of 8..1000 B (uniform);
 *     an operation picks a random slot, checks and frees its block and
 *     kmallocs a new one into it.  The work goes in rounds of LAR_ROUND
 *     operations separated by a barrier of the k CPUs, and in `cross` mode
 *     the arrays rotate after every round — in round r CPU c works on array
 *     (c + r) mod k — so each CPU frees blocks that another CPU allocated
 *     in the round before (for k >= 2; at k = 1 it is the same CPU).
 *     At the first LAR_TLB_WARM barriers of a run every CPU reloads CR3,
 *     a TLB flush: QEMU's software TLB (TCG) grows only when it is flushed
 *     and is then more than 70 % used, so a CPU that has hardly flushed
 *     since boot (the APs) keeps 256 entries and thrashes on the run's
 *     ~1 MB working set — it ran `touch` at 0.5 of its 1-CPU rate on two
 *     CPUs, 1.0-2.1 (median 1.8 over 21 boots) with the flushes.  On hardware a flush costs a few hundred
 *     TLB refills; both k = 1 and k > 1 pay it, inside the timed part.
 *     Three runs per k:
 *       cross    per-core design, arrays rotating (the remote-free case);
 *       local    per-core design, each CPU keeps its own array (no remote
 *                frees: what cross costs over it is the cross-CPU price);
 *       biglock  arrays rotating, every kmalloc/kfree under big_lock;
 *       touch    the control: each CPU keeps its own array and an
 *                operation only checks the block's tag and writes a new
 *                one — the same memory traffic with no allocator call, so
 *                its scaling is what the machine (or the emulator) allows.
 *     A run stops at the first barrier after LAR_NS (the last CPU to reach
 *     the barrier decides, so all stop after the same round) or after
 *     LAR_MAXR rounds; a CPU still in its round at LAR_NS cuts it short
 *     (checked every 256 operations), so that a slow design cannot make a
 *     round outlast the run.  Every block carries a tag from (array, slot,
 *     sequence) in its first word, checked before the free; a wrong tag
 *     is counted and printed (an allocator bug, not a benchmark result).
 *     Printed per k: ops/s of each run, cross / local, cross / biglock,
 *     cross's and touch's scaling against k = 1, and per 1000 operations
 *     of the cross run the frees that went pending into a span another CPU
 *     has cached ("remote", memstats PerCPU remote_frees: with the
 *     freed-object caches only their overflow does) and mcache refills.
 *
 * No floating point (-mgeneral-regs-only): rates are integers, ns/op has
 * one decimal from integer arithmetic.
 */
#include "../alloc/malloc.h"
#include "../alloc/mstats.h"
#include "cpu.h"
#include "fmt.h"
#include "kernel.h"
#include "percpu.h"
#include "shell.h"
#include "smp.h"
#include "spinlock.h"

#define OPAQUE(p) __asm__ volatile("" : : "r"(p) : "memory")

/* ------------------------------------------------------------ (a) W1 / W2 */

#define W1_OPS 50000ull       /* pairs per size */
#define W2_OBJS 100000ull     /* objects per (size, batch, order) cell */
#define W2_MAXB 100000u

static void **w2_slots; /* [W2_MAXB], kmalloc'd once */

static uint64_t w1_pair(size_t size, uint64_t n)
{
    uint64_t t0 = nanotime();
    for (uint64_t i = 0; i < n; i++) {
        void *p = kmalloc(size);
        OPAQUE(p);
        kfree(p);
    }
    return nanotime() - t0;
}

static uint64_t w2_batch(size_t size, uint32_t b, int fifo, uint64_t rounds)
{
    uint64_t t0 = nanotime();
    for (uint64_t r = 0; r < rounds; r++) {
        for (uint32_t i = 0; i < b; i++) {
            w2_slots[i] = kmalloc(size);
            OPAQUE(w2_slots[i]);
        }
        if (fifo)
            for (uint32_t i = 0; i < b; i++)
                kfree(w2_slots[i]);
        else
            for (uint32_t i = b; i-- > 0;)
                kfree(w2_slots[i]);
    }
    return nanotime() - t0;
}

/* "123.4": ns / ops with one decimal. */
static void fmt_nsop(char *buf, size_t n, uint64_t ns, uint64_t ops)
{
    uint64_t t = ops ? (ns * 10 + ops / 2) / ops : 0;
    ksnprintf(buf, n, "%lu.%lu", (unsigned long)(t / 10), (unsigned long)(t % 10));
}

static void w_on_cpu(void *arg)
{
    (void)arg;
    uint32_t cpu = this_cpu()->cpu_id;
    static const size_t w1_sizes[] = {16, 64, 256, 2048};
    char line[200], v[16];
    int len = ksnprintf(line, sizeof line, "bench: cpu %u W1 pair ns/op   ", cpu);
    for (unsigned k = 0; k < 4; k++) {
        w1_pair(w1_sizes[k], W1_OPS / 10); /* warm */
        fmt_nsop(v, sizeof v, w1_pair(w1_sizes[k], W1_OPS), W1_OPS);
        len += ksnprintf(line + len, sizeof line - (size_t)len, " %4lu B %6s", 
                         (unsigned long)w1_sizes[k], v);
    }
    kprintf("%s\n", line);
    static const size_t w2_sizes[] = {16, 256};
    static const uint32_t batches[] = {64, 1024, 100000};
    for (unsigned k = 0; k < 2; k++) {
        len = ksnprintf(line, sizeof line, "bench: cpu %u W2 %3lu B ns/obj ", cpu,
                        (unsigned long)w2_sizes[k]);
        for (unsigned j = 0; j < 3; j++) {
            for (int fifo = 0; fifo < 2; fifo++) {
                uint32_t b = batches[j];
                uint64_t rounds = W2_OBJS / b ? W2_OBJS / b : 1;
                /* warm: spans cached, and for 100000 the heap's pages
                 * already backed (first touch is not what W2 measures) */
                w2_batch(w2_sizes[k], b, fifo, rounds / 8 + 1);
                fmt_nsop(v, sizeof v, w2_batch(w2_sizes[k], b, fifo, rounds), rounds * b);
                len += ksnprintf(line + len, sizeof line - (size_t)len, " %u%s %s", b,
                                 fifo ? "F" : "L", v);
            }
        }
        kprintf("%s\n", line);
    }
}

static void bench_w(void)
{
    if (!w2_slots)
        w2_slots = kmalloc(W2_MAXB * sizeof(void *));
    if (!w2_slots) {
        kprintf("bench: no memory for the W2 slot array\n");
        return;
    }
    kprintf("bench: W1/W2: kmalloc+kfree timed with the TSC, one CPU at a time; W1 %lu pairs "
            "per size, W2 %lu objects per cell (L = LIFO, F = FIFO)\n",
            (unsigned long)W1_OPS, (unsigned long)W2_OBJS);
    for (uint32_t c = 0; c < smp_ncpu(); c++)
        smp_run_on(c, w_on_cpu, 0);
}

/* ------------------------------------------------------------ (b) big lock */

#define BIG_SLOTS 64
#define BIG_OPS 400000ull         /* per CPU, upper bound */
#define RUN_NS (250ull * 1000000) /* per run, upper bound */

static spinlock_t big_lock = SPINLOCK_INIT(LOCKRANK_BENCH);

struct big_run {
    uint32_t k;        /* CPUs taking part: ids 0..k-1 */
    int biglock;
    uint32_t arrived;  /* barrier */
    uint64_t t0[MAX_CPUS], t1[MAX_CPUS], ops[MAX_CPUS];
};

static inline void *big_alloc(int biglock, size_t size)
{
    if (!biglock)
        return kmalloc(size);
    spin_lock(&big_lock);
    void *p = kmalloc(size);
    spin_unlock(&big_lock);
    return p;
}

static inline void big_free(int biglock, void *p)
{
    if (!biglock) {
        kfree(p);
        return;
    }
    spin_lock(&big_lock);
    kfree(p);
    spin_unlock(&big_lock);
}

static void big_work(void *arg)
{
    struct big_run *r = arg;
    uint32_t cpu = this_cpu()->cpu_id;
    if (cpu >= r->k)
        return;
    static const uint16_t sizes[8] = {16, 32, 48, 64, 128, 256, 1024, 2048};
    void *slot[BIG_SLOTS] = {0};
    uint64_t x = 0x9E3779B97F4A7C15ull * (cpu + 1), n = 0;
    __atomic_add_fetch(&r->arrived, 1, __ATOMIC_ACQ_REL);
    while (__atomic_load_n(&r->arrived, __ATOMIC_ACQUIRE) < r->k)
        __builtin_ia32_pause();
    uint64_t t0 = nanotime(), deadline = t0 + RUN_NS;
    while (n < BIG_OPS) {
        for (int i = 0; i < 32; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            uint32_t s = (uint32_t)(x >> 40) % BIG_SLOTS;
            if (slot[s])
                big_free(r->biglock, slot[s]);
            char *p = big_alloc(r->biglock, sizes[(x >> 20) & 7]);
            if (p)
                p[0] = (char)x;
            slot[s] = p;
        }
        n += 32;
        if (nanotime() >= deadline)
            break;
    }
    uint64_t t1 = nanotime();
    for (int s = 0; s < BIG_SLOTS; s++)
        if (slot[s])
            big_free(r->biglock, slot[s]);
    r->t0[cpu] = t0;
    r->t1[cpu] = t1;
    r->ops[cpu] = n;
}

static uint64_t total_refills(void)
{
    static struct memstats m; /* large: not on the stack */
    read_memstats(&m);
    uint64_t n = 0;
    for (uint32_t c = 0; c < m.ncpu; c++)
        n += m.PerCPU[c].refills;
    return n;
}

/* One run; returns ops/s, *opsp and *nsp what was measured, *refp the
 * mcache refills (each one takes mcentral locks) during the run. */
static uint64_t big_run(uint32_t k, int biglock, uint64_t *opsp, uint64_t *nsp, uint64_t *refp)
{
    static struct big_run r;
    __builtin_memset(&r, 0, sizeof r);
    r.k = k;
    r.biglock = biglock;
    uint64_t ref0 = total_refills();
    smp_run_on_all(big_work, &r);
    *refp = total_refills() - ref0;
    uint64_t t0 = ~0ull, t1 = 0, ops = 0;
    for (uint32_t c = 0; c < k; c++) {
        if (r.t0[c] < t0)
            t0 = r.t0[c];
        if (r.t1[c] > t1)
            t1 = r.t1[c];
        ops += r.ops[c];
    }
    uint64_t ns = t1 > t0 ? t1 - t0 : 1;
    *opsp = ops;
    *nsp = ns;
    return (uint64_t)(((unsigned __int128)ops * 1000000000ull) / ns);
}

/* "x.yy" for a / b. */
static void fmt_ratio(char *buf, size_t n, uint64_t a, uint64_t b)
{
    uint64_t t = b ? (a * 100 + b / 2) / b : 0;
    ksnprintf(buf, n, "%lu.%02lu", (unsigned long)(t / 100), (unsigned long)(t % 100));
}

static void bench_lock(void)
{
    uint32_t n = smp_ncpu();
    kprintf("bench: big lock vs per-core mcache: mixed kmalloc/kfree 16-2048 B, %u slots per "
            "CPU, per run <= %lu ops per CPU or %lu ms\n",
            BIG_SLOTS, (unsigned long)BIG_OPS, (unsigned long)(RUN_NS / 1000000));
    kprintf("bench: cpus  percore: ops       ms      ops/s  biglock: ops       ms      ops/s"
            "  percore/biglock  scaling percore biglock  refills/1000 ops\n");
    uint64_t base_pc = 0, base_bl = 0;
    for (uint32_t k = 1; k <= n; k++) {
        uint64_t pops, pns, bops, bns, pref, bref;
        uint64_t pc = big_run(k, 0, &pops, &pns, &pref);
        uint64_t bl = big_run(k, 1, &bops, &bns, &bref);
        if (k == 1) {
            base_pc = pc;
            base_bl = bl;
        }
        char sp[16], s1[16], s2[16];
        fmt_ratio(sp, sizeof sp, pc, bl);
        fmt_ratio(s1, sizeof s1, pc, base_pc);
        fmt_ratio(s2, sizeof s2, bl, base_bl);
        kprintf("bench: %4u  %12lu %8lu %10lu  %12lu %8lu %10lu  %15s  %15s %7s  %lu\n", k,
                (unsigned long)pops, (unsigned long)(pns / 1000000), (unsigned long)pc,
                (unsigned long)bops, (unsigned long)(bns / 1000000), (unsigned long)bl, sp, s1,
                s2, (unsigned long)(pops ? pref * 1000 / pops : 0));
    }
}

/* ------------------------------------------------------------ (c) larson */

#define LAR_SLOTS 2000
#define LAR_ROUND 10000u          /* operations per CPU between barriers */
#define LAR_MAXR 400u             /* rounds per run, upper bound */
#define LAR_NS (400ull * 1000000) /* per run, upper bound (checked per round) */
#define LAR_TLB_WARM 8u           /* barriers that flush the TLB (see (c) above) */

enum { LAR_CROSS, LAR_LOCAL, LAR_BIGLOCK, LAR_TOUCH };

/* Protocol: arrays[a] (slot pointers, tags' sequence numbers) belongs in
 * round r to the CPU c with (c + r) mod k == a (cross/biglock) or a == c
 * (local); the barrier between rounds (release by the last arriver's
 * store of `sense`, acquire by the others' load) hands it over.  `stop`
 * is written only by the last arriver, before it flips `sense`, and read by
 * everyone after the barrier: all see the same value, and the next write
 * needs every CPU at the next barrier.  `deadline` is written once, the
 * same way at the first barrier, and only read afterwards. */
struct lar_run {
    uint32_t k, mode;
    uint32_t count, sense, stop; /* barrier */
    uint64_t deadline, rounds;
    uint64_t t0[MAX_CPUS], t1[MAX_CPUS], ops[MAX_CPUS], errors[MAX_CPUS];
};

static void **lar_slot;    /* [MAX_CPUS * LAR_SLOTS], kmalloc'd once */
static uint32_t *lar_seq;  /* [MAX_CPUS * LAR_SLOTS] */

static uint64_t lar_tag(uint32_t a, uint32_t k, uint32_t seq)
{
    return ((uint64_t)a << 48 | (uint64_t)k << 24 | (seq & 0xffffff)) * 0x9E3779B97F4A7C15ull | 1;
}

static void lar_barrier(struct lar_run *r, uint32_t *local_sense)
{
    if (r->rounds < LAR_TLB_WARM) /* rounds: stable until this barrier ends */
        write_cr3(read_cr3());
    uint32_t s = *local_sense ^= 1;
    if (__atomic_add_fetch(&r->count, 1, __ATOMIC_ACQ_REL) == r->k) {
        r->count = 0;
        uint64_t now = nanotime();
        if (!r->deadline)
            r->deadline = now + LAR_NS;
        else
            r->rounds++;
        r->stop = now >= r->deadline || r->rounds >= LAR_MAXR;
        __atomic_store_n(&r->sense, s, __ATOMIC_RELEASE);
        return;
    }
    while (__atomic_load_n(&r->sense, __ATOMIC_ACQUIRE) != s)
        __builtin_ia32_pause();
}

static void lar_put(struct lar_run *r, uint32_t a, uint32_t k, size_t n)
{
    uint64_t *p = big_alloc(r->mode == LAR_BIGLOCK, n);
    uint32_t i = a * LAR_SLOTS + k;
    lar_slot[i] = p;
    if (p)
        *p = lar_tag(a, k, ++lar_seq[i]);
}

/* Slot k of array a's block (NULL: none), its tag checked (a wrong one
 * counted on cpu). */
static uint64_t *lar_checked(struct lar_run *r, uint32_t a, uint32_t k, uint32_t cpu)
{
    uint32_t i = a * LAR_SLOTS + k;
    uint64_t *p = lar_slot[i];
    if (p && *p != lar_tag(a, k, lar_seq[i]))
        r->errors[cpu]++;
    return p;
}

static void lar_take(struct lar_run *r, uint32_t a, uint32_t k, uint32_t cpu)
{
    uint64_t *p = lar_checked(r, a, k, cpu);
    if (!p)
        return;
    big_free(r->mode == LAR_BIGLOCK, p);
    lar_slot[a * LAR_SLOTS + k] = 0;
}

/* LAR_TOUCH: the block stays; check its tag and give it the next one. */
static void lar_touch(struct lar_run *r, uint32_t a, uint32_t k, uint32_t cpu)
{
    uint64_t *p = lar_checked(r, a, k, cpu);
    if (p)
        *p = lar_tag(a, k, ++lar_seq[a * LAR_SLOTS + k]);
}

static void lar_work(void *arg)
{
    struct lar_run *r = arg;
    uint32_t cpu = this_cpu()->cpu_id, sense = 0;
    if (cpu >= r->k)
        return;
    uint64_t x = 0x9E3779B97F4A7C15ull * (cpu + 7), n = 0;
    for (uint32_t k = 0; k < LAR_SLOTS; k++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        lar_put(r, cpu, k, 8 + (x >> 20) % 993);
    }
    lar_barrier(r, &sense); /* sets the deadline */
    uint64_t t0 = nanotime();
    for (uint32_t round = 0; !r->stop; round++) {
        bool own = r->mode == LAR_LOCAL || r->mode == LAR_TOUCH;
        uint32_t a = own ? cpu : (cpu + round) % r->k;
        for (uint32_t i = 0; i < LAR_ROUND; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            uint32_t k = (uint32_t)(x >> 40) % LAR_SLOTS;
            if (r->mode == LAR_TOUCH) {
                lar_touch(r, a, k, cpu);
            } else {
                lar_take(r, a, k, cpu);
                lar_put(r, a, k, 8 + (x & 0xffff) % 993);
            }
            n++;
            /* a slow round (the big lock under TCG) ends at the deadline */
            if ((i & 255) == 255 && nanotime() >= r->deadline)
                break;
        }
        lar_barrier(r, &sense);
    }
    uint64_t t1 = nanotime();
    bool own = r->mode == LAR_LOCAL || r->mode == LAR_TOUCH;
    uint32_t a = own ? cpu : (cpu + (uint32_t)r->rounds) % r->k;
    for (uint32_t k = 0; k < LAR_SLOTS; k++)
        lar_take(r, a, k, cpu);
    r->t0[cpu] = t0;
    r->t1[cpu] = t1;
    r->ops[cpu] = n;
}

struct lar_result {
    uint64_t rate, ops, ns, errors, remote, refills;
};

static void remote_and_refills(uint64_t *remote, uint64_t *refills)
{
    static struct memstats m; /* large: not on the stack */
    read_memstats(&m);
    *remote = *refills = 0;
    for (uint32_t c = 0; c < m.ncpu; c++) {
        *remote += m.PerCPU[c].remote_frees;
        *refills += m.PerCPU[c].refills;
    }
}

static void lar_run(uint32_t k, uint32_t mode, struct lar_result *out)
{
    static struct lar_run r;
    __builtin_memset(&r, 0, sizeof r);
    r.k = k;
    r.mode = mode;
    uint64_t rem0, ref0, rem1, ref1;
    remote_and_refills(&rem0, &ref0);
    smp_run_on_all(lar_work, &r);
    remote_and_refills(&rem1, &ref1);
    uint64_t t0 = ~0ull, t1 = 0;
    __builtin_memset(out, 0, sizeof *out);
    for (uint32_t c = 0; c < k; c++) {
        t0 = r.t0[c] < t0 ? r.t0[c] : t0;
        t1 = r.t1[c] > t1 ? r.t1[c] : t1;
        out->ops += r.ops[c];
        out->errors += r.errors[c];
    }
    out->ns = t1 > t0 ? t1 - t0 : 1;
    out->rate = (uint64_t)(((unsigned __int128)out->ops * 1000000000ull) / out->ns);
    out->remote = rem1 - rem0;
    out->refills = ref1 - ref0;
}

static void bench_larson(void)
{
    uint32_t n = smp_ncpu();
    if (!lar_slot) {
        lar_slot = kmalloc(MAX_CPUS * LAR_SLOTS * sizeof(void *));
        lar_seq = kmalloc(MAX_CPUS * LAR_SLOTS * sizeof(uint32_t));
        if (!lar_slot || !lar_seq) {
            kprintf("bench: no memory for the larson slot arrays\n");
            return;
        }
        __builtin_memset(lar_slot, 0, MAX_CPUS * LAR_SLOTS * sizeof(void *));
        __builtin_memset(lar_seq, 0, MAX_CPUS * LAR_SLOTS * sizeof(uint32_t));
    }
    kprintf("bench: larson cross-CPU churn: %u slots per CPU, 8-1000 B, rounds of %u ops per "
            "CPU, arrays rotate between CPUs every round (cross, biglock) or stay (local); "
            "per run <= %lu ms\n", LAR_SLOTS, LAR_ROUND, (unsigned long)(LAR_NS / 1000000));
    kprintf("bench: cpus     cross ops/s     local ops/s   biglock ops/s     touch ops/s  "
            "cross/local  cross/biglock  scaling  touch-scaling  remote/1000  refills/1000  "
            "errors\n");
    uint64_t base = 0, tbase = 0;
    for (uint32_t k = 1; k <= n; k++) {
        struct lar_result c, l, b, t;
        lar_run(k, LAR_CROSS, &c);
        lar_run(k, LAR_LOCAL, &l);
        lar_run(k, LAR_BIGLOCK, &b);
        lar_run(k, LAR_TOUCH, &t);
        if (k == 1)
            base = c.rate, tbase = t.rate;
        char r1[16], r2[16], r3[16], r4[16];
        fmt_ratio(r1, sizeof r1, c.rate, l.rate);
        fmt_ratio(r2, sizeof r2, c.rate, b.rate);
        fmt_ratio(r3, sizeof r3, c.rate, base);
        fmt_ratio(r4, sizeof r4, t.rate, tbase);
        kprintf("bench: %4u  %14lu  %14lu  %14lu  %14lu  %11s  %13s  %7s  %13s  %11lu  %12lu  "
                "%6lu\n", k, (unsigned long)c.rate, (unsigned long)l.rate, (unsigned long)b.rate,
                (unsigned long)t.rate, r1, r2, r3, r4,
                (unsigned long)(c.ops ? c.remote * 1000 / c.ops : 0),
                (unsigned long)(c.ops ? c.refills * 1000 / c.ops : 0),
                (unsigned long)(c.errors + l.errors + b.errors + t.errors));
    }
}

/* ------------------------------------------------------------ entry points */

/* which: 0 all, 1 W1/W2 only, 2 big lock only, 3 larson only */
void alloc_bench_run(int which)
{
    if (which == 0 || which == 1)
        bench_w();
    if (which == 0 || which == 2)
        bench_lock();
    if (which == 0 || which == 3)
        bench_larson();
    char err[300];
    if (heap_verify(err, sizeof err))
        kprintf("bench: heap_verify ok\n");
    else
        kprintf("bench: %s\n", err);
}

static void cmd_bench(int argc, char **argv)
{
    int which = 0;
    if (argc > 1 && !__builtin_strcmp(argv[1], "w"))
        which = 1;
    else if (argc > 1 && !__builtin_strcmp(argv[1], "lock"))
        which = 2;
    else if (argc > 1 && !__builtin_strcmp(argv[1], "larson"))
        which = 3;
    alloc_bench_run(which);
}
SHELL_CMD("bench", "allocator benchmarks: W1/W2 per CPU, big lock vs per-core, cross-CPU larson (bench [w|lock|larson])",
          cmd_bench);
