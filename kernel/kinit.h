/* kinit.h — late initialisation hooks called by kmain (heap, SMP, ...). */
#ifndef KERNEL_KINIT_H
#define KERNEL_KINIT_H

#include "cmdline.h"
#include "memmap.h"

void kinit_late(void);                              /* after paging + cmdline */
void kinit_after_tests(const struct cmdline *c);    /* stats, classes */
const struct mem_range *kernel_usable_ranges(int *n);
/* The per-test leak check (the runner calls both around every test; a
 * self-test may call them itself to prove they catch a leak). */
void kinit_leak_snapshot(void);
int kinit_leak_check(char *err, uint64_t n);
extern struct cmdline kernel_cmdline;

#endif
