/* W1 pair: malloc(s); free — size from argv[1] (16, 64, 256, 2048). */
#include "wl.h"

int main(int argc, char **argv)
{
    size_t size = (size_t)arg_int(argc, argv, 1, 16);
    uint64_t ops = (uint64_t)arg_int(argc, argv, 2, 20000000);
    char name[32];
    snprintf(name, sizeof name, "W1-pair-%zu", size);
    for (int i = 0; i < 1000; i++) { /* warm up */
        void *p = xmalloc(size);
        escape(p);
        free(p);
    }
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < ops; i++) {
        void *p = malloc(size);
        escape(p);
        free(p);
    }
    report(name, 1, ops, now_ns() - t0, "");
    return 0;
}
