/* cg_fastpath.c — instructions per malloc and per free on the fast path,
 * for any allocator (preloaded), measured by callgrind:
 *   valgrind --tool=callgrind --toggle-collect=cg_malloc ... cg_fastpath pair|batch64
 * collects only inside cg_malloc (or cg_free); the total divided by the
 * measured calls (printed) is the cost per call, including the call itself
 * (~3 instructions: call, ret, the wrapper's own jump). Warm-up first so
 * every cache is primed. */
#include "wl.h"

#define MEASURE 100000

__attribute__((noinline)) void *cg_malloc(size_t n) { void *p = malloc(n); escape(p); return p; }
__attribute__((noinline)) void cg_free(void *p) { free(p); }
__attribute__((noinline)) void *warm_malloc(size_t n) { void *p = malloc(n); escape(p); return p; }
__attribute__((noinline)) void warm_free(void *p) { free(p); }

int main(int argc, char **argv)
{
    int batch = argc > 1 && !strcmp(argv[1], "batch64");
    size_t size = 64;
    void *v[64];
    for (int r = 0; r < 2000; r++) { /* warm-up, not collected */
        for (int i = 0; i < 64; i++)
            v[i] = warm_malloc(size);
        for (int i = 63; i >= 0; i--)
            warm_free(v[i]);
    }
    if (batch) {
        for (int r = 0; r < MEASURE / 64; r++) {
            for (int i = 0; i < 64; i++)
                v[i] = cg_malloc(size);
            for (int i = 63; i >= 0; i--)
                cg_free(v[i]);
        }
        printf("calls %d\n", MEASURE / 64 * 64);
    } else {
        for (int r = 0; r < MEASURE; r++)
            cg_free(cg_malloc(size));
        printf("calls %d\n", MEASURE);
    }
    return 0;
}
