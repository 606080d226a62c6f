/*
 * cmdline.h — the kernel command line (portable; host-tested).
 *
 * Words are separated by spaces or tabs.  Recognised words:
 *   test=quick            run the quick self-tests (default set)
 *   test=all              run every self-test, slow ones included
 *   test=NAME[,NAME...]   run the named self-tests only
 *   test=list             print the names of all self-tests
 *   test=none             run no self-test
 *   failtest              also register the deliberately failing self-test
 *                         ("selftest_must_fail"), to prove failures are seen
 *   stats                 print the memory statistics after the tests
 *   classes               print the size-class table after the tests
 *   heapmap               print `heapmap -f` (every arena page) after the tests
 *   shell                 start the serial shell after the tests
 *   halt                  power off when done; QEMU's exit status is the verdict
 *   cpus                  print the CPUs found and started
 *   bench                 run the allocator benchmarks (per CPU count, both designs)
 *   hotsplit              run the stack benchmark (hot split, growth to 1 MiB)
 *   stack=contiguous      new tasks grow their stacks by copying (default)
 *   stack=segmented       new tasks grow their stacks by linking segments
 *   maxstack=N[K|M|G]     stack limit per task (default 1000000000, Go's)
 *   segcache              segmented mode keeps one spare segment per task
 *   gogc=N|off            GOGC: the heap goal's growth over the live heap, in
 *                         percent (0..100000; default 100); off disables the
 *                         collector (GOGC=off)
 *   gctrace=N             GODEBUG=gctrace: 1 prints a line per cycle
 *   forcegc=N             the forced-GC period in seconds (Go's 2 minutes)
 *   gccheckmark=0|1       GODEBUG=gccheckmark: verify every mark with a second one
 *   gcclobber=0|1         GODEBUG=clobberfree: the sweep overwrites collected objects
 *   gcstoptheworld=0|1    GODEBUG=gcstoptheworld: 0 (the default) marks concurrently
 *                         (alloc/mgc.c CONCURRENT MARK), 1 with the world stopped
 *   gc                    run one collection after the tests (runtime.GC())
 *   idle=N                before powering off / the shell, idle N seconds
 *                         (halted; the forced GC still runs)
 *   gcbench               run the collector benchmarks after the tests
 *   gcbench=pause|stop|churn|mutator|all  only that part of them (the shell's gcbench words)
 *   memprofilerate=N      heap profile: bytes allocated per sample on average
 *                         (Go's MemProfileRate; default 524288; 0 off, 1 every
 *                         allocation)
 *   pprofwork             after the tests, run the heap profile's known
 *                         workload (kernel/pprof.c)
 *   pprof                 after the tests, dump the heap profile on serial
 *   fbcon=on|off          the screen console on the GOP framebuffer (default
 *                         on when the loader found one; kernel/fbcon.c)
 * An unknown word, or a known word with a bad value, is reported as
 * `cmdline: unknown word 'X'` / `cmdline: bad value in 'X'` and ignored.
 */
#ifndef KERNEL_CMDLINE_H
#define KERNEL_CMDLINE_H

enum test_mode { TEST_NONE = 0, TEST_QUICK, TEST_ALL, TEST_NAMED, TEST_LIST };

#define CMDLINE_MAX_ERRORS 4
#define CMDLINE_NAMES_MAX 256

struct cmdline {
    enum test_mode test;
    char test_names[CMDLINE_NAMES_MAX]; /* comma-separated, for TEST_NAMED */
    int failtest, stats, classes, heapmap, shell, halt;
    int cpus, bench, hotsplit, segcache;
    int stack_segmented;         /* stack=segmented */
    unsigned long long maxstack; /* 0: default */
    int gogc_set, gogc;          /* gogc= given; its value (-1: off) */
    int gctrace;
    unsigned long long forcegc;  /* seconds; 0: default */
    int gc, gcbench;
    const char *gcbench_which;   /* "all" unless gcbench=WHICH */
    int gccheckmark, gcclobber;  /* 0|1 */
    int gcstoptheworld;          /* 0|1; -1: not given (the default, 0) */
    unsigned long long idle;     /* seconds */
    int memprofilerate_set;      /* memprofilerate= given */
    unsigned long long memprofilerate;
    int pprof, pprofwork;
    int fbcon_off;               /* fbcon=off */
    int nerrors;
    char errors[CMDLINE_MAX_ERRORS][96];
};

/* Parses `s` (NUL-terminated) into *out; returns the number of errors. */
int cmdline_parse(const char *s, struct cmdline *out);

/* True when `name` is in the comma-separated `list`; an entry ending in
 * '*' matches every name that starts with what precedes it. */
int cmdline_list_has(const char *list, const char *name);

/* A memprofilerate value: a whole number (decimal, up to 12 digits); 0 when
 * s is not one. */
int cmdline_parse_rate(const char *s, unsigned long long *out);

#endif
