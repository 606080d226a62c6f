/* pprof.h — the heap profile's words, shell command and dump (pprof.c). */
#ifndef KERNEL_PPROF_H
#define KERNEL_PPROF_H

#include <stdint.h>

struct cmdline;

/* memprofilerate=N (after malloc_init). */
void pprof_apply_cmdline(const struct cmdline *c);
/* pprofwork, then pprof (after the self-tests). */
void pprof_after_tests(const struct cmdline *c);
/* The profile on serial between -----BEGIN/END HEAP PROFILE----- markers,
 * or "pprof: no samples (...)". */
void pprof_dump_heap(void);
/* The same from another source of records (tests: an empty profile). */
struct mprof_record;
void pprof_dump_from(uint32_t (*snapshot)(struct mprof_record *, uint32_t));
/* The known workload: 48 MiB of 1 KiB objects, 16 MiB of 64-byte ones. */
void pprof_work(void);

#endif
