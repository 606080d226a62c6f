/*
 * test_gc.c — the collector's mark/sweep core on the host (GC.md T12),
 * under ASan and UBSan: random object graphs against a reference
 * reachability walk, explicit frees interleaved with collection, the
 * once-per-cycle GC sweep (markgen), large objects and oblets, interior
 * pointers, tiny blocks, kmalloc memory never collected, the pacer's goal,
 * the write barrier heap to heap and heap to stack (T2, T3), allocate
 * black and tiny blocks across the mark start (T4), the sweepers
 * (background, proportional, the page reclaimer; each with a
 * control that turns it off), and bad input.
 *
 * On the host the only roots are the ranges a test registers with
 * gc_add_root (its static tables): the host platform does not scan thread
 * stacks, so what is reachable is exactly what the test says.  Node
 * addresses are also kept in a libc-malloc'd shadow table that the
 * collector never sees (a weak reference), so the test can tell what
 * became of every node.
 */
#include <stdlib.h>
#include <string.h>

#include "heap_testlib.h"
#include "heapdump.h"
#include "mbarrier.h"
#include "mgc.h"
#include "mgcpriv.h"
#include "mheap.h"

#define UL(x) ((unsigned long)(x))

struct node {
    struct node *a, *b; /* pointer words 0 and 1 */
    uint64_t id, check;
};
static const uint8_t node_mask[1] = {0x3};
static const gotype node_type = {sizeof(struct node), 16, node_mask, "node"};

static uint64_t node_check(uint64_t id) { return id * 0x9E3779B97F4A7C15ull ^ 0x5555; }

static struct node *new_node(uint64_t id)
{
    struct node *n = newobject(&node_type);
    REQUIRE(n);
    n->id = id;
    n->check = node_check(id);
    return n;
}

/* ------------------------------------------------------------ random graphs */

#define MAXN 20000
#define NROOTS 16
static struct node *rootv[NROOTS]; /* registered as a root */
static struct node **shadow;       /* libc memory: invisible to the collector */
static uint8_t *reach;             /* reference reachability */
static uint32_t *stackv;

static uint32_t index_of(struct node *p, uint32_t n)
{
    /* ids are indexes */
    (void)n;
    return (uint32_t)p->id;
}

/* The reference: an explicit-stack walk from rootv over a/b. */
static void reference_walk(uint32_t n)
{
    memset(reach, 0, n);
    uint32_t sp = 0;
    for (int r = 0; r < NROOTS; r++)
        if (rootv[r] && !reach[index_of(rootv[r], n)]) {
            reach[index_of(rootv[r], n)] = 1;
            stackv[sp++] = index_of(rootv[r], n);
        }
    while (sp) {
        struct node *x = shadow[stackv[--sp]];
        struct node *kids[2] = {x->a, x->b};
        for (int k = 0; k < 2; k++)
            if (kids[k] && !reach[index_of(kids[k], n)]) {
                reach[index_of(kids[k], n)] = 1;
                stackv[sp++] = index_of(kids[k], n);
            }
    }
}

/* n nodes, random edges (some to earlier nodes: cycles), random roots. */
static void build_graph(uint32_t n, uint32_t seed)
{
    rng_seed(seed);
    for (uint32_t i = 0; i < n; i++)
        shadow[i] = new_node(i);
    for (uint32_t i = 0; i < n; i++) {
        shadow[i]->a = rng_n(3) ? shadow[rng_n(n)] : NULL;
        shadow[i]->b = rng_n(4) == 0 ? shadow[rng_n(n)] : NULL;
    }
    for (int r = 0; r < NROOTS; r++)
        rootv[r] = rng_n(4) ? shadow[rng_n(n)] : NULL;
}

/* Every reachable node is live and intact; every other one is free. */
static void check_graph(uint32_t n, const char *what)
{
    uint32_t lost = 0, kept = 0, bad = 0;
    for (uint32_t i = 0; i < n; i++) {
        enum gc_obj_state stt = gc_object_state(shadow[i]);
        if (reach[i]) {
            lost += stt != GC_OBJ_LIVE;
            bad += stt == GC_OBJ_LIVE &&
                   (shadow[i]->id != i || shadow[i]->check != node_check(i));
        } else {
            /* a free slot, or its span went back to the page heap */
            kept += stt != GC_OBJ_FREE && stt != GC_OBJ_NOT_HEAP;
        }
    }
    CHECKF(lost == 0 && bad == 0 && kept == 0,
           "%s: %u reachable nodes lost, %u corrupted, %u unreachable nodes kept", what, lost,
           bad, kept);
}

static void graph_round(uint32_t n, uint32_t seed, uint32_t markers)
{
    hook_reset();
    host_set_gc_markers(markers);
    memset(rootv, 0, sizeof rootv);
    build_graph(n, seed);
    reference_walk(n);
    struct memstats before = stats_now();
    REQUIRE(gc_collect());
    check_graph(n, "after one cycle");
    uint32_t unreachable = 0;
    for (uint32_t i = 0; i < n; i++)
        unreachable += !reach[i];
    struct memstats after = stats_now();
    CHECKF(before.HeapAlloc - after.HeapAlloc >= (uint64_t)unreachable * sizeof(struct node),
           "HeapAlloc fell by %lu, want >= %lu", UL(before.HeapAlloc - after.HeapAlloc),
           UL((uint64_t)unreachable * sizeof(struct node)));
    /* a second cycle changes nothing */
    REQUIRE(gc_collect());
    check_graph(n, "after two cycles");
    VERIFY();
    memset(rootv, 0, sizeof rootv);
    REQUIRE(gc_collect());
    host_set_gc_markers(1);
    CHECK_NO_HOOK();
}

static void test_random_graphs(void)
{
    for (uint32_t seed = 1; seed <= 6; seed++)
        graph_round(200 + seed * 700, seed, 1);
}

static void test_random_graphs_parallel_mark(void)
{
    for (uint32_t seed = 11; seed <= 14; seed++)
        graph_round(MAXN, seed, 4);
}

/* Negative control: with the root table not scanned, reachable nodes are
 * lost — the check above can fail. */
static void test_skipped_roots_lose_objects(void)
{
    hook_reset();
    memset(rootv, 0, sizeof rootv);
    build_graph(500, 99);
    reference_walk(500);
    gc_debug_skip_roots = GC_ROOT_TABLE;
    REQUIRE(gc_collect());
    gc_debug_skip_roots = 0;
    uint32_t lost = 0, reachable = 0;
    for (uint32_t i = 0; i < 500; i++) {
        reachable += reach[i];
        lost += reach[i] && gc_object_state(shadow[i]) != GC_OBJ_LIVE;
    }
    CHECKF(reachable > 0 && lost == reachable, "%u of %u reachable nodes lost", lost, reachable);
    memset(rootv, 0, sizeof rootv); /* they dangle now */
    VERIFY();
}

/* gccheckmark: on a correct mark, the second mark finds nothing missing
 * (graph_round fails on any hook message). */
static void test_checkmark_agrees(void)
{
    gc_set_checkmark(GC_CHECKMARK_REPORT);
    for (uint32_t seed = 21; seed <= 23; seed++)
        graph_round(3000, seed, seed == 23 ? 4 : 1);
    gc_set_checkmark(GC_CHECKMARK_OFF);
}

/* gccheckmark catches a broken mark: with the root table not scanned by
 * the real mark, every reachable node is reported once — the first 16 by
 * name with the root word or node that reached it, then the count — and
 * marked by the checkmark pass, so none is lost (the control above loses
 * them all). */
static char first_report[512];
static int nreports;
static void report_hook(const char *msg)
{
    if (!nreports++)
        snprintf(first_report, sizeof first_report, "%s", msg);
    capture_hook(msg);
}

static void test_checkmark_catches_skipped_roots(void)
{
    hook_reset();
    memset(rootv, 0, sizeof rootv);
    build_graph(500, 99);
    reference_walk(500);
    uint32_t reachable = 0;
    for (uint32_t i = 0; i < 500; i++)
        reachable += reach[i];
    REQUIRE(reachable > 16);
    nreports = 0;
    alloc_set_error_hook(report_hook);
    gc_set_checkmark(GC_CHECKMARK_REPORT);
    gc_debug_skip_roots = GC_ROOT_TABLE;
    REQUIRE(gc_collect());
    gc_debug_skip_roots = 0;
    gc_set_checkmark(GC_CHECKMARK_OFF);
    alloc_set_error_hook(capture_hook);
    CHECKF(nreports == 17, "%d reports for %u unmarked reachable nodes, want 16 + the count",
           nreports, reachable);
    char want[80];
    snprintf(want, sizeof want, "gccheckmark: ... %u more", reachable - 16);
    CHECKF(!strcmp(hook_msg, want), "last report \"%s\", want \"%s\"", hook_msg, want);
    CHECKF(!strncmp(first_report, "gccheckmark: 0x", 15) &&
               strstr(first_report, "is reachable but was not marked; reached from a "
                                    "gc_add_root range word at 0x"),
           "first report \"%s\"", first_report);
    check_graph(500, "after the checkmark repaired the mark");
    memset(rootv, 0, sizeof rootv);
    hook_count = 0;
    VERIFY();
}

/* ------------------------------------------------------------ write barrier (T2) */

/* GC.md T2, deterministically: the marker scans A first (the last root
 * pushed is popped first; one marker), and right after A's scan the hook
 * plays the mutator: A->a = C (A is black: the mark will not look at it
 * again) and B->a = NULL, where B (still white, reachable through D) held
 * the only other pointer to C.  The barrier shades C (B->a's old value):
 * C survives.  Controls: without the barrier (gc_debug_disable_wb) C is
 * collected although reachable from A, and gccheckmark reports exactly that
 * — "reached from object A" — and keeps it. */
static struct node *t2_a, *t2_b, *t2_c; /* not roots on the host */
static int t2_ran, t2_b_white;

static void t2_mutator(uintptr_t obj)
{
    struct heapdump_obj b;
    heapdump_object((uintptr_t)t2_b, &b); /* mheap_.lock: free during the mark */
    t2_b_white = obj == (uintptr_t)t2_a && !b.marked;
    GC_WB(t2_a->a, t2_c);
    GC_WB(t2_b->a, NULL);
    t2_ran++;
}

/* Build D -> B -> C and A (D and A roots, A scanned first), run one cycle
 * with `mutator` as the hook right after A's scan, the barrier and the
 * checkmark as asked; check the hook ran once with B still white. */
static void wb_round(gc_scan_hook_fn mutator, uint32_t disable_wb, uint32_t checkmark)
{
    memset(rootv, 0, sizeof rootv);
    struct node *d = new_node(1);
    t2_b = new_node(2);
    t2_c = new_node(3);
    t2_a = new_node(4);
    d->a = t2_b;
    t2_b->a = t2_c;
    rootv[0] = d;
    rootv[1] = t2_a; /* pushed last: scanned first */
    t2_ran = t2_b_white = 0;
    host_set_gc_markers(1);
    gc_debug_disable_wb = disable_wb;
    gc_set_checkmark(checkmark);
    gc_debug_set_scan_hook((uintptr_t)t2_a, mutator);
    REQUIRE(gc_collect());
    gc_debug_set_scan_hook(0, 0);
    gc_set_checkmark(GC_CHECKMARK_OFF);
    gc_debug_disable_wb = 0;
    CHECKF(t2_ran == 1 && t2_b_white, "the hook ran %d times, B white then: %d", t2_ran,
           t2_b_white);
}

/* T2's round; the state of C. */
static enum gc_obj_state t2_round(uint32_t disable_wb, uint32_t checkmark)
{
    wb_round(t2_mutator, disable_wb, checkmark);
    CHECK(t2_a->a == t2_c && t2_b->a == NULL);
    return gc_object_state(t2_c);
}

/* The checkmark's one report names C and what reached it (want), and C
 * was kept (st). */
static void expect_c_reported(const char *want, enum gc_obj_state st)
{
    CHECKF(hook_count == 1 && strstr(hook_msg, want) &&
               strtoul(hook_msg + strlen("gccheckmark: "), 0, 16) == UL(t2_c),
           "%d reports, last \"%s\"", hook_count, hook_msg);
    CHECKF(st == GC_OBJ_LIVE, "the checkmark did not keep C (%d)", st);
    hook_count = 0;
}

static void test_wb_heap_to_heap(void)
{
    hook_reset();
    enum gc_obj_state st = t2_round(0, GC_CHECKMARK_REPORT);
    CHECKF(st == GC_OBJ_LIVE && t2_c->id == 3 && t2_c->check == node_check(3),
           "with the barrier: C state %d", st);
    CHECK_NO_HOOK(); /* the checkmark found nothing missing */
    /* control 1: no barrier, no checkmark: C is lost */
    st = t2_round(1, GC_CHECKMARK_OFF);
    CHECKF(st == GC_OBJ_FREE || st == GC_OBJ_NOT_HEAP, "without the barrier C survived (%d)", st);
    t2_a->a = NULL; /* it dangles: do not let anyone follow it */
    CHECK_NO_HOOK();
    /* control 2: no barrier, checkmark: C is reported, reached from A, and kept */
    st = t2_round(1, GC_CHECKMARK_REPORT);
    char want[160];
    snprintf(want, sizeof want, "is reachable but was not marked; reached from object 0x%lx",
             UL(t2_a));
    expect_c_reported(want, st);
    memset(rootv, 0, sizeof rootv);
    host_set_gc_markers(1);
    REQUIRE(gc_collect());
    VERIFY();
}

/* The typed copy and clear shade what they overwrite and what they copy:
 * run inside the mark (the hook), moving C's only pointer from white B's
 * array into black A's. */
static struct node *t2m_arr_a, *t2m_arr_b; /* [2] each, typed */
static void t2m_mutator(uintptr_t obj)
{
    (void)obj;
    gc_wb_memmove(t2m_arr_a, t2m_arr_b, 2 * sizeof(struct node *));
    gc_wb_memclr(t2m_arr_b, 2 * sizeof(struct node *));
    t2_ran++;
}

static void wb_memmove_round(uint32_t disable_wb)
{
    static const uint8_t pm[1] = {0x1};
    static const gotype ptr_t = {8, 8, pm, "*node"};
    memset(rootv, 0, sizeof rootv);
    struct node *d = new_node(1);
    t2m_arr_b = newarray(&ptr_t, 2);
    t2m_arr_a = newarray(&ptr_t, 2);
    t2_c = new_node(3);
    ((struct node **)t2m_arr_b)[1] = t2_c;
    d->a = (struct node *)t2m_arr_b; /* D -> arr_b -> C */
    rootv[0] = d;
    rootv[1] = (struct node *)t2m_arr_a; /* scanned first */
    t2_ran = 0;
    host_set_gc_markers(1);
    gc_set_checkmark(GC_CHECKMARK_REPORT);
    gc_debug_disable_wb = disable_wb;
    gc_debug_set_scan_hook((uintptr_t)t2m_arr_a, t2m_mutator);
    REQUIRE(gc_collect());
    gc_debug_set_scan_hook(0, 0);
    gc_debug_disable_wb = 0;
    gc_set_checkmark(GC_CHECKMARK_OFF);
    CHECK(t2_ran == 1 && ((struct node **)t2m_arr_a)[1] == t2_c);
    CHECKF(gc_object_state(t2_c) == GC_OBJ_LIVE, "C state %d", gc_object_state(t2_c));
}

static void test_wb_memmove_memclr(void)
{
    hook_reset();
    wb_memmove_round(0);
    CHECK_NO_HOOK();
    /* control: without the barrier the checkmark finds C, reached from arr_a */
    wb_memmove_round(1);
    char want[96];
    snprintf(want, sizeof want, "reached from object 0x%lx", UL(t2m_arr_a));
    CHECKF(hook_count == 1 && strstr(hook_msg, want), "%d reports, last \"%s\"", hook_count,
           hook_msg);
    hook_count = 0;
    memset(rootv, 0, sizeof rootv);
    REQUIRE(gc_collect());
    VERIFY();
}

/* ------------------------------------------------------------ heap to stack (T3) */

/* GC.md T3, the Yuasa half of the hybrid barrier: t3_stack is a registered
 * root range that plays a task stack already scanned (with one marker every
 * root job is scanned before the first object).  Right after A's scan the
 * hook loads C — whose only pointer is in B, still white — into the
 * "stack" and clears B's slot with GC_WB: the deletion barrier shades C,
 * which survives although only a black root holds it.  Controls: without
 * the barrier C is collected; with gccheckmark it is reported, reached from
 * the stack word, and kept. */
static struct node *t3_stack[4]; /* registered as a root by test_wb_heap_to_stack */

static void t3_mutator(uintptr_t obj)
{
    struct heapdump_obj b;
    heapdump_object((uintptr_t)t2_b, &b);
    t2_b_white = obj == (uintptr_t)t2_a && !b.marked;
    t3_stack[0] = t2_b->a; /* a stack store: no barrier */
    GC_WB(t2_b->a, NULL);
    t2_ran++;
}

static enum gc_obj_state t3_round(uint32_t disable_wb, uint32_t checkmark)
{
    memset(t3_stack, 0, sizeof t3_stack);
    wb_round(t3_mutator, disable_wb, checkmark);
    CHECK(t3_stack[0] == t2_c && t2_b->a == NULL);
    return gc_object_state(t2_c);
}

static void test_wb_heap_to_stack(void)
{
    hook_reset();
    REQUIRE(gc_add_root(t3_stack, sizeof t3_stack));
    enum gc_obj_state st = t3_round(0, GC_CHECKMARK_REPORT);
    CHECKF(st == GC_OBJ_LIVE && t2_c->id == 3 && t2_c->check == node_check(3),
           "with the barrier: C state %d", st);
    CHECK_NO_HOOK();
    /* control 1: no barrier: C is collected while the stack holds it */
    st = t3_round(1, GC_CHECKMARK_OFF);
    CHECKF(st == GC_OBJ_FREE || st == GC_OBJ_NOT_HEAP, "without the barrier C survived (%d)", st);
    t3_stack[0] = NULL; /* it dangles */
    CHECK_NO_HOOK();
    /* control 2: no barrier, checkmark: C reported, reached from the stack word, and kept */
    st = t3_round(1, GC_CHECKMARK_REPORT);
    char want[160];
    snprintf(want, sizeof want,
             "is reachable but was not marked; reached from a gc_add_root range word at 0x%lx",
             UL(&t3_stack[0]));
    expect_c_reported(want, st);
    memset(rootv, 0, sizeof rootv);
    memset(t3_stack, 0, sizeof t3_stack);
    REQUIRE(gc_remove_root(t3_stack));
    REQUIRE(gc_collect());
    VERIFY();
    CHECK_NO_HOOK();
}

/* ------------------------------------------------------------ allocate black (T4) */

/* GC.md T4: objects made during the mark survive although the mark never
 * finds them.  Right after A's scan the hook (the mutator) allocates
 *   D, a node, stored with GC_WB into A (black),
 *   E, a node, 8 tiny 5-byte strings and a 40 KiB large object, stored
 *      only into t4_stack, a registered root already scanned;
 * the first two tiny strings fill the tiny block that was current at the
 * mark start (greyed then, Go's gcMarkTinyAllocs), the other six land in
 * two blocks made during the mark.  Each new object must be black when
 * mallocgc returns (mark bit and its span's page mark: I2, I8).  After the
 * cycle (swept lazily, so heap_verify checks I8 on what awaits the sweep)
 * every one is live with its contents.
 * A node F allocated black and at once kfree'd (the owner's undo leaves
 * its mark on a free slot) stays free.  Controls, gc_debug_no_alloc_black:
 * gccheckmark reports E, the two new tiny blocks and the large object —
 * not D, which the barrier's insertion half shades — and with the barrier
 * off too, D as well (reached from A); without the checkmark E is lost. */
#define T4_TINY 8
static struct node *t4_a, *t4_d, *t4_e, *t4_f;
static char *t4_tiny[T4_TINY];
static uint64_t *t4_large;
static void *t4_stack[16]; /* registered as a root by test_allocate_black */
static int t4_ran, t4_black, t4_f_undone;
#define T4_LARGE_WORDS (40 * 1024 / 8)

static bool is_black(const void *p)
{
    struct heapdump_obj o;
    if (!heapdump_object((uintptr_t)p, &o) || !o.marked)
        return false;
    mspan *s = span_of((uintptr_t)p);
    heapArena *ha = arena_of(s->startAddr);
    uint64_t pg = (s->startAddr - ha->base) >> PAGE_SHIFT;
    return (ha->pageMarks[pg / 8] >> (pg % 8)) & 1;
}

static void t4_mutator(uintptr_t obj)
{
    static const gotype u8 = {1, 0, 0, "uint8"};
    (void)obj;
    t4_d = new_node(41);
    GC_WB(t4_a->a, t4_d);
    t4_e = new_node(42);
    t4_stack[0] = t4_e;
    t4_black = is_black(t4_d) + is_black(t4_e);
    for (int i = 0; i < T4_TINY; i++) {
        t4_tiny[i] = mallocgc(5, &u8, true);
        memcpy(t4_tiny[i], (char[5]){'t', 'n', 'y', (char)('0' + i), 0}, 5);
        t4_stack[1 + i] = t4_tiny[i];
        t4_black += is_black(t4_tiny[i]);
    }
    t4_large = mallocgc(T4_LARGE_WORDS * 8, 0, false);
    for (uint32_t i = 0; i < T4_LARGE_WORDS; i++)
        t4_large[i] = i * 0x9E3779B97F4A7C15ull;
    t4_stack[1 + T4_TINY] = t4_large;
    t4_black += is_black(t4_large);
    t4_f = new_node(43); /* black, then freed by its owner (kfree's undo): */
    kfree(t4_f);         /* the mark bit on the free slot must not revive it */
    struct heapdump_obj f;
    t4_f_undone = heapdump_object((uintptr_t)t4_f, &f) && f.marked && !f.allocated;
    t4_ran++;
}

/* One cycle with the mutator on A; returns how many of the new objects
 * are live after it (their contents checked). */
static int t4_round(uint32_t no_black, uint32_t disable_wb, uint32_t checkmark)
{
    static const gotype u8 = {1, 0, 0, "uint8"};
    memset(rootv, 0, sizeof rootv);
    memset(t4_stack, 0, sizeof t4_stack);
    t4_a = new_node(40);
    rootv[0] = t4_a;
    malloc_flush_mcache();
    char *t0 = mallocgc(5, &u8, true); /* a fresh tiny block, current at the mark start */
    REQUIRE(t0);
    t4_ran = t4_black = 0;
    host_set_gc_markers(1);
    gc_debug_no_alloc_black = no_black;
    gc_debug_disable_wb = disable_wb;
    gc_set_checkmark(checkmark);
    gc_debug_set_scan_hook((uintptr_t)t4_a, t4_mutator);
    gc_debug_sweep |= GC_SWEEP_COLLECT_LAZY;
    REQUIRE(gc_collect());
    gc_debug_sweep &= ~(uint32_t)GC_SWEEP_COLLECT_LAZY;
    gc_debug_set_scan_hook(0, 0);
    gc_set_checkmark(GC_CHECKMARK_OFF);
    gc_debug_disable_wb = 0;
    gc_debug_no_alloc_black = 0;
    CHECKF(t4_ran == 1, "the hook ran %d times", t4_ran);
    /* the tiny strings: 2 in t0's block, then 3 + 3 in two new blocks */
    uintptr_t b0 = (uintptr_t)t0 & ~15ul;
    CHECKF(((uintptr_t)t4_tiny[1] & ~15ul) == b0 && ((uintptr_t)t4_tiny[2] & ~15ul) != b0 &&
               ((uintptr_t)t4_tiny[5] & ~15ul) != ((uintptr_t)t4_tiny[2] & ~15ul),
           "tiny layout: block0 0x%lx, tiny[1] 0x%lx tiny[2] 0x%lx tiny[5] 0x%lx", UL(b0),
           UL(t4_tiny[1]), UL(t4_tiny[2]), UL(t4_tiny[5]));
    int black_want = no_black ? 2 : 2 + T4_TINY + 1; /* no_black: only block0's two tiny strings */
    CHECKF(t4_black == black_want, "%d new objects black when mallocgc returned, want %d",
           t4_black, black_want);
    VERIFY(); /* before the sweep: I8 on the spans awaiting it */
    gc_finish_sweep();
    CHECKF(t4_f_undone == !no_black && gc_object_state(t4_f) == GC_OBJ_FREE,
           "F, freed during the mark: marked free slot %d, state %d", t4_f_undone,
           gc_object_state(t4_f));
    int live = (gc_object_state(t4_d) == GC_OBJ_LIVE && t4_d->check == node_check(41)) +
               (gc_object_state(t4_e) == GC_OBJ_LIVE && t4_e->check == node_check(42));
    for (int i = 0; i < T4_TINY; i++) {
        live += gc_object_state(t4_tiny[i]) == GC_OBJ_LIVE &&
                !memcmp(t4_tiny[i], (char[5]){'t', 'n', 'y', (char)('0' + i), 0}, 5);
    }
    if (gc_object_state(t4_large) == GC_OBJ_LIVE) {
        uint32_t bad = 0;
        for (uint32_t i = 0; i < T4_LARGE_WORDS; i++)
            bad += t4_large[i] != i * 0x9E3779B97F4A7C15ull;
        live += !bad;
    }
    return live;
}

static void t4_clear(void)
{
    memset(rootv, 0, sizeof rootv);
    memset(t4_stack, 0, sizeof t4_stack);
    REQUIRE(gc_collect());
    VERIFY();
}

static void test_allocate_black(void)
{
    const int all = 2 + T4_TINY + 1;
    hook_reset();
    REQUIRE(gc_add_root(t4_stack, sizeof t4_stack));
    int live = t4_round(0, 0, GC_CHECKMARK_REPORT);
    CHECKF(live == all, "%d of %d objects made during the mark live after it", live, all);
    CHECK_NO_HOOK();
    t4_clear();
    /* control 1: not allocated black, no checkmark: E (held only by the
     * black root) is collected */
    live = t4_round(1, 0, GC_CHECKMARK_OFF);
    CHECKF(gc_object_state(t4_e) != GC_OBJ_LIVE, "E survived without allocate black");
    CHECKF(gc_object_state(t4_d) == GC_OBJ_LIVE, "D lost although stored with GC_WB");
    CHECK_NO_HOOK();
    t4_a->a = NULL; /* dangling pointers: never followed again */
    t4_clear();
    /* control 2: checkmark reports E, the two new tiny blocks, the large
     * object; the barrier saved D */
    live = t4_round(1, 0, GC_CHECKMARK_REPORT);
    CHECKF(hook_count == 4 && live == all, "%d reports (want 4), %d of %d live; last \"%s\"",
           hook_count, live, all, hook_msg);
    hook_count = 0;
    t4_clear();
    /* control 3: the barrier off too: D is reported as well, reached from A */
    live = t4_round(1, 1, GC_CHECKMARK_REPORT);
    char want[96]; /* D's report comes last: objects are scanned after every root */
    snprintf(want, sizeof want, "reached from object 0x%lx", UL(t4_a));
    CHECKF(hook_count == 5 && live == all && strstr(hook_msg, want) &&
               strtoul(hook_msg + strlen("gccheckmark: "), 0, 16) == UL(t4_d),
           "%d reports (want 5), %d of %d live; last \"%s\"", hook_count, live, all, hook_msg);
    hook_count = 0;
    t4_clear();
    REQUIRE(gc_remove_root(t4_stack));
    CHECK_NO_HOOK();
}

/* ------------------------------------------------------------ explicit frees */

/* kfree of a reachable (marked) object wins; a span re-queued by a kfree
 * after its GC sweep is swept again for the free only (markgen): its live
 * objects survive. */
static void test_kfree_interleaved(void)
{
    hook_reset();
    memset(rootv, 0, sizeof rootv);
    enum { N = 300 };
    for (uint32_t i = 0; i < N; i++)
        shadow[i] = new_node(i);
    for (uint32_t i = 0; i + 1 < N; i++)
        shadow[i]->a = shadow[i + 1];
    rootv[0] = shadow[0];
    REQUIRE(gc_collect()); /* all live: a chain from the root */
    /* cut the chain at 150 and kfree node 150 itself: 151.. are garbage */
    shadow[149]->a = NULL;
    kfree(shadow[150]);
    CHECK(gc_object_state(shadow[150]) == GC_OBJ_PENDING);
    REQUIRE(gc_collect());
    for (uint32_t i = 0; i < N; i++) {
        enum gc_obj_state stt = gc_object_state(shadow[i]);
        CHECKF(i < 150 ? stt == GC_OBJ_LIVE : stt == GC_OBJ_FREE || stt == GC_OBJ_NOT_HEAP,
               "node %u: state %d", i, stt);
    }
    /* after the GC sweep: a kfree re-queues a span, whose second sweep of
     * the cycle must not free its (marked, live) neighbours */
    kfree(shadow[10]);
    shadow[9]->a = shadow[11];
    malloc_flush_all_mcaches(); /* a cached span keeps its pending frees */
    gc_finish_sweep();
    for (uint32_t i = 0; i < 150; i++)
        if (i != 10)
            CHECKF(gc_object_state(shadow[i]) == GC_OBJ_LIVE, "node %u freed by a re-sweep", i);
    CHECK(gc_object_state(shadow[10]) == GC_OBJ_FREE ||
          gc_object_state(shadow[10]) == GC_OBJ_PENDING); /* a swept partial span keeps it
                                                              pending until it is cached */
    /* kfree of an object the collector already freed: a double free */
    kfree(shadow[200]);
    CHECKF(hook_count == 1 && strstr(hook_msg, "double free"), "hook: %s", hook_msg);
    hook_reset();
    VERIFY();
    struct memstats m = stats_now();
    CHECK(m.Mallocs - m.Frees == m.HeapObjects);
    rootv[0] = NULL;
    REQUIRE(gc_collect());
    VERIFY();
    CHECK_NO_HOOK();
}

/* ------------------------------------------------------------ large, interior, tiny */

static void test_large_oblets_and_interior(void)
{
    hook_reset();
    memset(rootv, 0, sizeof rootv);
    /* a 1 MiB array of pointers; only its last word points at x */
    enum { WORDS = (1 << 20) / 8 };
    static const uint8_t ptr_mask[1] = {0x1};
    static const gotype ptr_type = {8, 8, ptr_mask, "*node"};
    struct node **arr = newarray(&ptr_type, WORDS);
    REQUIRE(arr);
    struct node *x = new_node(1), *y = new_node(2), *z = new_node(3);
    arr[WORDS - 1] = x;
    rootv[0] = (struct node *)arr;
    rootv[1] = (struct node *)((char *)y + 8); /* interior pointer */
    struct node *zid = z;
    REQUIRE(gc_collect());
    CHECK(gc_object_state(arr) == GC_OBJ_LIVE);
    CHECK(gc_object_state(x) == GC_OBJ_LIVE && x->check == node_check(1));
    CHECK(gc_object_state(y) == GC_OBJ_LIVE && y->check == node_check(2));
    CHECK(gc_object_state(zid) == GC_OBJ_FREE);
    /* the large array goes once unreferenced */
    rootv[0] = NULL;
    struct memstats a = stats_now();
    REQUIRE(gc_collect());
    struct memstats b = stats_now();
    CHECK(gc_object_state(arr) == GC_OBJ_NOT_HEAP && gc_object_state(x) == GC_OBJ_FREE);
    CHECKF(a.HeapAlloc - b.HeapAlloc >= (1u << 20), "large array not freed: HeapAlloc -%lu",
           UL(a.HeapAlloc - b.HeapAlloc));
    rootv[1] = NULL;
    REQUIRE(gc_collect());
    VERIFY();
    CHECK_NO_HOOK();
}

/* A tiny object keeps its whole 16-byte block; the block goes with the
 * last reference. */
static void test_tiny_block_survives(void)
{
    hook_reset();
    memset(rootv, 0, sizeof rootv);
    malloc_flush_mcache();
    static const gotype u8 = {1, 0, 0, "uint8"};
    char *t1 = mallocgc(3, &u8, true), *t2 = mallocgc(3, &u8, true);
    REQUIRE(t1 && t2 && t2 == t1 + 3);
    memcpy(t2, "ab", 3);
    rootv[0] = (struct node *)t2;
    malloc_flush_mcache(); /* not the current tiny block any more */
    REQUIRE(gc_collect());
    CHECK(gc_object_state(t1) == GC_OBJ_LIVE && !memcmp(t2, "ab", 3));
    rootv[0] = NULL;
    REQUIRE(gc_collect());
    CHECKF(gc_object_state(t1) == GC_OBJ_FREE || gc_object_state(t1) == GC_OBJ_NOT_HEAP,
           "tiny block state %d", gc_object_state(t1));
    VERIFY();
    CHECK_NO_HOOK();
}

/* ------------------------------------------------------------ kmalloc */

static void test_kmalloc_never_collected(void)
{
    hook_reset();
    memset(rootv, 0, sizeof rootv);
    enum { N = 1000 };
    void **k = calloc(N, sizeof *k); /* libc memory: not a root */
    for (int i = 0; i < N; i++) {
        k[i] = kmalloc(64 + (size_t)i % 200);
        REQUIRE(k[i]);
        fill(k[i], 64, (uint64_t)i);
    }
    struct memstats a = stats_now();
    REQUIRE(gc_collect());
    REQUIRE(gc_collect());
    struct memstats b = stats_now();
    CHECK(b.KmallocObjects == a.KmallocObjects);
    for (int i = 0; i < N; i++)
        CHECK(gc_object_state(k[i]) == GC_OBJ_LIVE && check_fill(k[i], 64, (uint64_t)i));
    for (int i = 0; i < N; i++)
        kfree(k[i]);
    free(k);
    VERIFY();
    CHECK_NO_HOOK();
}

/* ------------------------------------------------------------ pacer */

static void test_goal_formula(void)
{
    hook_reset();
    memset(rootv, 0, sizeof rootv);
    int32_t old = gc_set_percent(100);
    /* a live set of ~2 MiB in a chain */
    enum { N = 2 * 1024 * 1024 / 32 };
    for (uint32_t i = 0; i < N; i++)
        shadow[i % MAXN] = new_node(i);
    struct node *head = NULL;
    for (uint32_t i = 0; i < 4096; i++) {
        struct node *n = new_node(i);
        n->a = head;
        head = n;
    }
    rootv[0] = head;
    int32_t percents[3] = {50, 100, 200};
    for (int k = 0; k < 3; k++) {
        gc_set_percent(percents[k]);
        REQUIRE(gc_collect());
        struct gc_stats gs;
        gc_read_stats(&gs);
        struct gc_cycle_record r;
        REQUIRE(gc_cycle_record(gs.NumGC, &r));
        uint64_t want = r.marked + (r.marked + r.stacks + r.globals) * (uint64_t)percents[k] / 100;
        uint64_t min = (4ull << 20) * (uint64_t)percents[k] / 100;
        if (want < min)
            want = min;
        CHECKF(r.next_goal == want && gs.NextGC == want,
               "GOGC %d: goal %lu, want %lu (marked %lu stacks %lu globals %lu)", percents[k],
               UL(r.next_goal), UL(want), UL(r.marked), UL(r.stacks), UL(r.globals));
        CHECK(r.marked >= 4096 * 32 && r.marked < 4096 * 32 + 65536);
    }
    CHECK(gc_set_percent(-1) == 200);
    struct gc_stats gs;
    gc_read_stats(&gs);
    CHECK(gs.NextGC == ~0ull);
    rootv[0] = NULL;
    gc_set_percent(old);
    REQUIRE(gc_collect());
    VERIFY();
    CHECK_NO_HOOK();
}

/* The pacer's runway and the assists' exchange rate (mgcpacer.c), as
 * pure arithmetic against Go's rules written out here: a stop-the-world
 * mark triggers at the goal; a concurrent one at goal - cons/mark x scan,
 * clamped to 45/64..61/64 of the way (or the goal less the 4 MiB heap
 * minimum for a large goal); assists owe remaining work / distance, the
 * hard goal 1.1 x goal once the estimate or the goal is passed. */
static void test_runway_and_assist_ratio(void)
{
    struct gc_pacer saved = gc_pacer_;
    const uint64_t M = 1ull << 20;
    CHECK(gc_pacer_trigger_for(16 * M, 8 * M, 0, 0, false) == 16 * M);
    memset(gc_pacer_.cons_mark, 0, sizeof gc_pacer_.cons_mark);
    gc_pacer_note_mark(8 * M, 0, false); /* stop-the-world: no cons/mark sample */
    CHECK(gc_pacer_.last_heap_scan == 8 * M && gc_pacer_.cons_mark[0] == 0);
    uint64_t lo = 8 * M + 8 * M / 64 * 45, hi = 8 * M + 8 * M / 64 * 61;
    CHECK(gc_pacer_trigger_for(16 * M, 8 * M, 0, 0, true) == hi); /* no runway known yet */
    gc_pacer_note_mark(8 * M, 1 * M, true); /* 1 byte allocated per 8 scanned */
    CHECK(gc_pacer_.cons_mark[0] == (1u << GC_ASSIST_SHIFT) / 8);
    CHECK(gc_pacer_trigger_for(16 * M, 8 * M, 0, 0, true) == 15 * M); /* runway 1 MiB */
    gc_pacer_note_mark(8 * M, 8 * M, true); /* a burst: runway 8 MiB, clamped */
    CHECK(gc_pacer_trigger_for(16 * M, 8 * M, 0, 0, true) == lo);
    for (int i = 0; i < 3; i++) /* three quiet cycles: the burst is still remembered */
        gc_pacer_note_mark(8 * M, 0, true);
    CHECK(gc_pacer_trigger_for(16 * M, 8 * M, 0, 0, true) == lo);
    gc_pacer_note_mark(8 * M, 0, true); /* the fourth: forgotten */
    CHECK(gc_pacer_trigger_for(16 * M, 8 * M, 0, 0, true) == hi);
    uint64_t G = 1ull << 30; /* a large goal keeps only the heap minimum */
    CHECK(gc_pacer_trigger_for(2 * G, G, 0, 0, true) == 2 * G - 4 * M);
    CHECK(gc_pacer_trigger_for(~0ull, 8 * M, 0, 0, true) == ~0ull); /* GOGC off */
    /* assists: 4 MiB of work left, 2 MiB to the goal: 2 scan bytes per byte */
    CHECK(gc_pacer_assist_ratio(14 * M, 16 * M, 8 * M, 4 * M) == 2u << GC_ASSIST_SHIFT);
    /* past the estimate: all of heap_live may need scanning, against 1.1 x goal */
    uint64_t hard = 16 * M + 16 * M / 10;
    CHECK(gc_pacer_assist_ratio(15 * M, 16 * M, 8 * M, 9 * M) ==
          (6 * M << GC_ASSIST_SHIFT) / (hard - 15 * M));
    /* past the hard goal: every byte owes the whole remainder */
    CHECK(gc_pacer_assist_ratio(18 * M, 16 * M, 8 * M, 9 * M) == (9 * M) << GC_ASSIST_SHIFT);
    CHECK(gc_pacer_assist_ratio(14 * M, 16 * M, 8 * M, 8 * M - 100) ==
          (4096ull << GC_ASSIST_SHIFT) / (2 * M)); /* at least 4 KiB of work left */
    CHECK(gc_pacer_assist_ratio(14 * M, ~0ull, 8 * M, 0) == 0); /* GOGC off: nothing owed */
    gc_pacer_ = saved;
}

/* Go's 25 % rule (gcControllerState.startCycle) for 1-8 CPUs, worked by
 * hand from its formula, and ours: the same CPU total as one main worker
 * (a share of its CPU below 4 CPUs) plus second workers. */
static void test_workers_by_25_percent_rule(void)
{
    static const struct { uint32_t ded, frac, main, slots, second; } want[9] = {
        [1] = {0, 250000, 250000, 0, 0},  [2] = {0, 250000, 500000, 0, 0},
        [3] = {0, 250000, 750000, 0, 0},  [4] = {1, 0, 1000000, 0, 0},
        [5] = {1, 0, 1000000, 0, 0},      [6] = {1, 83333, 1000000, 1, 499998},
        [7] = {2, 0, 1000000, 1, 1000000}, [8] = {2, 0, 1000000, 1, 1000000},
    };
    for (uint32_t n = 1; n <= 8; n++) {
        struct gc_workers w = gc_pacer_workers(n);
        CHECK(w.go_dedicated == want[n].ded && w.go_frac_ppm == want[n].frac);
        CHECK(w.main_ppm == want[n].main && w.second_slots == want[n].slots &&
              w.second_ppm == want[n].second);
        /* ours takes Go's background total */
        CHECK(w.main_ppm + w.second_ppm == w.go_dedicated * GC_PPM + w.go_frac_ppm * n);
    }
    struct gc_workers w = gc_pacer_workers(16); /* 4 dedicated: 1 main + 3 second */
    CHECK(w.go_dedicated == 4 && w.main_ppm == GC_PPM && w.second_slots == 3 &&
          w.second_ppm == 3 * GC_PPM);
}

/* Allocating garbage past the goal starts cycles by itself; the live set
 * survives them all. */
static void test_heap_trigger(void)
{
    hook_reset();
    memset(rootv, 0, sizeof rootv);
    gc_set_percent(100);
    struct node *keep = new_node(7);
    rootv[0] = keep;
    struct gc_stats a, b;
    gc_read_stats(&a);
    for (uint32_t i = 0; i < 600000; i++) /* ~19 MiB of garbage */
        new_node(i);
    gc_read_stats(&b);
    CHECKF(b.NumGC - a.NumGC >= 2, "only %u cycles while allocating ~19 MiB",
           b.NumGC - a.NumGC);
    CHECK(gc_object_state(keep) == GC_OBJ_LIVE && keep->check == node_check(7));
    struct gc_cycle_record r;
    REQUIRE(gc_cycle_record(b.NumGC, &r));
    CHECK(r.trigger == GC_TRIGGER_HEAP && !r.forced);
    rootv[0] = NULL;
    REQUIRE(gc_collect());
    VERIFY();
    CHECK_NO_HOOK();
}

/* Out of memory with garbage around: one emergency cycle frees it and
 * the allocation succeeds (no heap trigger: GOGC is huge). */
static void test_emergency_cycle_before_oom(void)
{
    hook_reset();
    memset(rootv, 0, sizeof rootv);
    REQUIRE(gc_collect());
    int32_t old = gc_set_percent(GC_PERCENT_MAX);
    host_set_phys_limit(host_ready_bytes() + (24ull << 20));
    struct gc_stats a, b;
    gc_read_stats(&a);
    for (int i = 0; i < 2000; i++) /* ~64 MiB of garbage through 24 MiB */
        REQUIRE(mallocgc(32768, NULL, false));
    gc_read_stats(&b);
    CHECKF(b.NumGC > a.NumGC, "no cycle ran");
    struct gc_cycle_record r;
    REQUIRE(gc_cycle_record(b.NumGC, &r));
    CHECK(r.trigger == GC_TRIGGER_OOM);
    host_set_phys_limit(4ull << 30);
    gc_set_percent(old);
    REQUIRE(gc_collect());
    VERIFY();
    CHECK_NO_HOOK();
}

/* Go's forced-GC rules on the pacer's clock: none before the first cycle,
 * none at 119 s, one at 121 s (trigger time, no "(forced)"), none with
 * GOGC off.  First in the table: it needs a process with no cycle yet. */
static void test_forced_gc_rules(void)
{
    struct gc_stats s;
    gc_read_stats(&s);
    REQUIRE(s.NumGC == 0); /* run first (or alone) */
    int32_t old = gc_set_percent(100);
    gc_test_advance_clock(200ull * 1000000000);
    gc_sysmon_tick();
    gc_read_stats(&s);
    CHECKF(s.NumGC == 0, "a forced cycle before the first cycle (%u cycles)", s.NumGC);
    REQUIRE(gc_collect());
    gc_test_advance_clock(119ull * 1000000000);
    gc_sysmon_tick();
    gc_read_stats(&s);
    CHECKF(s.NumGC == 1, "119 s after the last cycle: %u cycles, want 1", s.NumGC);
    gc_test_advance_clock(2ull * 1000000000);
    gc_sysmon_tick();
    gc_sysmon_tick();
    gc_read_stats(&s);
    CHECKF(s.NumGC == 2 && s.NumForcedGC == 1, "121 s: %u cycles (%u user-forced), want 2 (1)",
           s.NumGC, s.NumForcedGC);
    struct gc_cycle_record r;
    REQUIRE(gc_cycle_record(2, &r));
    CHECK(r.trigger == GC_TRIGGER_TIME && !r.forced);
    gc_set_percent(-1);
    gc_test_advance_clock(121ull * 1000000000);
    gc_sysmon_tick();
    gc_read_stats(&s);
    CHECKF(s.NumGC == 2, "GOGC off: a forced cycle ran (%u cycles)", s.NumGC);
    gc_test_clock_back();
    gc_read_stats(&s);
    CHECK(s.LastGC < plat_nanotime());
    gc_set_percent(old);
    CHECK_NO_HOOK();
}

/* The gctrace line, byte for byte, for a made-up record (Go's number
 * formatting: fmtNSAsMS, itoaDiv). */
static void test_trace_format(void)
{
    struct gc_cycle_record r = {0};
    r.n = 7;
    r.ncpu = 8;
    r.start_ns = 1234567890;
    r.stw1_ns = 53000;
    r.mark_ns = 5500000;
    r.stw2_ns = 2800000;
    r.mark_cpu_ns = 3100000;
    r.heap0 = 3ull << 20;
    r.heap1 = (3ull << 20) + 5;
    r.marked = (1ull << 20) + 7;
    r.goal = 4ull << 20;
    char line[256];
    gc_format_trace(line, sizeof line, &r, 29999);
    CHECKF(!strcmp(line, "gc 7 @1.234s 2%: 0.053+5.5+2.8 ms clock, 0.42+0/3.1/0+22 ms cpu, "
                         "3->3->1 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 8 P"),
           "got '%s'", line);
    struct gc_cycle_record z = {0};
    z.n = 1;
    z.ncpu = 1;
    z.stw1_ns = 999;          /* under 1 us: "0" */
    z.mark_ns = 10000000;     /* 10 ms: whole */
    z.stw2_ns = 9999999;      /* just under: two digits */
    z.mark_cpu_ns = 100000;   /* 0.1 ms: "0.10" */
    z.stacks = 5ull << 20;
    z.globals = (2ull << 20) - 1;
    z.forced = 1;
    gc_format_trace(line, sizeof line, &z, 0);
    CHECKF(!strcmp(line, "gc 1 @0.000s 0%: 0+10+9.9 ms clock, 0+0/0.10/0+9.9 ms cpu, "
                         "0->0->0 MB, 0 MB goal, 5 MB stacks, 1 MB globals, 1 P (forced)"),
           "got '%s'", line);
}

/* ------------------------------------------------------------ sweepers */

/* A cycle that leaves its sweep to the sweepers (as a heap-triggered one). */
static void lazy_collect(void)
{
    gc_debug_sweep |= GC_SWEEP_COLLECT_LAZY;
    REQUIRE(gc_collect());
    gc_debug_sweep &= ~(uint32_t)GC_SWEEP_COLLECT_LAZY;
}

/* Batches of gc_bgsweep_step sweep every span the mark left (and nothing
 * reachable dies); with the background sweeper off (the control) a step
 * sweeps nothing.  heap_verify passes in the middle of the sweep too. */
static void test_bgsweep_drains_unswept(void)
{
    hook_reset();
    memset(rootv, 0, sizeof rootv);
    build_graph(MAXN, 31);
    reference_walk(MAXN);
    struct gc_sweep_stats a, b;
    gc_read_sweep_stats(&a);
    lazy_collect();
    uint64_t p0 = gc_sweep_pending_spans();
    CHECKF(p0 >= 40 && gc_sweep_pending(), "%lu spans await their sweep after the cycle", UL(p0));
    VERIFY();
    gc_debug_sweep = GC_SWEEP_NO_BG;
    uint32_t none = gc_bgsweep_step(GC_BGSWEEP_BATCH);
    gc_debug_sweep = 0;
    CHECKF(none == 0 && gc_sweep_pending_spans() == p0, "control: %u swept, %lu of %lu left",
           none, UL(gc_sweep_pending_spans()), UL(p0));
    uint32_t n, batches = 0, swept = 0, big = 0;
    while ((n = gc_bgsweep_step(GC_BGSWEEP_BATCH)) != 0) {
        big += n > GC_BGSWEEP_BATCH;
        swept += n;
        if (++batches == 2)
            VERIFY(); /* half swept */
    }
    gc_read_sweep_stats(&b);
    printf("# background sweep: %lu spans in %u batches\n", UL(p0), batches);
    CHECKF(swept == p0 && b.bg_spans - a.bg_spans == p0 && !big,
           "%u spans in %u batches (%u too big), counter %lu, want %lu", swept, batches, big,
           UL(b.bg_spans - a.bg_spans), UL(p0));
    CHECKF(gc_sweep_pending_spans() == 0 && !gc_sweep_pending(), "%lu spans left",
           UL(gc_sweep_pending_spans()));
    check_graph(MAXN, "after the background sweep");
    VERIFY();
    memset(rootv, 0, sizeof rootv);
    REQUIRE(gc_collect());
    CHECK_NO_HOOK();
}

/* One lazily swept cycle over ~80 spans of garbage nodes, then 48-byte
 * garbage (another class: mcentral's on-demand sweep never reaches the
 * nodes' spans) until the heap trigger starts the next cycle.  The page
 * reclaimer is off (it would free the nodes' spans on its own). */
static void prop_round(uint32_t knobs, uint64_t *prop, uint64_t *left)
{
    memset(rootv, 0, sizeof rootv);
    build_graph(MAXN, 41);
    int32_t old = gc_set_percent(100);
    gc_debug_sweep = GC_SWEEP_NO_RECLAIM | knobs;
    lazy_collect();
    struct gc_sweep_stats a, b;
    gc_read_sweep_stats(&a);
    uint32_t n0 = gc_num_cycles();
    for (uint32_t i = 0; i < 2000000 && gc_num_cycles() == n0; i++)
        REQUIRE(mallocgc(48, NULL, false));
    gc_read_sweep_stats(&b);
    gc_debug_sweep = 0;
    gc_set_percent(old);
    struct gc_cycle_record r;
    REQUIRE(gc_cycle_record(n0 + 1, &r));
    CHECK(r.trigger == GC_TRIGGER_HEAP);
    *prop = b.prop_spans - a.prop_spans;
    *left = r.sweep_left;
}

/* Proportional sweep: the allocations between two cycles sweep every span
 * before the next trigger (its sweep termination finds none left); with
 * it off (the control), none is swept by it and the next cycle's sweep
 * termination has to sweep them. */
static void test_proportional_sweep_before_next_trigger(void)
{
    hook_reset();
    uint64_t prop, left, prop_off, left_off;
    prop_round(0, &prop, &left);
    prop_round(GC_SWEEP_NO_PROPORTIONAL, &prop_off, &left_off);
    printf("# proportional sweep: %lu spans swept by allocations, %lu left at the next trigger; "
           "off: %lu and %lu\n", UL(prop), UL(left), UL(prop_off), UL(left_off));
    CHECKF(prop >= 40 && left == 0, "proportional: %lu spans swept, %lu left at the trigger",
           UL(prop), UL(left));
    CHECKF(prop_off == 0 && left_off >= 40, "control: %lu spans swept, %lu left at the trigger",
           UL(prop_off), UL(left_off));
    REQUIRE(gc_collect());
    VERIFY();
    CHECK_NO_HOOK();
}

static uint64_t free_heap_pages(void)
{
    return mheap_.prepared_bytes / PAGE_SIZE - mheap_.inuse_pages - mheap_.manual_pages;
}

/* Fill every arena with 8 KiB garbage objects (one-page spans: any hole
 * fits) until no 1 MiB run is left, collect without sweeping, then ask
 * for a 1 MiB object: does the heap grow?  Proportional sweep is off (it
 * could free the garbage first). */
static void reclaim_round(uint32_t knobs, uint64_t *grown, uint64_t *reclaimed)
{
    memset(rootv, 0, sizeof rootv);
    REQUIRE(gc_collect());
    int32_t old = gc_set_percent(-1); /* no cycle while filling */
    do /* the cycle frees a few pages (the mcaches' spans): stop well below 128 */
        REQUIRE(mallocgc(8192, NULL, false));
    while (free_heap_pages() >= 96);
    gc_debug_sweep = GC_SWEEP_NO_PROPORTIONAL | knobs;
    lazy_collect();
    struct gc_sweep_stats a, b;
    gc_read_sweep_stats(&a);
    uint64_t arenas = mheap_.narenas;
    CHECKF(free_heap_pages() < 128, "%lu free pages: the object fits anyway", UL(free_heap_pages()));
    REQUIRE(mallocgc(1 << 20, NULL, false));
    *grown = mheap_.narenas - arenas;
    gc_read_sweep_stats(&b);
    *reclaimed = b.reclaim_pages - a.reclaim_pages;
    gc_debug_sweep = 0;
    gc_set_percent(old);
    gc_finish_sweep();
}

/* The page reclaimer: a heap full of garbage does not grow for a large
 * object after a cycle — the spans the mark found nothing in are swept
 * back into the page heap first; with the reclaimer off (the control)
 * the heap grows by an arena. */
static void test_reclaim_before_growing(void)
{
    hook_reset();
    uint64_t grown, reclaimed, grown_off, reclaimed_off;
    reclaim_round(0, &grown, &reclaimed);
    VERIFY();
    reclaim_round(GC_SWEEP_NO_RECLAIM, &grown_off, &reclaimed_off);
    printf("# reclaimer: heap grew by %lu arenas, %lu pages reclaimed; off: %lu and %lu\n",
           UL(grown), UL(reclaimed), UL(grown_off), UL(reclaimed_off));
    CHECKF(grown == 0 && reclaimed >= 128, "reclaimer: heap grew by %lu arenas, %lu pages "
           "reclaimed", UL(grown), UL(reclaimed));
    CHECKF(grown_off == 1 && reclaimed_off == 0, "control: heap grew by %lu arenas, %lu pages "
           "reclaimed", UL(grown_off), UL(reclaimed_off));
    REQUIRE(gc_collect());
    VERIFY();
    CHECK_NO_HOOK();
}

/* heap_verify's two sweeper rules catch what would mislead the sweepers:
 * a marked span without its page mark (the reclaimer would free it whole)
 * and an unswept set out of order (sweepone would stop looking early). */
static void expect_verify_error(const char *want)
{
    char err[1024];
    bool ok = heap_verify(err, sizeof err);
    CHECKF(!ok && strstr(err, want), "heap_verify: %s, want \"%s\"", ok ? "passed" : err, want);
}

static void test_verify_catches_sweeper_rules(void)
{
    hook_reset();
    memset(rootv, 0, sizeof rootv);
    build_graph(2000, 51);
    lazy_collect(); /* reachable nodes marked, sweep left to do */
    mspan *s = NULL; /* a root's span that awaits its sweep (not the mcaches' last span) */
    for (int r = 0; r < NROOTS && !s; r++)
        if (rootv[r] && span_of((uintptr_t)rootv[r])->markgen != mheap_.sweepgen)
            s = span_of((uintptr_t)rootv[r]);
    REQUIRE(s);
    heapArena *ha = arena_of(s->startAddr);
    uint64_t pg = (s->startAddr - ha->base) >> PAGE_SHIFT;
    uint8_t bit = (uint8_t)(1u << (pg % 8));
    REQUIRE(ha->pageMarks[pg / 8] & bit);
    ha->pageMarks[pg / 8] &= (uint8_t)~bit;
    expect_verify_error("holds marks but has no page mark");
    ha->pageMarks[pg / 8] |= bit;
    VERIFY();
    spanList *l = s->list;
    REQUIRE(l && l->first != l->last);
    uint32_t mg = l->last->markgen;
    l->last->markgen = mheap_.sweepgen;
    expect_verify_error("a span swept this cycle is behind one awaiting its GC sweep");
    l->last->markgen = mg;
    VERIFY();
    memset(rootv, 0, sizeof rootv);
    REQUIRE(gc_collect());
    CHECK_NO_HOOK();
}

/* ------------------------------------------------------------ bad input */

static void test_bad_input(void)
{
    hook_reset();
    int32_t old = gc_get_percent();
    CHECK(gc_set_percent(-5) == INT32_MIN);
    CHECK_HOOK("gogc: -5 refused (0..100000, or off)");
    CHECK(gc_set_percent(GC_PERCENT_MAX + 1) == INT32_MIN);
    CHECK_HOOK("gogc: 100001 refused (0..100000, or off)");
    CHECK(gc_get_percent() == old);
    void *h = kmalloc(64);
    CHECK(!gc_add_root(h, 64));
    CHECK_HOOK("gc_add_root: [0x%lx, 0x%lx) refused: overlaps the heap", UL(h), UL(h) + 64);
    kfree(h);
    CHECK(!gc_add_root((void *)0x1000, 0));
    CHECK_HOOK("gc_add_root: [0x1000, 0x1000) refused: empty or wrapping range");
    CHECK(!gc_add_root((void *)0x1000, 4096)); /* page 1: never mapped */
    CHECK_HOOK("gc_add_root: [0x1000, 0x2000) refused: not mapped");
    CHECK(!gc_remove_root((void *)0x1234));
    CHECK_HOOK("gc_remove_root: 0x1234 is not a registered root");
    VERIFY();
}

/* The concurrent mark (gcstoptheworld=0) on the host's one thread: the
 * roots are scanned, then the drain runs "with the world" (the hook is the
 * mutator), then every root is scanned again.  T2 needs the barrier as
 * before: C hides in black A, which no rescan looks at.  T3 without the
 * barrier keeps C now: the rescan of the root that plays the stack finds
 * it (the stop-the-world control of test_wb_heap_to_stack loses it).  The
 * cycle's record says concurrent. */
static void test_concurrent_mark_rescans_roots(void)
{
    hook_reset();
    gc_set_stoptheworld(0);
    enum gc_obj_state st = t2_round(0, GC_CHECKMARK_REPORT);
    CHECKF(st == GC_OBJ_LIVE && t2_c->check == node_check(3), "T2 with the barrier: C state %d",
           st);
    CHECK_NO_HOOK();
    st = t2_round(1, GC_CHECKMARK_OFF);
    CHECKF(st == GC_OBJ_FREE || st == GC_OBJ_NOT_HEAP, "T2 without the barrier: C survived (%d)",
           st);
    t2_a->a = NULL; /* it dangles */
    REQUIRE(gc_add_root(t3_stack, sizeof t3_stack));
    st = t3_round(1, GC_CHECKMARK_REPORT);
    CHECKF(st == GC_OBJ_LIVE && t2_c->check == node_check(3),
           "T3 without the barrier: the rescan did not keep C (%d)", st);
    CHECK_NO_HOOK();
    struct gc_cycle_record r;
    CHECK(gc_cycle_record(gc_num_cycles(), &r) && r.concurrent);
    gc_set_stoptheworld(1);
    REQUIRE(gc_collect());
    CHECK(gc_cycle_record(gc_num_cycles(), &r) && !r.concurrent);
    t3_stack[0] = NULL;
    REQUIRE(gc_remove_root(t3_stack));
    memset(rootv, 0, sizeof rootv);
    REQUIRE(gc_collect());
    VERIFY();
}

static const struct tap_test tests[] = {
    {"forced_gc_rules", test_forced_gc_rules},
    {"workers_by_25_percent_rule", test_workers_by_25_percent_rule},
    {"trace_format", test_trace_format},
    {"random_graphs", test_random_graphs},
    {"random_graphs_parallel_mark", test_random_graphs_parallel_mark},
    {"skipped_roots_lose_objects", test_skipped_roots_lose_objects},
    {"checkmark_agrees", test_checkmark_agrees},
    {"checkmark_catches_skipped_roots", test_checkmark_catches_skipped_roots},
    {"wb_heap_to_heap", test_wb_heap_to_heap},
    {"wb_memmove_memclr", test_wb_memmove_memclr},
    {"wb_heap_to_stack", test_wb_heap_to_stack},
    {"concurrent_mark_rescans_roots", test_concurrent_mark_rescans_roots},
    {"allocate_black", test_allocate_black},
    {"kfree_interleaved", test_kfree_interleaved},
    {"large_oblets_and_interior", test_large_oblets_and_interior},
    {"tiny_block_survives", test_tiny_block_survives},
    {"kmalloc_never_collected", test_kmalloc_never_collected},
    {"goal_formula", test_goal_formula},
    {"runway_and_assist_ratio", test_runway_and_assist_ratio},
    {"heap_trigger", test_heap_trigger},
    {"emergency_cycle_before_oom", test_emergency_cycle_before_oom},
    {"bgsweep_drains_unswept", test_bgsweep_drains_unswept},
    {"proportional_sweep_before_next_trigger", test_proportional_sweep_before_next_trigger},
    {"reclaim_before_growing", test_reclaim_before_growing},
    {"verify_catches_sweeper_rules", test_verify_catches_sweeper_rules},
    {"bad_input", test_bad_input},
};

int main(int argc, char **argv)
{
    host_set_ncpu(2);
    host_set_quiet(1);
    malloc_init();
    shadow = calloc(MAXN, sizeof *shadow);
    reach = calloc(MAXN, 1);
    stackv = calloc(MAXN, sizeof *stackv);
    if (!gc_add_root(rootv, sizeof rootv))
        return 1;
    return tap_main(argc, argv, tests, TAP_COUNT(tests));
}
