/* W4 server churn: 2 lanes × 5000 slots, sizes 8..1000 B; each op frees a
 * random slot and refills it; every 500k ops the lane's thread is replaced
 * and the new thread frees (and refills) the old one's objects. */
#include "wl.h"

#define SLOTS 5000
#define GEN_OPS 500000
static int generations = 8;

struct lane {
    void *slot[SLOTS];
    uint64_t seed;
};

static void *gen(void *arg)
{
    struct lane *l = arg;
    for (int i = 0; i < GEN_OPS; i++) {
        int k = (int)(rng_next(&l->seed) % SLOTS);
        free(l->slot[k]);
        size_t n = 8 + rng_next(&l->seed) % 993;
        l->slot[k] = malloc(n);
        *(volatile char *)l->slot[k] = 1;
    }
    return NULL;
}

static void *lane_main(void *arg)
{
    for (int g = 0; g < generations; g++) {
        pthread_t t;
        pthread_create(&t, NULL, gen, arg);
        pthread_join(t, NULL);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int lanes = 2;
    generations = arg_int(argc, argv, 1, 8);
    static struct lane L[2];
    for (int i = 0; i < lanes; i++) {
        L[i].seed = rng_seed(100 + (uint64_t)i);
        for (int k = 0; k < SLOTS; k++)
            L[i].slot[k] = malloc(8 + rng_next(&L[i].seed) % 993);
    }
    pthread_t th[2];
    uint64_t t0 = now_ns();
    for (int i = 0; i < lanes; i++)
        pthread_create(&th[i], NULL, lane_main, &L[i]);
    for (int i = 0; i < lanes; i++)
        pthread_join(th[i], NULL);
    uint64_t dt = now_ns() - t0;
    for (int i = 0; i < lanes; i++)
        for (int k = 0; k < SLOTS; k++)
            free(L[i].slot[k]);
    report("W4-server", lanes, (uint64_t)lanes * (uint64_t)generations * GEN_OPS, dt, "");
    return 0;
}
