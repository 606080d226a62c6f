/* W9 thread churn: 10 000 short threads (2 at a time), each allocating and
 * freeing 100 small objects. */
#include "wl.h"

static void *body(void *arg)
{
    uint64_t s = rng_seed((uint64_t)(uintptr_t)arg);
    void *p[100];
    for (int i = 0; i < 100; i++) {
        p[i] = malloc(8 + rng_next(&s) % 249);
        *(volatile char *)p[i] = 1;
    }
    for (int i = 0; i < 100; i++)
        free(p[i]);
    return NULL;
}

int main(int argc, char **argv)
{
    int n = arg_int(argc, argv, 1, 10000);
    uint64_t t0 = now_ns();
    for (int i = 0; i < n; i += 2) {
        pthread_t a, b;
        pthread_create(&a, NULL, body, (void *)(uintptr_t)i);
        pthread_create(&b, NULL, body, (void *)(uintptr_t)(i + 1));
        pthread_join(a, NULL);
        pthread_join(b, NULL);
    }
    report("W9-thread-churn", 2, (uint64_t)n * 200, now_ns() - t0, "");
    return 0;
}
