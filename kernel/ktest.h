/*
 * ktest.h — in-kernel self-tests.
 *
 * A test is a function registered in the .ktests section:
 *
 *     KTEST(frame_alloc_reuse, KTEST_QUICK) { KCHECK(frame_alloc() != 0); }
 *
 * Flags: KTEST_QUICK (runs in test=quick and test=all), KTEST_SLOW (only
 * test=all or by name), KTEST_FAILTEST (only with the `failtest` word).
 * KCHECK(cond) / KCHECKF(cond, fmt, ...) record a failure and continue;
 * KREQUIRE(cond) records it and ends the test.  The runner prints TAP:
 * `ok N - name`, or `not ok N - name` followed by `# file:line: reason`,
 * and finally `N passed, N failed`.
 */
#ifndef KERNEL_KTEST_H
#define KERNEL_KTEST_H

#include <stdint.h>
#include "cmdline.h"

#define KTEST_QUICK    1u
#define KTEST_SLOW     2u
#define KTEST_FAILTEST 4u

struct ktest {
    const char *name;
    void (*fn)(void);
    uint32_t flags;
};

#define KTEST(fname, flags)                                                             \
    static void fname(void);                                                            \
    static const struct ktest ktest_##fname __attribute__((section(".ktests"), used,    \
                                                           aligned(8))) = {#fname, fname, \
                                                                          flags};      \
    static void fname(void)

void ktest_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
_Noreturn void ktest_abort(void);

#define KCHECKF(cond, ...)                              \
    do {                                                \
        if (!(cond))                                    \
            ktest_fail(__FILE__, __LINE__, __VA_ARGS__); \
    } while (0)
#define KCHECK(cond) KCHECKF(cond, "%s", #cond)
#define KREQUIRE(cond)                                  \
    do {                                                \
        if (!(cond)) {                                  \
            ktest_fail(__FILE__, __LINE__, "%s", #cond); \
            ktest_abort();                              \
        }                                               \
    } while (0)

/* Runs the tests the command line selects; returns the number failed. */
int ktest_run(const struct cmdline *c);
/* A hook before every test and a check after it (kinit.c: the leak
 * check's snapshot; heap_verify and the leak check).  The check fails the
 * test with its message. */
typedef int (*ktest_check_fn)(char *err, uint64_t n);
void ktest_set_hooks(void (*before)(void), ktest_check_fn after);
/* Totals of every ktest_run so far (the shell can run tests again). */
int ktest_total_failed(void);

#endif
