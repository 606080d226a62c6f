/* kinit.c — late initialisation: the subsystems built on frames + paging. */
#include "kinit.h"
#include "kernel.h"

__attribute__((weak)) void smp_init(void) {}

void kinit_late(void)
{
    smp_init();
}

void kinit_after_tests(const struct cmdline *c)
{
    (void)c;
}
