/*
 * test_playground.c — the heap playground commands (kernel/playground.c,
 * kernel/heapview.c) as a user types them: the newcomer's walk (alloc,
 * heapmap, drop, gc, heapmap: the span appears and goes), every bad
 * argument refused in one line with nothing changed, free/drop on every
 * entry state, obj/span/heapmap output, `append` against Go's capacities,
 * and the regression test for the false root that kept a dropped entry
 * alive (alloc/'s metadata globals, now PLAT_NOSCAN).
 *
 * The tests never hold an object pointer in the clear: they keep object
 * addresses XOR'ed (HIDE), and scrub the stack below them before a cycle,
 * so only the root table can keep an entry alive.
 */
#include "../../alloc/debug.h"
#include "../../alloc/heapdump.h"
#include "../../alloc/malloc.h"
#include "../../alloc/mgc.h"
#include "fmt.h"
#include "kernel.h"
#include "ktest.h"
#include "playground.h"
#include "shell.h"
#include "testutil.h"

#define HIDE 0x5A5A5A5A5A5A5A5Aul
static char out[8192];

static void run(const char *cmd)
{
    kprintf_capture(out, sizeof out);
    shell_exec(cmd);
    kprintf_capture_end();
}

/* Run a command whose output grows with the heap (heapmap: 128 rows of
 * ~90 B per arena) into a kmalloc'd buffer; the caller kfree's it. */
static char *run_big(const char *cmd)
{
    uint64_t cap = (mheap_.narenas + 1) * 128 * 100 + 8192;
    char *buf = kmalloc(cap);
    if (!buf)
        return 0;
    kprintf_capture(buf, cap);
    shell_exec(cmd);
    kprintf_capture_end();
    return buf;
}

static bool gone(uint64_t hidden)
{
    enum gc_obj_state st = gc_object_state((void *)(hidden ^ HIDE));
    return st == GC_OBJ_FREE || st == GC_OBJ_NOT_HEAP;
}

/* The spans that hold only objects of entry n (their first addresses, in
 * kmalloc memory: not a root). */
static __attribute__((noinline)) int exclusive_spans(int n, uint64_t count, uint64_t *starts, int max)
{
    int e = 0;
    uint64_t i = 0;
    while (i < count && e < max) {
        struct heapdump_obj o;
        heapdump_object(playground_object_hidden(n, i, HIDE) ^ HIDE, &o);
        uint64_t j = i; /* consecutive objects share a span until it fills */
        while (j < count &&
               ((playground_object_hidden(n, j, HIDE) ^ HIDE) - o.span.start) < o.span.npages * PAGE_SIZE)
            j++;
        if (o.span.allocCount == j - i)
            starts[e++] = o.span.start;
        i = j;
    }
    return e;
}

/* How many of the spans at starts[] are still spans.  noinline, as
 * exclusive_spans: a heapdump_obj in the test's own frame would hold a
 * span's first address, and a live frame is a root. */
static __attribute__((noinline)) int spans_in_use(const uint64_t *starts, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        struct heapdump_obj o;
        heapdump_object(starts[i], &o);
        k += o.where != HD_FREE_PAGES;
    }
    return k;
}

KTEST(playground_newcomer_walkthrough, KTEST_QUICK)
{
    enum { N = 1000, MAXS = 16 };
    playground_reset();
    uint64_t *hidden = kmalloc(N * sizeof *hidden), *spans = kmalloc(MAXS * sizeof *spans);
    KREQUIRE(hidden && spans);
    run("alloc 48 1000");
    int n = playground_last_entry();
    KREQUIRE(n == 1 && testutil_starts_with(out, "alloc: #1 = 1000 x 48 B noscan, class 5"));
    for (int i = 0; i < N; i++)
        hidden[i] = playground_object_hidden(n, (uint64_t)i, HIDE);
    uint64_t harr = playground_array_hidden(n, HIDE);
    /* 170 per span: on a fresh heap 6 spans are the entry's alone; after
     * other tests, partial spans may be shared, but not all of them */
    int ex = exclusive_spans(n, N, spans, MAXS);
    KCHECKF(ex >= 1, "no span holds only the entry's objects");
    char *map = run_big("heapmap");
    KREQUIRE(map);
    KCHECKF(testutil_contains(map, "|") && testutil_contains(map, "legend: ") &&
            testutil_contains(map, " a "), "%.200s", map);
    kfree(map);
    /* negative control: a held entry survives a cycle */
    stack_scrub();
    run("gc");
    int lost = 0;
    for (int i = 0; i < N; i++)
        lost += gone(hidden[i]);
    KCHECKF(lost == 0, "%d of %d held objects collected", lost, N);
    run("drop 1");
    KCHECK(testutil_starts_with(out, "drop: #1 unrooted: 1000 x 48 B"));
    stack_scrub();
    run("gc");
    /* Exact but for conservative retention: an object kept must be held by
     * some stale word the report names (at most 2 of 1000 tolerated). */
    int kept = 0, explained = 0;
    for (int i = 0; i < N; i++)
        if (!gone(hidden[i])) {
            kept++;
            explained += testutil_report_holders(hidden[i] ^ HIDE, 48) > 0;
        }
    int stayed = spans_in_use(spans, ex);
    KCHECKF(gone(harr), "the entry's array survived the cycle");
    if (!gone(harr))
        testutil_report_holders(harr ^ HIDE, 8000);
    KCHECKF(kept == explained && kept <= 2, "%d of %d dropped objects survived the cycle, %d of "
            "them held by a stale word", kept, N, explained);
    KCHECKF(stayed <= kept, "%d of the entry's %d own spans still in use after drop and gc",
            stayed, ex);
    kfree(hidden);
    kfree(spans);
    testutil_verify_or_fail("the walkthrough");
    playground_reset();
}

/* Each bad command: one line, starting as given; nothing changes. */
static const struct {
    const char *cmd, *want;
} bad_cmds[] = {
    {"alloc 0", "usage: alloc SIZE"},          {"alloc x", "usage: alloc SIZE"},
    {"alloc 48 0", "usage: alloc SIZE"},       {"alloc 48 2000000", "usage: alloc SIZE"},
    {"alloc 48 10 blue", "usage: alloc SIZE"}, {"alloc 48 10 scan 3", "usage: alloc SIZE"},
    {"alloc 12Q", "usage: alloc SIZE"},        {"alloc 99999999999999999999", "usage: alloc SIZE"},
    {"alloc 5G", "alloc: 5368709120 B is larger than memory"},
    {"alloc 30M 1000", "alloc: 1000 x 31457280 B is more than half of the free memory"},
    {"alloc 4 1 scan", "alloc: scan objects hold pointers"},
    {"drop", "usage: drop N"},                 {"drop 0", "usage: drop N"},
    {"drop 65", "usage: drop N"},              {"drop x", "usage: drop N"},
    {"drop 7", "drop: #7 is empty"},           {"free", "usage: free N"},
    {"free -1", "usage: free N"},              {"free 9", "free: #9 is empty"},
    {"obj", "usage: obj ADDR"},                {"obj zz", "usage: obj ADDR"},
    {"obj 0x10", "obj: 0x10 is not in the heap"},
    {"span", "usage: span ADDR|CLASS"},        {"span q", "usage: span ADDR|CLASS"},
    {"span 0x1000", "span: 0x1000 is not in a span"},
    {"heapmap -x", "usage: heapmap [-f]"},     {"append", "usage: append SIZE N"},
    {"append 0 5", "usage: append SIZE N"},    {"append 8 0", "usage: append SIZE N"},
    {"append 70000 5", "usage: append SIZE N"}, {"append 12 5 scan", "usage: append SIZE N"},
    {"append 8 5 blue", "usage: append SIZE N"},
};

static bool one_line(const char *s)
{
    int nl = 0;
    for (; *s; s++)
        nl += *s == '\n';
    return nl == 1;
}

KTEST(playground_bad_input_changes_nothing, KTEST_QUICK)
{
    playground_reset();
    run("alloc 64 10");
    struct pg_info before[PG_ENTRIES + 1], now;
    for (int i = 1; i <= PG_ENTRIES; i++)
        playground_entry(i, &before[i]);
    uint32_t cycles = gc_num_cycles();
    for (unsigned k = 0; k < sizeof bad_cmds / sizeof bad_cmds[0]; k++) {
        run(bad_cmds[k].cmd);
        KCHECKF(testutil_starts_with(out, bad_cmds[k].want) && one_line(out),
                "'%s': '%s', want '%s...' on one line", bad_cmds[k].cmd, out, bad_cmds[k].want);
        int changed = 0;
        for (int i = 1; i <= PG_ENTRIES; i++) {
            playground_entry(i, &now);
            changed += now.state != before[i].state || now.count != before[i].count;
        }
        KCHECKF(!changed, "'%s' changed %d table entries", bad_cmds[k].cmd, changed);
    }
    KCHECKF(gc_num_cycles() == cycles, "bad commands ran %u cycles", gc_num_cycles() - cycles);
    testutil_verify_or_fail("the bad commands");
    playground_reset();
}

KTEST(playground_free_and_drop_states, KTEST_QUICK)
{
    playground_reset();
    run("alloc 64 100");
    uint64_t h0 = playground_object_hidden(1, 0, HIDE);
    run("free 1");
    KCHECKF(testutil_starts_with(out, "free: #1: 100 objects and their array kfree'd"), "%s", out);
    enum gc_obj_state st = gc_object_state((void *)(h0 ^ HIDE));
    KCHECKF(st == GC_OBJ_PENDING || st == GC_OBJ_FREE || st == GC_OBJ_NOT_HEAP, "state %d", st);
    run("free 1");
    KCHECKF(testutil_starts_with(out, "free: #1 is already freed"), "%s", out);
    run("drop 1");
    KCHECKF(testutil_starts_with(out, "drop: #1 is freed"), "%s", out);
    run("alloc 8 10"); /* tiny: only the collector frees them */
    run("free 2");
    struct pg_info e;
    playground_entry(2, &e);
    KCHECKF(testutil_starts_with(out, "free: #2 holds tiny objects") && e.state == PG_HELD,
            "%s (state %u)", out, e.state);
    run("drop 2");
    run("free 2");
    KCHECKF(testutil_starts_with(out, "free: #2 was dropped"), "%s", out);
    testutil_verify_or_fail("free and drop");
    playground_reset();
}

KTEST(playground_obj_span_heapmap_output, KTEST_QUICK)
{
    playground_reset();
    run("alloc 100 3 scan");
    KREQUIRE(testutil_starts_with(out, "alloc: #1 = 3 x 100 B scan, class 9 (112 B slots"));
    char cmd[64];
    ksnprintf(cmd, sizeof cmd, "obj 0x%lx", (playground_object_hidden(1, 0, HIDE) ^ HIDE) + 16);
    run(cmd);
    KCHECKF(testutil_contains(out, "class 9 (112 B, scan)") && testutil_contains(out, "(+16)") &&
            testutil_contains(out, "allocated yes") &&
            testutil_contains(out, "13 of 14 words are pointers: ppppppppppppp."),
            "%s", out);
    ksnprintf(cmd, sizeof cmd, "span 0x%lx", playground_object_hidden(1, 2, HIDE) ^ HIDE);
    run(cmd);
    KCHECKF(testutil_contains(out, "slots (# allocated") && testutil_contains(out, "#"), "%s",
            out);
    run("span 9");
    KCHECKF(testutil_starts_with(out, "span: class 9 (112 B objects, 73 per span): "), "%s", out);
    char *map = run_big("heapmap -f");
    KREQUIRE(map);
    int rows = 0;
    for (const char *p = map; (p = __builtin_strstr(p, "heapmap ")); p++)
        rows++;
    kfree(map);
    /* 128 rows per arena, plus the legend and the page counts */
    KCHECKF(rows == (int)mheap_.narenas * 128 + 2, "heapmap -f: %d lines for %lu arenas", rows,
            mheap_.narenas);
    run("drop 1");
    playground_reset();
}

/* Go 1.19's capacities for append one element at a time (the lines of
 * tests/host/go/appendcaps.golden for 24-byte elements). */
static const char *const go_caps_24[] = {
    "len 1 cap 0 -> 1, 24 B class 3",        "len 2 cap 1 -> 2, 48 B class 5",
    "len 3 cap 2 -> 4, 96 B class 8",        "len 5 cap 4 -> 8, 192 B class 14",
    "len 9 cap 8 -> 16, 384 B class 22",     "len 17 cap 16 -> 32, 768 B class 30",
    "len 33 cap 32 -> 64, 1536 B class 36",  "len 65 cap 64 -> 128, 3072 B class 41",
    "len 129 cap 128 -> 256, 6144 B class 47", "len 257 cap 256 -> 512, 12288 B class 56",
    "len 513 cap 512 -> 853, 20472 B class 62", "len 854 cap 853 -> 1365, 32760 B class 67",
    "len 1366 cap 1365 -> 2048, 49152 B large (6 pages)",
    "append: 2000 x 24 B: 13 growths, len 2000 cap 2048 (49152 B)",
};

KTEST(playground_append_matches_go, KTEST_QUICK)
{
    run("append 24 2000");
    const char *p = out;
    for (unsigned i = 0; i < sizeof go_caps_24 / sizeof go_caps_24[0]; i++) {
        KCHECKF(testutil_starts_with(p, go_caps_24[i]), "line %u: '%.60s', want '%s'", i, p,
                go_caps_24[i]);
        while (*p && *p++ != '\n')
            ;
    }
}

/* Regression: the persistent allocator's end bound is the next arena's
 * base, and a conservative scan of the globals took it for a pointer to
 * the object there (a dropped playground entry survived every cycle).
 * alloc/'s metadata is PLAT_NOSCAN now.  The same value in an ordinary
 * global must keep its object (the control), in a .noscan one not. */
/* volatile: GCC drops static variables that are only written */
static volatile uint64_t visible_slot;
static volatile PLAT_NOSCAN uint64_t noscan_slot;

static void __attribute__((noinline)) fill_slots(uint64_t *hv, uint64_t *hn)
{
    void *v = mallocgc(64, 0, true), *n = mallocgc(64, 0, true);
    visible_slot = (uint64_t)(uintptr_t)v;
    noscan_slot = (uint64_t)(uintptr_t)n;
    *hv = visible_slot ^ HIDE;
    *hn = noscan_slot ^ HIDE;
}

KTEST(gc_noscan_globals_are_not_roots, KTEST_QUICK)
{
    extern char __data_start[], __data_end[], __bss_start[], __bss_end[];
    char *ns = (char *)&noscan_slot;
    KCHECKF(!(ns >= __data_start && ns < __data_end) && !(ns >= __bss_start && ns < __bss_end),
            "the .noscan global at %p lies in data or bss (scanned)", (void *)ns);
    uint64_t hv, hn;
    fill_slots(&hv, &hn);
    stack_scrub();
    KREQUIRE(gc_collect());
    KCHECKF(gc_object_state((void *)(hv ^ HIDE)) == GC_OBJ_LIVE,
            "an object held by an ordinary global was collected");
    /* kept, it must be by a stale word elsewhere (the report names it): the
     * .noscan one alone does not keep it */
    KCHECKF(gone(hn) || testutil_report_holders(hn ^ HIDE, 64) > 0,
            "an object held only by a .noscan global survived (state %d)",
            gc_object_state((void *)(hn ^ HIDE)));
    visible_slot = noscan_slot = 0;
}

/* gcclobber: an object the collector frees is overwritten at once (Go's
 * clobberfree), so a use after collection reads 0xdeadbeef...  Control:
 * without it the sweep leaves the old contents (a debug kernel poisons
 * freed slots with its own pattern either way).  Large objects too. */
static uint64_t __attribute__((noinline)) garbage_with_pattern(uint64_t size)
{
    uint64_t *p = mallocgc(size, 0, true);
    for (uint64_t i = 0; i < size / 8; i++)
        p[i] = 0x1111111111111111ul * (i % 15 + 1);
    return (uint64_t)(uintptr_t)p ^ HIDE;
}

/* Words of [p, p+size) equal to `word`. */
static uint64_t words_equal(uint64_t hidden, uint64_t size, uint64_t word)
{
    const volatile uint64_t *p = (const uint64_t *)(hidden ^ HIDE);
    uint64_t n = 0;
    for (uint64_t i = 0; i < size / 8; i++)
        n += p[i] == word;
    return n;
}

/* Conservative roots may keep any one object (a stale word somewhere that
 * happens to equal its address: seen with 8 CPUs), so each case makes
 * several; every collected one must hold the expected words, and most must
 * be collected. */
#define CLOBBER_OBJS 8
KTEST(gc_clobber_overwrites_collected, KTEST_QUICK)
{
    static const uint64_t sizes[2] = {256, 64 * 1024}; /* small, large */
    bool was = __atomic_load_n(&gc_clobber, __ATOMIC_RELAXED); /* the boot's gcclobber= */
    for (int clobber = 0; clobber < 2; clobber++)
        for (int k = 0; k < 2; k++) {
            uint64_t h[CLOBBER_OBJS];
            gc_set_clobber(clobber);
            for (int i = 0; i < CLOBBER_OBJS; i++)
                h[i] = garbage_with_pattern(sizes[k]);
            stack_scrub();
            KREQUIRE(gc_collect());
            gc_set_clobber(false);
            uint64_t n = sizes[k] / 8;
            uint64_t want = clobber && !ALLOC_DEBUG ? GC_CLOBBER_WORD
                          : ALLOC_DEBUG && k == 0 ? 0xa5a5a5a5a5a5a5a5ul : 0x1111111111111111ul;
            uint64_t expect = want == 0x1111111111111111ul ? (n + 14) / 15 : n;
            int collected = 0, wrong = 0;
            for (int i = 0; i < CLOBBER_OBJS; i++) {
                if (!gone(h[i])) {
                    testutil_report_holders(h[i] ^ HIDE, sizes[k]);
                    continue;
                }
                collected++;
                uint64_t got = words_equal(h[i], sizes[k], want);
                if (got != expect && !wrong++)
                    kprintf("# gcclobber=%d, %lu B: %lu of %lu words are 0x%lx, want %lu\n",
                            clobber, sizes[k], got, n, want, expect);
            }
            KCHECKF(collected >= CLOBBER_OBJS - 2 && wrong == 0,
                    "gcclobber=%d, %lu B: %d of %d collected, %d of them with other contents",
                    clobber, sizes[k], collected, CLOBBER_OBJS, wrong);
        }
    gc_set_clobber(was);
}
