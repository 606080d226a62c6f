/*
 * test_mprof.c — the heap profile (alloc/mprof.c, alloc/mprof_proto.c) on
 * the host, under ASan and UBSan: the sampler's distribution and its
 * unbiased estimates through mallocgc, the fixed-point 1 - exp(-x) against
 * libm, the frame-pointer walk, the in-use bookkeeping through kfree, the
 * owner's sweep, the collector and large objects (with the negative
 * control: frees not recorded must be caught), all CPUs at once with
 * heap_verify, the profile.proto encoding decoded back, and the
 * memprofilerate= word.
 *
 * Statistical checks allow 4.5 standard errors (a false failure about once
 * in 150,000 runs) and draw from fixed seeds: a run is reproducible.
 */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cmdline.h"
#include "heap_testlib.h"
#include "mgc.h"
#include "mheap.h"
#include "mprof.h"

#define UL(x) ((unsigned long)(x))
#define NSIGMA 4.5

/* The host's stacks for the frame-pointer walk: this thread's stack. */
bool plat_stack_bounds(uintptr_t fp, uintptr_t *lo, uintptr_t *hi)
{
    pthread_attr_t a;
    void *addr;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &a))
        return false;
    pthread_attr_getstack(&a, &addr, &size);
    pthread_attr_destroy(&a);
    if (fp < (uintptr_t)addr || fp >= (uintptr_t)addr + size)
        return false;
    *lo = (uintptr_t)addr;
    *hi = (uintptr_t)addr + size;
    return true;
}

/* ------------------------------------------------------------ helpers */

/* The profile's counts for the buckets whose first frame is in fn (its
 * first 4 KiB) and whose object size is size (0: any). */
struct agg {
    uint64_t allocs, alloc_bytes, frees, free_bytes;
    uint32_t buckets;
    uintptr_t stk1; /* the second frame of the last bucket */
};

static struct mprof_record recs[4096];

static uintptr_t fn_end(const void *fn);

static struct agg profile_of(const void *fn, uint64_t size)
{
    struct agg g = {0};
    uint32_t n = mprof_snapshot(recs, 4096);
    uintptr_t end = fn_end(fn);
    REQUIRE(n <= 4096);
    for (uint32_t i = 0; i < n; i++) {
        const struct mprof_record *r = &recs[i];
        if (r->stk[0] < (uintptr_t)fn || r->stk[0] >= end || (size && r->size != size))
            continue;
        g.allocs += r->allocs;
        g.alloc_bytes += r->alloc_bytes;
        g.frees += r->frees;
        g.free_bytes += r->free_bytes;
        g.buckets++;
        g.stk1 = r->nstk > 1 ? r->stk[1] : 0;
    }
    return g;
}

static void *volatile sink;

static void __attribute__((noinline)) alloc_n(uint64_t n, uint64_t size, void **keep)
{
    for (uint64_t i = 0; i < n; i++) {
        void *p = mallocgc(size, 0, false);
        if (keep)
            keep[i] = p;
        sink = p;
    }
}
/* Distinct allocating functions, so that each test has its own buckets. */
#define ALLOC_FN(name)                                                                  \
    static void __attribute__((noinline)) name(uint64_t n, uint64_t size, void **keep) \
    {                                                                                   \
        for (uint64_t i = 0; i < n; i++) {                                              \
            void *p = mallocgc(size, 0, false);                                         \
            if (keep)                                                                   \
                keep[i] = p;                                                            \
            sink = p;                                                                   \
        }                                                                               \
        __asm__ volatile("" ::: "memory");                                              \
    }
ALLOC_FN(alloc_rate_64)
ALLOC_FN(alloc_rate_1k)
ALLOC_FN(alloc_inuse)
ALLOC_FN(alloc_inuse_large)
ALLOC_FN(alloc_broken)
ALLOC_FN(alloc_zero)
ALLOC_FN(alloc_threads)
ALLOC_FN(alloc_tiny)

static void __attribute__((noinline)) walk_caller(void);
static void test_sampled_span_fast_path(void);
static void *alloc_with_rbp(uintptr_t fake);

/* Where fn's code ends, for attributing a first frame: the next function
 * that calls mallocgc, or 4 KiB. */
static uintptr_t fn_end(const void *fn)
{
    const void *const fns[] = {alloc_n, alloc_rate_64, alloc_rate_1k, alloc_inuse,
                               alloc_inuse_large, alloc_broken, alloc_zero, alloc_threads,
                               alloc_tiny, walk_caller, test_sampled_span_fast_path,
                               alloc_with_rbp};
    uintptr_t end = (uintptr_t)fn + 4096;
    for (unsigned i = 0; i < sizeof fns / sizeof *fns; i++)
        if ((uintptr_t)fns[i] > (uintptr_t)fn && (uintptr_t)fns[i] < end)
            end = (uintptr_t)fns[i];
    return end;
}

/* ------------------------------------------------------------ sampler */

static void test_exp_draw_distribution(void)
{
    const uint64_t mean = MPROF_DEFAULT_RATE;
    const int n = 400000;
    uint64_t rng = 0x1234567;
    double sum = 0, sum2 = 0;
    int above1 = 0, above3 = 0;
    for (int i = 0; i < n; i++) {
        double x = (double)mprof_exp_draw(&rng, mean);
        sum += x;
        sum2 += x * x;
        above1 += x > mean;
        above3 += x > 3.0 * mean;
    }
    double m = sum / n, var = sum2 / n - m * m;
    double se = mean / sqrt(n); /* exponential: sd = mean */
    printf("# exp draws: mean %.0f (want %lu +- %.0f), sd %.0f, P(>R) %.4f (%.4f), "
           "P(>3R) %.4f (%.4f)\n", m, UL(mean), NSIGMA * se, sqrt(var), (double)above1 / n,
           exp(-1), (double)above3 / n, exp(-3));
    CHECKF(fabs(m - mean) < NSIGMA * se, "mean %.0f, want %lu", m, UL(mean));
    /* var of the sample variance of Exp: (E X^4 - var^2)/n = 8 mean^4 / n */
    CHECKF(fabs(var - (double)mean * mean) < NSIGMA * sqrt(8.0 / n) * mean * mean,
           "variance %.3g, want %.3g", var, (double)mean * mean);
    double p1 = exp(-1), p3 = exp(-3);
    CHECKF(fabs((double)above1 / n - p1) < NSIGMA * sqrt(p1 * (1 - p1) / n), "P(X > R)");
    CHECKF(fabs((double)above3 / n - p3) < NSIGMA * sqrt(p3 * (1 - p3) / n), "P(X > 3R)");
}

/* Objects of `size` bytes through mallocgc at rate R: the number of samples
 * is binomial(n, 1 - exp(-size/R)), and the scaled bytes estimate n * size. */
static void check_rate(void (*fn)(uint64_t, uint64_t, void **), uint64_t n, uint64_t size,
                       uint64_t rate)
{
    mprof_set_rate(rate);
    struct agg a = profile_of((void *)fn, size);
    fn(n, size, 0);
    struct agg b = profile_of((void *)fn, size);
    mprof_set_rate(MPROF_DEFAULT_RATE);
    double p = 1 - exp(-(double)size / rate);
    double k = (double)(b.allocs - a.allocs), want = n * p, sd = sqrt(n * p * (1 - p));
    uint64_t est_n, est_bytes;
    mprof_scale(b.allocs - a.allocs, b.alloc_bytes - a.alloc_bytes, rate, &est_n, &est_bytes);
    double rel = ((double)est_bytes - (double)(n * size)) / (double)(n * size);
    printf("# rate %lu, %lu x %lu B: %.0f samples (want %.1f +- %.1f), estimate %lu B "
           "(%+.2f%% of %lu, one standard error %.2f%%)\n", UL(rate), UL(n), UL(size), k,
           want, NSIGMA * sd, UL(est_bytes), 100 * rel, UL(n * size), 100 * sd / want);
    CHECKF(fabs(k - want) < NSIGMA * sd, "%.0f samples, want %.1f", k, want);
    CHECKF(fabs(rel) < NSIGMA * sd / want, "estimate off by %.2f%%", 100 * rel);
    CHECK(b.alloc_bytes - a.alloc_bytes == (uint64_t)k * size);
}

static void test_sampling_rate_64(void) { check_rate(alloc_rate_64, 400000, 64, 8192); }
static void test_sampling_rate_1k(void) { check_rate(alloc_rate_1k, 60000, 1024, 8192); }

static void test_rate_one_and_zero(void)
{
    mprof_set_rate(1);
    alloc_zero(100, 48, 0);
    struct agg a = profile_of((void *)alloc_zero, 48);
    CHECKF(a.allocs == 100 && a.alloc_bytes == 4800, "rate 1: %lu samples of 100",
           UL(a.allocs));
    mprof_set_rate(0);
    alloc_zero(10000, 48, 0);
    struct agg b = profile_of((void *)alloc_zero, 48);
    CHECKF(b.allocs == 100, "rate 0: %lu samples, want none", UL(b.allocs - 100));
    mprof_set_rate(MPROF_DEFAULT_RATE);
    CHECK(mprof_get_rate() == MPROF_DEFAULT_RATE);
}

/* Tiny objects are sampled at their own size and freed with their block. */
static void test_tiny_objects(void)
{
    mprof_set_rate(1);
    alloc_tiny(64, 8, 0);
    mprof_set_rate(MPROF_DEFAULT_RATE);
    struct agg a = profile_of((void *)alloc_tiny, 8);
    CHECKF(a.allocs == 64 && a.alloc_bytes == 512, "%lu tiny samples", UL(a.allocs));
    malloc_flush_all_mcaches();
    REQUIRE(gc_collect());
    gc_finish_sweep();
    malloc_flush_all_mcaches();
    struct agg b = profile_of((void *)alloc_tiny, 8);
    CHECKF(b.frees == 64, "tiny: %lu of 64 freed after a collection", UL(b.frees));
}

/* ------------------------------------------------------------ scaling */

static void test_one_minus_exp_matches_libm(void)
{
    static const uint64_t rates[] = {2, 64, 4096, 8192, 524288, 1u << 30};
    static const uint64_t sizes[] = {1, 8, 16, 64, 1000, 1024, 4096, 32768, 65536, 1u << 20,
                                     5u << 20, 1u << 30};
    double worst = 0;
    for (unsigned i = 0; i < sizeof rates / sizeof *rates; i++)
        for (unsigned j = 0; j < sizeof sizes / sizeof *sizes; j++) {
            double want = -expm1(-(double)sizes[j] / rates[i]);
            double got = (double)mprof_one_minus_exp_q62(sizes[j], rates[i]) / 4611686018427387904.0;
            double err = fabs(got - want) / want;
            if (err > worst)
                worst = err;
            CHECKF(err < 1e-9, "1-exp(-%lu/%lu): %.17g, libm %.17g", UL(sizes[j]), UL(rates[i]),
                   got, want);
        }
    printf("# 1 - exp(-x): worst relative error %.3g over %u cases\n", worst, 72);
    uint64_t c, b;
    mprof_scale(10, 640, 524288, &c, &b); /* Go: 640 * 1/(1-exp(-64/524288)) */
    double f = 1 / -expm1(-64.0 / 524288);
    CHECKF(fabs((double)c - 10 * f) <= 1 && fabs((double)b - 640 * f) <= 1,
           "scale: %lu objects %lu bytes, want %.1f %.1f", UL(c), UL(b), 10 * f, 640 * f);
    mprof_scale(3, 300, 1, &c, &b);
    CHECK(c == 3 && b == 300);
    mprof_scale(0, 0, 4096, &c, &b);
    CHECK(c == 0 && b == 0);
}

/* ------------------------------------------------------------ stacks */

static void __attribute__((noinline)) walk_caller(void) { alloc_n(1, 512, 0); }

static void test_stack_walk_names_the_callers(void)
{
    mprof_set_rate(1);
    walk_caller();
    mprof_set_rate(MPROF_DEFAULT_RATE);
    struct agg a = profile_of((void *)alloc_n, 512);
    CHECKF(a.buckets == 1 && a.allocs == 1, "%u buckets, %lu samples", a.buckets, UL(a.allocs));
    CHECKF(a.stk1 >= (uintptr_t)walk_caller && a.stk1 < (uintptr_t)walk_caller + 4096,
           "second frame 0x%lx is not in walk_caller (0x%lx)", UL(a.stk1), UL(walk_caller));
    /* the whole chain: up to main, each frame above the last */
    uint32_t n = mprof_snapshot(recs, 4096);
    for (uint32_t i = 0; i < n; i++)
        if (recs[i].stk[0] >= (uintptr_t)alloc_n && recs[i].stk[0] < (uintptr_t)alloc_n + 4096)
            CHECKF(recs[i].nstk >= 4, "only %u frames", recs[i].nstk);
}

/* mallocgc(777) called with rbp = fake, as a caller with a corrupt frame
 * chain would (mallocgc's frame then links to fake). */
static void *__attribute__((noinline)) alloc_with_rbp(uintptr_t fake)
{
    void *r;
    __asm__ volatile("mov %%rsp, %%rbx\n\t"
                     "sub $128, %%rsp\n\t" /* step over the red zone */
                     "and $-16, %%rsp\n\t"
                     "push %%rbp\n\t"
                     "push %%rbp\n\t" /* two: the call stays 16-byte aligned */
                     "mov %[fake], %%rbp\n\t"
                     "mov $777, %%edi\n\t"
                     "xor %%esi, %%esi\n\t"
                     "xor %%edx, %%edx\n\t"
                     "call mallocgc\n\t"
                     "pop %%rbp\n\t"
                     "pop %%rbp\n\t"
                     "mov %%rbx, %%rsp"
                     : "=a"(r)
                     : [fake] "r"(fake)
                     : "rbx", "rdi", "rsi", "rdx", "rcx", "r8", "r9", "r10", "r11", "xmm0", "xmm1",
                       "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
                       "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "memory", "cc");
    return r;
}

/* Samples of alloc_with_rbp's buckets of the given depth (depth 2: the
 * self-linked frame, whose return address is 0x1235). */
static uint64_t bad_frame_samples(uint32_t depth)
{
    uint64_t n = 0;
    uint32_t nb = mprof_snapshot(recs, 4096);
    for (uint32_t k = 0; k < nb && k < 4096; k++)
        if (recs[k].stk[0] >= (uintptr_t)alloc_with_rbp &&
            recs[k].stk[0] < (uintptr_t)alloc_with_rbp + 256 && recs[k].nstk == depth &&
            (depth == 1 || recs[k].stk[1] == 0x1234))
            n += recs[k].allocs;
    return n;
}

/* A corrupt frame chain ends the walk inside the stack's bounds: below the
 * stack, above it, misaligned, and a frame that links to itself (one more
 * frame, then the loop is refused).  None may fault. */
static void test_stack_walk_bad_frames(void)
{
    uintptr_t loop[2];
    loop[0] = (uintptr_t)loop;
    loop[1] = 0x1235;
    const uintptr_t fakes[] = {0xdead0000, ~(uintptr_t)15, (uintptr_t)loop + 3, (uintptr_t)loop};
    const uint32_t want[] = {1, 1, 1, 2};
    mprof_set_rate(1);
    for (unsigned i = 0; i < 4; i++) {
        uint64_t before = bad_frame_samples(want[i]);
        REQUIRE(alloc_with_rbp(fakes[i]));
        uint64_t after = bad_frame_samples(want[i]);
        CHECKF(after == before + 1, "rbp 0x%lx: %lu new samples of depth %u", UL(fakes[i]),
               UL(after - before), want[i]);
    }
    mprof_set_rate(MPROF_DEFAULT_RATE);
    __asm__ volatile("" ::"r"(loop) : "memory");
}

/* ------------------------------------------------------------ in use */

#define NIN 200
static void *keep[NIN];

/* in-use (allocs - frees) of fn's buckets equals want */
static bool inuse_is(const void *fn, uint64_t size, uint64_t want, uint64_t *got)
{
    struct agg a = profile_of(fn, size);
    *got = a.allocs - a.frees;
    return *got == want && a.alloc_bytes - a.free_bytes == want * size;
}

/* The scenario the in-use check runs, broken or not: returns whether every
 * in-use figure was right. */
static bool inuse_scenario(void (*fn)(uint64_t, uint64_t, void **))
{
    uint64_t got;
    bool ok = true;
    mprof_set_rate(1);
    fn(NIN, 256, keep);
    mprof_set_rate(MPROF_DEFAULT_RATE);
    mspan *s = span_of((uintptr_t)keep[0]);
    CHECKF(s->profSamples > 0 && s->freeLimit == 0, "sampled span: profSamples %u freeLimit %lu",
           s->profSamples, UL(s->freeLimit));
    ok &= inuse_is((void *)fn, 256, NIN, &got);
    for (int i = 0; i < NIN; i += 2)
        kfree(keep[i]);
    malloc_flush_all_mcaches(); /* the owner's sweep applies the pending frees */
    gc_finish_sweep();          /* and mcentral's of the full spans they re-queued */
    ok &= inuse_is((void *)fn, 256, NIN / 2, &got);
    if (!ok)
        printf("# after kfree of half and the sweep: %lu in use, want %d\n", UL(got), NIN / 2);
    memset(keep, 0, sizeof keep); /* the rest is garbage */
    REQUIRE(gc_collect());
    gc_finish_sweep();
    malloc_flush_all_mcaches();
    bool ok2 = inuse_is((void *)fn, 256, 0, &got);
    if (!ok2)
        printf("# after the collection: %lu in use, want 0\n", UL(got));
    return ok && ok2;
}

static void test_inuse_kfree_sweep_and_gc(void)
{
    uint64_t live0 = mprof_live_samples();
    CHECK(inuse_scenario(alloc_inuse));
    CHECKF(mprof_live_samples() <= live0, "live samples %lu, were %lu", UL(mprof_live_samples()),
           UL(live0));
    VERIFY();
}

static void test_inuse_large_objects(void)
{
    uint64_t got;
    void *big[3];
    mprof_set_rate(1);
    alloc_inuse_large(3, 100000, big);
    mprof_set_rate(MPROF_DEFAULT_RATE);
    uint64_t sz = span_of((uintptr_t)big[0])->npages * PAGE_SIZE;
    CHECK(inuse_is((void *)alloc_inuse_large, sz, 3, &got));
    kfree(big[1]);
    CHECKF(inuse_is((void *)alloc_inuse_large, sz, 2, &got), "after kfree: %lu", UL(got));
    big[0] = big[2] = 0;
    REQUIRE(gc_collect());
    gc_finish_sweep();
    CHECKF(inuse_is((void *)alloc_inuse_large, sz, 0, &got), "after gc: %lu", UL(got));
    VERIFY();
}

/* Negative control: with frees not recorded, the same checks must fail. */
static void test_inuse_check_catches_lost_frees(void)
{
    mprof_test_drop_frees = 1;
    bool ok = inuse_scenario(alloc_broken);
    mprof_test_drop_frees = 0;
    CHECKF(!ok, "the in-use check passed although frees were not recorded");
    VERIFY();
}

/* A sampled span's kfree fast path is closed, and reopened once its
 * samples are gone. */
static void test_sampled_span_fast_path(void)
{
    mprof_set_rate(1);
    void *p = mallocgc(2048, 0, false);
    mprof_set_rate(MPROF_DEFAULT_RATE);
    mspan *s = span_of((uintptr_t)p);
    CHECK(s->freeLimit == 0 && s->profSamples >= 1);
    uint32_t before = s->profSamples;
    kfree(p);
    malloc_flush_all_mcaches();
    CHECKF(s->profSamples == before - 1, "profSamples %u, was %u", s->profSamples, before);
    if (s->profSamples == 0 && s->state == mSpanInUse)
        CHECK(s->freeLimit == s->limit - s->startAddr);
    VERIFY();
}

/* ------------------------------------------------------------ all CPUs */

#define NTHREADS 4
#define PER_THREAD 20000

static void *thread_body(void *arg)
{
    uint32_t cpu = (uint32_t)(uintptr_t)arg;
    host_set_cpu(cpu);
    void **mine = calloc(PER_THREAD, sizeof *mine);
    alloc_threads(PER_THREAD, 32 + 16 * cpu, mine);
    for (int i = 0; i < PER_THREAD; i += 3)
        kfree(mine[i]);
    free(mine);
    return 0;
}

static void test_all_cpus_then_everything_freed(void)
{
    /* No cycle while the threads run: the host's "stop the world" stops
     * only the collecting thread, and the threads hold their objects in
     * libc memory, which is no root.  A heap-triggered cycle there swept
     * objects still in use and met samples being recorded for spans it
     * had just freed (the test failed about 1 run in 40). */
    int32_t gogc = gc_set_percent(-1);
    mprof_set_rate(64);
    uint32_t ncyc0 = gc_num_cycles();
    pthread_t t[NTHREADS];
    for (uint32_t i = 0; i < NTHREADS; i++)
        pthread_create(&t[i], 0, thread_body, (void *)(uintptr_t)i);
    for (uint32_t i = 0; i < NTHREADS; i++)
        pthread_join(t[i], 0);
    CHECKF(gc_num_cycles() == ncyc0, "%u cycles ran while the threads allocated",
           gc_num_cycles() - ncyc0);
    gc_set_percent(gogc);
    mprof_set_rate(MPROF_DEFAULT_RATE);
    VERIFY();
    struct agg a = profile_of((void *)alloc_threads, 0);
    CHECKF(a.allocs > 0 && a.buckets >= NTHREADS, "%lu samples in %u buckets", UL(a.allocs),
           a.buckets);
    malloc_flush_all_mcaches();
    REQUIRE(gc_collect());
    gc_finish_sweep();
    malloc_flush_all_mcaches();
    struct agg b = profile_of((void *)alloc_threads, 0);
    CHECKF(b.frees == b.allocs, "%lu samples, %lu freed", UL(b.allocs), UL(b.frees));
    if (b.frees != b.allocs) {
        uint32_t n = mprof_snapshot(recs, 4096);
        for (uint32_t i = 0; i < n; i++)
            if (recs[i].allocs != recs[i].frees)
                printf("# bucket size %lu: %lu allocs %lu frees, %u frames, stk0 %lx\n", UL(recs[i].size), UL(recs[i].allocs), UL(recs[i].frees), recs[i].nstk, UL(recs[i].stk[0]));
    }
    VERIFY();
}

/* ------------------------------------------------------------ proto */

static const uint8_t *rd_varint(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int sh = 0; p < end && sh < 64; sh += 7) {
        uint8_t b = *p++;
        *v |= (uint64_t)(b & 0x7f) << sh;
        if (!(b & 0x80))
            return p;
    }
    return 0;
}

/* One field: its number, wire type, value (varint) or bytes. */
struct field {
    uint32_t num, wt;
    uint64_t v;
    const uint8_t *p;
    size_t n;
};

static const uint8_t *rd_field(const uint8_t *p, const uint8_t *end, struct field *f)
{
    uint64_t key;
    if (!(p = rd_varint(p, end, &key)))
        return 0;
    f->num = (uint32_t)(key >> 3);
    f->wt = key & 7;
    if (f->wt == 0)
        return rd_varint(p, end, &f->v);
    if (f->wt != 2 || !(p = rd_varint(p, end, &f->v)) || f->v > (uint64_t)(end - p))
        return 0;
    f->p = p;
    f->n = f->v;
    return p + f->n;
}

struct decoded {
    char strings[16][24];
    int nstrings, nsample_types, nsamples, nlocs, nmaps;
    uint64_t st[4][2], period, ptype[2];
    uint64_t values[4][4], locids[4][8], nloc[4], label_key[4], label_num[4];
    uint64_t loc_addr[16], loc_map[16];
    uint64_t map_start, map_limit, map_off, map_file;
};

static void decode_value_type(const uint8_t *p, size_t n, uint64_t *out)
{
    struct field f;
    for (const uint8_t *e = p + n; p && p < e;)
        if ((p = rd_field(p, e, &f)) && f.wt == 0 && f.num >= 1 && f.num <= 2)
            out[f.num - 1] = f.v;
}

static void decode_packed(const uint8_t *p, size_t n, uint64_t *out, uint64_t *cnt, int max)
{
    for (const uint8_t *e = p + n; p && p < e && (int)*cnt < max;)
        p = rd_varint(p, e, &out[(*cnt)++]);
}

static void decode_sample(struct decoded *d, const uint8_t *p, size_t n)
{
    int k = d->nsamples++;
    uint64_t nv = 0;
    struct field f, g;
    for (const uint8_t *e = p + n; p && p < e;) {
        if (!(p = rd_field(p, e, &f)) || f.wt != 2)
            continue;
        if (f.num == 1)
            decode_packed(f.p, f.n, d->locids[k], &d->nloc[k], 8);
        else if (f.num == 2)
            decode_packed(f.p, f.n, d->values[k], &nv, 4);
        else if (f.num == 3)
            for (const uint8_t *q = f.p, *qe = f.p + f.n; q && q < qe;)
                if ((q = rd_field(q, qe, &g)) && g.wt == 0)
                    *(g.num == 1 ? &d->label_key[k] : &d->label_num[k]) = g.v;
    }
}

static void decode_small(struct decoded *d, const struct field *f)
{
    struct field g;
    uint64_t v[6] = {0};
    for (const uint8_t *q = f->p, *qe = f->p + f->n; q && q < qe;)
        if ((q = rd_field(q, qe, &g)) && g.wt == 0 && g.num >= 1 && g.num <= 5)
            v[g.num] = g.v;
    if (f->num == 3) {
        d->nmaps++;
        d->map_start = v[2], d->map_limit = v[3], d->map_off = v[4], d->map_file = v[5];
    } else if (v[1] >= 1 && v[1] <= 16) {
        d->nlocs++;
        d->loc_map[v[1] - 1] = v[2];
        d->loc_addr[v[1] - 1] = v[3];
    }
}

static bool decode(const uint8_t *p, size_t n, struct decoded *d)
{
    memset(d, 0, sizeof *d);
    struct field f;
    for (const uint8_t *e = p + n; p < e;) {
        if (!(p = rd_field(p, e, &f)))
            return false;
        if (f.num == 1 && d->nsample_types < 4)
            decode_value_type(f.p, f.n, d->st[d->nsample_types++]);
        else if (f.num == 2 && d->nsamples < 4)
            decode_sample(d, f.p, f.n);
        else if (f.num == 3 || f.num == 4)
            decode_small(d, &f);
        else if (f.num == 6 && d->nstrings < 16 && f.n < 24)
            memcpy(d->strings[d->nstrings++], f.p, f.n);
        else if (f.num == 11)
            decode_value_type(f.p, f.n, d->ptype);
        else if (f.num == 12)
            d->period = f.v;
    }
    return true;
}

static void test_proto_decodes_back(void)
{
    struct mprof_record r[2] = {
        {.size = 1024, .allocs = 10, .alloc_bytes = 10240, .frees = 4, .free_bytes = 4096,
         .nstk = 3, .stk = {0x1000, 0x2000, 0x3000}},
        {.size = 64, .allocs = 300, .alloc_bytes = 19200, .frees = 0, .free_bytes = 0,
         .nstk = 2, .stk = {0x1500, 0x3000}},
    };
    struct mprof_proto_info info = {1, 0xffffffff80100000ull, 0xffffffff8019b000ull, 0,
                                    "kernel.elf", 0};
    static uint8_t buf[4096];
    uintptr_t scratch[16];
    size_t len = mprof_proto_encode(r, 2, &info, buf, sizeof buf, scratch, 16);
    REQUIRE(len > 0);
    struct decoded d;
    REQUIRE(decode(buf, len, &d));
    static const char *const want[] = {"", "alloc_objects", "count", "alloc_space", "bytes",
                                       "inuse_objects", "inuse_space", "space", "kernel.elf"};
    CHECK(d.nstrings == 9);
    for (int i = 0; i < 9 && i < d.nstrings; i++)
        CHECKF(!strcmp(d.strings[i], want[i]), "string %d '%s', want '%s'", i, d.strings[i],
               want[i]);
    CHECK(d.nsample_types == 4);
    CHECK(!strcmp(d.strings[d.st[0][0]], "alloc_objects") && !strcmp(d.strings[d.st[0][1]], "count"));
    CHECK(!strcmp(d.strings[d.st[3][0]], "inuse_space") && !strcmp(d.strings[d.st[3][1]], "bytes"));
    CHECK(!strcmp(d.strings[d.ptype[0]], "space") && d.period == 1);
    REQUIRE(d.nsamples == 2 && d.nlocs == 4 && d.nmaps == 1);
    CHECK(d.values[0][0] == 10 && d.values[0][1] == 10240 && d.values[0][2] == 6 &&
          d.values[0][3] == 6144);
    CHECK(d.values[1][0] == 300 && d.values[1][3] == 19200);
    CHECK(!strcmp(d.strings[d.label_key[0]], "bytes") && d.label_num[0] == 1024);
    for (int k = 0; k < 2; k++)
        for (uint32_t j = 0; j < r[k].nstk; j++) {
            uint64_t id = d.locids[k][j];
            CHECKF(id >= 1 && id <= 4 && d.loc_addr[id - 1] == r[k].stk[j] && d.loc_map[id - 1] == 1,
                   "sample %d frame %u: location %lu", k, j, UL(id));
        }
    CHECK(d.map_start == info.map_start && d.map_limit == info.map_limit && d.map_off == 0 &&
          !strcmp(d.strings[d.map_file], "kernel.elf"));
    /* scaled: rate 4096 changes the values by Go's factor */
    info.rate = 4096;
    len = mprof_proto_encode(r, 2, &info, buf, sizeof buf, scratch, 16);
    REQUIRE(len > 0 && decode(buf, len, &d));
    double f = 1 / -expm1(-1024.0 / 4096);
    CHECKF(fabs((double)d.values[0][1] - 10240 * f) <= 1, "scaled %lu, want %.1f",
           UL(d.values[0][1]), 10240 * f);
    /* too small a buffer or scratch: 0, never a cut message */
    CHECK(mprof_proto_encode(r, 2, &info, buf, 100, scratch, 16) == 0);
    CHECK(mprof_proto_encode(r, 2, &info, buf, sizeof buf, scratch, 3) == 0);
}

static void test_base64(void)
{
    static const struct { const char *in, *out; } v[] = {
        {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
    for (unsigned i = 0; i < sizeof v / sizeof *v; i++) {
        char out[16];
        size_t k = mprof_base64((const uint8_t *)v[i].in, strlen(v[i].in), out);
        out[k] = 0;
        CHECKF(!strcmp(out, v[i].out), "base64(%s) = %s, want %s", v[i].in, out, v[i].out);
    }
}

/* ------------------------------------------------------------ cmdline */

static void test_cmdline_memprofilerate(void)
{
    struct cmdline c;
    CHECK(cmdline_parse("memprofilerate=8192 pprofwork pprof", &c) == 0);
    CHECK(c.memprofilerate_set && c.memprofilerate == 8192 && c.pprof && c.pprofwork);
    CHECK(cmdline_parse("memprofilerate=0", &c) == 0 && c.memprofilerate_set &&
          c.memprofilerate == 0);
    static const char *const bad[] = {"memprofilerate=", "memprofilerate=abc",
                                      "memprofilerate=-1", "memprofilerate=12k",
                                      "memprofilerate=9999999999999", "memprofilerate=1.5"};
    for (unsigned i = 0; i < sizeof bad / sizeof *bad; i++) {
        char want[96];
        snprintf(want, sizeof want, "cmdline: bad value in '%s'", bad[i]);
        CHECKF(cmdline_parse(bad[i], &c) == 1 && !strcmp(c.errors[0], want) &&
                   !c.memprofilerate_set,
               "'%s': %d errors, '%s'", bad[i], c.nerrors, c.errors[0]);
    }
    CHECK(cmdline_parse("pprofx", &c) == 1 && !strcmp(c.errors[0], "cmdline: unknown word 'pprofx'"));
    unsigned long long v;
    CHECK(cmdline_parse_rate("4096", &v) && v == 4096);
    CHECK(!cmdline_parse_rate("4k", &v) && !cmdline_parse_rate("", &v));
}

static const struct tap_test tests[] = {
    {"exp_draw_distribution", test_exp_draw_distribution},
    {"sampling_rate_64", test_sampling_rate_64},
    {"sampling_rate_1k", test_sampling_rate_1k},
    {"rate_one_and_zero", test_rate_one_and_zero},
    {"tiny_objects", test_tiny_objects},
    {"one_minus_exp_matches_libm", test_one_minus_exp_matches_libm},
    {"stack_walk_names_the_callers", test_stack_walk_names_the_callers},
    {"stack_walk_bad_frames", test_stack_walk_bad_frames},
    {"inuse_kfree_sweep_and_gc", test_inuse_kfree_sweep_and_gc},
    {"inuse_large_objects", test_inuse_large_objects},
    {"inuse_check_catches_lost_frees", test_inuse_check_catches_lost_frees},
    {"sampled_span_fast_path", test_sampled_span_fast_path},
    {"all_cpus_then_everything_freed", test_all_cpus_then_everything_freed},
    {"proto_decodes_back", test_proto_decodes_back},
    {"base64", test_base64},
    {"cmdline_memprofilerate", test_cmdline_memprofilerate},
};

int main(int argc, char **argv)
{
    host_set_ncpu(NTHREADS);
    host_set_quiet(1);
    malloc_init();
    return tap_main(argc, argv, tests, TAP_COUNT(tests));
}
