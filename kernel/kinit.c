/* kinit.c — late initialisation: the subsystems built on frames + paging. */
#include "kinit.h"
#include "kernel.h"

void kinit_late(void)
{
}

void kinit_after_tests(const struct cmdline *c)
{
    (void)c;
}
