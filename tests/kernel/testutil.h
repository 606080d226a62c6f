/* testutil.h — small helpers the kernel self-tests share. */
#ifndef TESTS_KERNEL_TESTUTIL_H
#define TESTS_KERNEL_TESTUTIL_H

#include "../../alloc/malloc.h"
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

/* heap_verify, or fail the test (and end it) naming the phase. */
#define testutil_verify_or_fail(phase)                                                   \
    do {                                                                                 \
        char err_[300];                                                                  \
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
