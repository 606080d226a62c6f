/*
 * test_malloc_bad.c — bad input to the allocator: each case produces exactly
 * one message through the error hook, with the exact wording, and leaves
 * the heap consistent (heap_verify passes afterwards).
 */
#include "heap_testlib.h"
#include "mgc.h"
#include "mheap.h"
#include "sizeclass.h"

#define UL(x) ((unsigned long)(uintptr_t)(x))

static void test_not_in_heap(void)
{
    hook_reset();
    int local;
    kfree(&local);
    CHECK_HOOK("kfree: 0x%lx is not in the heap", UL(&local));
    kfree((void *)0x1000);
    CHECK_HOOK("kfree: 0x%lx is not in the heap", 0x1000ul);
    CHECK(ksize(&local) == 0);
    CHECK_HOOK("ksize: 0x%lx is not in the heap", UL(&local));
    VERIFY();
}

static void test_interior_pointer(void)
{
    hook_reset();
    char *p = kmalloc(48); /* class 5, one-page spans */
    REQUIRE(p);
    uintptr_t span = UL(p) & ~(uintptr_t)(PAGE_SIZE - 1);
    kfree(p + 8);
    CHECK_HOOK("kfree: interior pointer 0x%lx (object 0x%lx in span 0x%lx class 5, 48 B)",
               UL(p + 8), UL(p), span);
    kfree(p + 47);
    CHECK_HOOK("kfree: interior pointer 0x%lx (object 0x%lx in span 0x%lx class 5, 48 B)",
               UL(p + 47), UL(p), span);
    /* still allocated and freeable */
    CHECK(ksize(p) == 48);
    kfree(p);
    CHECK_NO_HOOK();
    VERIFY();
}

static void test_past_last_object(void)
{
    hook_reset();
    char *p = kmalloc(48);
    REQUIRE(p);
    uintptr_t span = UL(p) & ~(uintptr_t)(PAGE_SIZE - 1);
    uintptr_t tail = span + 170 * 48; /* 32 B of tail waste */
    kfree((void *)tail);
    CHECK_HOOK("kfree: 0x%lx is past the last object (span 0x%lx class 5, 48 B)", tail, span);
    kfree(p);
    VERIFY();
}

static void test_double_free_pending(void)
{
    hook_reset();
    char *keep = kmalloc(48);
    char *p = kmalloc(48);
    REQUIRE(p && keep);
    uintptr_t span = UL(p) & ~(uintptr_t)(PAGE_SIZE - 1);
    kfree(p);
    CHECK_NO_HOOK();
    kfree(p); /* the first free is still pending (span not swept) */
    CHECK_HOOK("kfree: double free of 0x%lx (span 0x%lx class 5, 48 B)", UL(p), span);
    VERIFY();
    kfree(keep);
    VERIFY();
}

static void test_double_free_after_sweep(void)
{
    hook_reset();
    char *keep = kmalloc(48);
    char *p = kmalloc(48);
    REQUIRE(p && keep);
    uintptr_t span = UL(p) & ~(uintptr_t)(PAGE_SIZE - 1);
    kfree(p);
    malloc_flush_mcache(); /* sweeps: p's slot is free now */
    kfree(p);
    CHECK_HOOK("kfree: double free of 0x%lx (span 0x%lx class 5, 48 B)", UL(p), span);
    CHECK(ksize(p) == 0);
    CHECK_HOOK("ksize: 0x%lx is not an allocated object: a free slot (span 0x%lx class 5, 48 B)",
               UL(p), span);
    VERIFY();
    kfree(keep);
    VERIFY();
}

static void test_double_free_remote(void)
{
    hook_reset();
    host_set_cpu(0);
    char *p = kmalloc(100); /* class 9, 112 B */
    REQUIRE(p);
    host_set_cpu(1);
    kfree(p);
    host_set_cpu(2);
    kfree(p);
    CHECK_HOOK("kfree: double free of 0x%lx (span 0x%lx class 9, 112 B)", UL(p),
               UL(p) & ~(uintptr_t)(PAGE_SIZE - 1));
    /* pending free: not a double free for a size query or a realloc */
    CHECK(ksize(p) == 0);
    CHECK_HOOK("ksize: 0x%lx is not an allocated object: already freed (span 0x%lx class 9, 112 B)",
               UL(p), UL(p) & ~(uintptr_t)(PAGE_SIZE - 1));
    CHECK(krealloc(p, 300) == NULL);
    CHECK_HOOK("krealloc: 0x%lx is not an allocated object: already freed (span 0x%lx class 9, "
               "112 B)", UL(p), UL(p) & ~(uintptr_t)(PAGE_SIZE - 1));
    host_set_cpu(0);
    VERIFY();
}

static void test_large_freed_twice(void)
{
    hook_reset();
    char *q = kmalloc(100000); /* 13 pages */
    REQUIRE(q);
    kfree(q + PAGE_SIZE);
    CHECK_HOOK("kfree: interior pointer 0x%lx (object 0x%lx in span 0x%lx class 0, 106496 B)",
               UL(q + PAGE_SIZE), UL(q), UL(q));
    kfree(q);
    CHECK_NO_HOOK();
    kfree(q);
    CHECK_HOOK("kfree: double free of 0x%lx (span 0x%lx class 0, 106496 B)", UL(q), UL(q));
    CHECK(ksize(q) == 0);
    CHECK_HOOK("ksize: 0x%lx is not an allocated object: already freed (span 0x%lx class 0, "
               "106496 B)", UL(q), UL(q));
    kfree(q + 16);
    CHECK_HOOK("kfree: 0x%lx is in free heap memory (no span)", UL(q + 16));
    VERIFY();
}

static void test_manual_span(void)
{
    hook_reset();
    mspan *s = mheap_alloc(2, 0, true);
    REQUIRE(s);
    kfree((void *)s->startAddr);
    CHECK_HOOK("kfree: 0x%lx is in a manual span 0x%lx (2 pages), not a heap object",
               UL(s->startAddr), UL(s->startAddr));
    VERIFY();
    mheap_free_span(s);
    VERIFY();
}

/* Regression (found by probing): ksize of a tiny block answered 16 with no
 * message, and krealloc of one copied the whole 16-byte block (its
 * neighbours' bytes too), kept the old block and worded its message
 * "kfree:".  Tiny blocks are bad input to all three; nothing changes. */
static void test_tiny_block_ops(void)
{
    hook_reset();
    malloc_flush_mcache(); /* a fresh tiny block: the object is its start */
    static const gotype u8 = {1, 0, 0, "uint8"};
    char *t = mallocgc(3, &u8, true);
    char *u = mallocgc(3, &u8, true); /* its neighbour in the same block */
    REQUIRE(t && u && u == t + 3);
    memcpy(t, "abc", 3);
    memcpy(u, "xyz", 3);
    mspan *s = span_of(UL(t));
    REQUIRE(s);
    CHECK(ksize(t) == 0);
    CHECK_HOOK("ksize: 0x%lx is a tiny block (span 0x%lx class 2, 16 B): tiny objects have no "
               "size of their own", UL(t), UL(s->startAddr));
    CHECK(krealloc(t, 64) == NULL);
    CHECK_HOOK("krealloc: 0x%lx is a tiny block (span 0x%lx class 2, 16 B): tiny objects cannot "
               "be reallocated", UL(t), UL(s->startAddr));
    kfree(t);
    CHECK_HOOK("kfree: 0x%lx is a tiny block (span 0x%lx class 2, 16 B): tiny objects are not "
               "freed", UL(t), UL(s->startAddr));
    CHECK(memcmp(t, "abc", 3) == 0 && memcmp(u, "xyz", 3) == 0);
    VERIFY();
}

/* Debug level (ALLOC_DEBUG, how the host tests are built): freed slots
 * hold a poison pattern; a write after free is caught by heap_verify and
 * at the next allocation of the slot, naming it.  The negative control is
 * the same program without the write: no report. */
#include <setjmp.h>
#include "debug.h"
static jmp_buf uaf_back;
static char uaf_msg[300];
static void uaf_panic(const char *msg)
{
    snprintf(uaf_msg, sizeof uaf_msg, "%s", msg);
    longjmp(uaf_back, 1);
}

static void test_use_after_free_caught(void)
{
    REQUIRE(ALLOC_DEBUG);
    hook_reset();
    malloc_flush_mcache();
    uint64_t *p = kmalloc(48);
    REQUIRE(p);
    kfree(p); /* owner undo: the slot is free and poisoned */
    VERIFY(); /* control: no write, nothing to report */
    p[3] = 0x1234; /* use after free */
    char err[512];
    CHECK(!heap_verify(err, sizeof err));
    char want[120];
    snprintf(want, sizeof want, "use after free: word 3 of free slot 0x%lx = 0x1234", UL(p));
    CHECKF(strstr(err, want) != NULL, "verify said: %s", err);
    printf("# %s\n", err);
    host_panic_hook = uaf_panic;
    uaf_msg[0] = 0;
    if (!setjmp(uaf_back)) {
        void *q = kmalloc(48); /* hands out that slot: must not come back */
        CHECKF(0, "kmalloc returned %p over a use-after-free write", q);
    }
    host_panic_hook = 0;
    CHECKF(strstr(uaf_msg, want) != NULL, "panic said: %s", uaf_msg);
    /* repair the slot (the aborted kmalloc had taken it: give it back) and
     * the heap is consistent again */
    p[3] = FREE_POISON;
    kfree(p);
    VERIFY();
    CHECK_NO_HOOK();
}

static void test_overflow(void)
{
    hook_reset();
    CHECK(kcalloc(1ull << 40, 1ull << 40) == NULL);
    CHECK_HOOK("kcalloc: size overflow (1099511627776 x 1099511627776)");
    CHECK(kcalloc((size_t)-1, 2) == NULL);
    CHECK_HOOK("kcalloc: size overflow (18446744073709551615 x 2)");
    static const uint8_t mask[] = {1};
    static const gotype ptr_t = {8, 8, mask, "*int"};
    CHECK(newarray(&ptr_t, 1ull << 62) == NULL);
    CHECK_HOOK("newarray: size overflow (4611686018427387904 x 8)");
    VERIFY();
}

static void test_larger_than_memory(void)
{
    hook_reset();
    host_set_phys_limit(1ull << 30);
    struct memstats before = stats_now();
    void *p = kmalloc(2ull << 30);
    CHECK(p == NULL);
    CHECKF(hook_count == 1 &&
               strncmp(hook_msg, "kmalloc: cannot allocate 2147483648 bytes: larger than memory (",
                       strlen("kmalloc: cannot allocate 2147483648 bytes: larger than memory (")) == 0,
           "hook \"%s\"", hook_msg);
    hook_reset();
    CHECK(kmalloc(1ull << 45) == NULL); /* larger than the whole window */
    CHECKF(hook_count == 1 &&
               strncmp(hook_msg, "kmalloc: cannot allocate 35184372088832 bytes: larger than memory (",
                       strlen("kmalloc: cannot allocate 35184372088832 bytes: larger than memory (")) == 0,
           "hook \"%s\"", hook_msg);
    CHECK(stats_now().Arenas == before.Arenas); /* nothing reserved for it */
    host_set_phys_limit(4ull << 30);
    /* ordinary requests still work */
    void *q = kmalloc(1 << 20);
    CHECK(q != NULL);
    kfree(q);
    VERIFY();
}

static void test_default_hook_logs(void)
{
    alloc_set_error_hook(NULL);
    int local;
    kfree(&local);
    char want[128];
    snprintf(want, sizeof want, "kfree: 0x%lx is not in the heap", UL(&local));
    CHECKF(strcmp(host_last_log(), want) == 0, "log \"%s\"", host_last_log());
    VERIFY();
}

static void test_all_then_verify(void)
{
    /* A burst of every kind of bad free interleaved with real work. */
    hook_reset();
    rng_seed(5);
    void *objs[500];
    for (int i = 0; i < 500; i++)
        objs[i] = kmalloc(1 + rng_n(2000));
    for (int i = 0; i < 500; i += 2) {
        kfree(objs[i]);
        kfree(objs[i]);
        kfree((char *)objs[i + 1] + 8);
    }
    CHECKF(hook_count == 500, "%d messages", hook_count);
    VERIFY();
    for (int i = 1; i < 500; i += 2)
        kfree(objs[i]);
    VERIFY();
}

static const struct tap_test tests[] = {
    {"not_in_heap", test_not_in_heap},
    {"interior_pointer", test_interior_pointer},
    {"past_last_object", test_past_last_object},
    {"double_free_pending", test_double_free_pending},
    {"double_free_after_sweep", test_double_free_after_sweep},
    {"double_free_remote", test_double_free_remote},
    {"large_freed_twice", test_large_freed_twice},
    {"manual_span", test_manual_span},
    {"tiny_block_ops", test_tiny_block_ops},
    {"use_after_free_caught", test_use_after_free_caught},
    {"overflow", test_overflow},
    {"larger_than_memory", test_larger_than_memory},
    {"default_hook_logs", test_default_hook_logs},
    {"all_then_verify", test_all_then_verify},
};

int main(int argc, char **argv)
{
    host_set_ncpu(4);
    host_set_quiet(1);
    malloc_init();
    /* the allocator's tests: no collector (the host scans no stacks; test_gc.c
     * tests the collector with registered roots) */
    gc_set_percent(-1);
    return tap_main(argc, argv, tests, TAP_COUNT(tests));
}
