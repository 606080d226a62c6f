/*
 * oom.c — allocate until malloc returns NULL (run under `ulimit -v`).
 *
 *   oom BLOCK [CAP_MIB]      (CAP_MIB default 65536: stop there regardless)
 *
 * malloc(BLOCK) until NULL, linking the blocks through their first word
 * (so each block is written once), then checks errno == ENOMEM, frees
 * everything, and allocates half as much again (the heap recovers).
 * Prints
 *   oom: BLOCK-byte blocks: N MiB until NULL (ENOMEM), again N/2 MiB: ok
 * and exits 0; 1 when the failure was not ENOMEM or the heap did not
 * recover; 2 when CAP_MIB was reached without a failure.
 *
 *   oom --sequence MIB...    malloc each size in turn, touch, free
 *
 * Prints "oom: sequence: 500 MiB ok, 900 MiB ok" and exits 0 when every
 * allocation succeeded (a freed block's address space serves the next).
 *
 *   oom --raise MIB N        malloc(100) first, then raise the soft
 *                            RLIMIT_AS to the hard one, then keep N blocks
 *                            of MIB MiB, each touched once
 *
 * Prints "oom: limit raised: N x MIB MiB live" and exits 0, or 1 at the
 * first NULL (an allocator that sized itself by the first limit).
 */
#include <errno.h>
#include <sys/resource.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void **fill(size_t block, uint64_t limit, uint64_t *got, int *err)
{
    void **head = NULL;
    *got = 0;
    *err = 0;
    while (*got < limit) {
        errno = 0;
        void **p = malloc(block);
        if (!p) {
            *err = errno;
            break;
        }
        *p = head;
        head = p;
        *got += block;
    }
    return head;
}

static void release(void **head)
{
    while (head) {
        void **next = *head;
        free(head);
        head = next;
    }
}

static int sequence(int n, char **mib)
{
    int ok = 1;
    printf("oom: sequence:");
    for (int i = 0; i < n; i++) {
        size_t bytes = (size_t)strtoull(mib[i], NULL, 0) << 20;
        char *p = malloc(bytes);
        if (p) {
            for (size_t k = 0; k < bytes; k += 1 << 20)
                p[k] = 1;
        }
        printf("%s %s MiB %s", i ? "," : "", mib[i], p ? "ok" : "NULL");
        ok &= p != NULL;
        free(p);
    }
    printf("\n");
    return ok ? 0 : 1;
}

static int raised(size_t mib, int n)
{
    void *early = malloc(100); /* the allocator starts under the first limit */
    struct rlimit rl;
    if (!early || getrlimit(RLIMIT_AS, &rl) != 0)
        return 1;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_AS, &rl) != 0) {
        perror("oom: setrlimit");
        return 1;
    }
    for (int i = 0; i < n; i++) {
        char *p = malloc(mib << 20);
        if (!p) {
            printf("oom: limit raised: block %d of %zu MiB is NULL\n", i, mib);
            return 1;
        }
        p[0] = 1; /* kept: the blocks add up */
    }
    printf("oom: limit raised: %d x %zu MiB live\n", n, mib);
    free(early);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--sequence"))
        return sequence(argc - 2, argv + 2);
    if (argc > 3 && !strcmp(argv[1], "--raise"))
        return raised(strtoull(argv[2], NULL, 0), atoi(argv[3]));
    size_t block = argc > 1 ? strtoull(argv[1], NULL, 0) : 1 << 20;
    uint64_t cap = (argc > 2 ? strtoull(argv[2], NULL, 0) : 65536) << 20;
    if (block < sizeof(void *)) {
        fprintf(stderr, "oom: block must be >= %zu\n", sizeof(void *));
        return 2;
    }
    uint64_t got, again;
    int err, err2;
    void **head = fill(block, cap, &got, &err);
    release(head);
    if (got >= cap) {
        printf("oom: %zu-byte blocks: reached the cap of %llu MiB without failing\n", block,
               (unsigned long long)(cap >> 20));
        return 2;
    }
    head = fill(block, got / 2, &again, &err2);
    release(head);
    int ok = err == ENOMEM && again >= got / 2;
    printf("oom: %zu-byte blocks: %llu MiB until NULL (%s), again %llu MiB: %s\n", block,
           (unsigned long long)(got >> 20), err == ENOMEM ? "ENOMEM" : strerror(err),
           (unsigned long long)(again >> 20), ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
