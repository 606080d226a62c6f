/*
 * test_escape.c — the escape cases of Go's escape-analysis articles, in C,
 * each through the runtime entry point Go's compiler would call
 * (alloc/goruntime.h): the value must outlive the frame that made it, so
 * it goes to the heap.  Each case
 *   1. makes its value (a noinline function: the frame really ends) and
 *      roots it in a global, as the escaping reference;
 *   2. survives a collection and still works (the closure counts, the
 *      channel delivers, the method is called);
 *   3. once the root is cleared, is collected whole — every object the
 *      case made (held XOR'ed, so the test keeps none alive itself).
 * The output names the entry point and the span class that served it.
 */
#include "../../alloc/goruntime.h"
#include "../../alloc/heapdump.h"
#include "../../alloc/mgc.h"
#include "kernel.h"
#include "ktest.h"
#include "testutil.h"

#define HIDE 0x3C3C3C3C3C3C3C3Cul
#define MAXH 8

struct point {
    struct point *next;
    int64_t x, y;
};
static const uint8_t word0[1] = {0x1};
static const gotype point_type = {sizeof(struct point), 8, word0, "point"};
static const gotype ptr_type = {8, 8, word0, "*point"};
static const gotype byte_type = {1, 0, 0, "byte"};
static const gotype counter_type = {16, 0, 0, "[2]int64"}; /* 16 B: not a tiny object */

struct funcval { /* Go's closure: code pointer, then the captured variables */
    int64_t (*fn)(struct funcval *);
    int64_t *count; /* captured by reference: moved to the heap */
};
static const uint8_t word1[1] = {0x2};
static const gotype funcval_type = {sizeof(struct funcval), 16, word1, "func closure"};

struct rect {
    int64_t w, h;
};
static const gotype rect_type = {sizeof(struct rect), 0, 0, "rect"};
struct shape_itab { /* the method table of (rect, Shape) */
    const gotype *type;
    int64_t (*area)(void *self);
};

/* The escaping references (bss: a root). */
static struct {
    struct point *p;
    goslice s;
    hchan *c;
    struct funcval *f;
    const struct shape_itab *tab;
    void *data;
} er;

struct esc_result {
    uint64_t h[MAXH]; /* every object the case made, XOR'ed */
    int nh;
    const char *entry;
};

static void keep(struct esc_result *r, const void *p) { r->h[r->nh++] = (uint64_t)(uintptr_t)p ^ HIDE; }

/* ---- 1. return &local */
static struct point *__attribute__((noinline)) newpoint(int64_t x, int64_t y)
{
    struct point *p = newobject(&point_type); /* p := &point{x, y}; return p */
    p->x = x;
    p->y = y;
    return p;
}
static void __attribute__((noinline)) make_return_local(struct esc_result *r)
{
    er.p = newpoint(3, 4);
    keep(r, er.p);
    r->entry = "newobject";
}
static bool use_return_local(void) { return er.p->x == 3 && er.p->y == 4; }

/* ---- 2. store into a slice of pointers */
static void __attribute__((noinline)) make_pointer_slice(struct esc_result *r)
{
    er.s = (goslice){makeslice(&ptr_type, 0, 2), 0, 2}; /* s := make([]*point, 0, 2) */
    for (int i = 0; i < 5; i++) {                      /* s = append(s, &point{i, i}) */
        struct point *p = newpoint(i, i);
        keep(r, p);
        if (er.s.len == er.s.cap)
            er.s = growslice(er.s.array, er.s.len + 1, er.s.cap, 1, &ptr_type);
        else
            er.s.len++;
        ((struct point **)er.s.array)[i] = p;
    }
    keep(r, er.s.array);
    r->entry = "makeslice, growslice (scan)";
}
static bool use_pointer_slice(void)
{
    bool ok = er.s.len == 5 && er.s.cap == 8;
    for (int i = 0; i < 5; i++)
        ok &= ((struct point **)er.s.array)[i]->x == i;
    return ok;
}

/* ---- 3. a slice that outgrows its stack array */
static void __attribute__((noinline)) make_outgrow_stack(struct esc_result *r)
{
    uint8_t stackbuf[64]; /* var buf [64]byte; s := buf[:0] */
    goslice s = {stackbuf, 0, sizeof stackbuf};
    for (int i = 0; i < 100; i++) { /* s = append(s, byte(i)) */
        if (s.len == s.cap)
            s = growslice(s.array, s.len + 1, s.cap, 1, &byte_type);
        else
            s.len++;
        ((uint8_t *)s.array)[i] = (uint8_t)i;
    }
    er.s = s;
    keep(r, s.array);
    r->entry = "growslice (noscan: the 64 stack bytes copied to the heap)";
}
static bool use_outgrow_stack(void)
{
    bool ok = er.s.len == 100 && er.s.cap == 128;
    for (int i = 0; i < 100; i++)
        ok &= ((uint8_t *)er.s.array)[i] == i;
    return ok;
}

/* ---- 4. a pointer sent on a channel */
static void __attribute__((noinline)) make_channel(struct esc_result *r)
{
    er.c = makechan(&ptr_type, 1); /* c := make(chan *point, 1) */
    struct point *p = newpoint(7, 8);
    chan_trysend(er.c, &p); /* c <- p */
    keep(r, p);
    keep(r, er.c);
    keep(r, er.c->buf);
    r->entry = "makechan (typed header + typed ring), newobject";
}
static bool use_channel(void)
{
    struct point *p = 0;
    bool ok;
    bool got = chan_tryrecv(er.c, &p, &ok); /* p := <-c, then back */
    bool good = got && ok && p->x == 7;
    return good && chan_trysend(er.c, &p);
}

/* ---- 5. a closure capturing a variable */
static int64_t counter_fn(struct funcval *f) { return ++*f->count; }
static void __attribute__((noinline)) make_closure(struct esc_result *r)
{
    int64_t *count = newobject(&counter_type); /* n := 0 (captured: moved to the heap) */
    struct funcval *f = newobject(&funcval_type); /* return func() int { n++; return n } */
    f->fn = counter_fn;
    f->count = count;
    er.f = f;
    keep(r, f);
    keep(r, count);
    r->entry = "newobject (closure) + newobject (captured variable)";
}
static bool use_closure(void)
{
    er.f->fn(er.f);
    er.f->fn(er.f);
    return er.f->fn(er.f) == 3;
}

/* ---- 6. a call through an interface's method table */
static int64_t rect_area(void *self) { return ((struct rect *)self)->w * ((struct rect *)self)->h; }
static const struct shape_itab rect_shape = {&rect_type, rect_area};
static void __attribute__((noinline)) make_interface(struct esc_result *r)
{
    struct rect rc = {2, 3}; /* var s Shape = rect{2, 3} */
    er.tab = &rect_shape;
    er.data = convTnoptr(&rect_type, &rc);
    keep(r, er.data);
    r->entry = "convTnoptr (the value boxed for the interface)";
}
static bool use_interface(void) { return er.tab->area(er.data) == 6; }

static const struct {
    const char *name;
    void (*make)(struct esc_result *);
    bool (*use)(void);
} cases[] = {
    {"return a pointer to a local", make_return_local, use_return_local},
    {"store into a slice of pointers", make_pointer_slice, use_pointer_slice},
    {"a slice outgrows its stack array", make_outgrow_stack, use_outgrow_stack},
    {"send a pointer on a channel", make_channel, use_channel},
    {"a closure captures a variable", make_closure, use_closure},
    {"call through an interface", make_interface, use_interface},
};

/* noinline: its heapdump_obj holds the object's address, and inlined into
 * the test's frame it would keep the object alive (a live frame is a root) */
static __attribute__((noinline)) const char *where(uint64_t hidden)
{
    struct heapdump_obj o;
    heapdump_object(hidden ^ HIDE, &o);
    return o.where != HD_OBJECT ? "not an object" : o.span.sizeclass == 0 ? "large"
         : o.span.noscan ? "noscan" : "scan";
}

static void run_case(unsigned k)
{
    {
        struct esc_result r = {.nh = 0};
        cases[k].make(&r);
        stack_scrub();
        KREQUIRE(gc_collect());
        int live = 0;
        for (int i = 0; i < r.nh; i++)
            live += gc_object_state((void *)(r.h[i] ^ HIDE)) == GC_OBJ_LIVE;
        KCHECKF(live == r.nh && cases[k].use(), "%s: %d of %d objects live after a cycle",
                cases[k].name, live, r.nh);
        kprintf("# escape: %s: %s; first object %s, %lu B\n", cases[k].name, r.entry,
                where(r.h[0]), (uint64_t)ksize_op((void *)(r.h[0] ^ HIDE), "escape test"));
        __builtin_memset(&er, 0, sizeof er);
        stack_scrub();
        KREQUIRE(gc_collect());
        /* exact but for conservative retention: an object kept must be held
         * by a stale word the report names (at most one per case) */
        int kept = 0, explained = 0;
        for (int i = 0; i < r.nh; i++) {
            enum gc_obj_state st = gc_object_state((void *)(r.h[i] ^ HIDE));
            if (st != GC_OBJ_FREE && st != GC_OBJ_NOT_HEAP) {
                kept++;
                explained += testutil_report_holders(r.h[i] ^ HIDE, 16) > 0;
            }
        }
        KCHECKF(kept == explained && kept <= 1,
                "%s: %d of %d objects kept once unreachable, %d held by a stale word",
                cases[k].name, kept, r.nh, explained);
    }
    testutil_verify_or_fail(cases[k].name);
}

KTEST(escape_return_local, KTEST_QUICK) { run_case(0); }
KTEST(escape_pointer_slice, KTEST_QUICK) { run_case(1); }
KTEST(escape_slice_outgrows_stack, KTEST_QUICK) { run_case(2); }
KTEST(escape_pointer_on_channel, KTEST_QUICK) { run_case(3); }
KTEST(escape_closure_capture, KTEST_QUICK) { run_case(4); }
KTEST(escape_interface_call, KTEST_QUICK) { run_case(5); }

