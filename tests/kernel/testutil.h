/* testutil.h — small helpers the kernel self-tests share. */
#ifndef TESTS_KERNEL_TESTUTIL_H
#define TESTS_KERNEL_TESTUTIL_H

#include "../../alloc/malloc.h"
#include "../../alloc/mgc.h"
#include "kernel.h"
#include "ktest.h"

static inline int testutil_starts_with(const char *s, const char *p)
{
    while (*p)
        if (*s++ != *p++)
            return 0;
    return 1;
}

static inline int testutil_contains(const char *s, const char *p)
{
    for (; *s; s++)
        if (testutil_starts_with(s, p))
            return 1;
    return 0;
}

/* A checked binary tree of two-pointer nodes, 32 B each, 2^(depth+1) - 1
 * of them: a live heap whose marks take a while, walked whole at the end.
 * Build it with GOGC off (plain stores: no cycle may run meanwhile). */
struct testutil_node {
    struct testutil_node *l, *r;
    uint64_t id, check;
};
static const uint8_t testutil_node_mask[1] __attribute__((unused)) = {0x3};
static const gotype testutil_node_type __attribute__((unused)) = {
    sizeof(struct testutil_node), 16, testutil_node_mask, "testutil_node"};
static inline uint64_t testutil_node_check(uint64_t id) { return id * 0x9E3779B97F4A7C15ull + 7; }

static inline __attribute__((unused)) struct testutil_node *testutil_tree_build(uint32_t depth,
                                                                               uint64_t *id)
{
    struct testutil_node *t = newobject(&testutil_node_type);
    t->id = ++*id;
    t->check = testutil_node_check(t->id);
    if (depth) {
        t->l = testutil_tree_build(depth - 1, id);
        t->r = testutil_tree_build(depth - 1, id);
    }
    return t;
}

/* Nodes reachable from t; *bad counts those corrupt or not live. */
static inline __attribute__((unused)) uint32_t testutil_tree_count(const struct testutil_node *t,
                                                                  uint32_t *bad)
{
    if (!t)
        return 0;
    *bad += t->check != testutil_node_check(t->id) || gc_object_state(t) != GC_OBJ_LIVE;
    return 1 + testutil_tree_count(t->l, bad) + testutil_tree_count(t->r, bad);
}

/* heap_verify, or fail the test (and end it) naming the phase.  The sweep
 * is finished first: a background sweeper on an idle CPU freeing a span
 * between heap_verify's walk and its statistics would fail it (smp8:
 * "HeapInuse ... != in-use span bytes ...", one span apart). */
#define testutil_verify_or_fail(phase)                                                   \
    do {                                                                                 \
        char err_[300];                                                                  \
        gc_finish_sweep();                                                               \
        if (!heap_verify(err_, sizeof err_)) {                                           \
            ktest_fail(__FILE__, __LINE__, "heap_verify after %s: %s", phase, err_);      \
            ktest_abort();                                                               \
        }                                                                                \
    } while (0)

/* A test found an object alive that it expected collected: name every
 * word of the kernel's data, bss and boot stack that points into
 * [addr, addr + len) — the conservative roots that may hold it (often a
 * test's global table left holding pointers after the test).  Returns how
 * many it found: an object kept with none is not conservative retention. */
static inline __attribute__((unused)) int testutil_report_holders(uint64_t addr, uint64_t len)
{
    int found = 0;
    extern char __data_start[], __data_end[], __bss_start[], __bss_end[], boot_stack[],
        boot_stack_top[];
    static const struct {
        const char *what;
        char *lo, *hi;
    } r[3] = {{"data", __data_start, __data_end}, {"bss", __bss_start, __bss_end},
              {"boot stack", boot_stack, boot_stack_top}};
    for (int k = 0; k < 3; k++) {
        bool stack = k == 2;
        for (uint64_t *w = (uint64_t *)r[k].lo; w < (uint64_t *)r[k].hi; w++) {
            bool in_stack = (char *)w >= boot_stack && (char *)w < boot_stack_top;
            if (*w >= addr && *w < addr + len && in_stack == stack) {
                kprintf("# 0x%lx is held by the %s word at %p (0x%lx)\n", addr, r[k].what,
                        (void *)w, *w);
                found++;
            }
        }
    }
    return found;
}

#endif
