/*
 * test_lockrank.c — the lock-order check (alloc/lockrank.c) through the
 * host platform's plat_lock: the allocator's own nesting is legal, and an
 * out-of-order, recursive or unranked acquire, a "many" rank taken in
 * descending order and the release of a lock not held are each reported
 * with both locks named (the violation hook longjmps back here; without it
 * plat_panic would end the process).
 */
#include <setjmp.h>
#include <string.h>

#include "heap_testlib.h"
#include "mgc.h"
#include "lockrank.h"
#include "mheap.h"

static jmp_buf back;
static char seen[256];
static int nseen;

static void catch_violation(const char *msg)
{
    snprintf(seen, sizeof seen, "%s", msg);
    printf("# reported: %s\n", msg);
    nseen++;
    longjmp(back, 1);
}

/* Run fn; return whether it reported a violation (message in `seen`). */
static bool violates(void (*fn)(void))
{
    nseen = 0;
    seen[0] = 0;
    lockrank_hook_t old = lockrank_set_hook(catch_violation);
    bool v = setjmp(back) != 0;
    if (!v)
        fn();
    lockrank_set_hook(old);
    return v;
}

static plat_lock_t a_mheap_like = PLAT_LOCK_INIT(LOCKRANK_MHEAP);
static plat_lock_t a_window_like = PLAT_LOCK_INIT(LOCKRANK_WINDOW);
static plat_lock_t unranked;
static plat_lock_t two_central[2] = {PLAT_LOCK_INIT(LOCKRANK_MCENTRAL), PLAT_LOCK_INIT(LOCKRANK_MCENTRAL)};

static void in_order(void)
{
    plat_lock(&two_central[0]);
    plat_lock(&two_central[1]); /* "many", ascending */
    plat_lock(&a_mheap_like);
    plat_lock(&a_window_like);
    plat_unlock(&a_mheap_like); /* not LIFO: fine */
    plat_unlock(&a_window_like);
    plat_unlock(&two_central[1]);
    plat_unlock(&two_central[0]);
}

static void out_of_order(void)
{
    plat_lock(&a_window_like);
    plat_lock(&a_mheap_like); /* 30 inside 50 */
}

static void recursive(void)
{
    plat_lock(&a_mheap_like);
    plat_lock(&a_mheap_like);
}

static void no_rank(void) { plat_lock(&unranked); }

static void many_descending(void)
{
    plat_lock(&two_central[1]);
    plat_lock(&two_central[0]);
}

static void release_not_held(void) { plat_unlock(&a_window_like); }

/* After a caught violation the test unlocks what the aborted sequence held
 * (the violating acquire itself recorded and took nothing). */
static void test_legal_nesting_passes(void)
{
    CHECKF(!violates(in_order), "legal nesting reported: %s", seen);
    CHECK(host_locks_held() == 0);
    /* the allocator's own paths: refill (mcentral → mheap → persistent →
     * window), verify (every mcentral, then mheap) */
    CHECKF(!violates(quiesce), "allocator paths reported: %s", seen);
    void *p = kmalloc(100);
    kfree(p);
    VERIFY();
    CHECK(host_locks_held() == 0);
}

static void test_out_of_order_reported(void)
{
    REQUIRE(violates(out_of_order));
    CHECKF(strstr(seen, "acquires mheap (rank 30") && strstr(seen, "while holding window (rank 50"),
           "message: %s", seen);
    plat_unlock(&a_window_like);
    CHECK(host_locks_held() == 0);
}

static void test_recursive_reported(void)
{
    REQUIRE(violates(recursive));
    CHECKF(strstr(seen, "acquires mheap (rank 30") && strstr(seen, "which it already holds"),
           "message: %s", seen);
    plat_unlock(&a_mheap_like);
    CHECK(host_locks_held() == 0);
}

static void test_unranked_reported(void)
{
    REQUIRE(violates(no_rank));
    CHECKF(strstr(seen, "with no rank"), "message: %s", seen);
    CHECK(host_locks_held() == 0);
}

static void test_many_descending_reported(void)
{
    REQUIRE(violates(many_descending));
    CHECKF(strstr(seen, "acquires mcentral (rank 20") && strstr(seen, "while holding mcentral"),
           "message: %s", seen);
    plat_unlock(&two_central[1]);
    CHECK(host_locks_held() == 0);
}

static void test_release_not_held_reported(void)
{
    /* plat_unlock of a lock nobody holds: the lock word moves, so repair it
     * the same way afterwards (the check reports after the release) */
    REQUIRE(violates(release_not_held));
    CHECKF(strstr(seen, "release of window") && strstr(seen, "not held"), "message: %s", seen);
    a_window_like.owner--;
    CHECK(host_locks_held() == 0);
}

static const struct tap_test tests[] = {
    {"legal_nesting_passes", test_legal_nesting_passes},
    {"out_of_order_reported", test_out_of_order_reported},
    {"recursive_reported", test_recursive_reported},
    {"unranked_reported", test_unranked_reported},
    {"many_descending_reported", test_many_descending_reported},
    {"release_not_held_reported", test_release_not_held_reported},
};

int main(int argc, char **argv)
{
    host_set_quiet(1);
    malloc_init();
    /* the allocator's tests: no collector (the host scans no stacks; test_gc.c
     * tests the collector with registered roots) */
    gc_set_percent(-1);
    return tap_main(argc, argv, tests, TAP_COUNT(tests));
}
