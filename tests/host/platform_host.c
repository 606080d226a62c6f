/*
 * platform_host.c — alloc/platform.h on Linux, for host tests and benchmarks.
 *
 * Reserved = PROT_NONE mapping, Prepared = the same (no page tables to build
 * in user space), Ready = PROT_READ|PROT_WRITE, and Ready→Prepared is
 * madvise(MADV_DONTNEED) + PROT_NONE, which also guarantees zero pages on the
 * next plat_back — exactly the kernel's semantics.
 */
#define _GNU_SOURCE
#include "platform_host.h"
#include "lockrank.h"
#include "platform.h"
#include "mgc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <time.h>

static uintptr_t window_base, window_next;
static uint64_t window_size; /* HOST_HEAP_WINDOW, or $HOST_HEAP_WINDOW_GB GiB */
static uint64_t phys_limit = 4ull << 30;
static uint64_t ready_bytes;
static uint32_t ncpu = 1;
__thread uint32_t host_cur_cpu; /* already clamped to [0, ncpu) */
static int quiet;
static char last_log[1024];
static plat_lock_t host_lock = PLAT_LOCK_INIT(LOCKRANK_WINDOW); /* window_next, ready_bytes */
void (*host_panic_hook)(const char *msg);

void host_set_phys_limit(uint64_t bytes) { phys_limit = bytes; }
uint64_t host_ready_bytes(void) { return __atomic_load_n(&ready_bytes, __ATOMIC_RELAXED); }
void host_set_ncpu(uint32_t n) { ncpu = n ? (n > PLAT_MAX_CPUS ? PLAT_MAX_CPUS : n) : 1; }
/* plat_cpu_cache (PLAT_HAVE_CPU_CACHE): the slots, and the calling
 * thread's copy of its CPU's slot. */
static void *host_cpu_cache[PLAT_MAX_CPUS];
__thread void *host_cur_cache;
void host_set_cpu(uint32_t id)
{
    host_cur_cpu = id < ncpu ? id : 0;
    host_cur_cache = host_cpu_cache[host_cur_cpu];
}
void host_set_quiet(int q) { quiet = q; }
const char *host_last_log(void) { return last_log; }

/* The window's size: HOST_HEAP_WINDOW unless the environment variable
 * HOST_HEAP_WINDOW_GB asks for another whole number of GiB (valgrind cannot
 * map 1 TiB; the callgrind runs use 16). */
uint64_t host_heap_window_size(void)
{
    if (!window_size) {
        uint64_t sz = HOST_HEAP_WINDOW;
        const char *e = getenv("HOST_HEAP_WINDOW_GB");
        if (e && *e) {
            unsigned long long gb = strtoull(e, 0, 10);
            if (gb >= 1 && gb <= (1ull << 16))
                sz = (uint64_t)gb << 30;
        }
        window_size = sz;
    }
    return window_size;
}

static void window_init(void)
{
    if (window_base)
        return;
    uint64_t wsize = host_heap_window_size();
    /* Over-reserve by one arena so the window can be 64 MiB aligned. */
    uint64_t align = 64ull << 20;
    void *p = mmap(0, wsize + align, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        perror("platform_host: mmap of the heap window");
        abort();
    }
    window_base = ((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1);
    window_next = window_base;
}

void plat_heap_window(uintptr_t *base, uint64_t *size)
{
    plat_lock(&host_lock);
    window_init();
    plat_unlock(&host_lock);
    *base = window_base;
    *size = window_size;
}

/* alloc/platform.h PLAT_FLAT_PAGEMAP: as the preload library's reserved
 * mode (a PROT_NONE reservation, made read-write piece by piece). */
uintptr_t plat_pagemap_reserve(uint64_t bytes)
{
    void *p = mmap(0, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? 0 : (uintptr_t)p;
}

static int pagemap_refuse;
void host_set_pagemap_refuse(int on) { pagemap_refuse = on; }

bool plat_pagemap_back(uintptr_t p, uint64_t bytes)
{
    return !pagemap_refuse && mprotect((void *)p, bytes, PROT_READ | PROT_WRITE) == 0;
}

uintptr_t plat_reserve(uint64_t size, uint64_t align)
{
    plat_lock(&host_lock);
    window_init();
    uintptr_t p = (window_next + align - 1) & ~(uintptr_t)(align - 1);
    if (p + size > window_base + window_size || p + size < p) {
        plat_unlock(&host_lock);
        return 0;
    }
    window_next = p + size;
    plat_unlock(&host_lock);
    return p;
}

bool plat_prepare(uintptr_t base, uint64_t size)
{
    (void)base;
    (void)size;
    return true;
}

bool plat_back(uintptr_t base, uint64_t size)
{
    plat_lock(&host_lock);
    if (ready_bytes + size > phys_limit) {
        plat_unlock(&host_lock);
        return false;
    }
    ready_bytes += size;
    plat_unlock(&host_lock);
    if (mprotect((void *)base, size, PROT_READ | PROT_WRITE) != 0) {
        perror("platform_host: mprotect");
        abort();
    }
    return true;
}

void plat_unback(uintptr_t base, uint64_t size)
{
    madvise((void *)base, size, MADV_DONTNEED);
    mprotect((void *)base, size, PROT_NONE);
    plat_lock(&host_lock);
    ready_bytes -= size;
    plat_unlock(&host_lock);
}

uint64_t plat_phys_free(void)
{
    uint64_t r = host_ready_bytes();
    return r >= phys_limit ? 0 : phys_limit - r;
}

uint32_t plat_ncpu(void) { return ncpu; }
void plat_set_cpu_cache(uint32_t cpu, void *p)
{
    if (cpu >= PLAT_MAX_CPUS)
        return;
    host_cpu_cache[cpu] = p;
    if (cpu == host_cur_cpu)
        host_cur_cache = p;
}
#ifndef PLAT_INLINE_HEADER /* else tests/host/platform_inline.h has them */
void plat_systemstack(void (*fn)(void *), void *arg) { fn(arg); }
uint32_t plat_cpu_id(void) { return host_cur_cpu; }
uint64_t plat_pin(void) { return 0; }
void plat_unpin(uint64_t token) { (void)token; }
#endif

/* The locks this thread holds (lock-order check, alloc/lockrank.h).  A
 * lock's holder is a thread number (several threads may simulate one CPU),
 * which lock-order messages call the "cpu". */
static __thread struct lockrank_held held_locks;
static __thread int32_t thread_no;
static int32_t threads_numbered;

static int32_t my_thread_no(void)
{
    if (!thread_no)
        thread_no = __atomic_add_fetch(&threads_numbered, 1, __ATOMIC_RELAXED);
    return thread_no;
}

void plat_lock(plat_lock_t *l)
{
    lockrank_acquire(&held_locks, l, l->rank, l->holder_cpu - 1, my_thread_no() - 1);
    uint32_t t = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED);
    unsigned spins = 0;
    /* Yield now and then: tests may run more threads than host cores, and a
     * ticket lock whose next holder is descheduled otherwise convoys. */
    while (__atomic_load_n(&l->owner, __ATOMIC_ACQUIRE) != t) {
        __builtin_ia32_pause();
        if (++spins % 64 == 0)
            sched_yield();
    }
    l->holder_cpu = my_thread_no();
}

void plat_unlock(plat_lock_t *l)
{
    l->holder_cpu = 0;
    __atomic_store_n(&l->owner, l->owner + 1, __ATOMIC_RELEASE);
    lockrank_release(&held_locks, l, l->rank);
}

uint32_t host_locks_held(void) { return held_locks.n; }

bool plat_lock_held(const plat_lock_t *l)
{
    return l->next != l->owner && l->holder_cpu == my_thread_no();
}

_Noreturn void plat_panic(const char *msg)
{
    if (host_panic_hook)
        host_panic_hook(msg);
    fprintf(stderr, "panic: %s\n", msg);
    abort();
}

int plat_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap)
{
    return vsnprintf(buf, n, fmt, ap);
}

void plat_vlog(const char *fmt, va_list ap)
{
    vsnprintf(last_log, sizeof last_log, fmt, ap);
    if (!quiet)
        fprintf(stderr, "%s\n", last_log);
}

void plat_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    plat_vlog(fmt, ap);
    va_end(ap);
}

uint64_t plat_nanotime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------ collector
 * The host tests run the collector in one thread: the "world" is that
 * thread, so stopping it is free; the simulated CPUs' mcaches are prepared
 * for the sweep by that thread.  Roots are what the tests register with
 * gc_add_root (their static tables).  Marking runs on host_gc_markers
 * threads at once (default 1; tests set more to exercise the parallel
 * mark under the sanitizers). */
#include "mgc.h"

static uint32_t gc_markers = 1;
void host_set_gc_markers(uint32_t n) { gc_markers = n ? (n > 16 ? 16 : n) : 1; }

bool plat_gc_supported(void) { return true; }
void plat_gc_run(void (*fn)(void *), void *arg) { fn(arg); }
uint64_t plat_gc_stop_world(void) { return 0; }
void plat_gc_poll(void) {}
struct gc_assist *plat_gc_assist(void)
{
    static __thread struct gc_assist account; /* one per thread: the host's tasks */
    return &account;
}
void plat_gc_assist_park(void) { sched_yield(); }
void plat_gc_describe_word(uintptr_t addr, char *buf, size_t n)
{
    (void)addr;
    if (n)
        buf[0] = 0;
}
uint32_t plat_gc_ragged(void (*fn)(void), uint64_t timeout_ns)
{
    (void)timeout_ns;
    fn(); /* threads here have no safepoints of their own */
    return 1;
}
void plat_gc_worker(bool (*fn)(void *, bool), void *arg)
{
    while (!fn(arg, true)) /* no tasks to hand back: the steps run back to back */
        ;
}
uint32_t plat_gc_scan_stacks(plat_gc_root_fn fn, void *ctx, uint32_t cycle)
{
    (void)fn, (void)ctx, (void)cycle;
    return 0; /* the host's threads are not roots here (gc_add_root ranges are) */
}
uint32_t plat_locks_held(void) { return held_locks.n; }
void plat_cpu_relax(void) { sched_yield(); }
void plat_gc_roots(plat_gc_root_fn fn, void *ctx) { (void)fn; (void)ctx; }

struct par_arg {
    void (*fn)(void *);
    void *arg;
};

static void *par_thread(void *p)
{
    struct par_arg *a = p;
    a->fn(a->arg);
    return 0;
}

uint32_t plat_gc_parallel(void (*fn)(void *), void *arg)
{
    pthread_t t[16];
    struct par_arg a = {fn, arg};
    for (uint32_t i = 1; i < gc_markers; i++)
        pthread_create(&t[i], 0, par_thread, &a);
    fn(arg);
    for (uint32_t i = 1; i < gc_markers; i++)
        pthread_join(t[i], 0);
    return gc_markers;
}

void plat_gc_start_world(void) {}

bool plat_mapped(uintptr_t lo, uintptr_t hi)
{
    uintptr_t pg = lo & ~(uintptr_t)4095;
    unsigned char vec;
    for (; pg < hi; pg += 4096)
        if (mincore((void *)pg, 4096, &vec) != 0)
            return false;
    return true;
}
