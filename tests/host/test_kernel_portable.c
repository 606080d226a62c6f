/*
 * test_kernel_portable.c — host tests of the kernel's portable pieces:
 * memory-map sanitising (crafted maps), printf formatting against the C
 * library, and command-line parsing.
 */
#include "tap.h"

#include "../../boot/bootinfo.h"
#include "cmdline.h"
#include "fmt.h"
#include "memmap.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------ memory map */

#define MAXD 64
struct map {
    uint8_t buf[MAXD * 64];
    uint64_t desc_size;
    int n;
};

static void map_init(struct map *m, uint64_t desc_size)
{
    memset(m, 0, sizeof *m);
    m->desc_size = desc_size;
}

static void add(struct map *m, uint32_t type, uint64_t start, uint64_t pages)
{
    struct boot_efi_desc d = {type, 0, start, 0, pages, 0};
    memcpy(m->buf + (uint64_t)m->n * m->desc_size, &d, sizeof d);
    m->n++;
}

static int sanitize(struct map *m, struct mem_range *out, int cap, struct memmap_report *r)
{
    return memmap_sanitize(m->buf, (uint64_t)m->n * m->desc_size, m->desc_size, 0, 0, out, cap, r);
}

static void map_simple(void)
{
    struct map m;
    map_init(&m, 48); /* OVMF's stride: larger than the struct */
    add(&m, EFI_CONVENTIONAL_MEMORY, 0x100000, 256);
    add(&m, EFI_BOOT_SERVICES_DATA, 0x200000, 256);
    add(&m, EFI_ACPI_RECLAIM_MEMORY, 0x300000, 16);
    add(&m, EFI_LOADER_CODE, 0x310000, 16);
    struct mem_range r[8];
    struct memmap_report rep;
    int n = sanitize(&m, r, 8, &rep);
    REQUIRE(n == 2);
    CHECK(r[0].start == 0x100000 && r[0].end == 0x300000); /* adjacent ones merged */
    CHECK(r[1].start == 0x310000 && r[1].end == 0x320000);
    CHECK(rep.entries == 4 && rep.usable_bytes == 0x210000);
}

static void map_unsorted_and_overlapping(void)
{
    struct map m;
    map_init(&m, 40);
    add(&m, EFI_CONVENTIONAL_MEMORY, 0x500000, 16);
    add(&m, EFI_CONVENTIONAL_MEMORY, 0x100000, 64);   /* 0x100000-0x140000 */
    add(&m, EFI_CONVENTIONAL_MEMORY, 0x120000, 64);   /* overlaps the previous */
    add(&m, EFI_RUNTIME_SERVICES_DATA, 0x130000, 4);  /* unusable inside usable */
    struct mem_range r[8];
    struct memmap_report rep;
    int n = sanitize(&m, r, 8, &rep);
    REQUIRE(n == 3);
    CHECK(r[0].start == 0x100000 && r[0].end == 0x130000);
    CHECK(r[1].start == 0x134000 && r[1].end == 0x160000);
    CHECK(r[2].start == 0x500000 && r[2].end == 0x510000);
    CHECK(rep.overlaps == 1);
}

static void map_misaligned_zero_and_wrapping(void)
{
    struct map m;
    map_init(&m, 48);
    add(&m, EFI_CONVENTIONAL_MEMORY, 0x100800, 4);          /* misaligned: trimmed inward */
    add(&m, EFI_CONVENTIONAL_MEMORY, 0x200000, 0);          /* zero length */
    add(&m, EFI_CONVENTIONAL_MEMORY, 0xfffffffffffff000ull, 16); /* wraps */
    add(&m, EFI_CONVENTIONAL_MEMORY, 0x300000, 1);
    struct mem_range r[8];
    struct memmap_report rep;
    int n = sanitize(&m, r, 8, &rep);
    REQUIRE(n == 2);
    CHECK(r[0].start == 0x101000 && r[0].end == 0x104000);
    CHECK(r[1].start == 0x300000 && r[1].end == 0x301000);
    CHECK(rep.zero_length == 1 && rep.overflow == 1 && rep.misaligned == 1);
}

static void map_above_4g(void)
{
    /* the shape of q35 with -m 3G: 2 GiB low, a hole, 1 GiB from 4 GiB */
    struct map m;
    map_init(&m, 48);
    add(&m, EFI_CONVENTIONAL_MEMORY, 0x100000, (0x80000000ull - 0x100000) / 4096);
    add(&m, EFI_MEMORY_MAPPED_IO, 0xe0000000ull, 0x10000);
    add(&m, EFI_CONVENTIONAL_MEMORY, 0x100000000ull, 0x40000);
    struct mem_range r[8];
    struct memmap_report rep;
    int n = sanitize(&m, r, 8, &rep);
    REQUIRE(n == 2);
    CHECK(rep.above_4g_ranges == 1 && rep.above_4g_bytes == (1ull << 30));
    CHECK(rep.top == 0x140000000ull);
}

static void map_reserved_ranges_removed(void)
{
    struct map m;
    map_init(&m, 48);
    add(&m, EFI_CONVENTIONAL_MEMORY, 0x100000, 256);
    add(&m, BOOT_MEM_KERNEL, 0x200000, 16); /* OS-defined types are never usable */
    struct mem_range res[2] = {{0x180000, 0x190000}, {0x1ff000, 0x200000}};
    struct mem_range r[8];
    struct memmap_report rep;
    int n = memmap_sanitize(m.buf, (uint64_t)m.n * m.desc_size, m.desc_size, res, 2, r, 8, &rep);
    REQUIRE(n == 2);
    CHECK(r[0].start == 0x100000 && r[0].end == 0x180000);
    CHECK(r[1].start == 0x190000 && r[1].end == 0x1ff000);
}

static void map_bad_descriptor_size(void)
{
    struct map m;
    map_init(&m, 48);
    add(&m, EFI_CONVENTIONAL_MEMORY, 0x100000, 1);
    struct mem_range r[4];
    struct memmap_report rep;
    CHECK(memmap_sanitize(m.buf, 48, 24, 0, 0, r, 4, &rep) == -1); /* stride < descriptor */
    CHECK(memmap_sanitize(m.buf, 50, 48, 0, 0, r, 4, &rep) == -1); /* not a multiple */
    CHECK(memmap_sanitize(0, 48, 48, 0, 0, r, 4, &rep) == -1);
}

static void map_too_many_ranges(void)
{
    struct map m;
    map_init(&m, 48);
    for (int i = 0; i < 10; i++)
        add(&m, EFI_CONVENTIONAL_MEMORY, 0x100000 + (uint64_t)i * 0x20000, 1);
    struct mem_range r[4];
    struct memmap_report rep;
    int n = sanitize(&m, r, 4, &rep);
    CHECK(n == 4 && rep.truncated == 6);
}

static void map_split_needs_room(void)
{
    struct mem_range r[2] = {{0x1000, 0x10000}};
    uint32_t lost = 0;
    int n = memmap_subtract(r, 1, 2, 0x4000, 0x5000, &lost);
    CHECK(n == 2 && r[0].end == 0x4000 && r[1].start == 0x5000 && lost == 0);
    n = memmap_subtract(r, n, 2, 0x8000, 0x9000, &lost); /* no room: larger side kept */
    CHECK(n == 2 && lost == 1);
}

/* ------------------------------------------------------------ printf */

static void same_as_libc(const char *fmt, ...)
{
    char a[256], b[256];
    va_list ap, aq;
    va_start(ap, fmt);
    va_copy(aq, ap);
    int na = kvsnprintf(a, sizeof a, fmt, ap);
    int nb = vsnprintf(b, sizeof b, fmt, aq);
    va_end(aq);
    va_end(ap);
    CHECKF(na == nb && strcmp(a, b) == 0, "format \"%s\": ours \"%s\" (%d), libc \"%s\" (%d)", fmt,
           a, na, b, nb);
}

static void printf_matches_libc(void)
{
    same_as_libc("%d %i %u", 0, -1, 3000000000u);
    same_as_libc("%ld %lu %lld %llu", -5L, 5UL, -(1LL << 62), ~0ULL);
    same_as_libc("%x %X %#x %#X %o %#o", 0xabcu, 0xabcu, 0xabcu, 0xabcu, 8u, 8u);
    same_as_libc("[%5d|%-5d|%05d|%+d|% d|%+05d]", 42, 42, 42, 42, 42, -42);
    same_as_libc("[%.3d|%8.3d|%-8.3d|%.0d]", 7, 7, 7, 0);
    same_as_libc("[%s|%10s|%-10s|%.2s|%*s]", "hi", "hi", "hi", "hello", 4, "x");
    same_as_libc("[%c|%3c|%-3c]", 'a', 'b', 'c');
    same_as_libc("%zu %zd %hhd %hd", (size_t)123, (ssize_t)-9, 300, 70000);
    same_as_libc("%%|%%%d", 5);
    same_as_libc("%#.5x %#08x", 0x12u, 0x12u);
}

#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#pragma GCC diagnostic ignored "-Wformat-security"
#pragma GCC diagnostic ignored "-Wformat-extra-args"
static void printf_truncates_and_counts(void)
{
    char b[5];
    CHECK(ksnprintf(b, sizeof b, "%d", 123456) == 6 && strcmp(b, "1234") == 0);
    CHECK(ksnprintf(b, 0, "abc") == 3);
    char p[40];
    ksnprintf(p, sizeof p, "%p", (void *)0x1234);
    CHECK(strcmp(p, "0x0000000000001234") == 0);
    const char *bad = "%q"; /* via a variable: the compiler would reject it */
    ksnprintf(p, sizeof p, bad, 0);
    CHECK(strcmp(p, "%?q") == 0);
}

/* ------------------------------------------------------------ cmdline */

static void cmdline_words(void)
{
    struct cmdline c;
    CHECK(cmdline_parse("  test=all\tstats halt classes shell failtest ", &c) == 0);
    CHECK(c.test == TEST_ALL && c.stats && c.halt && c.classes && c.shell && c.failtest);
    CHECK(cmdline_parse("test=quick", &c) == 0 && c.test == TEST_QUICK && !c.halt);
    CHECK(cmdline_parse("", &c) == 0 && c.test == TEST_NONE);
    CHECK(cmdline_parse("test=a,b_c", &c) == 0 && c.test == TEST_NAMED);
    CHECK(cmdline_list_has(c.test_names, "a") && cmdline_list_has(c.test_names, "b_c"));
    CHECK(!cmdline_list_has(c.test_names, "b") && !cmdline_list_has(c.test_names, "a,b_c"));
}

static void cmdline_stack_words(void)
{
    struct cmdline c;
    CHECK(cmdline_parse("stack=segmented maxstack=64M segcache hotsplit bench cpus", &c) == 0);
    CHECK(c.stack_segmented && c.maxstack == 64ull << 20 && c.segcache && c.hotsplit && c.bench && c.cpus);
    CHECK(cmdline_parse("stack=contiguous maxstack=1000000", &c) == 0);
    CHECK(!c.stack_segmented && c.maxstack == 1000000);
    CHECK(cmdline_parse("stack=linked", &c) == 1);
    CHECK(strcmp(c.errors[0], "cmdline: bad value in 'stack=linked'") == 0);
    CHECK(cmdline_parse("maxstack=12Q maxstack=1 maxstack=99999999999999999999G", &c) == 3);
}

static void cmdline_gc_words(void)
{
    struct cmdline c;
    CHECK(cmdline_parse("gogc=50 gctrace=1 forcegc=5 gc idle=12 gcbench", &c) == 0);
    CHECK(c.gogc_set && c.gogc == 50 && c.gctrace == 1 && c.forcegc == 5 && c.gc && c.idle == 12 &&
          c.gcbench);
    CHECK(cmdline_parse("gogc=off", &c) == 0 && c.gogc_set && c.gogc == -1);
    CHECK(cmdline_parse("gogc=0", &c) == 0 && c.gogc_set && c.gogc == 0);
    /* garbage, negative, absurd: refused, the default kept (gogc_set 0) */
    CHECK(cmdline_parse("gogc=abc", &c) == 1 && !c.gogc_set);
    CHECK(strcmp(c.errors[0], "cmdline: bad value in 'gogc=abc'") == 0);
    CHECK(cmdline_parse("gogc=-5", &c) == 1 && !c.gogc_set);
    CHECK(cmdline_parse("gogc=100001", &c) == 1 && !c.gogc_set);
    CHECK(cmdline_parse("gogc=99999999999999999999", &c) == 1 && !c.gogc_set);
    CHECK(cmdline_parse("gogc= gctrace=x forcegc=0 idle=-1", &c) == 4);
    /* the debug modes and the heap map word */
    CHECK(cmdline_parse("gccheckmark=1 gcclobber=1 heapmap", &c) == 0 && c.gccheckmark == 1 &&
          c.gcclobber == 1 && c.heapmap);
    CHECK(cmdline_parse("gccheckmark=0 gcclobber=0", &c) == 0 && !c.gccheckmark && !c.gcclobber);
    CHECK(cmdline_parse("gccheckmark=2 gcclobber=yes gccheckmark= gcclobber", &c) == 4 &&
          !c.gccheckmark && !c.gcclobber);
    CHECK(strcmp(c.errors[0], "cmdline: bad value in 'gccheckmark=2'") == 0);
    /* gcstoptheworld: not given is -1 (the kernel's default, concurrent) */
    CHECK(cmdline_parse("gc", &c) == 0 && c.gcstoptheworld == -1);
    CHECK(cmdline_parse("gcstoptheworld=1", &c) == 0 && c.gcstoptheworld == 1);
    CHECK(cmdline_parse("gcstoptheworld=0", &c) == 0 && c.gcstoptheworld == 0);
    CHECK(cmdline_parse("gcstoptheworld=2 gcstoptheworld= gcstoptheworld=on", &c) == 3 &&
          c.gcstoptheworld == -1);
    CHECK(strcmp(c.errors[0], "cmdline: bad value in 'gcstoptheworld=2'") == 0);
    /* gcbench=WHICH: one part of the collector benchmarks */
    CHECK(cmdline_parse("gcbench", &c) == 0 && c.gcbench && strcmp(c.gcbench_which, "all") == 0);
    CHECK(cmdline_parse("gcbench=pause", &c) == 0 && c.gcbench &&
          strcmp(c.gcbench_which, "pause") == 0);
    CHECK(cmdline_parse("gcbench=mutator", &c) == 0 && c.gcbench &&
          strcmp(c.gcbench_which, "mutator") == 0);
    CHECK(cmdline_parse("gcbench=trees", &c) == 1 && !c.gcbench);
    CHECK(strcmp(c.errors[0], "cmdline: bad value in 'gcbench=trees'") == 0);
    /* test=prefix* selects every test whose name starts with prefix */
    CHECK(cmdline_parse("test=gc_*,heap_x", &c) == 0 && c.test == TEST_NAMED);
    CHECK(cmdline_list_has(c.test_names, "gc_reachability") && cmdline_list_has(c.test_names, "gc_"));
    CHECK(cmdline_list_has(c.test_names, "heap_x") && !cmdline_list_has(c.test_names, "heap_xy"));
    CHECK(!cmdline_list_has(c.test_names, "g"));
}

static void cmdline_fbcon_word(void)
{
    struct cmdline c;
    CHECK(cmdline_parse("halt", &c) == 0 && !c.fbcon_off); /* default: on */
    CHECK(cmdline_parse("fbcon=off", &c) == 0 && c.fbcon_off);
    CHECK(cmdline_parse("fbcon=off fbcon=on", &c) == 0 && !c.fbcon_off);
    CHECK(cmdline_parse("fbcon=no fbcon= fbcon", &c) == 3 && !c.fbcon_off);
    CHECK(strcmp(c.errors[0], "cmdline: bad value in 'fbcon=no'") == 0);
    CHECK(strcmp(c.errors[1], "cmdline: bad value in 'fbcon='") == 0);
    CHECK(strcmp(c.errors[2], "cmdline: unknown word 'fbcon'") == 0);
}

static void cmdline_bad_words(void)
{
    struct cmdline c;
    CHECK(cmdline_parse("halt frobnicate test=", &c) == 2);
    CHECK(c.halt == 1);
    CHECK(strcmp(c.errors[0], "cmdline: unknown word 'frobnicate'") == 0);
    CHECK(strcmp(c.errors[1], "cmdline: bad value in 'test='") == 0);
    CHECK(cmdline_parse("test=a,", &c) == 1);
    CHECK(cmdline_parse("a b c d e f", &c) == 6); /* counted even past the stored 4 */
}

int main(int argc, char **argv)
{
    static const struct tap_test tests[] = {
        {"map_simple", map_simple},
        {"map_unsorted_and_overlapping", map_unsorted_and_overlapping},
        {"map_misaligned_zero_and_wrapping", map_misaligned_zero_and_wrapping},
        {"map_above_4g", map_above_4g},
        {"map_reserved_ranges_removed", map_reserved_ranges_removed},
        {"map_bad_descriptor_size", map_bad_descriptor_size},
        {"map_too_many_ranges", map_too_many_ranges},
        {"map_split_needs_room", map_split_needs_room},
        {"printf_matches_libc", printf_matches_libc},
        {"printf_truncates_and_counts", printf_truncates_and_counts},
        {"cmdline_words", cmdline_words},
        {"cmdline_bad_words", cmdline_bad_words},
        {"cmdline_stack_words", cmdline_stack_words},
        {"cmdline_gc_words", cmdline_gc_words},
        {"cmdline_fbcon_word", cmdline_fbcon_word},
    };
    return tap_main(argc, argv, tests, TAP_COUNT(tests));
}
