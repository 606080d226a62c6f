/* gc_anchor.c — our mallocgc on the Go anchor's shapes: ns per allocation
 * of 8, 16, 64 and 256-byte objects, pointer-free and with pointers (every
 * word a pointer, like [N/8]*int), zeroed (Go's new).  The Linux library
 * has no collector (plat_gc_supported is false there), so objects are never
 * reclaimed: each cell allocates into a sink and the heap simply grows (N
 * objects; run with a modest N).  Linked with libgomalloc's objects
 * (alloc/ + lib/platform_linux.c) directly, so mallocgc is callable and the
 * platform is the library's. */
#include "wl.h"
#include "malloc.h"
void gm_ensure_init(void);

static uint8_t mask_all[32] = {[0 ... 31] = 0xff};
void *volatile sink;

static void cell(const char *name, uint64_t size, int scan, uint64_t n)
{
    gotype t = {size, scan ? size : 0, scan ? mask_all : NULL, name};
    for (int i = 0; i < 10000; i++)
        sink = mallocgc(size, &t, true);
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < n; i++)
        sink = mallocgc(size, &t, true);
    uint64_t dt = now_ns() - t0;
    double s = (double)dt / 1e9;
    printf("%s alloc=gokernel-mallocgc threads=1 ops=%lu seconds=%.6f ops/s=%.0f ns/op=%.2f\n", name,
           (unsigned long)n, s, (double)n / s, (double)dt / (double)n);
}

int main(int argc, char **argv)
{
    uint64_t n = (uint64_t)arg_int(argc, argv, 1, 500000);
    gm_ensure_init();
    cell("GO-8-noscan", 8, 0, n);
    cell("GO-16-noscan", 16, 0, n);
    cell("GO-64-noscan", 64, 0, n);
    cell("GO-256-noscan", 256, 0, n);
    cell("GO-8-scan", 8, 1, n);
    cell("GO-16-scan", 16, 1, n);
    cell("GO-64-scan", 64, 1, n);
    cell("GO-256-scan", 256, 1, n);
    return 0;
}
