/*
 * pprof.c — the heap profile as the kernel's user sees it: the words
 * memprofilerate=N, pprofwork and pprof, the shell command `pprof`, the
 * dump on serial, the known workload the test profiles, and the stack
 * bounds the profiler's frame-pointer walk needs (alloc/mprof.c).
 *
 * THE DUMP (pprof_dump_heap): a snapshot of the buckets, encoded as a
 * profile.proto message (alloc/mprof_proto.c), printed in base64 lines of
 * 76 characters between
 *     -----BEGIN HEAP PROFILE-----
 *     -----END HEAP PROFILE-----
 * (scripts/pprof_extract.py turns that back into build/heap.pb).  The
 * mapping names kernel.elf at its link address (__kernel_start ..
 * __kernel_end, file offset 0: pprof then takes the addresses as they are
 * and symbolizes from build/kernel.elf).  No sample yet → one line
 * "pprof: no samples (...)" and no markers.  Buffers come from kmalloc
 * (not sampled: the dump does not change what it shows).
 *
 * THE WORKLOAD (pprofwork, `pprof work`): pprof_alloc_1k allocates
 * PPROF_WORK_1K_BYTES in 1 KiB objects and pprof_alloc_64 PPROF_WORK_64_BYTES
 * in 64-byte objects, all pointer free, dropped at once (garbage for the
 * collector).  Their shares of alloc_space are known: 3/4 and 1/4
 * (tests/qemu/pprof_check.py checks them within the sampling error).
 */
#include "../alloc/malloc.h"
#include "../alloc/mprof.h"
#include "cmdline.h"
#include "fmt.h"
#include "kernel.h"
#include "percpu.h"
#include "pprof.h"
#include "shell.h"
#include "smp.h"
#include "task.h"

#define PPROF_WORK_1K_BYTES (48ull << 20)
#define PPROF_WORK_64_BYTES (16ull << 20)

extern char __kernel_start[], __kernel_end[];
extern char boot_stack[], boot_stack_top[];

/* ------------------------------------------------------------ stacks */

/* The stack holding fp: the boot stack, this CPU's kernel stack, or the
 * running task's stack (segment). */
bool plat_stack_bounds(uintptr_t fp, uintptr_t *lo, uintptr_t *hi)
{
    struct percpu *p = this_cpu();
    uint64_t top = smp_kstack_top(p->cpu_id);
    struct task *t = p->current_task;
    if (fp >= (uintptr_t)boot_stack && fp < (uintptr_t)boot_stack_top) {
        *lo = (uintptr_t)boot_stack;
        *hi = (uintptr_t)boot_stack_top;
    } else if (top && fp < top && fp >= top - SMP_KSTACK_BYTES) {
        *lo = top - SMP_KSTACK_BYTES;
        *hi = top;
    } else if (t && fp >= t->stack_lo && fp < t->stack_hi) {
        *lo = t->stack_lo;
        *hi = t->stack_hi;
    } else {
        return false;
    }
    return true;
}

/* ------------------------------------------------------------ dump */

static void print_base64(const uint8_t *pb, size_t n)
{
    char line[80];
    for (size_t i = 0; i < n; i += 57) {
        size_t k = mprof_base64(pb + i, n - i < 57 ? n - i : 57, line);
        line[k] = 0;
        kprintf("%s\n", line);
    }
}

/* Encode and print the records r[0..n). */
static void dump_records(const struct mprof_record *r, uint32_t n)
{
    size_t nscratch = (size_t)n * MPROF_MAX_DEPTH + 1;
    size_t cap = 4096 + (size_t)n * (MPROF_MAX_DEPTH * 24 + 96);
    uintptr_t *scratch = kmalloc(nscratch * sizeof *scratch);
    uint8_t *pb = kmalloc(cap);
    struct mprof_proto_info info = {mprof_get_rate(), (uintptr_t)__kernel_start,
                                    (uintptr_t)__kernel_end, 0, "kernel.elf", 0};
    size_t len = scratch && pb ? mprof_proto_encode(r, n, &info, pb, cap, scratch, nscratch) : 0;
    if (!len) {
        kprintf("pprof: cannot encode the profile (%u buckets): out of memory\n", n);
    } else {
        kprintf("pprof: heap profile: %u buckets, %lu bytes of profile.proto, rate %lu\n", n,
                (unsigned long)len, (unsigned long)info.rate);
        kprintf("-----BEGIN HEAP PROFILE-----\n");
        print_base64(pb, len);
        kprintf("-----END HEAP PROFILE-----\n");
    }
    kfree(pb);
    kfree(scratch);
}

void pprof_dump_heap(void) { pprof_dump_from(mprof_snapshot); }

void pprof_dump_from(uint32_t (*snapshot)(struct mprof_record *, uint32_t))
{
    uint32_t n = snapshot(0, 0);
    if (n == 0) {
        unsigned long rate = (unsigned long)mprof_get_rate();
        kprintf("pprof: no samples (memprofilerate=%lu%s; no mallocgc allocation was sampled "
                "yet)\n", rate, rate ? "" : ": profiling is off");
        return;
    }
    struct mprof_record *r = 0;
    for (int tries = 0; tries < 4; tries++) { /* buckets may appear meanwhile */
        uint32_t room = n + 16;
        kfree(r);
        r = kmalloc(room * sizeof *r);
        if (!r)
            break;
        n = snapshot(r, room);
        if (n <= room) {
            dump_records(r, n);
            kfree(r);
            return;
        }
    }
    kfree(r);
    kprintf("pprof: cannot snapshot the profile (%u buckets): out of memory\n", n);
}

/* ------------------------------------------------------------ workload */

static void *volatile pprof_sink;

void __attribute__((noinline)) pprof_alloc_1k(uint64_t bytes)
{
    for (uint64_t i = 0; i < bytes / 1024; i++)
        pprof_sink = mallocgc(1024, 0, false);
}

void __attribute__((noinline)) pprof_alloc_64(uint64_t bytes)
{
    for (uint64_t i = 0; i < bytes / 64; i++)
        pprof_sink = mallocgc(64, 0, false);
}

void pprof_work(void)
{
    uint64_t t0 = nanotime();
    pprof_alloc_1k(PPROF_WORK_1K_BYTES);
    pprof_alloc_64(PPROF_WORK_64_BYTES);
    pprof_sink = 0;
    kprintf("pprof: workload: pprof_alloc_1k %lu bytes in 1024-byte objects, pprof_alloc_64 %lu "
            "bytes in 64-byte objects (%lu ms)\n", (unsigned long)PPROF_WORK_1K_BYTES,
            (unsigned long)PPROF_WORK_64_BYTES, (unsigned long)((nanotime() - t0) / 1000000));
}

/* ------------------------------------------------------------ words, shell */

void pprof_apply_cmdline(const struct cmdline *c)
{
    if (c->memprofilerate_set)
        mprof_set_rate(c->memprofilerate);
}

void pprof_after_tests(const struct cmdline *c)
{
    if (c->pprofwork)
        pprof_work();
    if (c->pprof)
        pprof_dump_heap();
}

static void pprof_usage(void)
{
    kprintf("usage: pprof heap | pprof work | pprof rate [N]\n"
            "  heap: dump the heap profile (profile.proto, base64) for go tool pprof\n"
            "  work: run the known workload (1 KiB and 64-byte objects)\n"
            "  rate: show or set memprofilerate (bytes per sample; 0 off, 1 all)\n");
}

static void cmd_pprof(int argc, char **argv)
{
    if (argc == 2 && !__builtin_strcmp(argv[1], "heap")) {
        pprof_dump_heap();
    } else if (argc == 2 && !__builtin_strcmp(argv[1], "work")) {
        pprof_work();
    } else if (argc == 2 && !__builtin_strcmp(argv[1], "rate")) {
        kprintf("memprofilerate: %lu\n", (unsigned long)mprof_get_rate());
    } else if (argc == 3 && !__builtin_strcmp(argv[1], "rate")) {
        unsigned long long v;
        if (!cmdline_parse_rate(argv[2], &v)) {
            kprintf("pprof: bad rate '%s' (a whole number of bytes: 0 off, 1 every "
                    "allocation)\n", argv[2]);
            return;
        }
        mprof_set_rate(v);
        kprintf("memprofilerate: %llu\n", v);
    } else {
        pprof_usage();
    }
}
SHELL_CMD("pprof", "heap profile for go tool pprof (pprof heap | work | rate [N])", cmd_pprof);
