/* testutil.h — small helpers the kernel self-tests share. */
#ifndef TESTS_KERNEL_TESTUTIL_H
#define TESTS_KERNEL_TESTUTIL_H

#include "../../alloc/malloc.h"
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

#endif
