/*
 * playground.c — the heap by hand, on the serial shell.
 *
 *   alloc SIZE [COUNT] [scan|noscan]   COUNT objects into a numbered root
 *   drop N      unroot entry N: its objects become garbage
 *   free N      kfree entry N's objects now (explicit free)
 *   obj ADDR    what an address is: arena, span, class, slot, bits
 *   span ADDR|CLASS   one span's fields and slots / the spans of a class
 *   heapmap [-f]      every arena's pages, one character each
 *   append SIZE N [scan]   Go's append, printing each capacity change
 * (gc, gogc and gctrace are in gcshell.c.)
 *
 * THE ROOT TABLE.  pg[] lives in bss, which the collector scans: an entry
 * that is HELD points at its object array, a pointer-typed array from
 * newarray, so the collector follows it to every object.  `drop` clears
 * the pointer: from then on nothing reaches the array or its objects, and
 * the next cycle frees them.  `free` kfree's them instead (an explicit free
 * wins over the collector); tiny objects cannot be kfree'd, so an entry
 * holding them is refused whole.  The table is only used from the shell's
 * CPU (commands run one at a time), so it needs no lock.
 *
 * BAD INPUT never changes anything: every argument is parsed and checked
 * (and memory is checked to be enough: mallocgc's out-of-memory is fatal,
 * as in Go) before the first allocation; the message is one line.
 *
 * The shell scrubs the stack region its commands used after each command
 * (shell.c), so a stale copy of an object pointer left by `alloc` in a dead
 * frame cannot keep a dropped entry alive through conservative stack
 * scanning.
 */
#include "playground.h"
#include "../alloc/goruntime.h"
#include "../alloc/heapdump.h"
#include "../alloc/mbarrier.h"
#include "../alloc/mgc.h"
#include "fmt.h"
#include "frame.h"
#include "kernel.h"
#include "shell.h"

struct pg_entry {
    void **objs; /* HELD: the object array (collected memory); else NULL */
    uint64_t size, count;
    uint8_t scan, state;
};
static struct pg_entry pg[PG_ENTRIES + 1]; /* [1..PG_ENTRIES]; a root (bss) */
static int last_entry;
static goslice append_root; /* the slice `append` grows (a root) */

static const uint8_t ptr_mask[1] = {0x1};
static const gotype ptr_type = {8, 8, ptr_mask, "*byte"}; /* arrays of pointers */

static const char *state_name[] = {"empty", "held", "dropped", "freed"};

/* ------------------------------------------------------------ parsing */

/* Decimal or 0x hex, with an optional K, M or G (x1024^n) when `units`. */
static bool parse_u64(const char *s, bool units, uint64_t *out)
{
    uint64_t v = 0, base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    if (!*s)
        return false;
    for (; *s; s++) {
        uint64_t d;
        if (*s >= '0' && *s <= '9')
            d = (uint64_t)(*s - '0');
        else if (base == 16 && ((*s | 32) >= 'a' && (*s | 32) <= 'f'))
            d = (uint64_t)((*s | 32) - 'a' + 10);
        else
            break;
        if (__builtin_mul_overflow(v, base, &v) || __builtin_add_overflow(v, d, &v))
            return false;
    }
    if (*s && units && base == 10 && !s[1]) {
        int shift = *s == 'K' || *s == 'k' ? 10 : *s == 'M' || *s == 'm' ? 20
                  : *s == 'G' || *s == 'g' ? 30 : 0;
        if (!shift || v > (UINT64_MAX >> shift))
            return false;
        v <<= shift;
        s++;
    }
    *out = v;
    return !*s;
}

/* Bytes the heap could still get: free frames plus free heap pages. */
static uint64_t free_memory(void)
{
    return frame_free_count() * 4096 +
           __atomic_load_n(&mheap_.pages.free_pages, __ATOMIC_RELAXED) * PAGE_SIZE;
}

/* Refuse a request that needs more than half of what is free: mallocgc's
 * out of memory is fatal (Go's throw), so the playground stops short. */
static bool enough_memory(const char *cmd, uint64_t count, uint64_t size, uint64_t extra)
{
    uint64_t bytes, fm = free_memory();
    if (size > frame_total() * 4096) {
        kprintf("%s: %lu B is larger than memory (%lu B)\n", cmd, size, frame_total() * 4096);
        return false;
    }
    if (__builtin_mul_overflow(count, roundupsize(size), &bytes) ||
        __builtin_add_overflow(bytes, extra, &bytes) || bytes > fm / 2) {
        kprintf("%s: %lu x %lu B is more than half of the free memory (%lu B)\n", cmd, count,
                size, fm);
        return false;
    }
    return true;
}

/* Entry number argument: 1..PG_ENTRIES. */
static struct pg_entry *entry_arg(const char *s, int *n)
{
    uint64_t v;
    if (!parse_u64(s, false, &v) || v < 1 || v > PG_ENTRIES)
        return 0;
    *n = (int)v;
    return &pg[v];
}

/* ------------------------------------------------------------ alloc */

static void print_table(void)
{
    int shown = 0;
    for (int i = 1; i <= PG_ENTRIES; i++)
        if (pg[i].state != PG_EMPTY) {
            kprintf("  #%d %s: %lu x %lu B %s\n", i, state_name[pg[i].state], pg[i].count,
                    pg[i].size, pg[i].scan ? "scan" : "noscan");
            shown++;
        }
    if (!shown)
        kprintf("  (no entries)\n");
}

static int free_slot(void)
{
    for (int i = 1; i <= PG_ENTRIES; i++)
        if (pg[i].state == PG_EMPTY)
            return i;
    for (int i = 1; i <= PG_ENTRIES; i++) /* reuse the lowest finished entry */
        if (pg[i].state != PG_HELD)
            return i;
    return 0;
}

static bool alloc_args(int argc, char **argv, uint64_t *size, uint64_t *count, bool *scan)
{
    *count = 1;
    *scan = false;
    if (argc < 2 || argc > 4 || !parse_u64(argv[1], true, size) || *size == 0)
        return false;
    for (int i = 2; i < argc; i++) {
        if (!__builtin_strcmp(argv[i], "scan") || !__builtin_strcmp(argv[i], "noscan"))
            *scan = argv[i][0] == 's';
        else if (i != 2 || !parse_u64(argv[i], false, count) || *count == 0 ||
                 *count > PG_MAX_COUNT)
            return false;
    }
    return true;
}

/* Spans the objects landed in (consecutive objects share a span until it
 * fills, so changes of span ≈ spans). */
static uint64_t spans_used(struct pg_entry *e)
{
    uint64_t n = 0;
    uintptr_t last = 0;
    for (uint64_t i = 0; i < e->count; i++) {
        struct heapdump_obj o;
        heapdump_object((uintptr_t)e->objs[i], &o);
        n += o.span.start != last;
        last = o.span.start;
    }
    return n;
}

static void report_alloc(int n, struct pg_entry *e)
{
    uint8_t cls = e->size <= MAX_SMALL_SIZE ? size_to_class(e->size) : 0;
    char what[80];
    if (!e->scan && e->size < 16)
        ksnprintf(what, sizeof what, "tiny (packed into 16 B blocks)");
    else if (cls)
        ksnprintf(what, sizeof what, "class %u (%lu B slots, %u per %lu KiB span)", cls,
                  (uint64_t)class_to_size[cls], class_objects(cls),
                  (uint64_t)class_to_allocnpages[cls] * PAGE_SIZE >> 10);
    else
        ksnprintf(what, sizeof what, "large (%lu pages each)", roundupsize(e->size) / PAGE_SIZE);
    kprintf("alloc: #%d = %lu x %lu B %s, %s: %lu span(s), first 0x%lx\n", n, e->count, e->size,
            e->scan ? "scan" : "noscan", what, spans_used(e), (uint64_t)(uintptr_t)e->objs[0]);
}

static void cmd_alloc(int argc, char **argv)
{
    uint64_t size, count;
    bool scan;
    if (argc == 1) {
        print_table();
        kprintf("usage: alloc SIZE [COUNT] [scan|noscan]   (SIZE 1.. bytes, K/M/G allowed; "
                "COUNT 1..%u)\n", PG_MAX_COUNT);
        return;
    }
    if (!alloc_args(argc, argv, &size, &count, &scan)) {
        kprintf("usage: alloc SIZE [COUNT] [scan|noscan]   (SIZE 1.. bytes, K/M/G allowed; "
                "COUNT 1..%u)\n", PG_MAX_COUNT);
        return;
    }
    if (scan && size < 8) {
        kprintf("alloc: scan objects hold pointers: SIZE must be at least 8\n");
        return;
    }
    int n = free_slot();
    if (!n) {
        kprintf("alloc: the table is full (%d entries held): drop or free one\n", PG_ENTRIES);
        return;
    }
    if (!enough_memory("alloc", count, size, roundupsize(count * 8))) /* + the array */
        return;
    struct pg_entry *e = &pg[n];
    *e = (struct pg_entry){0, size, count, scan, PG_HELD};
    e->objs = newarray(&ptr_type, count); /* rooted before the objects exist */
    for (uint64_t i = 0; i < count; i++)
        GC_WB(e->objs[i], mallocgc(size, scan ? &ptr_type : 0, true)); /* into a GC object */
    last_entry = n;
    report_alloc(n, e);
}
SHELL_CMD("alloc", "heap playground: alloc SIZE [COUNT] [scan|noscan] (no args: the table)",
          cmd_alloc);

/* ------------------------------------------------------------ drop, free */

static void cmd_drop(int argc, char **argv)
{
    int n;
    struct pg_entry *e = argc == 2 ? entry_arg(argv[1], &n) : 0;
    if (!e) {
        kprintf("usage: drop N   (N: an entry number 1..%d from alloc)\n", PG_ENTRIES);
        return;
    }
    if (e->state != PG_HELD) {
        kprintf("drop: #%d is %s: nothing to drop\n", n, state_name[e->state]);
        return;
    }
    e->objs = 0;
    e->state = PG_DROPPED;
    kprintf("drop: #%d unrooted: %lu x %lu B are garbage now (the next gc takes them)\n", n,
            e->count, e->size);
}
SHELL_CMD("drop", "heap playground: drop N (unroot entry N: the collector may take it)", cmd_drop);

static void cmd_free(int argc, char **argv)
{
    int n;
    struct pg_entry *e = argc == 2 ? entry_arg(argv[1], &n) : 0;
    if (!e) {
        kprintf("usage: free N   (N: an entry number 1..%d from alloc)\n", PG_ENTRIES);
        return;
    }
    if (e->state == PG_DROPPED) {
        kprintf("free: #%d was dropped: its objects belong to the collector (collected, or "
                "about to be); nothing freed\n", n);
        return;
    }
    if (e->state != PG_HELD) {
        kprintf("free: #%d is %s: nothing freed\n", n,
                e->state == PG_FREED ? "already freed" : "empty");
        return;
    }
    if (!e->scan && e->size < 16) {
        kprintf("free: #%d holds tiny objects (pointer-free, < 16 B): only the collector frees "
                "those; use drop %d\n", n, n);
        return;
    }
    void **objs = e->objs;
    for (uint64_t i = 0; i < e->count; i++)
        kfree(objs[i]);
    kfree(objs);
    e->objs = 0;
    e->state = PG_FREED;
    kprintf("free: #%d: %lu objects and their array kfree'd (slots reusable after the next "
            "sweep)\n", n, e->count);
}
SHELL_CMD("free", "heap playground: free N (kfree entry N's objects now)", cmd_free);

/* ------------------------------------------------------------ append */

static void append_growth(int64_t len, int64_t oldcap, int64_t newcap, uint64_t esize)
{
    uint64_t bytes = (uint64_t)newcap * esize;
    if (bytes <= MAX_SMALL_SIZE) /* mallocgc's small/large boundary */
        kprintf("len %ld cap %ld -> %ld, %lu B class %u\n", len, oldcap, newcap, bytes,
                size_to_class(bytes));
    else
        kprintf("len %ld cap %ld -> %ld, %lu B large (%lu pages)\n", len, oldcap, newcap, bytes,
                roundupsize(bytes) / PAGE_SIZE);
}

static void cmd_append(int argc, char **argv)
{
    uint64_t size, n;
    bool scan = argc == 4 && !__builtin_strcmp(argv[3], "scan");
    if (argc < 3 || argc > 4 || (argc == 4 && !scan) || !parse_u64(argv[1], false, &size) ||
        size == 0 || size > 65536 || !parse_u64(argv[2], false, &n) || n == 0 ||
        n > PG_MAX_COUNT || (scan && size % 8)) {
        kprintf("usage: append SIZE N [scan]   (SIZE 1..65536 bytes per element, a multiple of "
                "8 with scan; N 1..%u appends)\n", PG_MAX_COUNT);
        return;
    }
    if (!enough_memory("append", 3, size * n, 0)) /* the last arrays and the garbage */
        return;
    gotype et = {size, scan ? 8 : 0, scan ? ptr_mask : 0, "elem"};
    uint32_t growths = 0;
    append_root = (goslice){0, 0, 0};
    for (uint64_t i = 0; i < n; i++) { /* s = append(s, T{}) */
        int64_t old = append_root.cap;
        if (append_root.len < append_root.cap) {
            append_root.len++;
            continue;
        }
        append_root = growslice(append_root.array, append_root.len + 1, old, 1, &et);
        __builtin_memset((uint8_t *)append_root.array + i * size, 0, size);
        append_growth(append_root.len, old, append_root.cap, size);
        growths++;
    }
    kprintf("append: %lu x %lu B%s: %u growths, len %ld cap %ld (%lu B)\n", n, size,
            scan ? " scan" : "", growths, append_root.len, append_root.cap,
            (uint64_t)append_root.cap * size);
    append_root = (goslice){0, 0, 0};
}
SHELL_CMD("append", "Go's append growth: append SIZE N [scan] (each capacity change)", cmd_append);

/* ------------------------------------------------------------ test access */

bool playground_entry(int n, struct pg_info *out)
{
    if (n < 1 || n > PG_ENTRIES)
        return false;
    *out = (struct pg_info){pg[n].state, pg[n].scan, pg[n].size, pg[n].count};
    return true;
}

int playground_last_entry(void) { return last_entry; }

uint64_t playground_object_hidden(int n, uint64_t i, uint64_t hide)
{
    if (n < 1 || n > PG_ENTRIES || pg[n].state != PG_HELD || i >= pg[n].count)
        return 0;
    return (uint64_t)(uintptr_t)pg[n].objs[i] ^ hide;
}

uint64_t playground_array_hidden(int n, uint64_t hide)
{
    if (n < 1 || n > PG_ENTRIES || pg[n].state != PG_HELD)
        return 0;
    return (uint64_t)(uintptr_t)pg[n].objs ^ hide;
}

void playground_reset(void)
{
    __builtin_memset(pg, 0, sizeof pg);
    last_entry = 0;
}
