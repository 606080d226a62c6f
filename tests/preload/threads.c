/*
 * threads.c — a threaded C program for the preload tests: deterministic
 * output (checksums), allocation in every thread, objects freed by threads
 * other than their allocator (through a locked queue), realloc growth,
 * and short-lived threads.  Same output with any correct malloc.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NPAIRS 4
#define PER 20000

struct msg {
    struct msg *next;
    size_t len;
    unsigned char data[];
};

struct queue {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct msg *head, *tail;
    int done;
};

struct pair {
    struct queue q;
    unsigned seed;
    uint64_t sum_prod, sum_cons;
};

static unsigned rnd(unsigned *s) { return *s = *s * 1664525u + 1013904223u; }

static void *producer(void *arg)
{
    struct pair *p = arg;
    unsigned s = p->seed;
    for (int i = 0; i < PER; i++) {
        size_t len = 1 + rnd(&s) % 700;
        struct msg *m = malloc(sizeof *m + len);
        m->next = NULL;
        m->len = len;
        for (size_t k = 0; k < len; k++)
            m->data[k] = (unsigned char)(rnd(&s) >> 24);
        for (size_t k = 0; k < len; k++)
            p->sum_prod += m->data[k] * (k + 1);
        pthread_mutex_lock(&p->q.mu);
        if (p->q.tail)
            p->q.tail->next = m;
        else
            p->q.head = m;
        p->q.tail = m;
        pthread_cond_signal(&p->q.cv);
        pthread_mutex_unlock(&p->q.mu);
    }
    pthread_mutex_lock(&p->q.mu);
    p->q.done = 1;
    pthread_cond_signal(&p->q.cv);
    pthread_mutex_unlock(&p->q.mu);
    return NULL;
}

static void *consumer(void *arg)
{
    struct pair *p = arg;
    char *log = NULL;
    size_t loglen = 0;
    for (;;) {
        pthread_mutex_lock(&p->q.mu);
        while (!p->q.head && !p->q.done)
            pthread_cond_wait(&p->q.cv, &p->q.mu);
        struct msg *m = p->q.head;
        if (m) {
            p->q.head = m->next;
            if (!p->q.head)
                p->q.tail = NULL;
        }
        pthread_mutex_unlock(&p->q.mu);
        if (!m)
            break;
        for (size_t k = 0; k < m->len; k++)
            p->sum_cons += m->data[k] * (k + 1);
        /* a growing buffer: realloc on another thread's heap traffic */
        log = realloc(log, loglen + 2);
        log[loglen++] = (char)('a' + m->len % 26);
        log[loglen] = 0;
        free(m);
    }
    uint64_t h = 1469598103934665603ull;
    for (size_t k = 0; k < loglen; k++)
        h = (h ^ (unsigned char)log[k]) * 1099511628211ull;
    p->sum_cons ^= h << 1 >> 1;
    p->sum_prod ^= h << 1 >> 1;
    free(log);
    return NULL;
}

static void *tiny_thread(void *arg)
{
    uintptr_t n = (uintptr_t)arg;
    char **v = calloc(100, sizeof *v);
    for (int i = 0; i < 100; i++) {
        v[i] = malloc(8 + (n + (uintptr_t)i) % 200);
        snprintf(v[i], 8, "%d", i);
    }
    uintptr_t sum = 0;
    for (int i = 0; i < 100; i++) {
        sum += (uintptr_t)atoi(v[i]);
        free(v[i]);
    }
    free(v);
    return (void *)sum;
}

static volatile int stop_churn;

static void *churn(void *arg)
{
    unsigned s = (unsigned)(uintptr_t)arg;
    void *v[64] = {0};
    while (!stop_churn) {
        int k = (int)(rnd(&s) % 64);
        free(v[k]);
        v[k] = malloc(1 + rnd(&s) % 3000);
    }
    for (int k = 0; k < 64; k++)
        free(v[k]);
    return NULL;
}

/* fork while other threads allocate: the child's heap must be usable */
static int fork_test(void)
{
    pthread_t t[2];
    for (uintptr_t i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, churn, (void *)(i + 1));
    int ok = 1;
    for (int i = 0; i < 30; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            void *v[1000];
            for (int k = 0; k < 1000; k++)
                v[k] = malloc((size_t)k * 7 + 1);
            for (int k = 0; k < 1000; k++)
                free(v[k]);
            char *big = malloc(1 << 20);
            big[12345] = 1;
            free(big);
            _exit(0);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        ok &= WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    stop_churn = 1;
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    return ok;
}

int main(void)
{
    struct pair pairs[NPAIRS];
    pthread_t th[2 * NPAIRS];
    for (int i = 0; i < NPAIRS; i++) {
        memset(&pairs[i], 0, sizeof pairs[i]);
        pthread_mutex_init(&pairs[i].q.mu, NULL);
        pthread_cond_init(&pairs[i].q.cv, NULL);
        pairs[i].seed = 12345u + (unsigned)i * 777u;
        pthread_create(&th[2 * i], NULL, producer, &pairs[i]);
        pthread_create(&th[2 * i + 1], NULL, consumer, &pairs[i]);
    }
    for (int i = 0; i < 2 * NPAIRS; i++)
        pthread_join(th[i], NULL);
    int ok = 1;
    for (int i = 0; i < NPAIRS; i++) {
        printf("pair %d: checksum %016llx %s\n", i, (unsigned long long)pairs[i].sum_cons,
               pairs[i].sum_cons == pairs[i].sum_prod ? "match" : "MISMATCH");
        ok &= pairs[i].sum_cons == pairs[i].sum_prod;
    }
    uintptr_t total = 0;
    for (uintptr_t r = 0; r < 300; r++) {
        pthread_t t[4];
        for (uintptr_t k = 0; k < 4; k++)
            pthread_create(&t[k], NULL, tiny_thread, (void *)(r * 4 + k));
        for (int k = 0; k < 4; k++) {
            void *ret;
            pthread_join(t[k], &ret);
            total += (uintptr_t)ret;
        }
    }
    printf("short threads: 1200, sum %lu\n", (unsigned long)total);
    int fk = fork_test();
    printf("fork with allocating threads: %s\n", fk ? "ok" : "FAILED");
    ok &= fk;
    printf("%s\n", ok ? "threads: ok" : "threads: FAILED");
    return ok ? 0 : 1;
}
