/*
 * fork_churn.c — fork() while other threads allocate and free; the child's
 * heap must be quiescent and consistent.
 *
 *   fork_churn [children] [churn-threads]      (default 300 children, 4 threads)
 *
 * CHURN threads allocate small (16 B .. 3 KiB) and large (40 .. 300 KiB)
 * objects, 1 in 16 of them 64 KiB-aligned (posix_memalign), free their own, and hand every 4th object to the others through
 * a shared ring (cross-thread frees).  Each object is filled with a pattern
 * derived from its address and size, checked when it is freed.
 * The main thread forks `children` times, allocating and freeing between
 * forks itself (its slot is the one the child keeps).  Each CHILD
 *   1. calls gomalloc_heap_verify (dlsym; absent without the preload);
 *   2. starts 4 threads that allocate, hand objects to each other and free
 *      (through the ring inherited from the parent, emptied first) — the
 *      dead threads' mcache slots are reused here;
 *   3. verifies again and exits 0; 2 = verify failed right after fork,
 *      3 = after the threads; a crash (sweep panic) or a hang (alarm after
 *      20 s: a lock inherited held) is a signal.
 * The parent prints one line per failure kind and
 *   "fork_churn: N children, F failed (verify after fork A, after threads B, crashed C, other D)"
 * and exits 1 when F > 0.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef int (*verify_fn)(char *, size_t);
static verify_fn verify;

/* ---- objects with a checkable pattern ---- */

static unsigned char pat(const void *p, size_t n) { return (unsigned char)(((uintptr_t)p >> 4) ^ n ^ 0x5a); }

static void *obj_new(size_t n)
{
    size_t *p = NULL;
    if (n % 16 == 1) { /* 1 in 16: over-aligned (the library's side table) */
        if (posix_memalign((void **)&p, 65536, n) != 0)
            return NULL;
    } else {
        p = malloc(n);
    }
    if (!p)
        return NULL;
    p[0] = n;
    memset((char *)p + sizeof(size_t), pat(p, n), n - sizeof(size_t) < 64 ? n - sizeof(size_t) : 64);
    return p;
}

static void obj_free(void *v)
{
    if (!v)
        return;
    size_t *p = v;
    size_t n = p[0], m = n - sizeof(size_t) < 64 ? n - sizeof(size_t) : 64;
    unsigned char *c = (unsigned char *)(p + 1);
    for (size_t i = 0; i < m; i++)
        if (c[i] != pat(p, n)) {
            fprintf(stderr, "fork_churn: object %p (%zu B) corrupted at byte %zu\n", v, n, i);
            abort();
        }
    free(p);
}

/* ---- the ring: objects handed between threads ---- */

#define RING 256
static pthread_mutex_t ring_mu = PTHREAD_MUTEX_INITIALIZER;
static void *ring[RING];
static unsigned ring_pos;

/* Put v in the ring; free whatever it displaces (another thread's object). */
static void ring_swap(void *v)
{
    pthread_mutex_lock(&ring_mu);
    unsigned i = ring_pos++ % RING;
    void *old = ring[i];
    ring[i] = v;
    pthread_mutex_unlock(&ring_mu);
    obj_free(old);
}

static void ring_drain(void)
{
    for (int i = 0; i < RING; i++) {
        obj_free(ring[i]);
        ring[i] = NULL;
    }
}

static unsigned rnd(unsigned *s) { return *s = *s * 1664525u + 1013904223u; }

static size_t pick_size(unsigned *s)
{
    unsigned r = rnd(s);
    if (r % 32 == 0)
        return 40000 + (r >> 8) % 260000;
    return 16 + (r >> 8) % 3000;
}

/* One churn step on a thread-local array of n objects. */
static void churn_step(void **v, int n, unsigned *s)
{
    int k = (int)(rnd(s) >> 8) % n;
    if (rnd(s) % 4 == 0) {
        ring_swap(v[k]);
        v[k] = NULL;
    } else {
        obj_free(v[k]);
    }
    v[k] = obj_new(pick_size(s));
}

static volatile int stop;

static void *churn(void *arg)
{
    unsigned s = (unsigned)(uintptr_t)arg * 2654435761u;
    void *v[64] = {0};
    while (!__atomic_load_n(&stop, __ATOMIC_RELAXED))
        churn_step(v, 64, &s);
    for (int k = 0; k < 64; k++)
        obj_free(v[k]);
    return NULL;
}

static void *child_worker(void *arg)
{
    unsigned s = (unsigned)(uintptr_t)arg * 40503u + 7;
    void *v[32] = {0};
    for (int i = 0; i < 500; i++)
        churn_step(v, 32, &s);
    for (int k = 0; k < 32; k++)
        obj_free(v[k]);
    return NULL;
}

static int child_main(void)
{
    char err[1024];
    if (verify && !verify(err, sizeof err)) {
        fprintf(stderr, "fork_churn: child %d, verify right after fork: %s\n", (int)getpid(), err);
        return 2;
    }
    /* the ring's lock may have been held by a thread that no longer exists */
    pthread_mutex_init(&ring_mu, NULL);
    ring_drain();
    pthread_t t[4];
    for (uintptr_t i = 0; i < 4; i++)
        if (pthread_create(&t[i], NULL, child_worker, (void *)(i + 1)) != 0)
            return 4;
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    ring_drain();
    if (verify && !verify(err, sizeof err)) {
        fprintf(stderr, "fork_churn: child %d, verify after threads: %s\n", (int)getpid(), err);
        return 3;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int children = argc > 1 ? atoi(argv[1]) : 300;
    int nthreads = argc > 2 ? atoi(argv[2]) : 4;
    verify = (verify_fn)dlsym(RTLD_DEFAULT, "gomalloc_heap_verify");
    pthread_t th[64];
    if (nthreads > 64)
        nthreads = 64;
    for (intptr_t i = 0; i < nthreads; i++)
        pthread_create(&th[i], NULL, churn, (void *)(i + 1));
    int bad[5] = {0}; /* after fork, after threads, crashed, other */
    void *mine[32] = {0};
    unsigned ms = 99;
    for (int i = 0; i < children; i++) {
        /* the forking thread allocates too (its own slot is kept in the
         * child), and lets the churn threads get going again */
        for (int k = 0; k < 100; k++)
            churn_step(mine, 32, &ms);
        usleep(100);
        pid_t pid = fork();
        if (pid == 0) {
            alarm(20); /* a lock inherited held would hang the child: SIGALRM */
            _exit(child_main());
        }
        int st = 0;
        waitpid(pid, &st, 0);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
            continue;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 2)
            bad[0]++;
        else if (WIFEXITED(st) && WEXITSTATUS(st) == 3)
            bad[1]++;
        else if (WIFSIGNALED(st))
            bad[2]++;
        else
            bad[3]++;
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < nthreads; i++)
        pthread_join(th[i], NULL);
    ring_drain();
    for (int k = 0; k < 32; k++)
        obj_free(mine[k]);
    char err[1024];
    int parent_ok = !verify || verify(err, sizeof err);
    if (!parent_ok)
        fprintf(stderr, "fork_churn: parent verify: %s\n", err);
    int failed = bad[0] + bad[1] + bad[2] + bad[3];
    printf("fork_churn: %d children, %d failed (verify after fork %d, after threads %d, crashed %d, "
           "other %d)%s%s\n",
           children, failed, bad[0], bad[1], bad[2], bad[3], verify ? "" : " [no heap_verify]",
           parent_ok ? "" : " PARENT VERIFY FAILED");
    return failed || !parent_ok ? 1 : 0;
}
