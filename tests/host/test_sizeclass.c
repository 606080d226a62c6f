/*
 * test_sizeclass.c — the generated size-class tables (alloc/sizeclasses.h)
 * and the helpers of alloc/sizeclass.h.
 *
 * That the committed header equals the generator's output is checked by
 * `build/mksizeclasses --check alloc/sizeclasses.h` (run by the host test
 * runner); here the tables are checked against Go's published values and
 * against their defining properties.
 */
#include "mspan.h"
#include "sizeclass.h"
#include "tap.h"

/* Go 1.21+ runtime/sizeclasses.go: class_to_size and class_to_allocnpages. */
static const uint16_t go_sizes[68] = {
    0, 8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224,
    240, 256, 288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896,
    1024, 1152, 1280, 1408, 1536, 1792, 2048, 2304, 2688, 3072, 3200, 3456,
    4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728, 10240, 10880,
    12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264,
    28672, 32768};
static const uint8_t go_npages[68] = {
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 2, 1, 2, 1, 3, 2, 3, 1, 3,
    2, 3, 4, 5, 6, 1, 7, 6, 5, 4, 3, 5, 7, 2, 9, 7, 5, 8, 3, 10, 7, 4};

static void test_constants(void)
{
    CHECK(NUM_SIZE_CLASSES == 68);
    CHECK(MAX_SMALL_SIZE == 32768);
    CHECK(SMALL_SIZE_DIV == 8);
    CHECK(SMALL_SIZE_MAX == 1024);
    CHECK(LARGE_SIZE_DIV == 128);
    CHECK(PAGE_SHIFT == 13);
    CHECK(PAGE_SIZE == 8192);
    CHECK(TINY_SIZE == 16);
    CHECK(TINY_SIZE_CLASS == 2);
    CHECK(class_to_size[TINY_SIZE_CLASS] == TINY_SIZE);
    CHECK(NUM_GC_SPAN_CLASSES == 136);
    CHECK(NUM_SPAN_CLASSES == 204);
    CHECK(class_to_size[NUM_SIZE_CLASSES - 1] == MAX_SMALL_SIZE);
    CHECK(sizeof size_to_class8 == SMALL_SIZE_MAX / SMALL_SIZE_DIV + 1);
    CHECK(sizeof size_to_class128 == (MAX_SMALL_SIZE - SMALL_SIZE_MAX) / LARGE_SIZE_DIV + 1);
}

static void test_classes_match_go(void)
{
    for (int c = 0; c < NUM_SIZE_CLASSES; c++) {
        CHECKF(class_to_size[c] == go_sizes[c], "class %d size %u, Go %u", c,
               class_to_size[c], go_sizes[c]);
        CHECKF(class_to_allocnpages[c] == go_npages[c], "class %d npages %u, Go %u", c,
               class_to_allocnpages[c], go_npages[c]);
        uint32_t m = c ? UINT32_MAX / class_to_size[c] + 1 : 0;
        CHECKF(class_to_divmagic[c] == m, "class %d divmagic %u, want %u", c,
               class_to_divmagic[c], m);
    }
    for (int c = 2; c < NUM_SIZE_CLASSES; c++)
        CHECKF(class_to_size[c] > class_to_size[c - 1], "class %d not increasing", c);
}

/* Every size maps to the smallest class that holds it. */
static void test_size_to_class_smallest(void)
{
    CHECK(size_to_class(0) == 0);
    int c = 1;
    for (uint64_t size = 1; size <= MAX_SMALL_SIZE; size++) {
        while (class_to_size[c] < size)
            c++;
        uint8_t got = size_to_class(size);
        CHECKF(got == c, "size %lu -> class %u, want %d", (unsigned long)size, got, c);
        if (got != c)
            return;
    }
}

/* obj_index(off) == off / size for every byte offset of every class's span
 * (and the one-past-the-end offset). */
static void test_divmul_exact(void)
{
    for (int c = 1; c < NUM_SIZE_CLASSES; c++) {
        uint32_t size = class_to_size[c];
        uint32_t span = class_span_bytes(c);
        uint32_t m = class_to_divmagic[c];
        int bad = 0;
        for (uint32_t off = 0; off <= span; off++)
            if (obj_index(off, m) != off / size) {
                CHECKF(0, "class %d (%u B): obj_index(%u) = %u, want %u", c, size, off,
                       obj_index(off, m), off / size);
                if (++bad > 3)
                    break;
            }
    }
}

/* kfree's object-start test (mspan_exact_index): for every class, every
 * offset of its span and beyond, and offsets spread over 32 bits, the
 * slot index exactly when the offset is an object start below nelems. */
static uint32_t exact_want(uint64_t off, uint32_t size, uint32_t nelems)
{
    return off % size == 0 && off / size < nelems ? (uint32_t)(off / size) : UINT32_MAX;
}

static void test_exact_index_is_division(void)
{
    for (int c = 1; c < NUM_SIZE_CLASSES; c++) {
        mspan s = {0};
        s.elemsize = class_to_size[c];
        s.nelems = class_span_bytes(c) / class_to_size[c];
        mspan_exact_consts(s.elemsize, &s.objInv, &s.objShift);
        uint32_t size = (uint32_t)s.elemsize;
        int bad = 0;
        uint64_t x = 0x9E3779B97F4A7C15ull;
        for (uint64_t i = 0; i < class_span_bytes(c) + 2 * size + 4096 && bad < 3; i++) {
            uint32_t off = (uint32_t)i;
            if (i >= class_span_bytes(c) + 2 * size) { /* then anywhere in 32 bits */
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                off = (uint32_t)x;
            }
            uint32_t got = mspan_exact_index(&s, off), want = exact_want(off, size, s.nelems);
            if (got != want) {
                CHECKF(0, "class %d (%u B): exact index of %u = %u, want %u", c, size, off, got,
                       want);
                bad++;
            }
        }
    }
}

static void test_tail_waste_bound(void)
{
    for (int c = 1; c < NUM_SIZE_CLASSES; c++) {
        uint32_t span = class_span_bytes(c);
        uint32_t tail = class_tail_waste(c);
        CHECKF(tail * 8 <= span, "class %d: tail waste %u of %u > 12.5%%", c, tail, span);
        CHECK(tail == span % class_to_size[c]);
        CHECK(class_objects(c) * class_to_size[c] + tail == span);
    }
}

/* The "max waste" column, integer version, against Go's published figures. */
static void test_max_waste(void)
{
    static const struct { int c; uint32_t bp; } known[] = {
        {1, 8750}, {2, 4375}, {3, 2924}, {4, 2188}, {5, 3152}, {10, 1172},
        {19, 1216}, {32, 1240}, {45, 1665}, {51, 1561}, {67, 1250},
    };
    for (int i = 0; i < TAP_COUNT(known); i++)
        CHECKF(class_max_waste_bp(known[i].c) == known[i].bp, "class %d: max waste %u bp, want %u",
               known[i].c, class_max_waste_bp(known[i].c), known[i].bp);
    CHECK(class_max_waste_permille(1) == 875);
    CHECK(class_max_waste_permille(67) == 125);
    CHECK(class_tail_waste(0) == 0 && class_max_waste_bp(0) == 0);
    CHECK(class_tail_waste(3) == 8);
    CHECK(class_tail_waste(35) == 896);
}

/* Alignment facts the allocator relies on (objects start at page-aligned
 * span bases, at multiples of the class size). */
static void test_alignment(void)
{
    for (int c = 1; c < NUM_SIZE_CLASSES; c++) {
        uint32_t s = class_to_size[c];
        CHECKF(s % 8 == 0, "class %d: %u not a multiple of 8", c, s);
        if (s >= 32)
            CHECKF(s % 16 == 0, "class %d: %u >= 32 not a multiple of 16", c, s);
        if (s > SMALL_SIZE_MAX)
            CHECKF(s % LARGE_SIZE_DIV == 0, "class %d: %u not a multiple of 128", c, s);
        if ((s & (s - 1)) == 0)
            CHECKF(class_span_bytes(c) % s == 0 || s > PAGE_SIZE,
                   "class %d: power of two %u not self-aligned", c, s);
    }
    /* Every power of two from 8 to 32 KiB is a class of its own. */
    for (uint32_t p = 8; p <= MAX_SMALL_SIZE; p <<= 1)
        CHECKF(class_to_size[size_to_class(p)] == p, "power of two %u is not a class", p);
}

static void test_spanclass(void)
{
    for (int c = 0; c < NUM_SIZE_CLASSES; c++)
        for (int ns = 0; ns < 2; ns++) {
            spanClass sc = make_spanclass((uint8_t)c, ns);
            CHECK(sc == (c << 1 | ns));
            CHECK(sc < NUM_SPAN_CLASSES);
            CHECK(spanclass_sizeclass(sc) == c);
            CHECK(spanclass_noscan(sc) == (ns != 0));
            CHECK(!spanclass_is_kmalloc(sc));
        }
    /* kmalloc's own classes: 136 + class, pointer free, distinct from all
     * collected classes */
    for (int c = 0; c < NUM_SIZE_CLASSES; c++) {
        spanClass sc = make_kmalloc_spanclass((uint8_t)c);
        CHECK(sc == KMALLOC_SPC_BASE + c && sc < NUM_SPAN_CLASSES);
        CHECK(spanclass_is_kmalloc(sc) && spanclass_noscan(sc));
        CHECK(spanclass_sizeclass(sc) == c);
    }
}

/* The lookup tables themselves: every entry is the smallest class holding
 * the entry's upper size. */
static void test_lookup_tables(void)
{
    for (int i = 0; i <= SMALL_SIZE_MAX / SMALL_SIZE_DIV; i++) {
        int c = size_to_class8[i];
        uint32_t size = (uint32_t)i * SMALL_SIZE_DIV;
        CHECKF(class_to_size[c] >= size && (c == 0 || class_to_size[c - 1] < size),
               "size_to_class8[%d] = %d", i, c);
    }
    for (int i = 0; i <= (MAX_SMALL_SIZE - SMALL_SIZE_MAX) / LARGE_SIZE_DIV; i++) {
        int c = size_to_class128[i];
        uint32_t size = SMALL_SIZE_MAX + (uint32_t)i * LARGE_SIZE_DIV;
        CHECKF(class_to_size[c] >= size && class_to_size[c - 1] < size,
               "size_to_class128[%d] = %d", i, c);
    }
}

static const struct tap_test tests[] = {
    {"constants", test_constants},
    {"classes_match_go", test_classes_match_go},
    {"size_to_class_smallest", test_size_to_class_smallest},
    {"lookup_tables", test_lookup_tables},
    {"divmul_exact", test_divmul_exact},
    {"exact_index_is_division", test_exact_index_is_division},
    {"tail_waste_bound", test_tail_waste_bound},
    {"max_waste", test_max_waste},
    {"alignment", test_alignment},
    {"spanclass", test_spanclass},
};

int main(int argc, char **argv) { return tap_main(argc, argv, tests, TAP_COUNT(tests)); }
