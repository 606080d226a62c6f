/*
 * fuzz_alloc.c — a fuzz harness for alloc/: the fuzz input is a program of
 * allocator calls, run against a shadow model that knows what every call
 * must do.
 *
 * WHAT IT DRIVES
 *   kmalloc, kcalloc, krealloc, kfree, ksize, mallocgc (untyped and typed,
 *   with and without pointers, tiny sizes included), newobject, newarray,
 *   stackalloc, stackfree; malloc_flush_mcache, malloc_flush_all_mcaches,
 *   heap_scavenge, stack_cache_flush_all; four simulated CPUs
 *   (host_set_cpu) so objects are freed on other CPUs than their own; and
 *   BAD calls: foreign pointers (a stack local, a global, libc memory, low
 *   addresses, mallocgc's zero-size object), interior pointers, double
 *   frees, addresses near and between objects, past a span's last object,
 *   tiny blocks, stacks given to kfree and heap objects to stackfree,
 *   stackfree with wrong sizes, requests larger than memory, kcalloc and
 *   newarray overflow.
 *
 * THE INPUT
 *   A byte string read front to back: one opcode byte (low 5 bits) then its
 *   arguments (bytes and little-endian 16/32-bit values; reading past the
 *   end gives zeros).  Objects live in MAX_OBJS slots, stacks in
 *   MAX_STACKS: an allocation into an occupied slot frees the occupant
 *   first, so every byte string is a valid program and memory stays
 *   bounded (LIVE_BUDGET; larger requests are skipped and counted).
 *
 * THE SHADOW MODEL AND WHAT IS CHECKED
 *   - Every live object is filled with a pattern from its own tag; the
 *     pattern is checked before free and realloc, after every bad call
 *     that named the object, every CHECK_EVERY steps and at the end.
 *   - ksize equals the class size of the request (whole pages when large),
 *     so >= the request; alignment is the class's natural one; zeroing
 *     calls (kcalloc, needzero, newobject, newarray) give zeros; a new
 *     tiny object reads zero and never overlaps an earlier one in its block.
 *   - No two live objects, stacks or tiny blocks overlap (checked at every
 *     allocation).
 *   - krealloc keeps the contents (and the object when it fits).
 *   - Typed objects: heap_bits_is_pointer agrees with the type's gcmask
 *     repeated over the elements (sampled words); other objects have none.
 *   - Good calls produce no error-hook message; each bad call produces
 *     exactly ONE, with the exact text when the model knows the answer
 *     (foreign, interior, tiny block, stack, past the last object, the
 *     size errors), else one of check_object's forms naming that pointer;
 *     and a bad call changes nothing (Mallocs, Frees, HeapAlloc, large
 *     objects, StackInuse and the stack counters are equal before and
 *     after; ksize returns 0, krealloc NULL).
 *   - Statistics: HeapObjects == live objects + live tiny blocks,
 *     HeapAlloc == their sizes, stack bytes in use == the live stacks.
 *   - heap_verify every VERIFY_EVERY steps and at the end of every input,
 *     after which every object and stack of the input has been freed.
 *
 * THE COLLECTOR runs only when the input asks (op_gc, at most GC_PER_INPUT
 * times per input; GOGC is off otherwise so that the model stays exact).
 * The model's tables objs[] and tinys[] are registered roots
 * (gc_add_root), so a cycle must keep every object the model tracks —
 * kmalloc ones are never marked or collected anyway — with its contents,
 * and must collect tiny blocks that nothing points to any more; op_gc
 * checks both, then re-counts the tiny blocks that survived.
 *
 * TINY OBJECTS cannot be freed by kfree: their blocks stay live across
 * inputs until a cycle collects them (tinys[] from earlier inputs still
 * holds pointers, so most survive until op_gc forgets the table).  Every
 * live block is in a hash set (the model needs them to classify pointers)
 * and a list, MAX_TINY objects per input, and at TINY_BLOCK_CAP blocks tiny
 * requests are skipped until a cycle frees some.  The heap itself is one
 * for the whole process.
 *
 * ON FAILURE: one line "fuzz_alloc: FAIL: ..." with the input number, step
 * and reason, the last TRACE_N calls, then abort() (libFuzzer saves the
 * input) — or fuzz_fail_hook when the replay driver set one.
 */
#define _GNU_SOURCE
#include "fuzz_alloc.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "malloc.h"
#include "mgc.h"
#include "mheap.h" /* window bounds; span_of to aim at span tails and for stackfree */
#include "mstats.h"
#include "platform_host.h"
#include "sizeclass.h"
#include "stack.h"

#define NCPU 4
#define MAX_OBJS 64
#define MAX_STACKS 16
#define MAX_TINY 16          /* tiny objects per input */
#define MAX_FREED 32         /* recently freed pointers, for double frees */
#define LIVE_BUDGET (4u << 20)
#define MAX_STEPS 4096       /* per input */
#define CHECK_EVERY 64
#define VERIFY_EVERY 256
#define TINY_BLOCK_CAP (2u << 20) /* 32 MiB of blocks that only a cycle frees */
#define GC_PER_INPUT 4
#define TSET_BITS 23              /* hash set of tiny blocks: 8M slots, 64 MiB */
#define TRACE_N 24
#define PROGRESS_S 60        /* a summary line this often */

#define UL(x) ((unsigned long)(x))

enum kind { K_NONE, K_KMALLOC, K_KCALLOC, K_GC, K_ARRAY };
static const char *const kind_name[] = {"-", "kmalloc", "kcalloc", "mallocgc", "newarray"};

struct obj {
    uintptr_t p;
    uint64_t req, ks, tag;
    uint64_t dsize;    /* the request the heap bits were written for */
    const gotype *typ; /* typed with pointers: the heap bitmap is checked */
    uint8_t kind, cpu;
};
struct stk {
    uintptr_t p;
    uint64_t n, tag; /* n == 0: slot empty */
};
struct tobj {
    uintptr_t p;
    uint32_t n;
    uint64_t tag;
};

static struct obj objs[MAX_OBJS];
static struct stk stks[MAX_STACKS];
static struct tobj tinys[MAX_TINY];
static int ntiny;
static uintptr_t freed[MAX_FREED];
static unsigned freed_w;
static uint64_t live_bytes, live_objs, stack_bytes, next_tag; /* bytes: ksize / n */
static uint32_t cur_cpu;
static uint64_t step;
static uintptr_t zerobase_p; /* mallocgc(0)'s shared object */
static uintptr_t win_base;
static uint64_t win_size;
static char g_global[64];
static char *libc_buf;

struct fuzz_counts fuzz_counts;
void (*fuzz_fail_hook)(const char *why);

/* ------------------------------------------------------------ types */

static const uint8_t m1[] = {0x01}, m101[] = {0x15}, mA5[] = {0xA5}, m110[] = {0x06};
static const uint8_t m_big[] = {0x81, 0x00, 0xFF};
static const gotype types[] = {
    {8, 8, m1, "*int"},
    {24, 8, m1, "[]byte"},
    {40, 40, m101, "struct{p,i,p,i,p}"},
    {72, 64, mA5, "struct{9 words}"},
    {48, 24, m110, "struct{i,p,p,i,i,i}"},
    {192, 136, m_big, "struct{24 words}"},
    {1024, 8, m1, "struct{p,[1016]byte}"},
    {16, 0, 0, "[16]byte"},
    {4, 0, 0, "int32"},
    {1, 0, 0, "byte"},
    {3, 0, 0, "[3]byte"},
    {12, 0, 0, "[3]int32"},
    {8, 0, 0, "int64"},
    {6, 0, 0, "[3]int16"},
    {100, 0, 0, "[100]byte"},
    {4096, 0, 0, "[4096]byte"},
};
#define NTYPES ((int)(sizeof types / sizeof types[0]))

void fuzz_print_summary(FILE *f, const char *prefix)
{
    struct memstats m;
    uint64_t remote = 0;
    read_memstats(&m);
    for (uint32_t c = 0; c < m.ncpu; c++)
        remote += m.PerCPU[c].remote_frees;
    fprintf(f, "%sinputs %lu ops %lu bad %lu tiny %lu blocks %lu gcs %lu verifies %lu skipped %lu "
            "remote_frees %lu ready_mib %lu",
            prefix, UL(fuzz_counts.inputs), UL(fuzz_counts.ops), UL(fuzz_counts.bad),
            UL(fuzz_counts.tiny), UL(fuzz_counts.tiny_blocks), UL(fuzz_counts.gcs), UL(fuzz_counts.verifies),
            UL(fuzz_counts.skipped), UL(remote), UL(host_ready_bytes() >> 20));
    fprintf(f, "\n");
}

/* ------------------------------------------------------------ failure, trace */

struct tr {
    const char *op;
    uint64_t a, b;
    uintptr_t x;
    uint32_t cpu;
};
static struct tr trace[TRACE_N];
static unsigned trace_w;

static inline void TR(const char *op, uint64_t a, uint64_t b, uintptr_t x)
{
    trace[trace_w++ % TRACE_N] = (struct tr){op, a, b, x, cur_cpu};
}

static void print_trace(void)
{
    unsigned n = trace_w < TRACE_N ? trace_w : TRACE_N;
    fprintf(stderr, "fuzz_alloc: last %u calls (oldest first):\n", n);
    for (unsigned i = trace_w - n; i != trace_w; i++) {
        const struct tr *t = &trace[i % TRACE_N];
        fprintf(stderr, "  cpu %u %-12s %lu %lu 0x%lx\n", t->cpu, t->op, UL(t->a), UL(t->b),
                UL(t->x));
    }
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
    char what[700], why[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(why, sizeof why, "input %lu step %lu: %s", UL(fuzz_counts.inputs), UL(step), what);
    fprintf(stderr, "fuzz_alloc: FAIL: %s\n", why);
    print_trace();
    fuzz_print_summary(stderr, "fuzz_alloc: ");
    if (fuzz_fail_hook)
        fuzz_fail_hook(why);
    abort();
}

/* ------------------------------------------------------------ error hook */

static int hook_n;
static char hook_msg[2][300];

static void hook(const char *m)
{
    if (hook_n < 2)
        snprintf(hook_msg[hook_n], sizeof hook_msg[0], "%s", m);
    hook_n++;
}

static void no_msg(const char *call)
{
    if (hook_n)
        fail("%s: unexpected error message \"%s\"%s", call, hook_msg[0],
             hook_n > 1 ? " (and more)" : "");
}

/* Exactly one message since the last reset; returns it. */
static const char *one_msg(const char *call, uintptr_t x)
{
    if (hook_n != 1)
        fail("%s(0x%lx): %d error messages, want 1 (first \"%s\", second \"%s\")", call, UL(x),
             hook_n, hook_n ? hook_msg[0] : "", hook_n > 1 ? hook_msg[1] : "");
    hook_n = 0;
    return hook_msg[0];
}

static void expect_exact(const char *call, uintptr_t x, const char *want)
{
    const char *got = one_msg(call, x);
    if (strcmp(got, want) != 0)
        fail("%s(0x%lx): message \"%s\", want \"%s\"", call, UL(x), got, want);
}

/* ------------------------------------------------------------ input reader */

struct rd {
    const uint8_t *d;
    size_t n, i;
};
static uint8_t g8(struct rd *r) { return r->i < r->n ? r->d[r->i++] : 0; }
static uint16_t g16(struct rd *r) { return (uint16_t)(g8(r) | g8(r) << 8); }
static uint32_t g32(struct rd *r) { return (uint32_t)g16(r) | (uint32_t)g16(r) << 16; }

/* A request size: mostly small (the tiny range, class boundaries size-1,
 * size, size+1), sometimes medium, now and then large (just past
 * MAX_SMALL_SIZE, whole pages), rarely up to 64 pages.  Bytes cost time
 * (every byte is patterned and checked), so the mean stays near 2 KiB. */
static uint64_t dec_size(struct rd *r)
{
    uint8_t sel = g8(r);
    uint16_t v = g16(r);
    if ((sel & 31) >= 24 && (sel & 32))
        return v % 513; /* half of the big cases */
    switch (sel & 31) {
    case 0 ... 5: return v % 17;
    case 6 ... 10: return v % 129;
    case 11 ... 14: return v % 1025;
    case 15 ... 18:
        return class_to_size[1 + v % 40] + (uint64_t)(v >> 8) % 3 - 1;
    case 19: return class_to_size[1 + v % (NUM_SIZE_CLASSES - 1)] + (uint64_t)(v >> 8) % 3 - 1;
    case 20 ... 22: return v % 4097;
    case 23: return v % 8193;
    case 24: return v % (MAX_SMALL_SIZE + 1);
    case 25: return (uint64_t)(1 + v % 4) * PAGE_SIZE + (uint64_t)(v >> 14) - 1;
    case 26: return MAX_SMALL_SIZE + 1 + v % 8192;
    case 27: return (uint64_t)(1 + v % ((v >> 12) == 15 ? 64 : 8)) * PAGE_SIZE + (v & 0x100 ? 1 : 0);
    default: return v % 257;
    }
}

/* ------------------------------------------------------------ patterns */

/* Word i of an object with tag t holds (t + i) * K: one multiply, and
 * distinct objects differ because tags are well mixed (tag_next). */
#define PAT_K 0x9E3779B97F4A7C15ull
static inline uint64_t pat_word(uint64_t tag, uint64_t i) { return (tag + i) * PAT_K; }
static inline uint8_t pat_byte(uint64_t tag, uint64_t i)
{
    return (uint8_t)(pat_word(tag, i >> 3) >> ((i & 7) * 8));
}

static uint64_t tag_next(void)
{
    uint64_t x = ++next_tag * 0xD1B54A32D192ED03ull;
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    return x ^ (x >> 32);
}

/* The pattern loops touch only allocator memory, which ASan does not
 * track (its shadow says "addressable" for the whole window): no ASan
 * checks there, UBSan stays. */
#define NO_ASAN __attribute__((no_sanitize_address))

/* Bytes [from, to) of the object at p get the pattern of tag. */
NO_ASAN static void pat_fill(uintptr_t p, uint64_t from, uint64_t to, uint64_t tag)
{
    uint8_t *b = (uint8_t *)p;
    uint64_t i = from;
    for (; i < to && (i & 7); i++)
        b[i] = pat_byte(tag, i);
    if ((p & 7) == 0)
        for (; i + 8 <= to; i += 8) {
            uint64_t w = pat_word(tag, i >> 3);
            __builtin_memcpy(b + i, &w, 8);
        }
    for (; i < to; i++)
        b[i] = pat_byte(tag, i);
}

/* First offset in [0, n) that does not hold tag's pattern, or -1. */
NO_ASAN static int64_t pat_bad(uintptr_t p, uint64_t n, uint64_t tag)
{
    const uint8_t *b = (const uint8_t *)p;
    uint64_t i = 0;
    if ((p & 7) == 0)
        for (; i + 8 <= n; i += 8) {
            uint64_t w;
            __builtin_memcpy(&w, b + i, 8);
            if (w != pat_word(tag, i >> 3))
                break;
        }
    for (; i < n; i++)
        if (b[i] != pat_byte(tag, i))
            return (int64_t)i;
    return -1;
}

NO_ASAN static int64_t zero_bad(uintptr_t p, uint64_t n)
{
    const uint8_t *b = (const uint8_t *)p;
    uint64_t i = 0;
    if ((p & 7) == 0)
        for (uint64_t w; i + 8 <= n; i += 8) {
            __builtin_memcpy(&w, b + i, 8);
            if (w)
                break;
        }
    for (; i < n; i++)
        if (b[i])
            return (int64_t)i;
    return -1;
}

/* ------------------------------------------------------------ tiny block set */

/* Open addressing; an entry is block | (bytes used - 1), 0 = empty. */
static uint64_t *tset;

static uint64_t *tset_slot(uintptr_t block)
{
    uint64_t h = ((block >> 4) * 0x9E3779B97F4A7C15ull) >> (64 - TSET_BITS);
    for (;;) {
        uint64_t e = tset[h];
        if (e == 0 || (e & ~15ull) == block)
            return &tset[h];
        h = (h + 1) & ((1ull << TSET_BITS) - 1);
    }
}

/* Every live tiny block, in creation order (tlist_n of them); tslot is
 * op_gc's scratch (one set slot per block). */
static uintptr_t *tlist;
static uint64_t **tslot;
static uint64_t tlist_n;

/* Bytes used in the known tiny block holding x, 0 when x is in none. */
static unsigned tiny_block_used(uintptr_t x)
{
    uint64_t e = *tset_slot(x & ~15ull);
    return e ? (unsigned)(e & 15) + 1 : 0;
}

/* ------------------------------------------------------------ model checks */

static uint64_t class_ksize(uint64_t req)
{
    if (req > MAX_SMALL_SIZE)
        return (req + PAGE_SIZE - 1) & ~(uint64_t)(PAGE_SIZE - 1);
    return class_to_size[size_to_class(req ? req : 1)];
}

static bool overlaps(uintptr_t a, uint64_t al, uintptr_t b, uint64_t bl)
{
    return a < b + bl && b < a + al;
}

/* [p, p+len) must not overlap anything live in the model; it is not a
 * "freed" pointer any more. */
static void check_fresh(uintptr_t p, uint64_t len, const char *what)
{
    for (int i = 0; i < MAX_OBJS; i++)
        if (objs[i].kind && overlaps(p, len, objs[i].p, objs[i].ks))
            fail("%s 0x%lx+%lu overlaps live %s object 0x%lx+%lu (slot %d)", what, UL(p), UL(len),
                 kind_name[objs[i].kind], UL(objs[i].p), UL(objs[i].ks), i);
    for (int i = 0; i < MAX_STACKS; i++)
        if (stks[i].n && overlaps(p, len, stks[i].p, stks[i].n))
            fail("%s 0x%lx+%lu overlaps live stack 0x%lx+%lu", what, UL(p), UL(len),
                 UL(stks[i].p), UL(stks[i].n));
    /* tiny blocks are never freed, so only a class-2 slot can be one: the
     * first and last 16-byte block of the range suffice */
    if (tiny_block_used(p) || tiny_block_used(p + len - 1))
        fail("%s 0x%lx+%lu overlaps a tiny block", what, UL(p), UL(len));
    for (int i = 0; i < MAX_FREED; i++)
        if (freed[i] && overlaps(freed[i], 1, p, len))
            freed[i] = 0;
}

static bool mask_bit(const gotype *t, uint64_t j)
{
    return j < t->ptrdata / 8 && ((t->gcmask[j / 8] >> (j % 8)) & 1);
}

/* Heap bitmap: the type's mask repeated over the request (typed objects
 * with pointers), nothing elsewhere; sampled words. */
static void check_bits(const struct obj *o, const char *when)
{
    uint64_t nw = o->ks / 8, dw = (o->dsize + 7) / 8;
    for (uint64_t i = 0; i < nw; i++) {
        bool want = false;
        if (o->typ) {
            uint64_t tw = o->typ->size / 8 ? o->typ->size / 8 : 1;
            want = i < dw && mask_bit(o->typ, i % tw);
        }
        bool got = heap_bits_is_pointer(o->p + i * 8);
        if (got != want)
            fail("%s: heap bit of word %lu of %s object 0x%lx (%lu B, type %s) is %d, want %d",
                 when, UL(i), kind_name[o->kind], UL(o->p), UL(o->req),
                 o->typ ? o->typ->name : "none", got, want);
        if (i == 40 && nw > 48)
            i = nw - 8; /* sample: the head and the tail */
    }
}

static void check_obj(const struct obj *o, const char *when)
{
    int64_t bad = pat_bad(o->p, o->req, o->tag);
    if (bad >= 0)
        fail("%s: %s object 0x%lx (%lu B, ksize %lu) corrupted at offset %ld", when,
             kind_name[o->kind], UL(o->p), UL(o->req), UL(o->ks), (long)bad);
    check_bits(o, when);
}

static void check_stack(const struct stk *s, const char *when)
{
    int64_t bad = pat_bad(s->p, s->n, s->tag);
    if (bad >= 0)
        fail("%s: stack 0x%lx (%lu B) corrupted at offset %ld", when, UL(s->p), UL(s->n),
             (long)bad);
}

static void check_tiny(const struct tobj *t, const char *when)
{
    if (pat_bad(t->p, t->n, t->tag) >= 0)
        fail("%s: tiny object 0x%lx (%u B) corrupted", when, UL(t->p), t->n);
}

struct snap {
    uint64_t mallocs, frees, heapalloc, objects, large, stackinuse;
    uint64_t s_inuse, s_allocs, s_frees;
};

static struct snap snap_now(void)
{
    struct memstats m;
    struct stackstats s;
    read_memstats(&m);
    read_stackstats(&s);
    return (struct snap){m.Mallocs, m.Frees, m.HeapAlloc, m.HeapObjects, m.LargeObjects,
                         m.StackInuse, s.inuse_bytes, s.allocs, s.frees};
}

/* Statistics agree with the model. */
static void check_stats(const char *when)
{
    struct memstats m;
    struct stackstats s;
    read_memstats(&m);
    read_stackstats(&s);
    uint64_t want_objs = live_objs + tlist_n;
    uint64_t want_alloc = live_bytes + tlist_n * TINY_SIZE;
    if (m.HeapObjects != want_objs || m.HeapAlloc != want_alloc || s.inuse_bytes != stack_bytes)
        fail("%s: stats HeapObjects %lu HeapAlloc %lu stack inuse %lu, model %lu %lu %lu", when,
             UL(m.HeapObjects), UL(m.HeapAlloc), UL(s.inuse_bytes), UL(want_objs),
             UL(want_alloc), UL(stack_bytes));
}

static void check_all(const char *when)
{
    for (int i = 0; i < MAX_OBJS; i++)
        if (objs[i].kind)
            check_obj(&objs[i], when);
    for (int i = 0; i < MAX_STACKS; i++)
        if (stks[i].n)
            check_stack(&stks[i], when);
    for (int i = 0; i < ntiny; i++)
        check_tiny(&tinys[i], when);
    check_stats(when);
}

static void verify(const char *when)
{
    char err[1024];
    fuzz_counts.verifies++;
    if (!heap_verify(err, sizeof err))
        fail("heap_verify (%s): %s", when, err);
}

/* ------------------------------------------------------------ good calls */

static void set_cpu(uint32_t c)
{
    cur_cpu = c % NCPU;
    host_set_cpu(cur_cpu);
}

static void freed_push(uintptr_t p) { freed[freed_w++ % MAX_FREED] = p; }

static void obj_free(int i, const char *why)
{
    struct obj *o = &objs[i];
    check_obj(o, why);
    TR("kfree", o->req, (uint64_t)i, o->p);
    kfree((void *)o->p);
    fuzz_counts.ops++;
    no_msg("kfree");
    freed_push(o->p);
    live_bytes -= o->ks;
    live_objs--;
    o->kind = K_NONE;
    o->p = 0; /* objs[] is a root: no stale pointers */
}

/* Make room in slot i; false when a request of ks bytes does not fit the
 * budget (skipped). */
static bool obj_room(int i, uint64_t ks)
{
    if (objs[i].kind)
        obj_free(i, "free before reuse");
    if (live_bytes + stack_bytes + ks > LIVE_BUDGET) {
        fuzz_counts.skipped++;
        return false;
    }
    return true;
}

/* ksize of a fresh object is its class size (pages when large), and it
 * is aligned to the class's natural alignment; returns ksize. */
static uint64_t check_geometry(uintptr_t p, uint64_t req, const char *call)
{
    if (!p)
        fail("%s(%lu) returned NULL", call, UL(req));
    no_msg(call);
    uint64_t ks = ksize((void *)p), want = class_ksize(req);
    fuzz_counts.ops++;
    no_msg("ksize");
    if (ks != want)
        fail("%s(%lu) = 0x%lx: ksize %lu, want %lu", call, UL(req), UL(p), UL(ks), UL(want));
    uint64_t align = ks > MAX_SMALL_SIZE ? PAGE_SIZE : ks & -ks;
    if (align > PAGE_SIZE)
        align = PAGE_SIZE;
    if (p & (align - 1))
        fail("%s(%lu) = 0x%lx: not aligned to %lu", call, UL(req), UL(p), UL(align));
    return ks;
}

/* Record a fresh object (geometry, zeroing, overlap, bitmap), then fill
 * it with a new pattern. */
static void obj_set(int i, void *v, uint64_t req, uint8_t kind, const gotype *typ, bool zero,
                    const char *call)
{
    uintptr_t p = (uintptr_t)v;
    uint64_t ks = check_geometry(p, req, call);
    if (zero && zero_bad(p, req) >= 0)
        fail("%s(%lu) = 0x%lx: not zeroed at offset %ld", call, UL(req), UL(p),
             (long)zero_bad(p, req));
    check_fresh(p, ks, call);
    struct obj *o = &objs[i];
    *o = (struct obj){p, req, ks, tag_next(), req, typ && typ->ptrdata ? typ : 0, kind,
                      (uint8_t)cur_cpu};
    check_bits(o, call);
    pat_fill(p, 0, req, o->tag);
    live_bytes += ks;
    live_objs++;
}

/* krealloc grew slot i's object past its ksize: q is a new object holding
 * the old contents; the old one is freed. */
static void realloc_moved(int i, uintptr_t q, uint64_t n)
{
    struct obj *o = &objs[i];
    uintptr_t old = o->p;
    if (q == old)
        fail("krealloc(0x%lx, %lu): past ksize %lu but the same object", UL(old), UL(n),
             UL(o->ks));
    uint64_t ks = check_geometry(q, n, "krealloc");
    int64_t bad = pat_bad(q, o->req, o->tag);
    if (bad >= 0)
        fail("krealloc(0x%lx, %lu) = 0x%lx: old contents not kept (offset %ld of %lu)", UL(old),
             UL(n), UL(q), (long)bad, UL(o->req));
    check_fresh(q, ks, "krealloc");
    freed_push(old);
    live_bytes += ks - o->ks;
    pat_fill(q, o->req, n, o->tag);
    *o = (struct obj){q, n, ks, o->tag, n, 0, K_KMALLOC, (uint8_t)cur_cpu};
    check_bits(o, "krealloc");
}

static void op_kmalloc(struct rd *r)
{
    int i = g8(r) % MAX_OBJS;
    uint64_t n = dec_size(r);
    if (!obj_room(i, class_ksize(n)))
        return;
    TR("kmalloc", n, (uint64_t)i, 0);
    obj_set(i, kmalloc(n), n, K_KMALLOC, 0, false, "kmalloc");
}

static void op_kcalloc(struct rd *r)
{
    int i = g8(r) % MAX_OBJS;
    uint64_t sz = dec_size(r), n = 1 + g8(r) % 4;
    if (g8(r) % 8 == 0)
        n = 0, sz = g16(r); /* kcalloc(0, x): a minimal object */
    uint64_t req = n * sz;
    if (!obj_room(i, class_ksize(req)))
        return;
    TR("kcalloc", n, sz, 0);
    obj_set(i, kcalloc(n, sz), req, K_KCALLOC, 0, true, "kcalloc");
}

/* mallocgc(0) and newarray(t, 0): the shared zero-size object. */
static void check_zerobase(void *v, const char *call)
{
    no_msg(call);
    if (!zerobase_p)
        zerobase_p = (uintptr_t)v;
    if ((uintptr_t)v != zerobase_p || !v)
        fail("%s(0) = %p, want the zero-size object 0x%lx", call, v, UL(zerobase_p));
    if (v && (uintptr_t)v - win_base < win_size)
        fail("%s(0) = %p is inside the heap window", call, v);
}

static void op_tiny(uint64_t size, const gotype *t, bool nz);

/* mallocgc(size, typ, nz) into slot i (tiny requests go to op_tiny). */
static void gc_alloc(int i, uint64_t size, const gotype *t, bool nz, const char *call)
{
    if (size == 0) {
        TR(call, 0, 0, 0);
        check_zerobase(mallocgc(0, t, nz), call);
        fuzz_counts.ops++;
        return;
    }
    if (size < TINY_SIZE && (!t || !t->ptrdata)) {
        op_tiny(size, t, nz);
        return;
    }
    if (!obj_room(i, class_ksize(size)))
        return;
    TR(call, size, (uint64_t)i, 0);
    obj_set(i, mallocgc(size, t, nz), size, K_GC, t, nz, call);
}

static void op_mallocgc(struct rd *r)
{
    int i = g8(r) % MAX_OBJS;
    uint8_t f = g8(r);
    uint64_t size = dec_size(r);
    gc_alloc(i, size, 0, f & 1, "mallocgc");
}

static void op_mallocgc_typed(struct rd *r)
{
    int i = g8(r) % MAX_OBJS;
    uint8_t f = g8(r);
    const gotype *t = &types[g8(r) % NTYPES];
    uint64_t k = f & 0x80 ? 1 + g16(r) % (65536 / t->size) : 1 + (uint64_t)g8(r) % 8; /* <= 64 KiB */
    gc_alloc(i, t->size * k, t, f & 1, "mallocgc_t");
}

static void op_newarray(struct rd *r)
{
    int i = g8(r) % MAX_OBJS;
    uint8_t f = g8(r);
    const gotype *t = &types[g8(r) % NTYPES];
    uint64_t n = f & 0x80 ? g16(r) % (65536 / t->size + 1) : g8(r) % 9;
    if (f & 1) {
        gc_alloc(i, t->size, t, true, "newobject");
        return;
    }
    if (n == 0) {
        TR("newarray", 0, 0, 0);
        check_zerobase(newarray(t, 0), "newarray");
        fuzz_counts.ops++;
        return;
    }
    if (t->size * n < TINY_SIZE && !t->ptrdata) {
        op_tiny(t->size * n, t, true);
        return;
    }
    if (!obj_room(i, class_ksize(t->size * n)))
        return;
    TR("newarray", n, t->size, 0);
    obj_set(i, newarray(t, n), t->size * n, K_ARRAY, t, true, "newarray");
}

/* A tiny object: zero, aligned to its size's power of two, inside a known
 * block after the bytes already used, or a fresh block that overlaps
 * nothing. */
static void op_tiny(uint64_t size, const gotype *t, bool nz)
{
    if (ntiny == MAX_TINY || tlist_n >= TINY_BLOCK_CAP) {
        fuzz_counts.skipped++;
        return;
    }
    TR("mallocgc_tiny", size, nz, 0);
    uintptr_t v = (uintptr_t)mallocgc(size, t, nz);
    fuzz_counts.ops++;
    fuzz_counts.tiny++;
    no_msg("mallocgc (tiny)");
    uint64_t align = size % 8 == 0 ? 8 : size % 4 == 0 ? 4 : size % 2 == 0 ? 2 : 1;
    if (!v || (v & (align - 1)))
        fail("tiny mallocgc(%lu) = 0x%lx: NULL or not aligned to %lu", UL(size), UL(v), UL(align));
    uintptr_t b = v & ~15ull;
    uint64_t *e = tset_slot(b);
    unsigned off = (unsigned)(v - b), used = *e ? (unsigned)(*e & 15) + 1 : 0;
    if (*e && off < used)
        fail("tiny mallocgc(%lu) = 0x%lx: overlaps the %u bytes used in block 0x%lx", UL(size),
             UL(v), used, UL(b));
    if (off + size > TINY_SIZE)
        fail("tiny mallocgc(%lu) = 0x%lx: crosses its 16-byte block", UL(size), UL(v));
    if (!*e) {
        if (off)
            fail("tiny mallocgc(%lu) = 0x%lx: inside an unknown block", UL(size), UL(v));
        check_fresh(b, TINY_SIZE, "tiny block");
        if (zero_bad(b, TINY_SIZE) >= 0)
            fail("tiny mallocgc(%lu): fresh block 0x%lx is not zero", UL(size), UL(b));
        fuzz_counts.tiny_blocks++;
        tlist[tlist_n++] = b;
    }
    if (zero_bad(v, size) >= 0)
        fail("tiny mallocgc(%lu) = 0x%lx: not zero", UL(size), UL(v));
    *e = b | (off + size - 1);
    tinys[ntiny] = (struct tobj){v, (uint32_t)size, tag_next()};
    pat_fill(v, 0, size, tinys[ntiny].tag);
    ntiny++;
}

static void op_kfree(struct rd *r)
{
    int i = g8(r) % MAX_OBJS;
    if (objs[i].kind) {
        obj_free(i, "kfree");
        return;
    }
    TR("kfree", 0, 0, 0);
    kfree(0); /* NULL: nothing, no message */
    fuzz_counts.ops++;
    no_msg("kfree(NULL)");
}

/* kfree on another CPU than the allocating one. */
static void op_remote_free(struct rd *r)
{
    int i = g8(r) % MAX_OBJS;
    uint32_t d = 1 + g8(r) % (NCPU - 1), was = cur_cpu;
    if (!objs[i].kind)
        return;
    set_cpu(objs[i].cpu + d);
    obj_free(i, "remote kfree");
    set_cpu(was);
}

static void op_ksize(struct rd *r)
{
    int i = g8(r) % MAX_OBJS;
    struct obj *o = &objs[i];
    if (!o->kind)
        return;
    TR("ksize", o->req, (uint64_t)i, o->p);
    uint64_t ks = ksize((void *)o->p);
    fuzz_counts.ops++;
    no_msg("ksize");
    if (ks != o->ks)
        fail("ksize(0x%lx) = %lu, was %lu", UL(o->p), UL(ks), UL(o->ks));
}

/* krealloc to n: NULL → kmalloc; 0 → free; fits → same object; else a new
 * one with the old contents. */
static void op_krealloc(struct rd *r)
{
    int i = g8(r) % MAX_OBJS;
    uint64_t n = dec_size(r);
    struct obj *o = &objs[i];
    if (g8(r) & 1 && o->kind)
        n = o->ks + (n & 1 ? 0 : 1); /* exactly fits / one byte more */
    if (!o->kind) {
        if (!obj_room(i, class_ksize(n)))
            return;
        TR("krealloc", n, (uint64_t)i, 0);
        obj_set(i, krealloc(0, n), n, K_KMALLOC, 0, false, "krealloc(NULL)");
        return;
    }
    check_obj(o, "before krealloc");
    if (n > o->ks && live_bytes + stack_bytes + class_ksize(n) > LIVE_BUDGET) {
        fuzz_counts.skipped++;
        return;
    }
    TR("krealloc", n, (uint64_t)i, o->p);
    uintptr_t q = (uintptr_t)krealloc((void *)o->p, n);
    fuzz_counts.ops++;
    no_msg("krealloc");
    if (n == 0) {
        if (q)
            fail("krealloc(0x%lx, 0) = 0x%lx, want NULL", UL(o->p), UL(q));
        freed_push(o->p);
        live_bytes -= o->ks;
        live_objs--;
        o->kind = K_NONE;
        o->p = 0;
        return;
    }
    if (n <= o->ks) {
        if (q != o->p)
            fail("krealloc(0x%lx, %lu) = 0x%lx: fits in ksize %lu, want the same object",
                 UL(o->p), UL(n), UL(q), UL(o->ks));
        if (n > o->req)
            pat_fill(o->p, o->req, n, o->tag);
        o->req = n;
        return;
    }
    realloc_moved(i, q, n);
}

static void op_tiny_burst(struct rd *r)
{
    int n = 1 + g8(r) % 8;
    for (int k = 0; k < n; k++) {
        uint8_t v = g8(r);
        op_tiny(1 + v % (TINY_SIZE - 1), v & 0x80 ? &types[8 + v % 4] : 0, v & 0x40);
    }
}

/* A new tag for a live object's pattern (its bytes change). */
static void op_rewrite(struct rd *r)
{
    struct obj *o = &objs[g8(r) % MAX_OBJS];
    if (!o->kind)
        return;
    check_obj(o, "before rewrite");
    o->tag = tag_next();
    pat_fill(o->p, 0, o->req, o->tag);
}

/* ------------------------------------------------------------ stacks */

static void stack_free(int i, const char *why)
{
    struct stk *s = &stks[i];
    check_stack(s, why);
    TR("stackfree", s->n, (uint64_t)i, s->p);
    stackfree((void *)s->p, s->n);
    fuzz_counts.ops++;
    no_msg("stackfree");
    freed_push(s->p);
    stack_bytes -= s->n;
    s->n = 0;
}

static void op_stackalloc(struct rd *r)
{
    int i = g8(r) % MAX_STACKS;
    uint8_t k = g8(r);
    uint64_t n = (uint64_t)STACK_MIN_BYTES << ((k & 0xE0) == 0xE0 ? k % 10 : k % 5);
    if (stks[i].n)
        stack_free(i, "stackfree before reuse");
    if (live_bytes + stack_bytes + n > LIVE_BUDGET) {
        fuzz_counts.skipped++;
        return;
    }
    TR("stackalloc", n, (uint64_t)i, 0);
    uintptr_t p = (uintptr_t)stackalloc(n);
    fuzz_counts.ops++;
    no_msg("stackalloc");
    uint64_t align = n < PAGE_SIZE ? n : PAGE_SIZE;
    if (!p || (p & (align - 1)))
        fail("stackalloc(%lu) = 0x%lx: NULL or not aligned to %lu", UL(n), UL(p), UL(align));
    check_fresh(p, n, "stackalloc");
    stks[i] = (struct stk){p, n, tag_next()};
    pat_fill(p, 0, n, stks[i].tag);
    stack_bytes += n;
}

static void op_stackfree(struct rd *r)
{
    int i = g8(r) % MAX_STACKS;
    if (stks[i].n)
        stack_free(i, "stackfree");
}

/* ------------------------------------------------------------ CPUs, caches */

static void op_cpu(struct rd *r) { set_cpu(g8(r)); }

static void op_flush(struct rd *r)
{
    uint8_t k = g8(r);
    TR("flush", k % 4, 0, 0);
    switch (k % 4) {
    case 0: malloc_flush_mcache(); break;
    case 1: malloc_flush_all_mcaches(); break;
    case 2: /* all free pages now and then: each costs a madvise and refaults */
        heap_scavenge((k & 0xE0) == 0xE0 ? ~0ull >> 1 : (uint64_t)(g8(r) % 64 + 1) << PAGE_SHIFT);
        break;
    default: stack_cache_flush_all(); break;
    }
    fuzz_counts.ops++;
    no_msg("flush");
}

/* heap_verify and the statistics; sometimes every object's contents too
 * (they are also checked every CHECK_EVERY steps). */
static void op_check(struct rd *r)
{
    uint8_t f = g8(r);
    if ((f & 6) == 6)
        check_all("check op");
    else
        check_stats("check op");
    if (f & 1)
        verify("check op");
}

/* ------------------------------------------------------------ bad calls */

enum { C_FOREIGN, C_START, C_INTERIOR, C_TINY_START, C_TINY_INTERIOR, C_STACK, C_UNKNOWN };
struct cls {
    int what;
    const struct obj *o;
    const struct stk *s;
};

/* What the model knows about address x. */
static struct cls classify(uintptr_t x)
{
    if (x - win_base >= win_size)
        return (struct cls){C_FOREIGN, 0, 0};
    for (int i = 0; i < MAX_OBJS; i++)
        if (objs[i].kind && x - objs[i].p < objs[i].ks)
            return (struct cls){x == objs[i].p ? C_START : C_INTERIOR, &objs[i], 0};
    for (int i = 0; i < MAX_STACKS; i++)
        if (stks[i].n && x - stks[i].p < stks[i].n)
            return (struct cls){C_STACK, 0, &stks[i]};
    if (tiny_block_used(x))
        return (struct cls){(x & 15) ? C_TINY_INTERIOR : C_TINY_START, 0, 0};
    return (struct cls){C_UNKNOWN, 0, 0};
}

/* A pointer that is (usually) not an object start.  *past: the live
 * object whose span's tail x was aimed at (past the last object). */
static uintptr_t bad_pointer(struct rd *r, uintptr_t local, const struct obj **past)
{
    uint8_t kind = g8(r);
    uint16_t off = g16(r);
    uint8_t i = g8(r);
    const struct obj *o = &objs[i % MAX_OBJS];
    const struct stk *s = &stks[i % MAX_STACKS];
    *past = 0;
    switch (kind % 13) {
    case 0: return local + off % 64;
    case 1: return (uintptr_t)g_global + off % 64;
    case 2: return (uintptr_t)libc_buf + off % 64;
    case 3: return o->kind ? o->p + 1 + off % (o->ks - 1) : win_base + off;
    case 4:
        if (freed[i % MAX_FREED])
            return freed[i % MAX_FREED] + (off & 1 ? 0 : off % 64);
        /* fall through */
    case 5: return win_base + ((uint64_t)g32(r) << (off % 5)) % (256u << 20);
    case 6:
        if (ntiny) {
            uintptr_t t = tinys[i % ntiny].p;
            return off & 1 ? t : (t & ~15ull) + off % 16;
        }
        return 0x10 + ((uintptr_t)off << 4); /* not NULL: kfree(NULL) is fine */
    case 7: return s->n ? s->p + (off & 1 ? 0 : off % s->n) : win_base + ((uint64_t)off << 13);
    case 8:
        if (!o->kind)
            return win_base + ((uint64_t)off << 3);
        return off & 1 ? o->p + o->ks + off % 128 : o->p - 1 - off % 128;
    case 9:
        if (o->kind && o->ks <= MAX_SMALL_SIZE) {
            const mspan *sp = span_of(o->p);
            uint64_t used = (uint64_t)sp->nelems * sp->elemsize;
            uint64_t tail = sp->npages * PAGE_SIZE - used;
            if (tail) {
                *past = o;
                return sp->startAddr + used + off % tail;
            }
        }
        return o->kind ? o->p : win_base;
    case 10: return zerobase_p ? zerobase_p : 0x1000;
    case 11: return ((uintptr_t)off + 1) << 12 | (i & 15);
    default: return o->kind ? o->p : s->n ? s->p : local; /* good starts: bad for stackfree */
    }
}

/* The span address in a check_object message for object obj of class
 * cls, validated against the class geometry. */
static uintptr_t msg_span(const char *got, uintptr_t obj, unsigned cls)
{
    if (class_to_allocnpages[cls] == 1)
        return obj & ~(uintptr_t)(PAGE_SIZE - 1);
    const char *m = strstr(got, "span 0x");
    uintptr_t sp = m ? (uintptr_t)strtoull(m + 7, 0, 16) : 0;
    uint64_t sz = class_to_size[cls];
    if (!sp || (sp & (PAGE_SIZE - 1)) || obj < sp || obj + sz > sp + class_span_bytes(cls) ||
        (obj - sp) % sz)
        fail("message \"%s\": span 0x%lx cannot hold object 0x%lx of class %u", got, UL(sp),
             UL(obj), cls);
    return sp;
}

/* The one message of a bad kfree/ksize/krealloc(x) when x is a pointer
 * the model cannot place: one of check_object's forms naming x. */
static void expect_any(const char *op, uintptr_t x)
{
    const char *got = one_msg(op, x);
    static const char *const exact[] = {"%s: 0x%lx is not in the heap",
                                        "%s: 0x%lx is in free heap memory (no span)"};
    /* a free slot: a double free to kfree, "not an allocated object" to a
     * size query or realloc */
    static const char *const prefix[] = {
        "%s: interior pointer 0x%lx (object ", "%s: 0x%lx is past the last object (span ",
        "%s: 0x%lx is in a manual span ", "%s: double free of 0x%lx (span ",
        "%s: 0x%lx is not an allocated object: "};
    int first_free_form = strcmp(op, "kfree") ? 4 : 3;
    char want[160];
    for (int k = 0; k < 2; k++) {
        snprintf(want, sizeof want, exact[k], op, UL(x));
        if (strcmp(got, want) == 0)
            return;
    }
    for (int k = 0; k < 5; k++) {
        if (k >= 3 && k != first_free_form)
            continue;
        snprintf(want, sizeof want, prefix[k], op, UL(x));
        if (strncmp(got, want, strlen(want)) == 0)
            return;
    }
    fail("%s(0x%lx): message \"%s\" is none of the bad-pointer forms for it", op, UL(x), got);
}

/* The exact message for x in a live object / tiny block / stack. */
static void expect_known(const char *op, uintptr_t x, const struct cls *c,
                         const struct obj *past)
{
    char want[300];
    const char *got = hook_n == 1 ? hook_msg[0] : "";
    uintptr_t b = x & ~15ull;
    switch (c->what) {
    case C_FOREIGN: snprintf(want, sizeof want, "%s: 0x%lx is not in the heap", op, UL(x)); break;
    case C_INTERIOR: {
        const struct obj *o = c->o;
        unsigned cls = o->ks > MAX_SMALL_SIZE ? 0 : size_to_class(o->ks);
        uintptr_t sp = cls ? msg_span(got, o->p, cls) : o->p;
        snprintf(want, sizeof want, "%s: interior pointer 0x%lx (object 0x%lx in span 0x%lx class %u, %lu B)",
                 op, UL(x), UL(o->p), UL(sp), cls, UL(o->ks));
        break;
    }
    case C_TINY_START:
        snprintf(want, sizeof want, "%s: 0x%lx is a tiny block (span 0x%lx class %u, 16 B)", op,
                 UL(x), UL(x & ~(uintptr_t)(PAGE_SIZE - 1)), TINY_SIZE_CLASS);
        strcat(want, !strcmp(op, "ksize") ? ": tiny objects have no size of their own"
                     : !strcmp(op, "krealloc") ? ": tiny objects cannot be reallocated"
                                               : ": tiny objects are not freed");
        break;
    case C_TINY_INTERIOR:
        snprintf(want, sizeof want, "%s: interior pointer 0x%lx (object 0x%lx in span 0x%lx class %u, 16 B)",
                 op, UL(x), UL(b), UL(b & ~(uintptr_t)(PAGE_SIZE - 1)), TINY_SIZE_CLASS);
        break;
    case C_STACK: {
        const struct stk *s = c->s;
        bool large = s->n >= STACK_CACHE_SIZE;
        const char *m = strstr(got, "span 0x");
        uintptr_t sp = large ? s->p : m ? (uintptr_t)strtoull(m + 7, 0, 16) : 0;
        if (!large && ((sp & (PAGE_SIZE - 1)) || s->p < sp || s->p + s->n > sp + STACK_CACHE_SIZE))
            fail("%s(0x%lx): message \"%s\": span 0x%lx cannot hold stack 0x%lx", op, UL(x), got,
                 UL(sp), UL(s->p));
        snprintf(want, sizeof want, "%s: 0x%lx is in a manual span 0x%lx (%lu pages), not a heap object",
                 op, UL(x), UL(sp), UL(large ? s->n / PAGE_SIZE : STACK_CACHE_SIZE / PAGE_SIZE));
        break;
    }
    default: {
        const mspan *sp = span_of(past->p);
        snprintf(want, sizeof want, "%s: 0x%lx is past the last object (span 0x%lx class %u, %lu B)",
                 op, UL(x), UL(sp->startAddr), (unsigned)size_to_class(past->ks), UL(past->ks));
    }
    }
    expect_exact(op, x, want);
}

/* Statistics are what they were before a bad call. */
static void unchanged(const struct snap *b, const char *op, uintptr_t x)
{
    struct snap a = snap_now();
    if (memcmp(&a, b, sizeof a) != 0)
        fail("%s(0x%lx) changed the statistics: Mallocs %lu->%lu Frees %lu->%lu HeapAlloc "
             "%lu->%lu large %lu->%lu StackInuse %lu->%lu stack inuse %lu->%lu frees %lu->%lu",
             op, UL(x), UL(b->mallocs), UL(a.mallocs), UL(b->frees), UL(a.frees),
             UL(b->heapalloc), UL(a.heapalloc), UL(b->large), UL(a.large), UL(b->stackinuse),
             UL(a.stackinuse), UL(b->s_inuse), UL(a.s_inuse), UL(b->s_frees), UL(a.s_frees));
}

/* What stackfree must say about (x, n), which the model knows is not a
 * live stack with that size: stack.c's checks in order, read from the
 * span (kind, stack size, then the in-use bit must already be clear). */
static void stackfree_message(uintptr_t x, uint64_t n, char *want, size_t len)
{
    const mspan *s = span_of(x);
    if (!s || s->state != mSpanManual || s->manualKind == MANUAL_NONE || x < s->startAddr ||
        x >= s->startAddr + s->npages * PAGE_SIZE || (n & (n - 1)) || n < STACK_MIN_BYTES ||
        (x - s->startAddr) % s->elemsize)
        snprintf(want, len, "stackfree: 0x%lx (%lu bytes) is not a stack from stackalloc", UL(x),
                 UL(n));
    else if (n != s->elemsize)
        snprintf(want, len, "stackfree: 0x%lx (%lu bytes) is a %lu-byte stack", UL(x), UL(n),
                 UL(s->elemsize));
    else
        snprintf(want, len, "stackfree: double free of 0x%lx (%lu bytes)", UL(x), UL(n));
}

/* stackfree(x, n) where (x, n) is not a live stack with its size. */
static void bad_stackfree(uintptr_t x, uint64_t n)
{
    for (int i = 0; i < MAX_STACKS; i++)
        if (stks[i].n == n && stks[i].p == x)
            return; /* a real stack: not a bad call */
    struct snap before = snap_now();
    struct cls c = classify(x);
    hook_n = 0;
    TR("stackfree(bad)", n, (uint64_t)c.what, x);
    stackfree((void *)x, n);
    fuzz_counts.ops++;
    fuzz_counts.bad++;
    char want[160];
    stackfree_message(x, n, want, sizeof want);
    expect_exact("stackfree", x, want);
    unchanged(&before, "stackfree", x);
    if (c.o)
        check_obj(c.o, "after bad stackfree");
    if (c.s)
        check_stack(c.s, "after bad stackfree");
}

static uint64_t bad_stack_size(uint8_t sel)
{
    uint64_t n = 1024ull << (sel % 12);
    return sel & 0x80 ? n + 1 + (sel & 0x3f) : n;
}

static void op_bad(struct rd *r)
{
    static const char *const names[] = {"kfree", "ksize", "krealloc"};
    uintptr_t local = (uintptr_t)__builtin_frame_address(0);
    uint8_t which = g8(r) % 4, sel = g8(r);
    const struct obj *past;
    uintptr_t x = bad_pointer(r, local, &past);
    if (which == 3) {
        bad_stackfree(x, bad_stack_size(sel));
        return;
    }
    struct cls c = classify(x);
    if (c.what != C_UNKNOWN)
        past = 0; /* the aim landed on something the model knows */
    if (c.what == C_START)
        return; /* a live object's start: not a bad call */
    const char *op = names[which];
    struct snap before = snap_now();
    hook_n = 0;
    TR(op, which, sel, x);
    uint64_t ret = 0;
    if (which == 0)
        kfree((void *)x);
    else if (which == 1)
        ret = ksize((void *)x);
    else
        ret = (uintptr_t)krealloc((void *)x, 1 + sel);
    fuzz_counts.ops++;
    fuzz_counts.bad++;
    if (ret)
        fail("%s(0x%lx) of a bad pointer returned 0x%lx, want 0", op, UL(x), UL(ret));
    if (c.what == C_UNKNOWN && !past)
        expect_any(op, x);
    else
        expect_known(op, x, &c, past);
    unchanged(&before, op, x);
    if (c.o)
        check_obj(c.o, "after bad call");
    if (c.s)
        check_stack(c.s, "after bad call");
}

/* Requests that can never be satisfied, and the size errors. */
static void op_size_errors(struct rd *r)
{
    uint8_t k = g8(r), a = g8(r), b = g8(r);
    struct snap before = snap_now();
    char want[200];
    uint64_t huge = 1ull << (33 + a % 28), n, m;
    const gotype *t = &types[a % NTYPES];
    struct obj *o = &objs[b % MAX_OBJS];
    void *v;
    hook_n = 0;
    switch (k % 5) {
    case 0:
        TR("kmalloc", huge, 0, 0);
        v = kmalloc(huge);
        break;
    case 1:
        n = (1ull << (32 + a % 32)) | b;
        m = 1ull << (32 + b % 32);
        TR("kcalloc", n, m, 0);
        v = kcalloc(n, m);
        snprintf(want, sizeof want, "kcalloc: size overflow (%lu x %lu)", UL(n), UL(m));
        break;
    case 2:
        n = a & 1 ? ~0ull - b : win_size / t->size + 1 + b;
        TR("newarray", n, t->size, 0);
        v = newarray(t, n);
        snprintf(want, sizeof want, "newarray: size overflow (%lu x %lu)", UL(n), UL(t->size));
        break;
    case 3:
        if (!o->kind)
            return;
        TR("krealloc", huge, 0, o->p);
        v = krealloc((void *)o->p, huge);
        break;
    default:
        n = b & 1 ? 1024ull << (a % 2) : 2048ull * (2 + a % 14) + (b >> 1);
        if (n >= STACK_MIN_BYTES && !(n & (n - 1)))
            n++;
        TR("stackalloc", n, 0, 0);
        v = stackalloc(n);
        if (v || hook_n > 1 || (hook_n && strncmp(hook_msg[0], "stackalloc: ", 12)))
            fail("stackalloc(%lu) = %p with %d message(s) \"%s\", want NULL", UL(n), v, hook_n,
                 hook_n ? hook_msg[0] : "");
        hook_n = 0;
        break;
    }
    fuzz_counts.ops++;
    fuzz_counts.bad++;
    if (v)
        fail("an impossible request returned %p", v);
    if (k % 5 == 0 || k % 5 == 3) {
        const char *got = one_msg("kmalloc", huge);
        snprintf(want, sizeof want, "kmalloc: cannot allocate %lu bytes: larger than memory (",
                 UL(huge));
        if (strncmp(got, want, strlen(want)) != 0)
            fail("message \"%s\", want \"%s...\"", got, want);
    } else if (k % 5 != 4) {
        expect_exact("size error", 0, want);
    }
    unchanged(&before, "size error", 0);
    if (o->kind)
        check_obj(o, "after an impossible krealloc");
}

/* ------------------------------------------------------------ the collector */

static int gcs_this_input;

/* After a cycle: drop the tiny blocks it collected from the set and the
 * list (rebuilt: open addressing cannot delete in place); every block of
 * this input's tinys[] must have survived.  Returns the survivors. */
static uint64_t tiny_after_gc(void)
{
    for (uint64_t i = 0; i < tlist_n; i++)
        tslot[i] = tset_slot(tlist[i]);
    uint64_t keep = 0;
    for (uint64_t i = 0; i < tlist_n; i++) {
        uint64_t e = *tslot[i];
        *tslot[i] = 0;
        tslot[i] = (uint64_t *)(uintptr_t)e; /* the entry, until reinserted */
    }
    for (uint64_t i = 0; i < tlist_n; i++) {
        uint64_t e = (uint64_t)(uintptr_t)tslot[i];
        if (gc_object_state((void *)tlist[i]) == GC_OBJ_LIVE) {
            *tset_slot(tlist[i]) = e;
            tlist[keep++] = tlist[i];
        }
    }
    tlist_n = keep;
    for (int i = 0; i < ntiny; i++)
        if (!tiny_block_used(tinys[i].p))
            fail("gc: tiny object 0x%lx (rooted in tinys[%d]) was collected", UL(tinys[i].p), i);
    return keep;
}

/* runtime.GC(): objs[] and tinys[] are roots, so every tracked object stays
 * allocated with its contents; with bit 0 set the input first forgets its
 * tiny objects, and then only the CPUs' current tiny blocks (roots of
 * their own) may survive. */
static void op_gc(struct rd *r)
{
    uint8_t f = g8(r);
    if (gcs_this_input >= GC_PER_INPUT) {
        fuzz_counts.skipped++;
        return;
    }
    gcs_this_input++;
    if (f & 1) {
        memset(tinys, 0, sizeof tinys);
        ntiny = 0;
    }
    TR("gc", f & 1, 0, 0);
    fuzz_counts.ops++;
    fuzz_counts.gcs++;
    if (!gc_collect())
        fail("gc_collect() refused to run");
    no_msg("gc_collect");
    for (int i = 0; i < MAX_OBJS; i++)
        if (objs[i].kind && objs[i].req && gc_object_state((void *)objs[i].p) != GC_OBJ_LIVE)
            fail("gc: %s object 0x%lx (objs[%d]) is no longer allocated", kind_name[objs[i].kind],
                 UL(objs[i].p), i);
    uint64_t left = tiny_after_gc();
    if ((f & 1) && left > NCPU)
        fail("gc: %lu tiny blocks survived with nothing pointing at them (at most %d: the CPUs' "
             "current blocks)", UL(left), NCPU);
    check_all("after gc");
}

/* ------------------------------------------------------------ driver */

typedef void (*opfn)(struct rd *);
static const opfn optab[32] = {
    op_kmalloc,    op_kmalloc,     op_kmalloc,        op_kmalloc,        op_gc,
    op_kcalloc,    op_krealloc,    op_krealloc,       op_kfree,          op_kfree,
    op_kfree,      op_remote_free, op_ksize,          op_mallocgc,       op_mallocgc,
    op_mallocgc_typed, op_mallocgc_typed, op_newarray, op_tiny_burst,    op_stackalloc,
    op_stackalloc, op_stackfree,   op_cpu,            op_flush,          op_bad,
    op_bad,        op_bad,         op_bad,            op_bad,            op_size_errors,
    op_check,      op_rewrite,
};

static uint64_t t_start, t_last; /* plat_nanotime */

static void summary_at_exit(void)
{
    char pre[64];
    snprintf(pre, sizeof pre, "fuzz_alloc: %lu s: ", UL((plat_nanotime() - t_start) / 1000000000));
    fuzz_print_summary(stderr, pre);
}

/* The summary line every PROGRESS_S seconds (checked every 256 inputs). */
static void progress(void)
{
    uint64_t now = plat_nanotime();
    if (now - t_last >= PROGRESS_S * 1000000000ull) {
        t_last = now;
        summary_at_exit();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static bool done;
    (void)argc;
    (void)argv;
    if (done)
        return 0;
    done = true;
    host_set_ncpu(NCPU);
    host_set_quiet(1);
    malloc_init();
    alloc_set_error_hook(hook);
    win_base = mheap_.window_base;
    win_size = mheap_.window_size;
    tset = calloc(1ull << TSET_BITS, sizeof *tset);
    libc_buf = malloc(64);
    if (!tset || !libc_buf)
        abort();
    tlist = calloc(TINY_BLOCK_CAP, sizeof *tlist);
    tslot = calloc(TINY_BLOCK_CAP, sizeof *tslot);
    /* Cycles only when the input asks (op_gc): the model's tables are the
     * roots, and the statistics stay exact between cycles. */
    gc_set_percent(-1);
    if (!tlist || !tslot || !gc_add_root(objs, sizeof objs) || !gc_add_root(tinys, sizeof tinys))
        abort();
    t_start = t_last = plat_nanotime();
    atexit(summary_at_exit);
    return 0;
}

/* Free everything the input left, check, verify. */
static void finish_input(void)
{
    step++;
    for (int i = 0; i < MAX_OBJS; i++)
        if (objs[i].kind) {
            set_cpu((uint32_t)i);
            obj_free(i, "end of input");
        }
    for (int i = 0; i < MAX_STACKS; i++)
        if (stks[i].n)
            stack_free(i, "end of input");
    set_cpu(0);
    check_all("end of input");
    verify("end of input");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    LLVMFuzzerInitialize(0, 0);
    fuzz_counts.inputs++;
    struct rd r = {data, size, 0};
    step = 0;
    ntiny = 0;
    gcs_this_input = 0;
    hook_n = 0;
    memset(freed, 0, sizeof freed);
    set_cpu(0);
    while (r.i < r.n && step < MAX_STEPS) {
        step++;
        optab[g8(&r) & 31](&r);
        if (step % CHECK_EVERY == 0)
            check_all("interval");
        if (step % VERIFY_EVERY == 0)
            verify("interval");
    }
    finish_input();
    if (fuzz_counts.inputs % 256 == 0)
        progress();
    return 0;
}
