/*
 * ktest.c — runs the self-tests registered in .ktests and prints TAP.
 * The tests themselves live in tests/kernel/.
 *
 * For each selected test: (1) the before-each hook (the leak check's
 * snapshot), then zero 16 KiB of stack below the runner (the collector
 * scans stacks conservatively: a slot the test never writes must not hold
 * the previous test's pointers), (2) arm a kjmp_buf so KREQUIRE can end the
 * test, (3) run it,
 * (4) the after-each check (heap_verify and the leak check, once the heap
 * is up), (5) print ok / not ok with the first reason.  A panic during a test
 * comes back through ktest_on_panic, which reports that test as failed and
 * prints the summary before QEMU is ended with the fail code.
 */
#include "ktest.h"
#include "fmt.h"
#include "kernel.h"
#include "kjmp.h"

extern const struct ktest __ktests_start[], __ktests_end[];

static const struct ktest *current;
static int cur_num, cur_failed, run_passed, run_failed, total_failed;
static char reason[200];
static kjmp_buf jmp;
static ktest_check_fn after_each;
static void (*before_each)(void);

void ktest_set_hooks(void (*before)(void), ktest_check_fn after)
{
    before_each = before;
    after_each = after;
}
int ktest_total_failed(void) { return total_failed; }

void ktest_fail(const char *file, int line, const char *fmt, ...)
{
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    kvsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *base = file;
    for (const char *p = file; *p; p++)
        if (*p == '/')
            base = p + 1;
    if (!cur_failed)
        ksnprintf(reason, sizeof reason, "%s:%d: %s", base, line, msg);
    else
        kprintf("# also %s:%d: %s\n", base, line, msg);
    cur_failed++;
}

_Noreturn void ktest_abort(void) { kjmp_long(&jmp, 1); }

static int selected(const struct ktest *t, const struct cmdline *c)
{
    if ((t->flags & KTEST_FAILTEST) && !c->failtest)
        return 0;
    switch (c->test) {
    case TEST_QUICK: return (t->flags & (KTEST_QUICK | KTEST_FAILTEST)) != 0;
    case TEST_ALL: return 1;
    case TEST_NAMED: return cmdline_list_has(c->test_names, t->name) || (t->flags & KTEST_FAILTEST);
    default: return 0;
    }
}

static void run_one(const struct ktest *t)
{
    current = t;
    cur_num++;
    cur_failed = 0;
    reason[0] = 0;
    if (before_each)
        before_each();
    stack_scrub(); /* the previous test's dead frames (see above) */
    uint64_t t0 = nanotime();
    if (kjmp_set(&jmp) == 0)
        t->fn();
    if (after_each && !cur_failed) {
        char err[200];
        if (!after_each(err, sizeof err))
            ktest_fail("after-each", 0, "%s", err);
    }
    uint64_t ms = (nanotime() - t0) / 1000000;
    if (cur_failed) {
        kprintf("not ok %d - %s\n# %s\n", cur_num, t->name, reason);
        run_failed++;
    } else {
        kprintf("ok %d - %s # %lu ms\n", cur_num, t->name, ms);
        run_passed++;
    }
    current = 0;
}

/* Names asked for on the command line that match no test are failures. */
static void check_names(const struct cmdline *c)
{
    const char *s = c->test_names;
    while (*s) {
        char name[64];
        int n = 0;
        while (*s && *s != ',' && n < 63)
            name[n++] = *s++;
        name[n] = 0;
        while (*s && *s != ',')
            s++;
        if (*s == ',')
            s++;
        int found = 0;
        for (const struct ktest *t = __ktests_start; t < __ktests_end; t++)
            if (cmdline_list_has(name, t->name)) /* a name, or a prefix* pattern */
                found = 1;
        if (!found) {
            kprintf("not ok %d - %s\n# no self-test named '%s' (test=list shows them)\n",
                    ++cur_num, name, name);
            run_failed++;
        }
    }
}

int ktest_run(const struct cmdline *c)
{
    cur_num = run_passed = run_failed = 0;
    if (c->test == TEST_LIST) {
        for (const struct ktest *t = __ktests_start; t < __ktests_end; t++)
            kprintf("%s%s\n", t->name,
                    t->flags & KTEST_SLOW ? " (slow)" : t->flags & KTEST_FAILTEST ? " (failtest)" : "");
        return 0;
    }
    if (c->test == TEST_NONE)
        return 0;
    kprintf("self-tests: %s\n", c->test == TEST_ALL ? "all" : c->test == TEST_QUICK ? "quick" : c->test_names);
    for (const struct ktest *t = __ktests_start; t < __ktests_end; t++)
        if (selected(t, c))
            run_one(t);
    if (c->test == TEST_NAMED)
        check_names(c);
    kprintf("%d passed, %d failed\n", run_passed, run_failed);
    total_failed += run_failed;
    return run_failed;
}

void ktest_on_panic(const char *msg)
{
    if (!current)
        return;
    kprintf("not ok %d - %s\n# panic: %s\n", cur_num, current->name, msg);
    kprintf("%d passed, %d failed\n", run_passed, run_failed + 1);
    current = 0;
}
