/*
 * gcshell.c — the collector as the kernel's user sees it: the command-line
 * words (gogc=, gctrace=, forcegc=, gc, idle=), the shell commands (gc,
 * gogc, gctrace, gcstats), and the idle loop that keeps the forced GC
 * running when nothing else does.
 *
 * IDLE (kernel_idle_step): the CPU halts until the next tick of a 10 ms
 * LAPIC timer (or any interrupt), then gives sysmon its turn
 * (gc_sysmon_tick: a cycle when none ran for the forced-GC period) and
 * serves posted work.  The shell idles this way between characters, and
 * the `idle=N` word for N seconds: an idle kernel still collects.
 */
#include "../alloc/mgc.h"
#include "../alloc/mstats.h"
#include "cmdline.h"
#include "cpu.h"
#include "fmt.h"
#include "gcshell.h"
#include "kernel.h"
#include "lapic.h"
#include "shell.h"
#include "smp.h"
#include "trap.h"

#define IDLE_TIMER_VECTOR 0xF2
#define IDLE_TICK_MS 10

static int timer_on;

static void idle_tick(struct trap_frame *f)
{
    (void)f;
    lapic_eoi();
}

void kernel_idle_step(void)
{
    if (!timer_on) {
        trap_set_handler(IDLE_TIMER_VECTOR, idle_tick);
        lapic_timer_start(IDLE_TIMER_VECTOR, IDLE_TICK_MS);
        timer_on = 1;
    }
    uint64_t f = irq_save();
    __asm__ volatile("sti; hlt; cli" ::: "memory");
    irq_restore(f);
    gc_sysmon_tick();
    smp_poll();
}

void kernel_idle_end(void)
{
    if (timer_on) {
        lapic_timer_stop();
        timer_on = 0;
    }
}

void kernel_idle(uint64_t ns)
{
    uint64_t end = nanotime() + ns;
    while (nanotime() < end)
        kernel_idle_step();
    kernel_idle_end();
}

void gc_apply_cmdline(const struct cmdline *c)
{
    if (c->gogc_set)
        gc_set_percent(c->gogc);
    gc_set_trace(c->gctrace);
    gc_set_checkmark(c->gccheckmark ? GC_CHECKMARK_FATAL : GC_CHECKMARK_OFF);
    gc_set_clobber(c->gcclobber);
    /* the kernel stops every CPU for real: concurrent marking by default */
    gc_set_stoptheworld(c->gcstoptheworld > 0);
    if (c->gccheckmark || c->gcclobber || c->gcstoptheworld >= 0)
        kprintf("gc: debug modes:%s%s%s\n", c->gccheckmark ? " gccheckmark=1" : "",
                c->gcclobber ? " gcclobber=1" : "",
                c->gcstoptheworld == 0   ? " gcstoptheworld=0 (concurrent mark)"
                : c->gcstoptheworld == 1 ? " gcstoptheworld=1"
                                         : "");
    if (c->forcegc)
        gc_set_force_period(c->forcegc * 1000000000ull);
}

void gc_after_tests(const struct cmdline *c)
{
    if (c->gc && !gc_collect())
        kprintf("gc: no collection (the collector cannot run here)\n");
    if (c->idle)
        kernel_idle(c->idle * 1000000000ull);
}

/* ------------------------------------------------------------ shell */

static void cmd_gc(int argc, char **argv)
{
    (void)argv;
    if (argc != 1) {
        kprintf("usage: gc   (runs one collection, like runtime.GC())\n");
        return;
    }
    struct gc_stats a, b;
    gc_read_stats(&a);
    if (!gc_collect()) {
        kprintf("gc: the collector cannot run here\n");
        return;
    }
    gc_read_stats(&b);
    struct gc_cycle_record r;
    if (gc_cycle_record(b.NumGC, &r))
        kprintf("gc: cycle %u: %lu -> %lu bytes live, pause %lu us, next goal %lu bytes\n", r.n,
                r.heap0, r.marked, (r.stw1_ns + r.mark_ns + r.stw2_ns) / 1000, r.next_goal);
}
SHELL_CMD("gc", "run a garbage collection now (runtime.GC())", cmd_gc);

static void cmd_gogc(int argc, char **argv)
{
    if (argc == 1) {
        int32_t p = gc_get_percent();
        if (p < 0)
            kprintf("gogc: off\n");
        else
            kprintf("gogc: %d\n", p);
        return;
    }
    struct cmdline c;
    char word[40];
    ksnprintf(word, sizeof word, "gogc=%s", argv[1]);
    if (argc != 2 || cmdline_parse(word, &c) || !c.gogc_set) {
        kprintf("usage: gogc [N|off]   (N: 0..%d, percent of the live heap)\n", GC_PERCENT_MAX);
        return;
    }
    int32_t old = gc_set_percent(c.gogc);
    struct gc_stats s;
    gc_read_stats(&s);
    kprintf("gogc: %d -> %s (next goal %lu bytes)\n", old, argv[1], s.NextGC);
}
SHELL_CMD("gogc", "show or set GOGC: gogc [N|off]", cmd_gogc);

static void cmd_gctrace(int argc, char **argv)
{
    if (argc == 2 && (!__builtin_strcmp(argv[1], "on") || !__builtin_strcmp(argv[1], "1")))
        gc_set_trace(1);
    else if (argc == 2 && (!__builtin_strcmp(argv[1], "off") || !__builtin_strcmp(argv[1], "0")))
        gc_set_trace(0);
    else if (argc != 1) {
        kprintf("usage: gctrace [on|off]\n");
        return;
    }
    kprintf("gctrace: %s\n", gc_get_trace() ? "on" : "off");
}
SHELL_CMD("gctrace", "show or set the per-cycle trace line: gctrace [on|off]", cmd_gctrace);
