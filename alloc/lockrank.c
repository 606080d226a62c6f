/*
 * lockrank.c — the run-time check of the lock order (see lockrank.h for the
 * table and the rule).
 *
 * ACQUIRE (lockrank_acquire), before the caller spins on the lock:
 *   1. no rank → violation;
 *   2. the caller already holds this lock (holder == me) → violation
 *      ("which it already holds"): a spinlock would spin forever;
 *   3. top = the highest-ranked lock held; rank < top.rank, or rank ==
 *      top.rank for a rank that is not "many", or a "many" lock at an
 *      address not above the last one → violation;
 *   4. record: a new entry, or count++ on the top entry of a "many" rank.
 * RELEASE: find the entry of that rank (from the top), count-- or remove
 * it (locks need not be released in LIFO order).
 *
 * The held stack belongs to one CPU (thread) and is touched only by it, so
 * it needs no synchronisation.  A violation is formatted here and goes to
 * the hook (tests) or plat_panic.
 */
#include "lockrank.h"
#include "malloc_impl.h"
#include "platform.h"

static lockrank_hook_t violation_hook;

/* Indexed by rank: an acquire finds its rank in one load (a linear search
 * of this table was most of the check's cost: 26 instructions per acquire
 * of an mcentral lock through the preload library). */
#define MAX_RANK LOCKRANK_CONSOLE
static const struct {
    const char *name; /* NULL: not a rank */
    bool many;
} table[MAX_RANK + 1] = {
    [LOCKRANK_BENCH] = {"bench", false},
    [LOCKRANK_SLOT] = {"slot", false},
    [LOCKRANK_HCHAN] = {"hchan", false},
    [LOCKRANK_STACKPOOL] = {"stackpool", false},
    [LOCKRANK_STACKLARGE] = {"stacklarge", false},
    [LOCKRANK_TRANSFER] = {"transfer", true},
    [LOCKRANK_MCENTRAL] = {"mcentral", true},
    [LOCKRANK_MHEAP] = {"mheap", false},
    [LOCKRANK_BIGALIGN] = {"bigalign", false},
    [LOCKRANK_GCROOTS] = {"gcroots", false},
    [LOCKRANK_GCWORK] = {"gcwork", false},
    [LOCKRANK_MPROF] = {"mprof", false},
    [LOCKRANK_PERSISTENT] = {"persistent", false},
    [LOCKRANK_WINDOW] = {"window", false},
    [LOCKRANK_PAGING] = {"paging", false},
    [LOCKRANK_FRAMES] = {"frames", false},
    [LOCKRANK_SHOOTDOWN] = {"shootdown", false},
    [LOCKRANK_RUNQ] = {"runq", false},
    [LOCKRANK_TASKS] = {"tasks", false},
    [LOCKRANK_TEST] = {"test", false},
    [LOCKRANK_CONSOLE] = {"console", false},
};

/* The rank itself as the table index, or -1 when it is not a rank. */
static inline int find(uint32_t rank)
{
    return rank <= MAX_RANK && table[rank].name ? (int)rank : -1;
}

const char *lockrank_name(uint32_t rank)
{
    int i = find(rank);
    return i < 0 ? "?" : table[i].name;
}

lockrank_hook_t lockrank_set_hook(lockrank_hook_t hook)
{
    return __atomic_exchange_n(&violation_hook, hook, __ATOMIC_ACQ_REL);
}

static void violation(const char *msg)
{
    lockrank_hook_t h = __atomic_load_n(&violation_hook, __ATOMIC_ACQUIRE);
    if (h)
        h(msg);
    plat_panic(msg);
}

/* The violations, out of line: the check's own path keeps a small frame. */
static __attribute__((noinline, cold)) void bad_acquire(const struct lockrank_held *h,
                                                        const void *lock, uint32_t rank,
                                                        int32_t holder, int32_t me)
{
    char msg[200];
    int k = find(rank);
    if (k < 0) {
        alloc_format(msg, sizeof msg, "lock order: cpu %d acquires lock 0x%lx with no rank "
                     "(%u; see alloc/lockrank.h)", me, (unsigned long)(uintptr_t)lock, rank);
    } else if (holder == me) {
        alloc_format(msg, sizeof msg, "lock order: cpu %d acquires %s (rank %u, 0x%lx) which it "
                     "already holds", me, table[k].name, rank, (unsigned long)(uintptr_t)lock);
    } else if (h->n == LOCKRANK_MAX_HELD) {
        alloc_format(msg, sizeof msg, "lock order: cpu %d holds %d locks already", me,
                     LOCKRANK_MAX_HELD);
    } else {
        const __typeof__(h->e[0]) *top = &h->e[h->n - 1];
        char who[24] = "free";
        if (holder >= 0)
            alloc_format(who, sizeof who, "held by cpu %d", holder);
        alloc_format(msg, sizeof msg, "lock order: cpu %d acquires %s (rank %u, 0x%lx, %s) "
                     "while holding %s (rank %u, 0x%lx)", me, table[k].name, rank,
                     (unsigned long)(uintptr_t)lock, who, lockrank_name(top->rank), top->rank,
                     (unsigned long)(uintptr_t)top->lock);
    }
    violation(msg);
}

void lockrank_acquire(struct lockrank_held *h, const void *lock, uint32_t rank, int32_t holder,
                      int32_t me)
{
    int k = find(rank);
    if (__builtin_expect(k < 0 || holder == me, 0)) { /* steps 1, 2 */
        bad_acquire(h, lock, rank, holder, me);
        return;
    }
    if (h->n) { /* step 3 */
        __typeof__(h->e[0]) *top = &h->e[h->n - 1];
        if (__builtin_expect(rank < top->rank || (rank == top->rank &&
                             (!table[k].many || (uintptr_t)lock <= (uintptr_t)top->lock)), 0)) {
            bad_acquire(h, lock, rank, holder, me);
            return;
        }
        if (rank == top->rank) { /* "many", ascending */
            top->lock = lock;
            top->count++;
            return;
        }
        if (__builtin_expect(h->n == LOCKRANK_MAX_HELD, 0)) {
            bad_acquire(h, lock, rank, holder, me);
            return;
        }
    }
    h->e[h->n].lock = lock; /* step 4 */
    h->e[h->n].rank = rank;
    h->e[h->n].count = 1;
    h->n++;
}

void lockrank_release(struct lockrank_held *h, const void *lock, uint32_t rank)
{
    for (uint32_t i = h->n; i-- > 0;) {
        if (h->e[i].rank != rank)
            continue;
        if (--h->e[i].count == 0) {
            for (uint32_t j = i; j + 1 < h->n; j++)
                h->e[j] = h->e[j + 1];
            h->n--;
        }
        return;
    }
    char msg[160];
    alloc_format(msg, sizeof msg, "lock order: release of %s (rank %u, 0x%lx) that is not held",
                 lockrank_name(rank), rank, (unsigned long)(uintptr_t)lock);
    violation(msg);
}
