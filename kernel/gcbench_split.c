/*
 * gcbench_split.c — the busy CPUs of gcbench's time-to-stop benchmark.
 * Compiled with -fsplit-stack (Makefile: *_split.c) like task code: every
 * call of spin_step checks the stack guard, which is where a pending stop
 * catches the task (the poisoned guard, gcstw.c).
 */
#include "gcbench.h"
#include "kernel.h"
#include "task.h"

volatile uint32_t gcbench_spinning, gcbench_spin_stop;

static __attribute__((noinline)) uint64_t spin_step(uint64_t x)
{
    return x * 6364136223846793005ull + 1442695040888963407ull;
}

void gcbench_spin_task(void *arg)
{
    (void)arg;
    uint64_t x = 1, end = nanotime() + 20000000000ull;
    __atomic_add_fetch(&gcbench_spinning, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&gcbench_spin_stop, __ATOMIC_ACQUIRE) && nanotime() < end)
        for (int i = 0; i < 1000; i++)
            x = spin_step(x);
    __asm__ volatile("" ::"r"(x));
}
