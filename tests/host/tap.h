/*
 * tap.h — the tiny test runner shared by every host test binary.
 *
 * A test file defines a table of named tests and calls tap_main:
 *
 *   static const struct tap_test tests[] = { {"name", fn}, ... };
 *   int main(int argc, char **argv) { return tap_main(argc, argv, tests, N); }
 *
 * Output is TAP (`ok N - name`, `not ok N - name` + `# reason`) and a final
 * line exactly `N passed, N failed`.  Arguments select tests by name
 * (`build/host/test_x name1 name2`); `--list` prints the names.
 * Inside a test, CHECK(cond) / CHECKF(cond, fmt, ...) record a failure with
 * file:line and continue; REQUIRE(cond) stops the test.
 */
#ifndef TAP_H
#define TAP_H

#include <stdio.h>

struct tap_test {
    const char *name;
    void (*fn)(void);
};

int tap_main(int argc, char **argv, const struct tap_test *tests, int n);
void tap_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void tap_abort_test(void) __attribute__((noreturn));

#define CHECKF(cond, ...)                                   \
    do {                                                    \
        if (!(cond))                                        \
            tap_fail(__FILE__, __LINE__, __VA_ARGS__);      \
    } while (0)
#define CHECK(cond) CHECKF(cond, "%s", #cond)
#define REQUIRE(cond)                                       \
    do {                                                    \
        if (!(cond)) {                                      \
            tap_fail(__FILE__, __LINE__, "%s", #cond);      \
            tap_abort_test();                               \
        }                                                   \
    } while (0)
#define TAP_COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

#endif
