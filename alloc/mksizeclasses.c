/*
 * mksizeclasses.c — host program that generates alloc/sizeclasses.h.
 *
 *   build/mksizeclasses                 print the header on stdout
 *   build/mksizeclasses --check FILE    compare FILE with what would be
 *                                       printed; prints "ok" (exit 0) or
 *                                       "mismatch at class N ..." (exit 1)
 *
 * The rules are those of Go's runtime/mksizeclasses.go (re-implemented here):
 *   1. Walk object sizes upward from 8 in steps of `align`.  `align` starts
 *      at 8 and is re-evaluated whenever size is a power of two:
 *      256 from 2048 on, size/8 from 128 on, 16 from 32 on.
 *   2. For each size pick the smallest span (a multiple of the 8 KiB page)
 *      whose tail (span mod size) is at most 1/8 of the span.
 *   3. If the previous class has the same page count and the same number of
 *      objects per span, the previous class simply grows to this size.
 *   4. Afterwards every class is widened to span/objects rounded down to a
 *      multiple of LARGE_SIZE_DIV (128) when that is larger: same objects per
 *      span, less tail waste.
 *   5. Object index by multiplication: divMul = 2^32/size rounded up
 *      (~0u32/size + 1); (offset * divMul) >> 32 must equal offset / size for
 *      every offset of the span — checked exhaustively here.
 * The result must be 68 classes counting the dummy class 0.
 *
 * This is a normal host program (libc, floating point allowed); only its
 * output is compiled into the kernel.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SMALL_SIZE 32768
#define SMALL_SIZE_DIV 8
#define SMALL_SIZE_MAX 1024
#define LARGE_SIZE_DIV 128
#define PAGE_SHIFT 13
#define PAGE_SIZE (1 << PAGE_SHIFT)
#define TINY_SIZE 16
#define WANT_CLASSES 68

struct sclass {
    int size;
    int npages;
};

static struct sclass classes[128];
static int nclasses;

static int is_pow2(int x) { return x > 0 && (x & (x - 1)) == 0; }

static void die(const char *msg, int a)
{
    fprintf(stderr, "mksizeclasses: %s (%d)\n", msg, a);
    exit(2);
}

static void make_classes(void)
{
    nclasses = 1; /* class 0: large objects, size 0 */
    classes[0].size = 0;
    classes[0].npages = 0;
    int align = 8;
    for (int size = align; size <= MAX_SMALL_SIZE; size += align) {
        if (is_pow2(size)) {
            if (size >= 2048)
                align = 256;
            else if (size >= 128)
                align = size / 8;
            else if (size >= 32)
                align = 16;
        }
        if (!is_pow2(align))
            die("alignment is not a power of two", align);
        int span = PAGE_SIZE;
        while (span % size > span / 8)
            span += PAGE_SIZE;
        int npages = span / PAGE_SIZE;
        struct sclass *prev = &classes[nclasses - 1];
        if (nclasses > 1 && prev->npages == npages &&
            span / prev->size == span / size) {
            prev->size = size;
            continue;
        }
        if (nclasses >= (int)(sizeof classes / sizeof classes[0]))
            die("too many classes", nclasses);
        classes[nclasses].size = size;
        classes[nclasses].npages = npages;
        nclasses++;
    }
    for (int i = 1; i < nclasses; i++) {
        int span = classes[i].npages * PAGE_SIZE;
        int wide = (span / (span / classes[i].size)) & ~(LARGE_SIZE_DIV - 1);
        if (wide > classes[i].size)
            classes[i].size = wide;
    }
    if (nclasses != WANT_CLASSES)
        die("number of size classes changed", nclasses);
    /* divMul exactness, exhaustively, as the runtime will compute it. */
    for (int i = 1; i < nclasses; i++) {
        uint32_t d = (uint32_t)classes[i].size;
        uint32_t m = UINT32_MAX / d + 1;
        uint32_t max = (uint32_t)classes[i].npages * PAGE_SIZE;
        for (uint32_t n = 0; n <= max; n++)
            if ((uint32_t)(((uint64_t)n * m) >> 32) != n / d)
                die("divMul is not exact for class", i);
    }
}

static int class_of(int size)
{
    for (int j = 0; j < nclasses; j++)
        if (classes[j].size >= size)
            return j;
    die("no class for size", size);
    return -1;
}

/* Growable output buffer so --check can compare without temp files. */
static char *out;
static size_t outlen, outcap;

static void emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void emit(const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(out + outlen, outcap - outlen, fmt, ap);
        va_end(ap);
        if (n < 0)
            die("vsnprintf failed", n);
        if ((size_t)n < outcap - outlen) {
            outlen += (size_t)n;
            return;
        }
        outcap = outcap ? outcap * 2 : 65536;
        out = realloc(out, outcap);
        if (!out)
            die("out of memory", 0);
    }
}

static void emit_array(const char *type, const char *name, const char *dim,
                       const int *v, int n)
{
    emit("static const %s %s[%s] __attribute__((unused)) = {", type, name, dim);
    for (int i = 0; i < n; i++) {
        if (i % 12 == 0)
            emit("\n   ");
        emit(" %d,", v[i]);
    }
    emit("\n};\n\n");
}

/* The header comment: the class table for people. */
static void generate_comment(void)
{
    emit("/* generated by mksizeclasses; do not edit.  Regenerate with `make sizeclasses`. */\n");
    emit("/*\n");
    emit(" * Go's small-object size classes (runtime/sizeclasses.go), 8 KiB pages.\n");
    emit(" * tail waste: bytes left at the end of a span.  max waste: worst case when\n");
    emit(" * every object has the smallest size that maps to the class.\n");
    emit(" *\n");
    emit(" * class  bytes/obj  bytes/span  objects  tail waste  max waste  min align\n");
    int prev = 0;
    for (int i = 1; i < nclasses; i++) {
        int size = classes[i].size;
        int span = classes[i].npages * PAGE_SIZE;
        int objs = span / size;
        int tail = span - objs * size;
        double maxw = (double)((size - prev - 1) * objs + tail) / (double)span;
        int alignbits = __builtin_ctz((unsigned)size);
        if (alignbits > PAGE_SHIFT)
            alignbits = PAGE_SHIFT;
        emit(" * %5d  %9d  %10d  %7d  %10d  %8.2f%%  %9d\n", i, size, span, objs, tail,
             100.0 * maxw, 1 << alignbits);
        prev = size;
    }
    emit(" */\n");
}

/* The lookup tables: class -> size, pages, division magic; size -> class. */
static void generate_tables(void)
{
    emit("#ifndef ALLOC_SIZECLASSES_H\n#define ALLOC_SIZECLASSES_H\n\n");
    emit("#include <stdint.h>\n\n");
    emit("#define NUM_SIZE_CLASSES %d\n", nclasses);
    emit("#define MAX_SMALL_SIZE %d\n", MAX_SMALL_SIZE);
    emit("#define SMALL_SIZE_DIV %d\n", SMALL_SIZE_DIV);
    emit("#define SMALL_SIZE_MAX %d\n", SMALL_SIZE_MAX);
    emit("#define LARGE_SIZE_DIV %d\n", LARGE_SIZE_DIV);
    emit("#define PAGE_SHIFT %d\n", PAGE_SHIFT);
    emit("#define PAGE_SIZE %d\n", PAGE_SIZE);
    emit("#define TINY_SIZE %d\n", TINY_SIZE);
    emit("#define TINY_SIZE_CLASS %d\n\n", class_of(TINY_SIZE));

    int v[1024];
    for (int i = 0; i < nclasses; i++)
        v[i] = classes[i].size;
    emit_array("uint16_t", "class_to_size", "NUM_SIZE_CLASSES", v, nclasses);
    for (int i = 0; i < nclasses; i++)
        v[i] = classes[i].npages;
    emit_array("uint8_t", "class_to_allocnpages", "NUM_SIZE_CLASSES", v, nclasses);

    /* divmagic as numbers (unsigned, so not through emit_array's %d). */
    emit("/* ~0u32 / size + 1 (0 for class 0): offset / size == (offset * m) >> 32 */\n");
    emit("static const uint32_t class_to_divmagic[NUM_SIZE_CLASSES] __attribute__((unused)) = {");
    for (int i = 0; i < nclasses; i++) {
        if (i % 6 == 0)
            emit("\n   ");
        uint32_t m = classes[i].size ? UINT32_MAX / (uint32_t)classes[i].size + 1 : 0;
        emit(" %uu,", m);
    }
    emit("\n};\n\n");

    int n8 = SMALL_SIZE_MAX / SMALL_SIZE_DIV + 1;
    for (int i = 0; i < n8; i++)
        v[i] = class_of(i * SMALL_SIZE_DIV);
    emit("/* class of size s <= SMALL_SIZE_MAX: size_to_class8[(s + 7) / 8] */\n");
    emit_array("uint8_t", "size_to_class8", "SMALL_SIZE_MAX / SMALL_SIZE_DIV + 1", v, n8);
    int n128 = (MAX_SMALL_SIZE - SMALL_SIZE_MAX) / LARGE_SIZE_DIV + 1;
    for (int i = 0; i < n128; i++)
        v[i] = class_of(SMALL_SIZE_MAX + i * LARGE_SIZE_DIV);
    emit("/* class of size s > SMALL_SIZE_MAX: size_to_class128[(s - 1024 + 127) / 128] */\n");
    emit_array("uint8_t", "size_to_class128",
               "(MAX_SMALL_SIZE - SMALL_SIZE_MAX) / LARGE_SIZE_DIV + 1", v, n128);
    emit("#endif /* ALLOC_SIZECLASSES_H */\n");
}

static void generate(void)
{
    generate_comment();
    generate_tables();
}

/* Describe where the first difference lies: which class (comment table row)
 * or which array element. */
static void report_mismatch(const char *file, const char *want, size_t off)
{
    int line = 1;
    size_t ls = 0;
    for (size_t i = 0; i < off; i++)
        if (want[i] == '\n') {
            line++;
            ls = i + 1;
        }
    int cls;
    if (sscanf(want + ls, " * %d %*d %*d", &cls) == 1 && want[ls + 1] == '*') {
        printf("mismatch at class %d (table row, %s line %d)\n", cls, file, line);
        return;
    }
    /* Inside an array?  Find the last "static const" before off. */
    const char *arr = NULL;
    for (const char *p = strstr(want, "static const "); p && (size_t)(p - want) <= off;
         p = strstr(p + 1, "static const "))
        arr = p;
    if (arr) {
        const char *brace = strchr(arr, '{');
        const char *close = strchr(arr, '}');
        if (brace && close && (size_t)(brace - want) < off && (size_t)(close - want) >= off) {
            int idx = 0;
            for (const char *q = brace; q < want + off; q++)
                if (*q == ',')
                    idx++;
            char name[64] = "";
            sscanf(arr, "static const %*s %63[a-z_0-9]", name);
            if (strcmp(name, "class_to_size") == 0 || strcmp(name, "class_to_allocnpages") == 0 ||
                strcmp(name, "class_to_divmagic") == 0)
                printf("mismatch at class %d (%s, %s line %d)\n", idx, name, file, line);
            else
                printf("mismatch at %s[%d] (%s line %d)\n", name, idx, file, line);
            return;
        }
    }
    printf("mismatch at %s line %d\n", file, line);
}

static int check(const char *file)
{
    FILE *f = fopen(file, "rb");
    if (!f) {
        printf("mismatch: cannot open %s\n", file);
        return 1;
    }
    size_t cap = outlen + 65536, len = 0;
    char *buf = malloc(cap + 1);
    if (!buf)
        die("out of memory", 0);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
            if (!buf)
                die("out of memory", 0);
        }
    }
    fclose(f);
    buf[len] = 0;
    size_t i = 0;
    while (i < len && i < outlen && buf[i] == out[i])
        i++;
    if (i == len && i == outlen) {
        printf("ok\n");
        free(buf);
        return 0;
    }
    report_mismatch(file, out, i < outlen ? i : (outlen ? outlen - 1 : 0));
    free(buf);
    return 1;
}

int main(int argc, char **argv)
{
    make_classes();
    generate();
    if (argc == 3 && strcmp(argv[1], "--check") == 0)
        return check(argv[2]);
    if (argc != 1) {
        fprintf(stderr, "usage: %s [--check FILE]\n", argv[0]);
        return 2;
    }
    fwrite(out, 1, outlen, stdout);
    return 0;
}
