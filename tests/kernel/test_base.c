/*
 * test_base.c — self-tests of the kernel base: printf formats, recovered
 * exceptions, the frame allocator, page tables, the boot memory map.
 */
#include "fmt.h"
#include "frame.h"
#include "kernel.h"
#include "../../alloc/malloc.h"
#include "../../alloc/stack.h"
#include "kinit.h"
#include "ktest.h"
#include "paging.h"
#include "percpu.h"
#include "trap.h"

/* ------------------------------------------------------------ printf */

static void expect_fmt(const char *want, const char *fmt, ...)
{
    char buf[128];
    va_list ap;
    va_start(ap, fmt);
    int n = kvsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    KCHECKF(!__builtin_strcmp(buf, want) && n == (int)__builtin_strlen(want),
            "format \"%s\": got \"%s\" (%d), want \"%s\"", fmt, buf, n, want);
}

KTEST(printf_formats, KTEST_QUICK)
{
    expect_fmt("42 -7 +5  3", "%d %i %+d % d", 42, -7, 5, 3);
    expect_fmt("18446744073709551615", "%lu", ~0ul);
    expect_fmt("-9223372036854775808", "%ld", (long)(1ull << 63));
    expect_fmt("ff FF 0xff 777 0777", "%x %X %#x %o %#o", 255, 255, 255, 511, 511);
    expect_fmt("[   12] [12   ] [00012] [-0012]", "[%5d] [%-5d] [%05d] [%05d]", 12, 12, 12, -12);
    expect_fmt("[  abc] [abc  ] [ab]", "[%5s] [%-5s] [%.2s]", "abc", "abc", "abc");
    expect_fmt("[00042] [  042]", "[%.5u] [%5.3u]", 42, 42);
    expect_fmt("0x00000000deadbeef 0x0000000000000000", "%p %p", (void *)0xdeadbeef, (void *)0);
    expect_fmt("(null) x %", "%s %c %%", (char *)0, 'x');
    expect_fmt("1010", "%b", 10);
    expect_fmt("[    7]", "[%*d]", 5, 7);
    expect_fmt("255 65535 4294967295", "%hhu %hu %zu", 0x1ff, 0x1ffff, (unsigned long)0xffffffff);
    expect_fmt("%?f", "%f");
    char small[4];
    int n = ksnprintf(small, sizeof small, "%s", "abcdef");
    KCHECK(n == 6 && !__builtin_strcmp(small, "abc"));
}

/* ------------------------------------------------------------ exceptions */

KTEST(exception_ud2_recovered, KTEST_QUICK)
{
    uint64_t before = this_cpu()->faults_fixed;
    KCHECK(probe_ud2() == -1);
    KCHECK(this_cpu()->last_fault_vector == 6);
    KCHECK(this_cpu()->faults_fixed == before + 1);
}

KTEST(exception_divide_recovered, KTEST_QUICK)
{
    KCHECK(probe_div0(12345) == -1);
    KCHECK(this_cpu()->last_fault_vector == 0);
}

KTEST(exception_null_page_fault, KTEST_QUICK)
{
    uint64_t v = 0;
    /* the loader's identity map is gone: address 0 must fault */
    KCHECK(probe_read64(0, &v) == -1);
    KCHECK(this_cpu()->last_fault_vector == 14);
    KCHECK(this_cpu()->last_fault_cr2 == 0);
    KCHECK((this_cpu()->last_fault_err & 1) == 0); /* not-present fault */
    KCHECK(probe_write64(0x1000, 1) == -1);
    KCHECK(this_cpu()->last_fault_cr2 == 0x1000);
}

/* ------------------------------------------------------------ frames */

static int in_reserved(uint64_t pa)
{
    const struct bootinfo *bi = boot_info;
    for (uint32_t i = 0; i < bi->nreserved; i++)
        if (pa >= bi->reserved[i].phys && pa < bi->reserved[i].phys + bi->reserved[i].size)
            return 1;
    return pa >= bi->kernel_phys && pa < bi->kernel_phys + bi->kernel_size;
}

static int in_usable(uint64_t pa)
{
    int n;
    const struct mem_range *r = kernel_usable_ranges(&n);
    for (int i = 0; i < n; i++)
        if (pa >= r[i].start && pa + FRAME_SIZE <= r[i].end)
            return 1;
    return 0;
}

KTEST(frame_alloc_free_reuse, KTEST_QUICK)
{
    uint64_t before = frame_free_count();
    uint64_t a = frame_alloc(), b = frame_alloc();
    KREQUIRE(a && b && a != b);
    KCHECK((a & 0xFFF) == 0 && (b & 0xFFF) == 0);
    KCHECK(a >= FRAME_LOW_LIMIT && b >= FRAME_LOW_LIMIT);
    KCHECK(frame_free_count() == before - 2);
    uint64_t *pa = phys_to_virt(a);
    pa[0] = 0x1122334455667788ull;
    KCHECK(pa[0] == 0x1122334455667788ull);
    frame_free(a);
    uint64_t c = frame_alloc(); /* lowest-first: the freed frame comes back */
    KCHECK(c == a);
    frame_free(b);
    frame_free(c);
    KCHECK(frame_free_count() == before);
    uint64_t z = frame_alloc_zeroed();
    uint64_t *zp = phys_to_virt(z);
    int zero = 1;
    for (int i = 0; i < 512; i++)
        zero &= zp[i] == 0;
    KCHECK(zero);
    frame_free(z);
}

/* Allocates every frame (chained through the frames themselves), checks
 * none is reserved or outside usable RAM, then frees all: the allocator
 * must come back to exactly its starting count and work again. */
KTEST(frame_exhaust_and_recover, KTEST_QUICK)
{
    uint64_t before = frame_free_count();
    uint64_t head = 0, count = 0, bad = 0, first_bad = 0;
    for (;;) {
        uint64_t f = frame_alloc();
        if (!f)
            break;
        if (in_reserved(f) || !in_usable(f) || f < FRAME_LOW_LIMIT) {
            if (!bad)
                first_bad = f;
            bad++;
        }
        *(uint64_t *)phys_to_virt(f) = head;
        head = f;
        count++;
    }
    KCHECKF(bad == 0, "%lu frames handed out from reserved memory, first 0x%lx", bad, first_bad);
    KCHECKF(count == before, "allocated %lu frames, %lu were free", count, before);
    KCHECK(frame_free_count() == 0);
    KCHECK(frame_alloc() == 0);
    while (head) {
        uint64_t next = *(uint64_t *)phys_to_virt(head);
        frame_free(head);
        head = next;
    }
    KCHECK(frame_free_count() == before);
    uint64_t f = frame_alloc();
    KCHECK(f != 0);
    frame_free(f);
}

KTEST(frame_low_memory, KTEST_QUICK)
{
    uint64_t f = frame_alloc_low();
    KREQUIRE(f != 0);
    KCHECK(f < FRAME_LOW_LIMIT && f > 0 && in_usable(f));
    frame_free(f);
}

/* ------------------------------------------------------------ paging */

#define SCRATCH_VA 0xffffe00000000000ull

KTEST(paging_map_write_unmap, KTEST_QUICK)
{
    uint64_t f = frame_alloc();
    KREQUIRE(f);
    KREQUIRE(map_page(SCRATCH_VA, f, PTE_W) == 0);
    KCHECK(virt_to_phys(SCRATCH_VA + 0x123) == f + 0x123);
    volatile uint64_t *v = (volatile uint64_t *)SCRATCH_VA;
    v[3] = 0xfeedfacecafebeefull;
    KCHECK(((uint64_t *)phys_to_virt(f))[3] == 0xfeedfacecafebeefull);
    KCHECK(map_page(SCRATCH_VA, f, PTE_W) == PG_EEXIST);
    KCHECK(map_page(SCRATCH_VA + 1, f, PTE_W) == PG_EINVAL);
    KCHECK(map_page(0x0000800000000000ull, f, PTE_W) == PG_EINVAL); /* non-canonical */
    uint64_t got = 0;
    KCHECK(unmap_page(SCRATCH_VA, &got) == 0 && got == f);
    KCHECK(virt_to_phys(SCRATCH_VA) == ~0ull);
    uint64_t x;
    KCHECK(probe_read64(SCRATCH_VA, &x) == -1 && this_cpu()->last_fault_cr2 == SCRATCH_VA);
    KCHECK(unmap_page(SCRATCH_VA, 0) == PG_ENOTMAP);
    /* the direct map is made of 2 MiB pages: 4 KiB maps must not split them */
    KCHECK(map_page(DIRECT_MAP_BASE + 0x200000, f, PTE_W) == PG_EHUGE);
    frame_free(f);
}

KTEST(paging_prepare_then_map, KTEST_QUICK)
{
    uint64_t va = SCRATCH_VA + (1ull << 30);
    KCHECK(paging_prepare(va, 4 << 20) == 0);
    uint64_t tables = paging_table_pages();
    uint64_t f = frame_alloc();
    KREQUIRE(f);
    KCHECK(map_page(va + 0x3ff000, f, PTE_W) == 0);
    KCHECK(paging_table_pages() == tables); /* prepared: no new table page */
    KCHECK(unmap_page(va + 0x3ff000, 0) == 0);
    frame_free(f);
}

/* ------------------------------------------------------------ memory map */

KTEST(memmap_excludes_kernel_and_bootinfo, KTEST_QUICK)
{
    const struct bootinfo *bi = boot_info;
    int n;
    const struct mem_range *r = kernel_usable_ranges(&n);
    KREQUIRE(n > 0);
    for (int i = 0; i < n; i++) {
        KCHECK(r[i].start < r[i].end && (r[i].start & 0xFFF) == 0 && (r[i].end & 0xFFF) == 0);
        if (i)
            KCHECK(r[i - 1].end <= r[i].start);
        for (uint32_t j = 0; j < bi->nreserved; j++) {
            uint64_t s = bi->reserved[j].phys, e = s + bi->reserved[j].size;
            KCHECKF(r[i].end <= s || r[i].start >= e,
                    "usable [0x%lx,0x%lx) overlaps reserved [0x%lx,0x%lx)", r[i].start, r[i].end, s, e);
        }
    }
    KCHECK(virt_to_phys(bi->kernel_virt) == bi->kernel_phys);
}

/* The per-test leak check catches what a test leaves behind: a kmalloc
 * object, a frame, a stack — each alone — and is quiet once they are
 * given back. */
KTEST(leak_check_catches_leaks, KTEST_QUICK)
{
    char err[200];
    kinit_leak_snapshot();
    void *obj = kmalloc(40);
    KREQUIRE(obj);
    KCHECK(!kinit_leak_check(err, sizeof err));
    KCHECKF(__builtin_strstr(err, "leak: kmalloc objects") != 0, "message: %s", err);
    kfree(obj);
    KCHECK(kinit_leak_check(err, sizeof err));
    uint64_t f = frame_alloc();
    KREQUIRE(f);
    KCHECK(!kinit_leak_check(err, sizeof err));
    frame_free(f);
    void *stk = stackalloc(4096);
    KREQUIRE(stk);
    KCHECK(!kinit_leak_check(err, sizeof err));
    stackfree(stk, 4096);
    KCHECKF(kinit_leak_check(err, sizeof err), "after giving everything back: %s", err);
}

/* Proves the harness notices a failure: registered only with `failtest`. */
KTEST(selftest_must_fail, KTEST_FAILTEST)
{
    KCHECKF(1 + 1 == 3, "deliberate failure (the 'failtest' command-line word is set)");
}
