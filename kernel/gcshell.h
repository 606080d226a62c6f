/* gcshell.h — the collector's command-line words and the idle loop. */
#ifndef KERNEL_GCSHELL_H
#define KERNEL_GCSHELL_H

#include <stdint.h>

#include "cmdline.h"

/* gogc=, gctrace=, forcegc= (before the tests). */
void gc_apply_cmdline(const struct cmdline *c);
/* gc and idle= (after the tests). */
void gc_after_tests(const struct cmdline *c);
/* Halt until the next 10 ms tick, then sysmon and posted work. */
void kernel_idle_step(void);
/* Stop the idle tick. */
void kernel_idle_end(void);
/* Idle for ns nanoseconds. */
void kernel_idle(uint64_t ns);

#endif
