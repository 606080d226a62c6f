/*
 * heapview.c — looking at the heap from the shell: obj ADDR, span
 * ADDR|CLASS and heapmap [-f] (the pictures come from alloc/heapdump.c;
 * this file only formats them).  Every command only reads the heap.
 */
#include "../alloc/heapdump.h"
#include "../alloc/mgc.h"
#include "kernel.h"
#include "shell.h"

static bool parse_addr(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    int base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        base = 16, s += 2;
    if (!*s)
        return false;
    for (; *s; s++) {
        int d = *s >= '0' && *s <= '9' ? *s - '0'
              : base == 16 && (*s | 32) >= 'a' && (*s | 32) <= 'f' ? (*s | 32) - 'a' + 10 : -1;
        if (d < 0 || __builtin_mul_overflow(v, (uint64_t)base, &v) ||
            __builtin_add_overflow(v, (uint64_t)d, &v))
            return false;
    }
    *out = v;
    return true;
}

static const char *span_kind(const struct heapdump_span *s)
{
    if (s->state == mSpanManual)
        return s->manualKind ? "stack" : "manual";
    return s->kmalloc ? "kmalloc" : s->noscan ? "noscan" : "scan";
}

static void print_span_line(const struct heapdump_span *s)
{
    kprintf("  span 0x%lx-0x%lx: %lu page(s), class %u (%lu B, %s), %u objects, %u allocated, "
            "%d pending free, freeindex %u, %s\n", s->start, s->start + s->npages * PAGE_SIZE,
            s->npages, s->sizeclass, s->elemsize, span_kind(s), s->nelems, s->allocCount,
            s->pendingCount, s->freeindex, s->cachedBy ? "cached by a CPU" : "in mcentral");
}

/* ------------------------------------------------------------ obj */

static void print_object(uint64_t a, const struct heapdump_obj *o)
{
    kprintf("obj 0x%lx: arena %lu [0x%lx-0x%lx), page %lu\n", a, o->arena_index, o->arena_base,
            o->arena_base + (uintptr_t)ARENA_BYTES, o->page);
    if (o->where == HD_FREE_PAGES) {
        kprintf("  free heap pages: no span\n");
        return;
    }
    print_span_line(&o->span);
    if (o->where == HD_MANUAL) {
        kprintf("  manual span (%s): not heap objects\n", span_kind(&o->span));
        return;
    }
    if (o->where == HD_SPAN_TAIL) {
        kprintf("  past the last object (the span's tail waste)\n");
        return;
    }
    kprintf("  object %u at 0x%lx (+%lu): allocated %s, marked %s, pending free %s%s%s\n",
            o->index, o->object, a - o->object, o->allocated ? "yes" : "no",
            o->marked ? "yes" : "no", o->pending ? "yes" : "no", o->tiny ? ", a tiny block" : "",
            o->cached ? ", kfree'd into a freed-object cache" : "");
    if (o->span.noscan) {
        kprintf("  noscan: no pointer words (%u words)\n", o->words);
        return;
    }
    char row[65];
    uint32_t show = o->words < 64 ? o->words : 64;
    for (uint32_t w = 0; w < show; w++)
        row[w] = (o->ptrbits >> w) & 1 ? 'p' : '.';
    row[show] = 0;
    kprintf("  heap bitmap: %u of %u words are pointers: %s%s\n", o->pointer_words, o->words, row,
            o->words > 64 ? "..." : "");
}

static void cmd_obj(int argc, char **argv)
{
    uint64_t a;
    if (argc != 2 || !parse_addr(argv[1], &a)) {
        kprintf("usage: obj ADDR   (an address, 0x... hex or decimal)\n");
        return;
    }
    struct heapdump_obj o;
    if (!heapdump_object(a, &o)) {
        kprintf("obj: 0x%lx is not in the heap (heap window 0x%lx-0x%lx)\n", a,
                mheap_.window_base, mheap_.window_base + mheap_.window_size);
        return;
    }
    print_object(a, &o);
}
SHELL_CMD("obj", "what an address is: obj ADDR (arena, span, class, slot, bits)", cmd_obj);

/* ------------------------------------------------------------ span */

static void span_by_class(uint8_t cls)
{
    struct heapdump_span s[8];
    uint32_t n = heapdump_spans_of_class(cls, s, 8);
    if (cls)
        kprintf("span: class %u (%u B objects, %u per span): %u in-use spans\n", cls,
                (uint32_t)class_to_size[cls], class_objects(cls), n);
    else
        kprintf("span: class 0 (large objects): %u in-use spans\n", n);
    for (uint32_t i = 0; i < n && i < 8; i++)
        print_span_line(&s[i]);
    if (n > 8)
        kprintf("  ... %u more\n", n - 8);
}

static void span_by_addr(uint64_t a)
{
    struct heapdump_obj o;
    if (!heapdump_object(a, &o) || o.where == HD_FREE_PAGES) {
        kprintf("span: 0x%lx is not in a span\n", a);
        return;
    }
    print_span_line(&o.span);
    kprintf("  sweepgen %u, markgen %u (heap sweepgen %u)\n", o.span.sweepgen, o.span.markgen,
            mheap_.sweepgen);
    static PLAT_NOSCAN char row[1025]; /* the shell runs one command at a time */
    uint32_t n = heapdump_span_slots(a, row, sizeof row);
    if (n)
        kprintf("  slots (# allocated, . free, p kfree'd not swept, c kfree'd into a cache):\n");
    for (uint32_t i = 0; i < n && i < 1024; i += 64)
        kprintf("  %4u %.64s\n", i, row + i);
    if (n > 1024)
        kprintf("  ... %u slots in all\n", n);
}

static void cmd_span(int argc, char **argv)
{
    uint64_t v;
    if (argc != 2 || !parse_addr(argv[1], &v)) {
        kprintf("usage: span ADDR|CLASS   (an address in the heap, or a size class 0..%d)\n",
                NUM_SIZE_CLASSES - 1);
        return;
    }
    if (v < NUM_SIZE_CLASSES)
        span_by_class((uint8_t)v);
    else
        span_by_addr(v);
}
SHELL_CMD("span", "a span's fields and slots: span ADDR|CLASS", cmd_span);

/* ------------------------------------------------------------ heapmap */

#define ROW 64 /* pages per row: 512 KiB */

static bool row_blank(const char *r) /* never used: all scavenged */
{
    for (int i = 0; i < ROW; i++)
        if (r[i] != '_')
            return false;
    return true;
}

static void print_arena(uint64_t k, uintptr_t base, const char *pages, bool full, uint64_t *cnt)
{
    if (!full)
        kprintf("arena %lu 0x%lx: %lu pages, %d per row (%d KiB)\n", k, base,
                (uint64_t)PAGES_PER_ARENA, ROW, ROW * (int)PAGE_SIZE / 1024);
    for (uint64_t r = 0; r < PAGES_PER_ARENA / ROW; r++) {
        const char *p = pages + r * ROW;
        for (int i = 0; i < ROW; i++)
            cnt[(uint8_t)p[i]]++;
        if (full) {
            kprintf("heapmap %lu %lu %.64s\n", k, r, p);
            continue;
        }
        uint64_t r2 = r;
        while (r2 + 1 < PAGES_PER_ARENA / ROW && row_blank(p) && row_blank(pages + (r2 + 1) * ROW))
            r2++;
        if (r2 > r + 1) {
            kprintf("  0x%lx  rows %lu-%lu: all _\n", base + r * ROW * PAGE_SIZE, r, r2);
            for (uint64_t q = r + 1; q <= r2; q++)
                for (int i = 0; i < ROW; i++)
                    cnt[(uint8_t)pages[q * ROW + i]]++;
            r = r2;
            continue;
        }
        kprintf("  0x%lx |%.64s|\n", base + r * ROW * PAGE_SIZE, p);
    }
}

static void cmd_heapmap(int argc, char **argv)
{
    bool full = argc == 2 && !__builtin_strcmp(argv[1], "-f");
    if (argc > 2 || (argc == 2 && !full)) {
        kprintf("usage: heapmap [-f]   (-f: every row, machine-readable)\n");
        return;
    }
    /* static, not kmalloc'd: the map must not show its own buffer */
    static PLAT_NOSCAN char pages[PAGES_PER_ARENA];
    static const char keys[] = "._abcdABCDLlSM?";
    uint64_t cnt[256] = {0};
    for (uint64_t k = 0; k < mheap_.window_size >> ARENA_SHIFT; k++) {
        uintptr_t base = heapdump_arena_pages(k, pages);
        if (base)
            print_arena(k, base, pages, full, cnt);
    }
    kprintf("%slegend: %s\n", full ? "heapmap " : "", HEAPDUMP_LEGEND);
    kprintf("%spages:", full ? "heapmap " : "");
    for (const char *c = keys; *c; c++)
        if (cnt[(uint8_t)*c])
            kprintf(" %c %lu", *c, cnt[(uint8_t)*c]);
    kprintf("\n");
}
SHELL_CMD("heapmap", "every arena's pages, one character each: heapmap [-f]", cmd_heapmap);
