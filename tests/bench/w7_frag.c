/* W7 fragmentation: allocate 2M × 64 B, free a random 90 %, allocate
 * 150k × 1 KiB, free all; RSS (/proc/self/statm) after each phase, and
 * whether it falls after the final free (to < half of its peak). */
#include "wl.h"

#define N64 2000000
#define N1K 150000

int main(void)
{
    uint64_t s = rng_seed(7);
    char **a = xmalloc(N64 * sizeof *a);
    char **b = xmalloc(N1K * sizeof *b);
    uint32_t *perm = xmalloc(N64 * sizeof *perm);
    for (uint32_t i = 0; i < N64; i++)
        perm[i] = i;
    for (uint32_t i = N64 - 1; i > 0; i--) {
        uint32_t j = (uint32_t)(rng_next(&s) % (i + 1));
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    long r0 = rss_kib();
    uint64_t t0 = now_ns();
    for (int i = 0; i < N64; i++) {
        a[i] = malloc(64);
        memset(a[i], 1, 64);
    }
    long r1 = rss_kib();
    for (int i = 0; i < N64 / 10 * 9; i++) {
        free(a[perm[i]]);
        a[perm[i]] = NULL;
    }
    long r2 = rss_kib();
    for (int i = 0; i < N1K; i++) {
        b[i] = malloc(1024);
        memset(b[i], 2, 1024);
    }
    long r3 = rss_kib();
    for (int i = 0; i < N64; i++)
        free(a[i]);
    for (int i = 0; i < N1K; i++)
        free(b[i]);
    long r4 = rss_kib();
    uint64_t dt = now_ns() - t0;
    long peak = r1 > r3 ? r1 : r3;
    char extra[160];
    snprintf(extra, sizeof extra, "rss_kib=%ld/%ld/%ld/%ld/%ld falls=%s", r0, r1, r2, r3, r4,
             r4 - r0 < (peak - r0) / 2 ? "yes" : "no");
    report("W7-frag", 1, N64 + N64 / 10 * 9 + N1K + N64 / 10 + N1K, dt, extra);
    return 0;
}
