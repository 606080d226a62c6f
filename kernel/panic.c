/*
 * panic.c — the end of the line.
 *
 * panic(): (1) interrupts off, claim the panic (a second CPU that panics
 * meanwhile just halts; a recursive panic on the same CPU exits at once),
 * (2) stop the other CPUs, (3) print "PANIC on cpu N: message" and a
 * frame-pointer backtrace, (4) let the self-test runner report the running
 * test as failed and print its summary, (5) exit QEMU with the fail code.
 */
#include "kernel.h"
#include "cpu.h"
#include "fmt.h"
#include "percpu.h"
#include "trap.h"

static volatile int32_t panic_owner = -1;

void printf_break_lock(void);
__attribute__((weak)) void smp_stop_others(void) {}

uint32_t panic_cpu_id(void)
{
    if (rdmsr(MSR_GS_BASE) == 0)
        return 0;
    return this_cpu()->cpu_id;
}

_Noreturn void qemu_exit(uint32_t code)
{
    outl(0xf4, code);
    for (;;) { /* not under QEMU: stop here */
        cli();
        hlt();
    }
}

void panic_begin(void)
{
    cli();
    int32_t me = (int32_t)panic_cpu_id();
    int32_t expected = -1;
    if (!__atomic_compare_exchange_n(&panic_owner, &expected, me, 0, __ATOMIC_SEQ_CST,
                                     __ATOMIC_SEQ_CST)) {
        if (expected == me) {
            printf_break_lock();
            kprintf("\nPANIC on cpu %d: recursive panic\n", me);
            qemu_exit(QEMU_EXIT_FAIL);
        }
        for (;;) /* another CPU owns the panic and will end the machine */
            hlt();
    }
    if (rdmsr(MSR_GS_BASE))
        this_cpu()->in_panic = 1; /* locks are no longer order-checked */
    smp_stop_others();
    printf_break_lock();
}

void backtrace_from(uint64_t rbp)
{
    for (int depth = 0; depth < 24 && rbp; depth++) {
        uint64_t next, ret;
        if ((rbp & 7) || probe_read64(rbp, &next) || probe_read64(rbp + 8, &ret))
            break;
        if (ret == 0)
            break;
        kprintf("  0x%016lx\n", ret);
        if (next <= rbp) /* stacks grow down: callers are above */
            break;
        rbp = next;
    }
}

static _Noreturn void finish(const char *msg)
{
    kprintf("PANIC on cpu %u: %s\n", panic_cpu_id(), msg);
    ktest_on_panic(msg);
    qemu_exit(QEMU_EXIT_FAIL);
}

_Noreturn void panic_end(const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    kvsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    finish(msg);
}

_Noreturn void panic(const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    kvsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    panic_begin();
    kprintf("\npanic: %s\nbacktrace:\n", msg);
    backtrace_from((uint64_t)__builtin_frame_address(0));
    finish(msg);
}
