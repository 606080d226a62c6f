/*
 * test_fuzz_findings.c — minimal reproducers of the open findings of the
 * allocator fuzzer (tests/fuzz/findings/README.md), one named test each.
 *
 * They FAIL until alloc/ is fixed, so this file is kept out of make test
 * (the Makefile filters it out of HOST_TESTS); run them with
 *     make fuzz-findings            (build/fuzz/test_fuzz_findings)
 *     build/fuzz/test_fuzz_findings stackfree_double_small   (one test)
 * When a finding is fixed: its tests pass, drop its mask in
 * tests/fuzz/fuzz_alloc.c, and move the tests into a regular host test.
 *
 * Each test states the contract it checks (alloc/malloc.h, alloc/stack.h
 * and the project rule "bad input never corrupts state silently") and,
 * where the bad call is accepted today, the damage that follows.
 */
#include "heap_testlib.h"
#include "stack.h"

#define UL(x) ((unsigned long)(uintptr_t)(x))

/* A tiny object at the start of a fresh 16-byte block. */
static char *fresh_tiny(void)
{
    malloc_flush_mcache(); /* drops this CPU's current tiny block */
    char *v = mallocgc(4, NULL, true);
    REQUIRE(v && ((uintptr_t)v & 15) == 0);
    return v;
}

/* "Exactly one message, beginning with want". */
#define CHECK_HOOK_PREFIX(...)                                                     \
    do {                                                                           \
        char w_[256];                                                              \
        snprintf(w_, sizeof w_, __VA_ARGS__);                                      \
        CHECKF(hook_count == 1 && strncmp(hook_msg, w_, strlen(w_)) == 0,          \
               "%d message(s), last \"%s\", want one beginning \"%s\"", hook_count, \
               hook_msg, w_);                                                      \
        hook_count = 0;                                                            \
        hook_msg[0] = 0;                                                           \
    } while (0)

/* Finding 1: malloc.h lists "a tiny object" as bad input for ksize; today
 * ksize returns 16 (the block) with no message. */
static void test_tiny_ksize(void)
{
    hook_reset();
    char *v = fresh_tiny();
    size_t n = ksize(v);
    CHECKF(n == 0, "ksize(tiny block 0x%lx) = %lu, want 0", UL(v), (unsigned long)n);
    CHECK_HOOK_PREFIX("ksize: 0x%lx is a tiny block", UL(v));
    VERIFY();
}

/* Finding 1: krealloc of a tiny object must be refused with one krealloc
 * message and change nothing; today it returns a new object holding the
 * whole 16-byte block, keeps the old block and reports "kfree: ...". */
static void test_tiny_krealloc(void)
{
    hook_reset();
    char *v = fresh_tiny();
    memcpy(v, "abc", 4);
    struct memstats before = stats_now();
    char *q = krealloc(v, 64);
    struct memstats after = stats_now();
    CHECKF(q == NULL, "krealloc(tiny block 0x%lx, 64) = %p, want NULL", UL(v), (void *)q);
    CHECK_HOOK_PREFIX("krealloc: 0x%lx is a tiny block", UL(v));
    CHECKF(after.Mallocs == before.Mallocs, "Mallocs %lu -> %lu: a new object was made",
           (unsigned long)before.Mallocs, (unsigned long)after.Mallocs);
    CHECK(memcmp(v, "abc", 4) == 0);
    if (q && q != v)
        kfree(q);
    VERIFY();
}

/* Finding 2: stack.h — stackfree(p, n) takes "p and n exactly as
 * returned/passed by stackalloc".  A 32 KiB stack freed as 16 KiB is
 * accepted: its first half goes to the 16 KiB cache while the caller (who
 * made the mistake, or the stack's real owner) still uses it, and
 * StackInuse drops by 16 KiB. */
static void test_stackfree_wrong_size_large(void)
{
    hook_reset();
    char *p = stackalloc(32768);
    REQUIRE(p);
    struct stackstats a, b;
    read_stackstats(&a);
    stackfree(p, 16384);
    read_stackstats(&b);
    CHECK_HOOK("stackfree: 0x%lx (16384 bytes) is not a stack from stackalloc", UL(p));
    CHECKF(b.inuse_bytes == a.inuse_bytes, "stack bytes in use %lu -> %lu",
           (unsigned long)a.inuse_bytes, (unsigned long)b.inuse_bytes);
    char *q = stackalloc(16384);
    CHECKF(q != p, "stackalloc(16384) = 0x%lx: inside the live 32 KiB stack 0x%lx", UL(q), UL(p));
    if (q != p)
        stackfree(q, 16384);
}

/* Finding 2: a pool stack (8 KiB) freed as 2 KiB is accepted and handed
 * out again as a 2 KiB stack while the 8 KiB one is live. */
static void test_stackfree_wrong_size_pool(void)
{
    hook_reset();
    stack_cache_flush_all();
    char *p = stackalloc(8192);
    REQUIRE(p);
    stackfree(p, 2048);
    CHECK_HOOK("stackfree: 0x%lx (2048 bytes) is not a stack from stackalloc", UL(p));
    char *q = stackalloc(2048);
    CHECKF(q < p || q >= p + 8192, "stackalloc(2048) = 0x%lx: inside the live 8 KiB stack 0x%lx",
           UL(q), UL(p));
}

/* Finding 2: an interior pointer of a live 4 KiB stack, with a size that
 * fits, is accepted as a 2 KiB stack. */
static void test_stackfree_interior(void)
{
    hook_reset();
    stack_cache_flush_all();
    char *p = stackalloc(4096);
    REQUIRE(p);
    stackfree(p + 2048, 2048);
    CHECK_HOOK("stackfree: 0x%lx (2048 bytes) is not a stack from stackalloc", UL(p + 2048));
    char *q = stackalloc(2048);
    CHECKF(q != p + 2048, "stackalloc(2048) = 0x%lx: inside the live 4 KiB stack 0x%lx", UL(q),
           UL(p));
}

/* Finding 2: freeing a small stack twice is accepted; the next two
 * stackallocs return the same stack. */
static void test_stackfree_double_small(void)
{
    hook_reset();
    char *p = stackalloc(2048);
    REQUIRE(p);
    stackfree(p, 2048);
    stackfree(p, 2048);
    CHECK_HOOK("stackfree: 0x%lx (2048 bytes) is not a stack from stackalloc", UL(p));
    char *a = stackalloc(2048), *b = stackalloc(2048);
    CHECKF(a != b, "two live stacks at the same address 0x%lx", UL(a));
}

/* Finding 2: a large stack freed twice goes on its free list twice; the
 * next two stackallocs of that size return the same span. */
static void test_stackfree_double_large(void)
{
    hook_reset();
    char *p = stackalloc(65536);
    REQUIRE(p);
    stackfree(p, 65536);
    stackfree(p, 65536);
    CHECK_HOOK("stackfree: 0x%lx (65536 bytes) is not a stack from stackalloc", UL(p));
    char *a = stackalloc(65536), *b = stackalloc(65536);
    CHECKF(a != b, "two live stacks at the same address 0x%lx", UL(a));
}

int main(int argc, char **argv)
{
    /* the double frees leave the stack caches corrupt: they run last */
    static const struct tap_test tests[] = {
        {"tiny_ksize", test_tiny_ksize},
        {"tiny_krealloc", test_tiny_krealloc},
        {"stackfree_wrong_size_large", test_stackfree_wrong_size_large},
        {"stackfree_wrong_size_pool", test_stackfree_wrong_size_pool},
        {"stackfree_interior", test_stackfree_interior},
        {"stackfree_double_small", test_stackfree_double_small},
        {"stackfree_double_large", test_stackfree_double_large},
    };
    host_set_quiet(1);
    malloc_init();
    return tap_main(argc, argv, tests, TAP_COUNT(tests));
}
