/* W6 false sharing: the main thread allocates one 8-byte object per worker
 * back to back and hands them out; each worker writes its object hard, and
 * now and then frees it and allocates a fresh one (passive false sharing).
 * Total work is fixed: with 2 threads the ideal time is half of 1 thread's. */
#include "wl.h"

static uint64_t total_writes = 1000000000;
static int nthreads;

static void *worker(void *arg)
{
    volatile uint64_t *p = arg;
    uint64_t n = total_writes / (uint64_t)nthreads;
    for (uint64_t i = 0; i < n; i += 10000) {
        for (int j = 0; j < 10000; j++)
            (*p)++;
        free((void *)p);
        p = malloc(8);
        *p = 0;
    }
    free((void *)p);
    return NULL;
}

int main(int argc, char **argv)
{
    nthreads = arg_int(argc, argv, 1, 1);
    if (argc > 2)
        total_writes = (uint64_t)atoll(argv[2]);
    void *obj[64];
    for (int i = 0; i < nthreads; i++) {
        obj[i] = malloc(8);
        *(uint64_t *)obj[i] = 0;
    }
    pthread_t th[64];
    uint64_t t0 = now_ns();
    for (int i = 0; i < nthreads; i++)
        pthread_create(&th[i], NULL, worker, obj[i]);
    for (int i = 0; i < nthreads; i++)
        pthread_join(th[i], NULL);
    char name[32], extra[64];
    snprintf(name, sizeof name, "W6-falseshare-%dT", nthreads);
    snprintf(extra, sizeof extra, "dist=%ld",
             nthreads > 1 ? (long)((char *)obj[1] - (char *)obj[0]) : 0L);
    report(name, nthreads, total_writes, now_ns() - t0, extra);
    return 0;
}
