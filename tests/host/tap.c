/* tap.c — host test runner; see tap.h for the contract. */
#include "tap.h"

#include <setjmp.h>
#include <stdarg.h>
#include <string.h>

static int cur_failed;
static jmp_buf cur_jmp;
static char first_reason[512];

void tap_fail(const char *file, int line, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!cur_failed)
        snprintf(first_reason, sizeof first_reason, "%s:%d: %s", file, line, msg);
    else
        fprintf(stdout, "# also %s:%d: %s\n", file, line, msg);
    cur_failed++;
}

void tap_abort_test(void) { longjmp(cur_jmp, 1); }

static int selected(int argc, char **argv, const char *name)
{
    int any = 0;
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-')
            continue;
        any = 1;
        if (strcmp(argv[i], name) == 0)
            return 1;
    }
    return !any;
}

int tap_main(int argc, char **argv, const struct tap_test *tests, int n)
{
    volatile int passed = 0, failed = 0, num = 0;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--list") == 0) {
            for (int j = 0; j < n; j++)
                printf("%s\n", tests[j].name);
            return 0;
        }
    setvbuf(stdout, 0, _IOLBF, 0);
    for (int i = 0; i < n; i++) {
        if (!selected(argc, argv, tests[i].name))
            continue;
        num++;
        cur_failed = 0;
        first_reason[0] = 0;
        if (setjmp(cur_jmp) == 0)
            tests[i].fn();
        if (cur_failed) {
            printf("not ok %d - %s\n# %s\n", num, tests[i].name, first_reason);
            failed++;
        } else {
            printf("ok %d - %s\n", num, tests[i].name);
            passed++;
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
