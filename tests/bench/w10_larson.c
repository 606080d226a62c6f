/* W10 larson-style server churn (after Larson & Krishnan's description of
 * their server benchmark; our own code).
 *
 *   w10_larson [threads=1] [slots=5000] [ops per generation=250000]
 *              [generations=20]
 *
 * Each of `threads` lanes owns `slots` blocks of 8..1000 B (uniform).  An
 * operation picks a random slot, frees its block and mallocs a new one into
 * it.  A lane runs as a chain of threads: a generation does its operations
 * and is then replaced by a new thread that inherits the slots, so every
 * generation frees what the previous one (or, for the first, the main
 * thread) allocated — cross-thread frees, as in a server whose worker
 * threads come and go.  Timed from the start of the first generations to
 * the end of the last ones; ops = threads × generations × ops per
 * generation; extra field mops=<million ops/s>.
 *
 * Contents check: every block holds a tag word derived from (lane, slot,
 * its sequence number in that slot) at its start and the tag's top byte at
 * its last byte; the tag is checked when the block is freed.  A wrong tag
 * means the allocator handed out one block twice or overlapped two:
 * "W10-larson: lane L slot K: ..." on stderr and exit 3.
 */
#include "wl.h"

#define MAX_LANES 64

static int nslots = 5000, gen_ops = 250000, generations = 20;

struct lane {
    int id;
    char **slot;
    uint32_t *size, *seq; /* per slot: its block's size, sequence number */
    uint64_t seed;
};

static uint64_t tag_of(int lane, int k, uint32_t seq)
{
    return ((uint64_t)lane << 48 | (uint64_t)k << 24 | (seq & 0xffffff)) * 0x9E3779B97F4A7C15ull | 1;
}

static void fill_slot(struct lane *l, int k, size_t n)
{
    char *p = malloc(n);
    if (!p) {
        fprintf(stderr, "W10-larson: out of memory (%zu B)\n", n);
        exit(2);
    }
    l->seq[k]++;
    uint64_t t = tag_of(l->id, k, l->seq[k]);
    memcpy(p, &t, sizeof t);
    p[n - 1] = (char)(t >> 56); /* for n = 8: the tag's own top byte */
    l->slot[k] = p;
    l->size[k] = (uint32_t)n;
}

static void free_slot(struct lane *l, int k)
{
    char *p = l->slot[k];
    uint64_t t = tag_of(l->id, k, l->seq[k]), got;
    memcpy(&got, p, sizeof got);
    if (got != t || p[l->size[k] - 1] != (char)(t >> 56)) {
        fprintf(stderr, "W10-larson: lane %d slot %d: block %p (%u B) holds tag %016lx/%02x, "
                "want %016lx/%02x: the allocator gave this memory to another block\n",
                l->id, k, (void *)p, l->size[k], (unsigned long)got,
                (unsigned char)p[l->size[k] - 1], (unsigned long)t, (unsigned char)(t >> 56));
        exit(3);
    }
    free(p);
}

static void *generation(void *arg)
{
    struct lane *l = arg;
    uint64_t s = l->seed;
    for (int i = 0; i < gen_ops; i++) {
        uint64_t r = rng_next(&s);
        int k = (int)((r >> 32) % (uint64_t)nslots);
        free_slot(l, k);
        fill_slot(l, k, 8 + (size_t)((r & 0xffffffff) % 993));
    }
    l->seed = s;
    return NULL;
}

/* One lane: its generations one after the other, each a new thread. */
static void *lane_main(void *arg)
{
    for (int g = 0; g < generations; g++) {
        pthread_t t;
        if (pthread_create(&t, NULL, generation, arg) != 0) {
            fprintf(stderr, "W10-larson: pthread_create failed\n");
            exit(2);
        }
        pthread_join(t, NULL);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int lanes = arg_int(argc, argv, 1, 1);
    nslots = arg_int(argc, argv, 2, 5000);
    gen_ops = arg_int(argc, argv, 3, 250000);
    generations = arg_int(argc, argv, 4, 20);
    if (lanes < 1 || lanes > MAX_LANES || nslots < 1 || gen_ops < 1 || generations < 1) {
        fprintf(stderr, "usage: w10_larson [threads 1..%d] [slots] [ops per generation] "
                "[generations]\n", MAX_LANES);
        return 2;
    }
    static struct lane L[MAX_LANES];
    for (int i = 0; i < lanes; i++) {
        L[i].id = i;
        L[i].seed = rng_seed(1000 + (uint64_t)i);
        L[i].slot = xmalloc((size_t)nslots * sizeof *L[i].slot);
        L[i].size = xmalloc((size_t)nslots * sizeof *L[i].size);
        L[i].seq = xmalloc((size_t)nslots * sizeof *L[i].seq);
        memset(L[i].seq, 0, (size_t)nslots * sizeof *L[i].seq);
        for (int k = 0; k < nslots; k++)
            fill_slot(&L[i], k, 8 + rng_next(&L[i].seed) % 993);
    }
    pthread_t th[MAX_LANES];
    uint64_t t0 = now_ns();
    for (int i = 0; i < lanes; i++)
        if (pthread_create(&th[i], NULL, lane_main, &L[i]) != 0) {
            fprintf(stderr, "W10-larson: pthread_create failed\n");
            return 2;
        }
    for (int i = 0; i < lanes; i++)
        pthread_join(th[i], NULL);
    uint64_t dt = now_ns() - t0;
    for (int i = 0; i < lanes; i++) {
        for (int k = 0; k < nslots; k++)
            free_slot(&L[i], k);
        free(L[i].slot);
        free(L[i].size);
        free(L[i].seq);
    }
    uint64_t ops = (uint64_t)lanes * (uint64_t)generations * (uint64_t)gen_ops;
    char extra[48];
    snprintf(extra, sizeof extra, "mops=%.2f", dt ? (double)ops * 1e3 / (double)dt : 0.0);
    report("W10-larson", lanes, ops, dt, extra);
    return 0;
}
