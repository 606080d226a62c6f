/*
 * test_lockrank.c — the kernel's lock-order check: the allocator's and
 * the kernel's own nesting passes (every other self-test exercises it),
 * and an out-of-order or recursive acquire of a kernel spinlock or an
 * alloc/ plat_lock is reported with both locks named instead of a hang.
 * The violation hook kjmps back here; without it the kernel panics.
 */
#include "../../alloc/lockrank.h"
#include "../../alloc/platform.h"
#include "fmt.h"
#include "kernel.h"
#include "kjmp.h"
#include "ktest.h"
#include "percpu.h"
#include "spinlock.h"

static kjmp_buf back;
static char seen[200];

static void catch_violation(const char *msg)
{
    ksnprintf(seen, sizeof seen, "%s", msg);
    kjmp_long(&back, 1);
}

static spinlock_t k_frames_like = SPINLOCK_INIT(LOCKRANK_FRAMES);
static plat_lock_t p_mheap_like = PLAT_LOCK_INIT(LOCKRANK_MHEAP);

static int contains(const char *s, const char *w) { return __builtin_strstr(s, w) != 0; }

KTEST(lockrank_out_of_order_reported, KTEST_QUICK)
{
    seen[0] = 0;
    lockrank_hook_t old = lockrank_set_hook(catch_violation);
    uint32_t held0 = this_cpu()->locks.n;
    if (kjmp_set(&back) == 0) {
        spin_lock(&k_frames_like);
        plat_lock(&p_mheap_like); /* rank 30 inside rank 70 */
        KCHECKF(0, "no violation reported");
        plat_unlock(&p_mheap_like);
    }
    spin_unlock(&k_frames_like);
    lockrank_set_hook(old);
    KCHECKF(contains(seen, "acquires mheap (rank 30") && contains(seen, "while holding frames (rank 70"),
            "message: %s", seen);
    KCHECK(this_cpu()->locks.n == held0);
}

KTEST(lockrank_recursive_reported, KTEST_QUICK)
{
    seen[0] = 0;
    lockrank_hook_t old = lockrank_set_hook(catch_violation);
    if (kjmp_set(&back) == 0) {
        plat_lock(&p_mheap_like);
        plat_lock(&p_mheap_like); /* used to spin forever */
        KCHECKF(0, "no violation reported");
    }
    plat_unlock(&p_mheap_like);
    lockrank_set_hook(old);
    KCHECKF(contains(seen, "acquires mheap (rank 30") && contains(seen, "which it already holds"),
            "message: %s", seen);
}
