/* W2 batch: allocate B objects of size S, free them LIFO or FIFO.
 * argv: S B lifo|fifo [total allocations] */
#include "wl.h"

int main(int argc, char **argv)
{
    size_t size = (size_t)arg_int(argc, argv, 1, 16);
    int b = arg_int(argc, argv, 2, 64);
    int fifo = argc > 3 && !strcmp(argv[3], "fifo");
    uint64_t total = (uint64_t)arg_int(argc, argv, 4, 16000000);
    uint64_t rounds = total / (uint64_t)b;
    void **v = xmalloc((size_t)b * sizeof *v);
    char name[48];
    snprintf(name, sizeof name, "W2-batch-%zu-%d-%s", size, b, fifo ? "fifo" : "lifo");
    uint64_t t0 = now_ns();
    for (uint64_t r = 0; r < rounds; r++) {
        for (int i = 0; i < b; i++) {
            v[i] = malloc(size);
            *(char *)v[i] = (char)i;
        }
        if (fifo)
            for (int i = 0; i < b; i++)
                free(v[i]);
        else
            for (int i = b - 1; i >= 0; i--)
                free(v[i]);
    }
    report(name, 1, rounds * (uint64_t)b, now_ns() - t0, "");
    free(v);
    return 0;
}
