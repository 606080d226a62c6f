/*
 * test_goruntime.c — the heap entry points of goruntime.h on the host:
 * growslice's capacities against real Go's (tests/host/go/appendcaps.golden,
 * made by `go run appendcaps.go`), every panic and throw with Go's text in
 * Go's order of checks (the panic hook jumps back here), the layouts Go
 * promises (one noscan allocation per pointer-free channel, static boxes
 * for small values), and what the collector does with each: pointers held
 * only by a slice's array, a channel's ring or an interface box keep their
 * objects alive; once received or dropped, the objects are collected.
 *
 * On the host the collector's only roots are the ranges registered with
 * gc_add_root (here: `roots`), so reachability is exact.
 */
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "goruntime.h"
#include "heap_testlib.h"
#include "mgc.h"
#include "mheap.h"
#include "sizeclass.h"

#define UL(x) ((unsigned long)(x))

static struct {
    goslice s;
    hchan *c;
    goiface i;
    void *p[4];
} roots; /* registered with gc_add_root */

static bool collected(const void *p)
{
    enum gc_obj_state st = gc_object_state(p);
    return st == GC_OBJ_FREE || st == GC_OBJ_NOT_HEAP;
}

static bool noscan_object(const void *p)
{
    mspan *s = span_of((uintptr_t)p);
    return s && s->state == mSpanInUse && spanclass_noscan(s->spanclass);
}

/* ------------------------------------------------------------ panics */

static jmp_buf panic_jmp;
static char panic_line[200];

static void panic_catch(const char *line)
{
    snprintf(panic_line, sizeof panic_line, "%s", line);
    longjmp(panic_jmp, 1);
}

static const uint8_t ptr_mask[1] = {0x1};
static const gotype t_ptr = {8, 8, ptr_mask, "*T"};
static const gotype t_u8 = {1, 0, 0, "uint8"};
static const gotype t_i64 = {8, 0, 0, "int64"};
static const gotype t_big = {1ull << 62, 0, 0, "[1<<62]byte"};
static const gotype t_64k = {1u << 16, 0, 0, "[65536]byte"};

/* Each case: one call, the line Go prints for it. */
struct panic_case {
    const char *name;
    void (*call)(void);
    const char *want;
};

static hchan *closed_chan(void)
{
    hchan *c = makechan(&t_i64, 2);
    chan_close(c);
    return c;
}

static int64_t huge(void) { return (int64_t)(go_max_alloc() / 8 + 1); }
static void ms_len_negative(void) { makeslice(&t_ptr, -1, 10); }
static void ms_len_above_cap(void) { makeslice(&t_ptr, 10, 5); }
static void ms_cap_negative(void) { makeslice(&t_ptr, 0, -1); }
static void ms_cap_too_big(void) { makeslice(&t_ptr, 5, huge()); }
static void ms_len_too_big(void) { makeslice(&t_ptr, huge(), huge()); } /* make([]T, big) */
static void ms_mul_overflow(void) { makeslice(&t_big, 4, 4); }
static void msc_len_negative(void) { makeslicecopy(&t_ptr, -1, -2, 0); }
static void msc_len_too_big(void) { makeslicecopy(&t_u8, (int64_t)go_max_alloc() + 1, 0, 0); }
static void gs_len_negative(void) { growslice(0, -1, 0, 1, &t_ptr); }
static void gs_len_too_big(void) { growslice(0, huge(), 0, huge(), &t_ptr); }
static void gs_overflow(void) { growslice(0, 5, 0, 5, &t_big); }
static void mc_size_negative(void) { makechan(&t_i64, -1); }
static void mc_size_too_big(void) { makechan(&t_i64, huge()); }
static void mc_elem_too_big(void) { makechan(&t_64k, 1); }
static void ch_send_closed(void) { int64_t v = 1; chan_trysend(closed_chan(), &v); }
static void ch_close_closed(void) { chan_close(closed_chan()); }
static void ch_close_nil(void) { chan_close(0); }
static void gb_negative(void) { gobytes((const uint8_t *)"x", -1); }
static void rr_too_big(void) { rawruneslice((int64_t)(go_max_alloc() / 4 + 1)); }
static void rb_negative(void) { rawbyteslice(-1); }
static void cs_too_long(void)
{
    gostring a[2] = {{(const uint8_t *)"x", INT64_MAX / 2 + 1}, {(const uint8_t *)"y", INT64_MAX / 2 + 1}};
    concatstrings(0, a, 2);
}

static const struct panic_case panic_cases[] = {
    {"makeslice len < 0", ms_len_negative, "panic: runtime error: makeslice: len out of range"},
    {"makeslice len > cap", ms_len_above_cap, "panic: runtime error: makeslice: cap out of range"},
    {"makeslice cap < 0", ms_cap_negative, "panic: runtime error: makeslice: cap out of range"},
    {"makeslice cap too big", ms_cap_too_big, "panic: runtime error: makeslice: cap out of range"},
    {"makeslice len too big", ms_len_too_big, "panic: runtime error: makeslice: len out of range"},
    {"makeslice size overflow", ms_mul_overflow, "panic: runtime error: makeslice: len out of range"},
    {"makeslicecopy len < 0", msc_len_negative, "panic: runtime error: makeslice: len out of range"},
    {"makeslicecopy too big", msc_len_too_big, "panic: runtime error: makeslice: len out of range"},
    {"growslice len < 0", gs_len_negative, "panic: runtime error: growslice: len out of range"},
    {"growslice too big", gs_len_too_big, "panic: runtime error: growslice: len out of range"},
    {"growslice overflow", gs_overflow, "panic: runtime error: growslice: len out of range"},
    {"makechan size < 0", mc_size_negative, "panic: makechan: size out of range"},
    {"makechan size too big", mc_size_too_big, "panic: makechan: size out of range"},
    {"makechan elem 64 KiB", mc_elem_too_big, "fatal error: makechan: invalid channel element type"},
    {"send on closed", ch_send_closed, "panic: send on closed channel"},
    {"close of closed", ch_close_closed, "panic: close of closed channel"},
    {"close of nil", ch_close_nil, "panic: close of nil channel"},
    {"gobytes len < 0", gb_negative, "panic: runtime error: gobytes: length out of range"},
    {"rawruneslice too big", rr_too_big, "fatal error: out of memory"},
    {"rawbyteslice size < 0", rb_negative, "fatal error: out of memory"},
    {"concatstrings overflow", cs_too_long, "fatal error: string concatenation too long"},
};

static void test_panics_in_go_order(void)
{
    hook_reset();
    go_panic_hook_t old = go_set_panic_hook(panic_catch);
    for (size_t k = 0; k < sizeof panic_cases / sizeof panic_cases[0]; k++) {
        const struct panic_case *pc = &panic_cases[k];
        panic_line[0] = 0;
        if (!setjmp(panic_jmp)) {
            pc->call();
            CHECKF(0, "%s: returned without panicking", pc->name);
            continue;
        }
        CHECKF(!strcmp(panic_line, pc->want), "%s: \"%s\", want \"%s\"", pc->name, panic_line,
               pc->want);
    }
    go_set_panic_hook(old);
    CHECK_NO_HOOK();
    VERIFY();
}

/* A hook that returns is a broken test: plat_panic says so. */
static void returning_hook(const char *line) { (void)line; }
static char fatal_msg[256];
static jmp_buf fatal_jmp;
static void fatal_catch(const char *msg)
{
    snprintf(fatal_msg, sizeof fatal_msg, "%s", msg);
    longjmp(fatal_jmp, 1);
}

static void test_returning_hook_is_fatal(void)
{
    go_panic_hook_t old = go_set_panic_hook(returning_hook);
    void (*old_fatal)(const char *) = host_panic_hook;
    host_panic_hook = fatal_catch;
    if (!setjmp(fatal_jmp))
        makeslice(&t_ptr, -1, 0);
    host_panic_hook = old_fatal;
    go_set_panic_hook(old);
    CHECKF(!strcmp(fatal_msg, "go panic hook returned (it must not): panic: runtime error: "
                              "makeslice: len out of range"),
           "got \"%s\"", fatal_msg);
}

/* ------------------------------------------------------------ growslice vs Go */

struct elem_kind {
    const char *kind;
    uint64_t size;
    gotype t;
};
static const uint8_t first_word[1] = {0x1};

/* Append one element at a time to a rooted slice, as Go's append does;
 * write each capacity change as the golden file's line. */
static size_t run_appends(const gotype *t, const char *kind, char *out, size_t cap)
{
    size_t n = 0;
    roots.s = (goslice){0, 0, 0};
    for (int64_t i = 0; i < 10000; i++) {
        int64_t old = roots.s.cap;
        if (roots.s.len == roots.s.cap)
            roots.s = growslice(roots.s.array, roots.s.len + 1, roots.s.cap, 1, t);
        else
            roots.s.len++;
        ((uint8_t *)roots.s.array)[i * t->size + t->size - 1] = (uint8_t)(i % 251);
        if (roots.s.cap != old)
            n += (size_t)snprintf(out + n, cap - n, "%s %lu %ld %ld %ld\n", kind, UL(t->size),
                                  (long)roots.s.len, (long)old, (long)roots.s.cap);
    }
    for (int64_t i = 0; i < 10000; i++)
        if (((uint8_t *)roots.s.array)[i * t->size + t->size - 1] != (uint8_t)(i % 251)) {
            n += (size_t)snprintf(out + n, cap - n, "%s %lu: element %ld lost\n", kind,
                                  UL(t->size), (long)i);
            break;
        }
    roots.s = (goslice){0, 0, 0};
    return n;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char *buf = calloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static void test_growslice_matches_go(void)
{
    hook_reset();
    char *golden = read_file("tests/host/go/appendcaps.golden");
    REQUIRE(golden);
    const char *body = strchr(golden, '\n'); /* skip the "# go version" line */
    REQUIRE(body);
    body++;
    static const uint64_t sizes[] = {1, 8, 24, 40, 72};
    char *ours = calloc(1, 1 << 16);
    size_t n = 0;
    for (int scan = 0; scan < 2; scan++)
        for (size_t k = 0; k < 5; k++) {
            if (scan && sizes[k] == 1)
                continue; /* a pointer is 8 bytes */
            gotype t = {sizes[k], scan ? 8 : 0, scan ? first_word : 0, "elem"};
            n += run_appends(&t, scan ? "scan" : "noscan", ours + n, (1 << 16) - n);
        }
    if (strcmp(ours, body)) {
        const char *a = ours, *b = body;
        while (*a && *a == *b)
            a++, b++;
        while (a > ours && a[-1] != '\n')
            a--, b--;
        CHECKF(0, "first difference: ours \"%.40s\" Go \"%.40s\"", a, b);
    }
    free(ours);
    free(golden);
    VERIFY();
    CHECK_NO_HOOK();
}

static void test_nextslicecap_rule(void)
{
    CHECK(nextslicecap(1, 0) == 1);
    CHECK(nextslicecap(5, 4) == 8);        /* doubling below 256 */
    CHECK(nextslicecap(100, 4) == 100);    /* more than double: the request */
    CHECK(nextslicecap(257, 256) == 512);  /* 256 + (256 + 768) / 4 */
    CHECK(nextslicecap(513, 512) == 832);  /* 512 + (512 + 768) / 4 */
    CHECK(nextslicecap(INT64_MAX, INT64_MAX / 2 + 1) == INT64_MAX); /* overflow: the request */
    CHECK(roundupsize(0) == 0 && roundupsize(1) == 8 && roundupsize(33) == 48);
    CHECK(roundupsize(32768) == 32768 && roundupsize(32769) == 40960);
}

/* ------------------------------------------------------------ slices and the GC */

static void test_slice_of_pointers_keeps_elements(void)
{
    hook_reset();
    enum { N = 300 };
    void *shadow[N];
    roots.s = (goslice){makeslice(&t_ptr, 0, 4), 0, 4};
    CHECK(heap_bits_is_pointer((uintptr_t)roots.s.array));
    for (int i = 0; i < N; i++) { /* s = append(s, new(int64)) */
        if (roots.s.len == roots.s.cap)
            roots.s = growslice(roots.s.array, roots.s.len + 1, roots.s.cap, 1, &t_ptr);
        else
            roots.s.len++;
        int64_t *x = mallocgc(8, &t_i64, true);
        *x = i;
        ((void **)roots.s.array)[i] = shadow[i] = x;
    }
    CHECK(roots.s.cap == 512 && !noscan_object(roots.s.array));
    REQUIRE(gc_collect());
    int lost = 0;
    for (int i = 0; i < N; i++)
        lost += gc_object_state(shadow[i]) != GC_OBJ_LIVE || *(int64_t *)shadow[i] != i;
    CHECKF(lost == 0, "%d elements lost while the slice was rooted", lost);
    void *arr = roots.s.array;
    roots.s = (goslice){0, 0, 0};
    REQUIRE(gc_collect());
    int kept = 0;
    for (int i = 0; i < N; i++)
        kept += !collected(shadow[i]);
    CHECKF(kept <= 1 && collected(arr), "%d elements kept after the slice was dropped", kept);
    VERIFY();
    CHECK_NO_HOOK();
}

static void test_make_and_copy(void)
{
    hook_reset();
    /* makeslice: zeroed, typed as the element */
    int64_t *a = makeslice(&t_i64, 10, 20);
    int zero = 1;
    for (int i = 0; i < 20; i++)
        zero &= a[i] == 0;
    CHECK(zero && noscan_object(a));
    for (int i = 0; i < 20; i++)
        a[i] = i + 1;
    /* makeslicecopy longer than the source: the tail is zero */
    int64_t *b = makeslicecopy(&t_i64, 30, 20, a);
    int ok = 1;
    for (int i = 0; i < 30; i++)
        ok &= b[i] == (i < 20 ? i + 1 : 0);
    CHECK(ok);
    /* shorter: only tolen elements are copied */
    int64_t *c = makeslicecopy(&t_i64, 5, 20, a);
    CHECK(c[4] == 5 && ksize(c) >= 40);
    /* growslice: noscan tail past newLen is zeroed even on dirty memory */
    goslice g = growslice(a, 21, 20, 1, &t_i64);
    ok = g.len == 21 && g.cap == 40;
    for (int i = 0; i < 40; i++) /* element 20 is the caller's to write */
        ok &= i == 20 || ((int64_t *)g.array)[i] == (i < 20 ? i + 1 : 0);
    CHECKF(ok, "grown slice len %ld cap %ld", (long)g.len, (long)g.cap);
    /* zero-sized elements: zerobase, no allocation */
    static const gotype t_empty = {0, 0, 0, "struct{}"};
    goslice z = growslice(0, 7, 0, 7, &t_empty);
    CHECK(z.array == go_zerobase() && z.len == 7 && z.cap == 7);
    VERIFY();
    CHECK_NO_HOOK();
}

/* ------------------------------------------------------------ strings */

static void test_strings(void)
{
    hook_reset();
    const uint8_t *hello = (const uint8_t *)"hello, world, and a longer tail";
    gostring e = slicebytetostring(0, hello, 0);
    CHECK(e.len == 0);
    gostring one = slicebytetostring(0, hello + 1, 1); /* "e": static, no allocation */
    CHECK(one.len == 1 && one.str[0] == 'e' &&
          one.str == (const uint8_t *)&go_staticuint64s['e']);
    go_tmpbuf tb;
    gostring s = slicebytetostring(&tb, hello, 5);
    CHECK(s.str == tb.b && !memcmp(s.str, "hello", 5));
    gostring h = slicebytetostring(0, hello, 31);
    CHECK(gc_object_state(h.str) == GC_OBJ_LIVE && noscan_object(h.str) &&
          !memcmp(h.str, hello, 31));
    goslice b = stringtoslicebyte(0, h);
    CHECK(b.len == 31 && b.cap == 32 && !memcmp(b.array, hello, 31));
    goslice bb = stringtoslicebyte(&tb, s);
    CHECK(bb.array == tb.b && bb.cap == GO_TMP_BUF_SIZE);
    goslice r = rawruneslice(3);
    CHECK(r.len == 3 && r.cap == 4 && ((int32_t *)r.array)[3] == 0);
    goslice rb = rawbyteslice(33);
    CHECK(rb.cap == 48 && ((uint8_t *)rb.array)[47] == 0);
    /* concatenation: one heap operand is returned as is; a static one is copied */
    gostring parts[3] = {{0, 0}, h, {0, 0}};
    CHECK(concatstrings(0, parts, 3).str == h.str);
    gostring lit = {hello, 5};
    gostring parts2[2] = {lit, {0, 0}};
    gostring copy = concatstrings(0, parts2, 2);
    CHECK(copy.str != hello && copy.len == 5 && !memcmp(copy.str, "hello", 5));
    gostring parts3[2] = {lit, lit};
    gostring cat = concatstrings(0, parts3, 2);
    CHECK(cat.len == 10 && !memcmp(cat.str, "hellohello", 10));
    gostring c = gostring_from_c("gopher");
    CHECK(c.len == 6 && !memcmp(c.str, "gopher", 6) && gc_object_state(c.str) == GC_OBJ_LIVE);
    goslice g0 = gobytes(hello, 0);
    CHECK(g0.array == go_zerobase() && g0.cap == 0);
    VERIFY();
    CHECK_NO_HOOK();
}

/* ------------------------------------------------------------ channels */

static void test_chan_layouts(void)
{
    hook_reset();
    hchan *c = makechan(&t_i64, 10); /* pointer free: header and ring in one object */
    CHECK(c->buf == (void *)(c + 1) && noscan_object(c) &&
          ksize(c) >= sizeof(hchan) + 80);
    hchan *u = makechan(&t_ptr, 0); /* unbuffered: the header alone, noscan */
    CHECK(noscan_object(u));
    int64_t v = 0;
    CHECK(!chan_trysend(u, &v)); /* no receiver: would block */
    hchan *p = makechan(&t_ptr, 4); /* pointers: typed header, typed ring */
    CHECK(!noscan_object(p) && !noscan_object(p->buf) && p->buf != (void *)(p + 1));
    CHECK(heap_bits_is_pointer((uintptr_t)&p->buf) && heap_bits_is_pointer((uintptr_t)p->buf));
    /* FIFO order, full, empty, closed */
    for (int64_t i = 1; i <= 10; i++)
        CHECK(chan_trysend(c, &i));
    int64_t extra = 11;
    CHECK(!chan_trysend(c, &extra));
    bool ok;
    int64_t got = 0;
    for (int64_t i = 1; i <= 10; i++)
        CHECK(chan_tryrecv(c, &got, &ok) && ok && got == i);
    CHECK(!chan_tryrecv(c, &got, &ok));
    chan_close(c);
    CHECK(chan_tryrecv(c, &got, &ok) && !ok && got == 0);
    CHECK(!chan_trysend(0, &v) && !chan_tryrecv(0, &got, &ok)); /* nil channel */
    VERIFY();
    CHECK_NO_HOOK();
}

static void test_chan_ring_keeps_sent_pointers(void)
{
    hook_reset();
    roots.c = makechan(&t_ptr, 4);
    void *sent[3];
    for (int i = 0; i < 3; i++) {
        sent[i] = mallocgc(64, &t_i64, true); /* ch <- new(T) */
        CHECK(chan_trysend(roots.c, &sent[i]));
    }
    REQUIRE(gc_collect());
    int lost = 0;
    for (int i = 0; i < 3; i++)
        lost += gc_object_state(sent[i]) != GC_OBJ_LIVE;
    CHECKF(lost == 0, "%d objects in the ring lost", lost);
    void *x;
    bool ok;
    CHECK(chan_tryrecv(roots.c, &x, &ok) && x == sent[0]); /* received: the slot is cleared */
    REQUIRE(gc_collect());
    CHECKF(collected(sent[0]) && gc_object_state(sent[1]) == GC_OBJ_LIVE,
           "received %d, still queued %d", gc_object_state(sent[0]), gc_object_state(sent[1]));
    roots.c = 0;
    REQUIRE(gc_collect());
    CHECK(collected(sent[1]) && collected(sent[2]));
    VERIFY();
    CHECK_NO_HOOK();
}

/* ------------------------------------------------------------ interfaces */

static void test_iface_boxes(void)
{
    hook_reset();
    CHECK(convT64(200) == &go_staticuint64s[200]); /* small: static */
    uint64_t *big = convT64(1u << 20);
    CHECK(*big == 1u << 20 && gc_object_state(big) == GC_OBJ_LIVE && noscan_object(big));
    CHECK(convTstring((gostring){0, 0}) == convTslice((goslice){0, 0, 0})); /* zeroVal */
    /* a typed box holds the only pointer to an object */
    struct pair {
        void *p;
        uint64_t n;
    } pr = {mallocgc(48, &t_i64, true), 7};
    static const gotype t_pair = {16, 8, ptr_mask, "pair"};
    void *target = pr.p;
    roots.i = (goiface){&t_pair, convT(&t_pair, &pr)};
    pr.p = 0;
    REQUIRE(gc_collect());
    CHECK(gc_object_state(target) == GC_OBJ_LIVE);
    void *box = roots.i.data;
    roots.i = (goiface){0, 0};
    REQUIRE(gc_collect());
    CHECK(collected(target) && collected(box));
    VERIFY();
    CHECK_NO_HOOK();
}

static const struct tap_test tests[] = {
    {"growslice_matches_go", test_growslice_matches_go},
    {"nextslicecap_rule", test_nextslicecap_rule},
    {"panics_in_go_order", test_panics_in_go_order},
    {"returning_hook_is_fatal", test_returning_hook_is_fatal},
    {"slice_of_pointers_keeps_elements", test_slice_of_pointers_keeps_elements},
    {"make_and_copy", test_make_and_copy},
    {"strings", test_strings},
    {"chan_layouts", test_chan_layouts},
    {"chan_ring_keeps_sent_pointers", test_chan_ring_keeps_sent_pointers},
    {"iface_boxes", test_iface_boxes},
};

int main(int argc, char **argv)
{
    host_set_ncpu(2);
    host_set_quiet(1);
    malloc_init();
    if (!gc_add_root(&roots, sizeof roots))
        return 1;
    return tap_main(argc, argv, tests, TAP_COUNT(tests));
}
