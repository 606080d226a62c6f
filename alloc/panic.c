/*
 * panic.c — Go's run-time panics and throws as the heap entry points raise
 * them (goruntime.h, Go's panic.go): one line, as Go prints it, to a hook.
 *
 * The default hook stops the machine with the line (plat_panic), which is
 * what an unrecovered Go panic does to a program.  Tests install a hook
 * that records the line and jumps back to the test; a hook that returns
 * anyway is a bug in the test, reported as such by plat_panic.
 */
#include "goruntime.h"
#include "malloc_impl.h"
#include "mheap.h"

static go_panic_hook_t panic_hook; /* atomic: tests swap it while others run */

go_panic_hook_t go_set_panic_hook(go_panic_hook_t hook)
{
    return __atomic_exchange_n(&panic_hook, hook, __ATOMIC_ACQ_REL);
}

static _Noreturn void raise_line(const char *prefix, const char *text)
{
    char line[160];
    alloc_format(line, sizeof line, "%s%s", prefix, text);
    go_panic_hook_t h = __atomic_load_n(&panic_hook, __ATOMIC_ACQUIRE);
    if (h) {
        h(line);
        alloc_format(line, sizeof line, "go panic hook returned (it must not): %s%s", prefix,
                     text);
    }
    plat_panic(line);
}

void go_panic(const char *text) { raise_line("panic: ", text); }
void go_throw(const char *text) { raise_line("fatal error: ", text); }

uint64_t go_max_alloc(void) { return mheap_.window_size; }
void *go_zerobase(void) { return mallocgc(0, 0, false); }
