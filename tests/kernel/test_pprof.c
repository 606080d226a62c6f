/*
 * test_pprof.c — the heap profile in the kernel (alloc/mprof.c,
 * kernel/pprof.c): the frame-pointer walk names the allocating kernel
 * function and its callers, in-use samples leave when the collector frees
 * them, an empty profile is reported instead of dumped, and the shell
 * command refuses bad input without changing the rate.
 */
#include "../../alloc/malloc.h"
#include "../../alloc/mgc.h"
#include "../../alloc/mprof.h"
#include "kernel.h"
#include "ktest.h"
#include "pprof.h"
#include "shell.h"
#include "testutil.h"

static char out[2048];
static void *volatile sink;

static uintptr_t hidden[64]; /* ~address: not a root */
static void __attribute__((noinline)) pprof_test_alloc(uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        sink = mallocgc(384, 0, false);
        hidden[i % 64] = ~(uintptr_t)sink;
    }
    sink = 0;
}

static void __attribute__((noinline)) pprof_test_caller(void) { pprof_test_alloc(64); }

/* Sum of the 384-byte buckets whose first frame is in pprof_test_alloc. */
static int test_buckets(uint64_t *allocs, uint64_t *frees, uintptr_t *caller)
{
    uint32_t room = mprof_snapshot(0, 0) + 64;
    struct mprof_record *r = kmalloc(room * sizeof *r);
    if (!r)
        return 0;
    uint32_t n = mprof_snapshot(r, room);
    *allocs = *frees = 0;
    for (uint32_t i = 0; i < n && i < room; i++) {
        uintptr_t pc = r[i].stk[0];
        if (r[i].size != 384 || pc < (uintptr_t)pprof_test_alloc ||
            pc >= (uintptr_t)pprof_test_caller)
            continue;
        *allocs += r[i].allocs;
        *frees += r[i].frees;
        *caller = r[i].nstk > 1 ? r[i].stk[1] : 0;
    }
    kfree(r);
    return 1;
}

/* The sampled objects that are still allocated (gc_object_state). */
static uint32_t count_live(void)
{
    uint32_t n = 0;
    for (int i = 0; i < 64; i++)
        n += gc_object_state((void *)~hidden[i]) == GC_OBJ_LIVE;
    return n;
}

/* Every allocation sampled (rate 1): 64 samples in pprof_test_alloc called
 * from pprof_test_caller.  After a collection, in use == the objects still
 * allocated (not necessarily 0: globals are scanned conservatively, and a
 * stale pointer left there by an earlier test may keep one alive); after
 * those are kfree'd and a second collection has swept every span, 0. */
KTEST(pprof_stack_and_inuse, KTEST_QUICK)
{
    uint64_t rate = mprof_get_rate(), a0, f0, a1, f1, a2, f2;
    uintptr_t caller = 0;
    KCHECK(test_buckets(&a0, &f0, &caller));
    mprof_set_rate(1);
    pprof_test_caller();
    mprof_set_rate(rate);
    KCHECK(test_buckets(&a1, &f1, &caller));
    KCHECKF(a1 - a0 == 64, "%lu samples, want 64", (unsigned long)(a1 - a0));
    KCHECKF(caller >= (uintptr_t)pprof_test_caller && caller < (uintptr_t)pprof_test_caller + 256,
            "second frame 0x%lx is not in pprof_test_caller 0x%lx", (unsigned long)caller,
            (unsigned long)pprof_test_caller);
    if (!gc_collect())
        return;
    gc_finish_sweep();
    uint32_t live = count_live();
    KCHECK(test_buckets(&a2, &f2, &caller));
    kprintf("# %u of 64 sampled objects freed by the collection\n", 64 - live);
    KCHECKF(a2 - f2 == live, "%lu samples in use after a collection, %u objects allocated",
            (unsigned long)(a2 - f2), live);
    for (int i = 0; i < 64; i++)
        if (gc_object_state((void *)~hidden[i]) == GC_OBJ_LIVE)
            kfree((void *)~hidden[i]);
    gc_collect(); /* sweeps every span: the pending frees too */
    gc_finish_sweep();
    KCHECK(test_buckets(&a2, &f2, &caller));
    KCHECKF(a2 == f2, "%lu samples in use after kfree of the rest",
            (unsigned long)(a2 - f2));
}

static uint32_t empty_snapshot(struct mprof_record *r, uint32_t max)
{
    (void)r;
    (void)max;
    return 0;
}

KTEST(pprof_empty_profile_says_so, KTEST_QUICK)
{
    kprintf_capture(out, sizeof out);
    pprof_dump_from(empty_snapshot);
    kprintf_capture_end();
    KCHECKF(testutil_starts_with(out, "pprof: no samples (memprofilerate=") &&
                !testutil_contains(out, "BEGIN"),
            "'%s'", out);
}

KTEST(pprof_command_bad_input, KTEST_QUICK)
{
    static const char *const bad[] = {"pprof", "pprof bogus", "pprof heap 2", "pprof rate 12k",
                                      "pprof rate -1", "pprof rate x y"};
    uint64_t rate = mprof_get_rate();
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kprintf_capture(out, sizeof out);
        shell_exec(bad[i]);
        kprintf_capture_end();
        KCHECKF((testutil_starts_with(out, "usage: pprof") ||
                 testutil_starts_with(out, "pprof: bad rate")) &&
                    mprof_get_rate() == rate,
                "'%s': '%s' (rate %lu)", bad[i], out, (unsigned long)mprof_get_rate());
    }
    kprintf_capture(out, sizeof out);
    shell_exec("pprof rate");
    kprintf_capture_end();
    KCHECKF(testutil_starts_with(out, "memprofilerate: "), "'%s'", out);
}
