/* W8 large: sizes log-uniform 32 KiB..32 MiB, at most 20 live (random
 * replacement), one byte touched per 4 KiB page of each new block. */
#include "wl.h"
#include <math.h>

int main(int argc, char **argv)
{
    int ops = arg_int(argc, argv, 1, 3000);
    uint64_t s = rng_seed(8);
    char *slot[20] = {0};
    const double lo = log(32768.0), hi = log(32.0 * 1024 * 1024);
    uint64_t t0 = now_ns();
    for (int i = 0; i < ops; i++) {
        int k = (int)(rng_next(&s) % 20);
        free(slot[k]);
        size_t n = (size_t)exp(lo + rng_unit(&s) * (hi - lo));
        slot[k] = malloc(n);
        for (size_t off = 0; off < n; off += 4096)
            slot[k][off] = 1;
    }
    for (int k = 0; k < 20; k++)
        free(slot[k]);
    report("W8-large", 1, (uint64_t)ops, now_ns() - t0, "");
    return 0;
}
