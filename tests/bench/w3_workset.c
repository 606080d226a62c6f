/* W3 working set: T threads (argv[1]: 1 or 2), 1024 slots each, random
 * replacement, sizes 4..32768 with probability ∝ 1/size², every byte written. */
#include "wl.h"

#define SLOTS 1024
static uint64_t ops_per_thread = 6000000;

static size_t pick(uint64_t *s)
{
    const double a = 4, b = 32768;
    double u = rng_unit(s);
    double x = 1.0 / (1.0 / a - u * (1.0 / a - 1.0 / b)); /* inverse CDF of 1/x² */
    size_t n = (size_t)x;
    return n < 4 ? 4 : n > 32768 ? 32768 : n;
}

static void *run(void *arg)
{
    uint64_t s = rng_seed((uint64_t)(uintptr_t)arg);
    char **slot = calloc(SLOTS, sizeof *slot);
    for (uint64_t i = 0; i < ops_per_thread; i++) {
        int k = (int)(rng_next(&s) % SLOTS);
        free(slot[k]);
        size_t n = pick(&s);
        slot[k] = malloc(n);
        memset(slot[k], (int)i, n);
    }
    for (int k = 0; k < SLOTS; k++)
        free(slot[k]);
    free(slot);
    return NULL;
}

int main(int argc, char **argv)
{
    int t = arg_int(argc, argv, 1, 1);
    if (argc > 2)
        ops_per_thread = (uint64_t)atoll(argv[2]);
    pthread_t th[64];
    char name[32];
    snprintf(name, sizeof name, "W3-workset-%dT", t);
    uint64_t t0 = now_ns();
    for (int i = 0; i < t; i++)
        pthread_create(&th[i], NULL, run, (void *)(uintptr_t)i);
    for (int i = 0; i < t; i++)
        pthread_join(th[i], NULL);
    report(name, t, ops_per_thread * (uint64_t)t, now_ns() - t0, "");
    return 0;
}
