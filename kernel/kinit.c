/*
 * kinit.c — late initialisation: the subsystems built on frames + paging
 * (the heap), and the after-test reports the command line asks for.
 */
#include "kinit.h"
#include "../alloc/malloc.h"
#include "../alloc/mstats.h"
#include "kernel.h"
#include "ktest.h"
#include "shell.h"

__attribute__((weak)) void smp_init(void) {}

static int verify_after_test(char *err, uint64_t n) { return heap_verify(err, n); }

static void emit_line(const char *line) { kprintf("%s\n", line); }

void kinit_late(void)
{
    smp_init();
    uint64_t t0 = nanotime();
    malloc_init();
    ktest_set_after_each(verify_after_test);
    struct memstats m;
    read_memstats_heap(&m);
    kprintf("heap: ready in %lu us (%u CPUs, %lu arenas)\n", (nanotime() - t0) / 1000,
            plat_ncpu(), m.Arenas);
}

void kinit_after_tests(const struct cmdline *c)
{
    if (c->classes)
        sizeclasses_print(emit_line);
    if (c->stats) {
        memstats_print_table(emit_line);
        memstats_print_facts(emit_line);
    }
}

/* ---------------------------------------------------------------- shell */

static void cmd_stats(int argc, char **argv)
{
    int facts = argc > 1 && !__builtin_strcmp(argv[1], "-f");
    if (facts)
        memstats_print_facts(emit_line);
    else
        memstats_print_table(emit_line);
}
SHELL_CMD("stats", "memory statistics (stats -f: one fact per line)", cmd_stats);

static void cmd_classes(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    sizeclasses_print(emit_line);
}
SHELL_CMD("classes", "the size-class table", cmd_classes);

static void cmd_verify(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    char err[300];
    if (heap_verify(err, sizeof err))
        kprintf("heap_verify: ok\n");
    else
        kprintf("%s\n", err);
}
SHELL_CMD("verify", "check every heap invariant (heap_verify)", cmd_verify);

static void cmd_scavenge(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    malloc_flush_all_mcaches();
    kprintf("scavenge: released %lu KiB of free heap pages\n", heap_scavenge(~0ull) >> 10);
}
SHELL_CMD("scavenge", "flush caches and return free heap pages' frames", cmd_scavenge);
