/* W5 producer/consumer: P pairs (argv[1]) passing batches of 4096 objects
 * (argv[2]: "64" = 64 B, "mix" = 8..2048 B) through a bounded queue; the
 * consumer frees every object (allocated by its producer). */
#include "wl.h"

#define BATCH 4096
#define QCAP 4
static int nbatches = 400;
static int mix;

struct q {
    pthread_mutex_t mu;
    pthread_cond_t nonempty, nonfull;
    void **b[QCAP];
    int head, n;
};

static void *producer(void *arg)
{
    struct q *q = arg;
    uint64_t s = rng_seed((uint64_t)(uintptr_t)arg);
    for (int i = 0; i < nbatches; i++) {
        void **b = xmalloc(BATCH * sizeof *b);
        for (int k = 0; k < BATCH; k++) {
            size_t n = mix ? 8 + rng_next(&s) % 2041 : 64;
            b[k] = malloc(n);
            *(volatile char *)b[k] = 1;
        }
        pthread_mutex_lock(&q->mu);
        while (q->n == QCAP)
            pthread_cond_wait(&q->nonfull, &q->mu);
        q->b[(q->head + q->n++) % QCAP] = b;
        pthread_cond_signal(&q->nonempty);
        pthread_mutex_unlock(&q->mu);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    struct q *q = arg;
    for (int i = 0; i < nbatches; i++) {
        pthread_mutex_lock(&q->mu);
        while (q->n == 0)
            pthread_cond_wait(&q->nonempty, &q->mu);
        void **b = q->b[q->head];
        q->head = (q->head + 1) % QCAP;
        q->n--;
        pthread_cond_signal(&q->nonfull);
        pthread_mutex_unlock(&q->mu);
        for (int k = 0; k < BATCH; k++)
            free(b[k]);
        free(b);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int pairs = arg_int(argc, argv, 1, 1);
    mix = argc > 2 && !strcmp(argv[2], "mix");
    nbatches = arg_int(argc, argv, 3, 1200) / pairs;
    static struct q qs[8];
    pthread_t th[16];
    uint64_t t0 = now_ns();
    for (int i = 0; i < pairs; i++) {
        pthread_mutex_init(&qs[i].mu, NULL);
        pthread_cond_init(&qs[i].nonempty, NULL);
        pthread_cond_init(&qs[i].nonfull, NULL);
        pthread_create(&th[2 * i], NULL, producer, &qs[i]);
        pthread_create(&th[2 * i + 1], NULL, consumer, &qs[i]);
    }
    for (int i = 0; i < 2 * pairs; i++)
        pthread_join(th[i], NULL);
    char name[32];
    snprintf(name, sizeof name, "W5-prodcons-%dP-%s", pairs, mix ? "mix" : "64");
    report(name, 2 * pairs, (uint64_t)pairs * (uint64_t)nbatches * BATCH, now_ns() - t0, "");
    return 0;
}
