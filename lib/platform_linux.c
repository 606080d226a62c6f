/*
 * platform_linux.c — alloc/platform.h for libgomalloc (LD_PRELOAD malloc).
 *
 * MEMORY: the heap window and plat_reserve/prepare/back/unback are in
 * window_linux.c (reserved up front, or mapped on demand under RLIMIT_AS).
 *
 * SCAVENGING.  alloc/ only scavenges when backing fails; a process needs its
 * free memory back sooner.  plat_unlock of the page-heap lock (rank
 * LOCKRANK_MHEAP — every span allocation and free passes there, never the
 * malloc/free fast path) checks idle Ready bytes = Ready − in-use pages
 * (the empty spans mcentral holds count as idle: alloc/mcentral.c HELD
 * EMPTY SPANS; at most 32 MiB, so GM_SCAV_LO's resident total holds);
 * above GM_SCAV_HI (64 MiB + in-use) it calls heap_scavenge down to
 * GM_SCAV_LO (32 MiB + in-use/2), at most every 50 ms unless idle memory
 * exceeds 2 × in-use + 64 MiB (then at once: a program that just freed
 * most of its heap sees RSS fall).  GOMALLOC_SCAVENGE=0 disables it.
 *
 * CPUS.  plat_ncpu() = 64 (PLAT_MAX_CPUS); plat_cpu_id() = the calling
 * thread's slot; pinning is in platform_inline.h, slot hand-out here.
 */
#define _GNU_SOURCE
#include "gomalloc.h"
#include "platform.h"
#include "lockrank.h"
#include "malloc.h"
#include "mheap.h"
#include "fmt.h"

#include <errno.h>
#include <pthread.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

__thread uint32_t gm_slot __attribute__((tls_model("initial-exec")));
__thread uint32_t gm_mode __attribute__((tls_model("initial-exec")));
__thread void *gm_cache __attribute__((tls_model("initial-exec")));
__thread void *gm_owner_cache __attribute__((tls_model("initial-exec"))) = &mcache_unowned;
static void *slot_cache[PLAT_MAX_CPUS];

void plat_set_cpu_cache(uint32_t cpu, void *p)
{
    if (cpu < PLAT_MAX_CPUS)
        slot_cache[cpu] = p;
}
static __thread int32_t gm_tid __attribute__((tls_model("initial-exec")));
static __thread int gm_in_scavenge __attribute__((tls_model("initial-exec")));

static int32_t next_tid;
static uint64_t scav_count, scav_bytes;
static int scav_enabled = 1;
/* 1 while some thread scavenges (one at a time).  A child of fork clears
 * it: the thread that set it does not exist there. */
static int scav_busy;

void gm_write_err(const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(2, s, n);
        if (w <= 0) {
            if (w < 0 && errno == EINTR)
                continue;
            return;
        }
        s += w;
        n -= (size_t)w;
    }
}

uint64_t gm_scavenge_count(void) { return __atomic_load_n(&scav_count, __ATOMIC_RELAXED); }
uint64_t gm_scavenged_bytes(void) { return __atomic_load_n(&scav_bytes, __ATOMIC_RELAXED); }

uint32_t plat_ncpu(void) { return PLAT_MAX_CPUS; }

/* ------------------------------------------------------------ locks */

static inline int32_t my_tid(void)
{
    int32_t t = gm_tid;
    if (__builtin_expect(t == 0, 0))
        gm_tid = t = __atomic_add_fetch(&next_tid, 1, __ATOMIC_RELAXED);
    return t;
}

static void maybe_scavenge(void);

/* Locks are futex mutexes (spin briefly, then sleep), not the kernel's
 * ticket locks: with more runnable threads than cores a ticket lock whose
 * next holder is descheduled stalls every waiter (convoy).  l->next is the
 * futex word: 0 free, 1 locked, 2 locked with sleepers. */
static void futex_lock(volatile uint32_t *w)
{
    uint32_t c = 0;
    if (__atomic_compare_exchange_n(w, &c, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return;
    for (int i = 0; i < 100; i++) {
        __builtin_ia32_pause();
        c = 0;
        if (__atomic_load_n(w, __ATOMIC_RELAXED) == 0 &&
            __atomic_compare_exchange_n(w, &c, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return;
    }
    if (c != 2)
        c = __atomic_exchange_n(w, 2, __ATOMIC_ACQUIRE);
    while (c != 0) {
        syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
        c = __atomic_exchange_n(w, 2, __ATOMIC_ACQUIRE);
    }
}

static void futex_unlock(volatile uint32_t *w)
{
    if (__atomic_exchange_n(w, 0, __ATOMIC_RELEASE) == 2)
        syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* The locks this thread holds (lock-order check, alloc/lockrank.h; the
 * "cpu" in its messages is the thread number). */
static __thread struct lockrank_held held_locks __attribute__((tls_model("initial-exec")));

void plat_lock(plat_lock_t *l)
{
    lockrank_acquire(&held_locks, l, l->rank, l->holder_cpu - 1, my_tid() - 1);
    futex_lock(&l->next);
    l->holder_cpu = my_tid();
}

void plat_unlock(plat_lock_t *l)
{
    l->holder_cpu = 0;
    futex_unlock(&l->next);
    lockrank_release(&held_locks, l, l->rank);
    if (l->rank == LOCKRANK_MHEAP)
        maybe_scavenge();
}

bool plat_lock_held(const plat_lock_t *l)
{
    return l->next != 0 && l->holder_cpu == my_tid();
}

/* ------------------------------------------------------------ scavenging */

#define GM_SCAV_HI(inuse) ((64ull << 20) + (inuse))
#define GM_SCAV_LO(inuse) ((32ull << 20) + (inuse) / 2)
#define GM_SCAV_PERIOD_NS 50000000ull

static void maybe_scavenge(void)
{
    if (!scav_enabled || gm_in_scavenge)
        return;
    uint64_t ready = __atomic_load_n(&mheap_.ready_bytes, __ATOMIC_RELAXED);
    /* held empty spans count as free (mcentral.c HELD EMPTY SPANS): they
     * are at most 32 MiB, within GM_SCAV_LO's slack, so the page heap's
     * free pages are scavenged down to the same resident total */
    uint64_t inuse_pages = __atomic_load_n(&mheap_.inuse_pages, __ATOMIC_RELAXED);
    uint64_t held = __atomic_load_n(&mheap_.held_pages, __ATOMIC_RELAXED);
    uint64_t inuse = ((held < inuse_pages ? inuse_pages - held : 0) +
                      __atomic_load_n(&mheap_.manual_pages, __ATOMIC_RELAXED)) * PAGE_SIZE;
    if (ready <= inuse || ready - inuse <= GM_SCAV_HI(inuse))
        return;
    /* Paced: at most every GM_SCAV_PERIOD_NS, unless idle memory is far
     * above the bound (a program that just freed most of its heap). */
    static uint64_t last;
    uint64_t now = plat_nanotime();
    if (now - __atomic_load_n(&last, __ATOMIC_RELAXED) < GM_SCAV_PERIOD_NS &&
        ready - inuse <= 2 * inuse + (64ull << 20))
        return;
    __atomic_store_n(&last, now, __ATOMIC_RELAXED);
    if (__atomic_exchange_n(&scav_busy, 1, __ATOMIC_ACQUIRE))
        return;
    gm_in_scavenge = 1;
    uint64_t r = heap_scavenge(ready - inuse - GM_SCAV_LO(inuse));
    gm_in_scavenge = 0;
    __atomic_store_n(&scav_busy, 0, __ATOMIC_RELEASE);
    __atomic_fetch_add(&scav_count, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&scav_bytes, r, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------ slots */

static uint64_t slot_mask; /* bit i: exclusive slot i owned by a live thread */
static volatile uint32_t shared_lock[PLAT_MAX_CPUS][16]; /* [slot][0], 64-byte apart */
static int32_t shared_owner[PLAT_MAX_CPUS];
static pthread_key_t slot_key;
static int inited; /* 0 no, 1 in progress, 2 done */
static pthread_t init_thread;
static int atfork_pending;

static void slot_exit(void *arg);
static void atfork_prepare(void);
static void atfork_parent(void);
static void atfork_child(void);

/* Every message from alloc/ — through the error hook once initialised,
 * through plat_log before that (alloc_report's default: a bad free can be a
 * process's first call) — comes here. */
static void error_hook(const char *msg)
{
    /* Memory exhaustion is reported to the caller as NULL/ENOMEM, as every
     * malloc does; only misuse (bad pointers) is printed. */
    if (!strncmp(msg, "kmalloc: cannot allocate", 24) || !strncmp(msg, "kcalloc: size overflow", 22))
        return;
    char line[600]; /* one write: lines from several threads do not mix */
    ksnprintf(line, sizeof line, "gomalloc: %s\n", msg);
    gm_write_err(line);
    const char *a = getenv("GOMALLOC_ABORT");
    if (a && a[0] == '1')
        abort();
}

void gm_ensure_init(void)
{
    if (__atomic_load_n(&inited, __ATOMIC_ACQUIRE) == 2)
        return;
    int expect = 0;
    if (__atomic_compare_exchange_n(&inited, &expect, 1, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
        init_thread = pthread_self();
        const char *s = getenv("GOMALLOC_SCAVENGE");
        if (s && s[0] == '0')
            scav_enabled = 0;
        malloc_init();
        alloc_set_error_hook(error_hook);
        if (pthread_key_create(&slot_key, slot_exit) != 0)
            plat_panic("pthread_key_create failed");
        atfork_pending = 1;
        __atomic_store_n(&inited, 2, __ATOMIC_RELEASE);
        return;
    }
    while (__atomic_load_n(&inited, __ATOMIC_ACQUIRE) != 2)
        sched_yield();
}

static void lock_shared(uint32_t slot) { futex_lock(&shared_lock[slot][0]); }
static void unlock_shared(uint32_t slot) { futex_unlock(&shared_lock[slot][0]); }

static void become_shared(uint32_t mode)
{
    gm_owner_cache = &mcache_unowned; /* first: the fast paths pin from here on */
    gm_slot = GM_EXCL_SLOTS + (uint32_t)my_tid() % GM_SHARED_SLOTS;
    gm_cache = slot_cache[gm_slot];
    gm_mode = mode;
}

uint64_t gm_pin_slow(void)
{
    if (gm_mode == GM_MODE_NONE) {
        gm_ensure_init();
        uint64_t m = __atomic_load_n(&slot_mask, __ATOMIC_RELAXED);
        for (;;) {
            uint64_t freebits = ~m & ((1ull << GM_EXCL_SLOTS) - 1);
            if (!freebits) {
                become_shared(GM_MODE_SHARED);
                break;
            }
            uint32_t i = (uint32_t)__builtin_ctzll(freebits);
            if (__atomic_compare_exchange_n(&slot_mask, &m, m | (1ull << i), false,
                                            __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
                gm_slot = i;
                gm_cache = slot_cache[i];
                gm_mode = GM_MODE_OWNER;
                gm_owner_cache = gm_cache;
                /* may allocate: we already own the slot, so no recursion here */
                pthread_setspecific(slot_key, (void *)1);
                break;
            }
        }
        if (__atomic_load_n(&atfork_pending, __ATOMIC_RELAXED) &&
            pthread_equal(pthread_self(), init_thread)) {
            atfork_pending = 0;
            pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
        }
        if (gm_mode == GM_MODE_OWNER)
            return 0;
    }
    uint32_t s = gm_slot;
    int32_t me = my_tid();
    if (__atomic_load_n(&shared_owner[s], __ATOMIC_RELAXED) == me)
        return 1ull << 63; /* nested pin: nothing to release */
    lock_shared(s);
    shared_owner[s] = me;
    return s + 1;
}

void gm_unpin_slow(uint64_t token)
{
    if (token >> 63)
        return;
    uint32_t s = (uint32_t)token - 1;
    shared_owner[s] = 0;
    unlock_shared(s);
}

/* Thread exit (pthread key destructor): hand the cached spans back, the
 * freed-object caches to the transfer caches (mobjcache.c), then the slot; anything the exiting thread still allocates goes to a shared slot. */
static void slot_exit(void *arg)
{
    (void)arg;
    if (gm_mode != GM_MODE_OWNER)
        return;
    malloc_park_mcache(); /* its freed objects wait for the next thread */
    uint32_t s = gm_slot;
    become_shared(GM_MODE_EXITED);
    __atomic_fetch_and(&slot_mask, ~(1ull << s), __ATOMIC_RELEASE);
}

/* fork: hold every allocator lock across it (a thread that held
 * mheap_.lock does not exist in the child).  Order: preload.c's aligned
 * table (a leaf), shared slots, transfer caches, mcentrals, mheap, window
 * (the lock ranks).
 * That makes everything lock-protected consistent in the child — but not
 * what other threads do without a lock (the fast paths on their exclusive
 * slots, remote frees): the child repairs that with
 * malloc_repair_after_fork (alloc/mfork.c) before it returns from fork. */
/* In rank order (alloc/lockrank.h): shared slots (slot), every transfer cache, every mcentral,
 * the transfer caches (transfer), mheap, the over-aligned table (bigalign),
 * the heap window. */
static void atfork_prepare(void)
{
    for (uint32_t s = GM_EXCL_SLOTS; s < PLAT_MAX_CPUS; s++)
        lock_shared(s);
    objcache_fork_lock();
    for (int i = 0; i < NUM_SPAN_CLASSES; i++)
        plat_lock(&mheap_.central[i].lock);
    plat_lock(&mheap_.lock);
    gm_aligned_fork_prepare();
    gm_window_lock();
}

static void atfork_release(void)
{
    gm_window_unlock();
    gm_aligned_fork_release();
    gm_in_scavenge = 1; /* no scavenging from inside the fork handler */
    plat_unlock(&mheap_.lock);
    gm_in_scavenge = 0;
    for (int i = NUM_SPAN_CLASSES - 1; i >= 0; i--)
        plat_unlock(&mheap_.central[i].lock);
    objcache_fork_unlock();
    for (uint32_t s = GM_EXCL_SLOTS; s < PLAT_MAX_CPUS; s++) {
        shared_owner[s] = 0;
        unlock_shared(s);
    }
}

static void atfork_parent(void) { atfork_release(); }

/* Only the forking thread survives.  Every other slot's mcache belongs to
 * a dead thread that may have been halfway through a lock-free update:
 * malloc_repair_after_fork recomputes what it may have torn and empties
 * those mcaches, so the slots can go to new threads. */
static void atfork_child(void)
{
    atfork_release();
    __atomic_store_n(&scav_busy, 0, __ATOMIC_RELAXED);
    uint32_t keep = gm_mode == GM_MODE_OWNER ? gm_slot : PLAT_MAX_CPUS;
    gm_in_scavenge = 1; /* the repair frees spans: scavenge after it, not during */
    malloc_repair_after_fork(keep);
    gm_in_scavenge = 0;
    __atomic_store_n(&slot_mask, keep < PLAT_MAX_CPUS ? 1ull << keep : 0, __ATOMIC_RELEASE);
}

/* ------------------------------------------------------------ misc */

_Noreturn void plat_panic(const char *msg)
{
    gm_write_err("gomalloc: panic: ");
    gm_write_err(msg);
    gm_write_err("\n");
    abort();
}

int plat_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap)
{
    return kvsnprintf(buf, n, fmt, ap);
}

/* alloc/ logs only one thing: alloc_report's messages while no error hook
 * is installed (before initialisation).  They are the same bad-input
 * reports as later ones, so they get the same treatment: error_hook. */
void plat_vlog(const char *fmt, va_list ap)
{
    char line[512];
    kvsnprintf(line, sizeof line, fmt, ap);
    error_hook(line);
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
 * A process's stacks, registers and data are not ours to scan: the library
 * has no collector.  mallocgc objects (not reachable from malloc anyway)
 * live until kfree. */
bool plat_gc_supported(void) { return false; }
void plat_gc_run(void (*fn)(void *), void *arg) { fn(arg); }
uint64_t plat_gc_stop_world(void) { return 0; }
uint32_t plat_gc_parallel(void (*fn)(void *), void *arg)
{
    fn(arg);
    return 1;
}
void plat_gc_start_world(void) {}
void plat_gc_roots(plat_gc_root_fn fn, void *ctx) { (void)fn; (void)ctx; }
void plat_gc_poll(void) {}
struct gc_assist *plat_gc_assist(void) { return 0; } /* no collector here */
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
    while (!fn(arg, true)) /* never called: no collector */
        ;
}
uint32_t plat_gc_scan_stacks(plat_gc_root_fn fn, void *ctx, uint32_t cycle)
{
    (void)fn, (void)ctx, (void)cycle;
    return 0; /* no collector here */
}
uint32_t plat_locks_held(void) { return held_locks.n; }
void plat_cpu_relax(void) { sched_yield(); }
bool plat_mapped(uintptr_t lo, uintptr_t hi) { (void)lo; (void)hi; return false; }
