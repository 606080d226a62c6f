/*
 * window_linux.c — the heap's address space for libgomalloc: alloc/'s
 * plat_heap_window, plat_reserve, plat_prepare, plat_back, plat_unback.
 *
 * alloc/ wants one fixed window [base, base + size) that every heap range
 * comes from (its arena index is a flat table over it), decided at the
 * first call and constant after.  The window is GM_HEAP_WINDOW (64 GiB) of
 * address space, in one of two modes (alloc/'s flat page map, 1/1024 of
 * the window, goes beside it the same way: plat_pagemap_reserve and
 * plat_pagemap_back at the end of this file):
 *
 * RESERVED (the default).  One PROT_NONE | MAP_NORESERVE mapping of the
 * whole window at initialisation (halved until the mmap succeeds, e.g.
 * under valgrind, down to 1 GiB).  plat_reserve hands out pieces of it;
 * plat_prepare mprotects a whole new region (arenas are 64 MiB) to
 * PROT_READ|PROT_WRITE, so Ready/Prepared transitions never split mappings
 * and the kernel's VMA count stays tiny however fragmented the heap gets;
 * plat_back is free (untouched anonymous pages cost nothing).  Costs no
 * memory, but 64 GiB of the process's address space.
 *
 * ON DEMAND (when RLIMIT_AS is finite — `ulimit -v` — or the reservation
 * fails at every size).  Under RLIMIT_AS every mapping counts, PROT_NONE
 * too, so a reserved window would use up the limit (1 GB: no window at
 * all; 8 GB: a 4 GiB window).  Instead the window is only an address range:
 * the middle of the largest gap between the process's mappings below
 * 2^47 (/proc/self/maps; the kernel places new mappings top-down from
 * below the stack and brk grows up from the program, so neither reaches
 * the middle of a gap of tens of TiB; without /proc, a fixed guess).
 * plat_reserve and plat_prepare only do the bookkeeping; plat_back maps
 * the 1 MiB chunks (GM_MAP_CHUNK) of the range not yet mapped, read-write,
 * with MAP_FIXED_NOREPLACE — a mapping someone else put there is never
 * replaced: that back fails like exhaustion.  When a back fails (the
 * limit), the chunks it mapped are unmapped again and alloc/ sees "out of
 * memory": malloc returns NULL with ENOMEM, operator new throws.  A
 * request that cannot fit in what the limit leaves is refused already at
 * plat_reserve (reserve_may_fit), before alloc/ spends window range and
 * arena metadata on it.  plat_unback (scavenging, and alloc/'s retry after
 * a failed back) is madvise(MADV_DONTNEED) in both modes — RSS falls, the
 * pages come back zero — and on demand it also unmaps the chunks wholly
 * inside the range, so a freed 500 MiB block's address space can serve a
 * 900 MiB one under a 1 GB limit.  A bitmap of chunks records what is
 * mapped.  What the heap can use is then what the limit leaves, to within a
 * chunk or two and the arenas' metadata (1/64).
 *
 * LOCKING: window_lock (a leaf; held across fork by the platform's fork
 * handlers via gm_window_lock/unlock) protects the bump pointer and the
 * chunk bitmap.  plat_heap_window's results are read without it after
 * initialisation (constant).
 */
#define _GNU_SOURCE
#include "gomalloc.h"
#include "lockrank.h"
#include "platform.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define GM_WINDOW_ALIGN (64ull << 20)
#define GM_MAP_CHUNK (1ull << 20)
#define GM_USER_TOP (1ull << 47)
#define GM_GUESS_BASE (32ull << 40) /* on demand without /proc: 32 TiB */

static uintptr_t window_base, window_next;
static uint64_t window_size = GM_HEAP_WINDOW;
static int window_on_demand;
static uint64_t ready_bytes; /* atomic */
static plat_lock_t window_lock = PLAT_LOCK_INIT(LOCKRANK_WINDOW);
/* on demand: bit c set = chunk c of the window is mapped (window_lock) */
static uint64_t chunk_mapped[GM_HEAP_WINDOW / GM_MAP_CHUNK / 64];
static uint64_t mapped_bytes; /* on demand: chunks mapped × GM_MAP_CHUNK (window_lock) */

void gm_window_lock(void) { plat_lock(&window_lock); }
void gm_window_unlock(void) { plat_unlock(&window_lock); }

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* A mapping [lo, hi) read from the maps file: extend the largest gap. */
static void note_mapping(uintptr_t lo, uintptr_t hi, uintptr_t *prev, uintptr_t *glo,
                         uintptr_t *ghi)
{
    if (lo > GM_USER_TOP)
        lo = GM_USER_TOP;
    if (lo > *prev && lo - *prev > *ghi - *glo) {
        *glo = *prev;
        *ghi = lo;
    }
    if (hi > *prev)
        *prev = hi;
}

/* The largest gap between the mappings below 2^47, from /proc/self/maps
 * (no allocation: a stack buffer and a character-level parser). */
static bool largest_gap(uintptr_t *glo, uintptr_t *ghi)
{
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char buf[4096];
    uintptr_t prev = 1ull << 16, lo = 0, hi = 0;
    int field = 0; /* 0: start address, 1: end address, 2: rest of the line */
    bool any = false;
    *glo = *ghi = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            char c = buf[i];
            int d = hexval(c);
            if (field == 2) {
                field = c == '\n' ? 0 : 2;
                lo = field ? lo : 0;
                hi = field ? hi : 0;
            } else if (d >= 0) {
                if (field == 0)
                    lo = lo << 4 | (uintptr_t)d;
                else
                    hi = hi << 4 | (uintptr_t)d;
            } else if (field == 0 && c == '-') {
                field = 1;
            } else {
                field = c == '\n' ? 0 : 2;
                note_mapping(lo, hi, &prev, glo, ghi);
                any = true;
                lo = hi = 0;
            }
        }
    }
    close(fd);
    if (!any)
        return false;
    note_mapping(GM_USER_TOP, GM_USER_TOP, &prev, glo, ghi);
    return true;
}

static void window_on_demand_init(void)
{
    uintptr_t glo, ghi;
    window_on_demand = 1;
    if (!largest_gap(&glo, &ghi) || ghi - glo < (1ull << 30) + 2 * GM_WINDOW_ALIGN) {
        glo = GM_GUESS_BASE; /* MAP_FIXED_NOREPLACE keeps a wrong guess safe */
        ghi = GM_GUESS_BASE + 2 * GM_HEAP_WINDOW;
    }
    while (window_size > (1ull << 30) && window_size + 2 * GM_WINDOW_ALIGN > ghi - glo)
        window_size /= 2;
    uintptr_t mid = glo + (ghi - glo - window_size) / 2;
    window_base = (mid + GM_WINDOW_ALIGN - 1) & ~(uintptr_t)(GM_WINDOW_ALIGN - 1);
    window_next = window_base;
}

static void window_init_locked(void)
{
    if (window_base)
        return;
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        window_on_demand_init();
        return;
    }
    void *p = MAP_FAILED;
    /* GM_HEAP_WINDOW, halved until it fits (valgrind's address space is
     * smaller), down to 1 GiB */
    for (; window_size >= (1ull << 30); window_size /= 2) {
        p = mmap(0, window_size + GM_WINDOW_ALIGN, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p != MAP_FAILED)
            break;
    }
    if (p == MAP_FAILED) {
        window_size = GM_HEAP_WINDOW;
        window_on_demand_init();
        return;
    }
    window_base = ((uintptr_t)p + GM_WINDOW_ALIGN - 1) & ~(uintptr_t)(GM_WINDOW_ALIGN - 1);
    window_next = window_base;
}

void plat_heap_window(uintptr_t *base, uint64_t *size)
{
    plat_lock(&window_lock);
    window_init_locked();
    plat_unlock(&window_lock);
    *base = window_base;
    *size = window_size;
}

/* On demand: could a reservation of `size` ever be backed?  Address space
 * left under RLIMIT_AS (limit - VmSize from /proc/self/statm) plus what is
 * mapped and not Ready.  A reservation beyond that would only cost the
 * window's address range and its arenas' metadata (1/64 of it, mapped) for
 * a request that fails anyway, so plat_reserve refuses it.  One arena more
 * than that is always allowed (metadata regions are reserved 64 MiB at a
 * time but backed 256 KiB at a time).  Growing the heap is rare: the file
 * read costs nothing that matters. */
static bool reserve_may_fit(uint64_t size)
{
    struct rlimit rl;
    if (size <= GM_WINDOW_ALIGN || getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return true;
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return true;
    char buf[64];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    uint64_t pages = 0;
    for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++)
        pages = pages * 10 + (uint64_t)(buf[i] - '0');
    uint64_t vm = pages * (uint64_t)sysconf(_SC_PAGESIZE), lim = rl.rlim_cur;
    uint64_t unused = mapped_bytes - gm_ready_bytes();
    uint64_t room = (lim > vm ? lim - vm : 0) + (unused < mapped_bytes ? unused : 0);
    return size <= room + GM_WINDOW_ALIGN;
}

uintptr_t plat_reserve(uint64_t size, uint64_t align)
{
    plat_lock(&window_lock);
    window_init_locked();
    uintptr_t p = (window_next + align - 1) & ~(uintptr_t)(align - 1);
    if (p + size > window_base + window_size || p + size < p ||
        (window_on_demand && !reserve_may_fit(size))) {
        plat_unlock(&window_lock);
        return 0;
    }
    window_next = p + size;
    plat_unlock(&window_lock);
    return p;
}

bool plat_prepare(uintptr_t base, uint64_t size)
{
    if (window_on_demand)
        return true; /* mapped by plat_back */
    return mprotect((void *)base, size, PROT_READ | PROT_WRITE) == 0;
}

static bool chunk_is_mapped(uint64_t c) { return (chunk_mapped[c / 64] >> (c % 64)) & 1; }

/* Map chunks [c, c+n), none mapped yet, never over someone else's mapping. */
static bool map_chunks(uint64_t c, uint64_t n)
{
    void *want = (void *)(window_base + c * GM_MAP_CHUNK);
    void *p = mmap(want, n * GM_MAP_CHUNK, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == want)
        return true;
    if (p != MAP_FAILED) /* a kernel without MAP_FIXED_NOREPLACE took it as a hint */
        munmap(p, n * GM_MAP_CHUNK);
    return false;
}

/* On demand: map every chunk of [base, base+size) not mapped yet, in runs;
 * all or nothing.  The bitmap is updated only at the end, so on failure the
 * chunks of [c0, c) without their bit are exactly the ones this call
 * mapped: unmapped again, the limit is left for others. */
static bool back_on_demand(uintptr_t base, uint64_t size)
{
    uint64_t c0 = (base - window_base) / GM_MAP_CHUNK;
    uint64_t c1 = (base + size - 1 - window_base) / GM_MAP_CHUNK;
    plat_lock(&window_lock);
    uint64_t c = c0;
    bool ok = true;
    while (ok && c <= c1) {
        uint64_t n = 0;
        while (c + n <= c1 && !chunk_is_mapped(c + n))
            n++;
        if (n && !map_chunks(c, n))
            ok = false;
        else
            c += n ? n : 1;
    }
    for (uint64_t i = c0; i < c; i++) {
        if (chunk_is_mapped(i))
            continue;
        if (ok) {
            chunk_mapped[i / 64] |= 1ull << (i % 64);
            mapped_bytes += GM_MAP_CHUNK;
        } else {
            munmap((void *)(window_base + i * GM_MAP_CHUNK), GM_MAP_CHUNK);
        }
    }
    plat_unlock(&window_lock);
    return ok;
}

bool plat_back(uintptr_t base, uint64_t size)
{
    if (window_on_demand && !back_on_demand(base, size))
        return false;
    __atomic_fetch_add(&ready_bytes, size, __ATOMIC_RELAXED);
    return true;
}

/* On demand: unmap the chunks lying wholly inside [base, base+size) (free
 * heap pages being unbacked), so the limit they held is available again —
 * to a larger request of the heap's (alloc/ scavenges every free page and
 * retries when backing fails) or to the program.  A munmap the kernel
 * refuses (it would split a mapping past vm.max_map_count) leaves the chunk
 * mapped, already given back with MADV_DONTNEED. */
static void unmap_whole_chunks(uintptr_t base, uint64_t size)
{
    uint64_t c0 = (base - window_base + GM_MAP_CHUNK - 1) / GM_MAP_CHUNK;
    uint64_t c1 = (base + size - window_base) / GM_MAP_CHUNK; /* exclusive */
    plat_lock(&window_lock);
    for (uint64_t c = c0; c < c1;) {
        uint64_t n = 0;
        while (c + n < c1 && chunk_is_mapped(c + n))
            n++;
        if (n && munmap((void *)(window_base + c * GM_MAP_CHUNK), n * GM_MAP_CHUNK) == 0) {
            for (uint64_t i = c; i < c + n; i++)
                chunk_mapped[i / 64] &= ~(1ull << (i % 64));
            mapped_bytes -= n * GM_MAP_CHUNK;
        }
        c += n ? n : 1;
    }
    plat_unlock(&window_lock);
}

void plat_unback(uintptr_t base, uint64_t size)
{
    madvise((void *)base, size, MADV_DONTNEED);
    if (window_on_demand)
        unmap_whole_chunks(base, size);
    __atomic_fetch_sub(&ready_bytes, size, __ATOMIC_RELAXED);
}

uint64_t gm_ready_bytes(void) { return __atomic_load_n(&ready_bytes, __ATOMIC_RELAXED); }

uint64_t plat_phys_free(void)
{
    uint64_t r = gm_ready_bytes();
    uint64_t w = window_size;
    return r >= w ? 0 : w - r;
}

/* ------------------------------------------------------------ page map */

/* alloc/platform.h PLAT_FLAT_PAGEMAP.  Reserved window: a PROT_NONE
 * reservation of its own, made read-write piece by piece.  On demand: an
 * address range just below the window (the window sits in the middle of
 * the largest gap), mapped piece by piece with MAP_FIXED_NOREPLACE, so
 * that the limit is charged 64 KiB per arena and never for the rest. */
uintptr_t plat_pagemap_reserve(uint64_t bytes)
{
    plat_lock(&window_lock);
    window_init_locked();
    uintptr_t p = 0;
    if (!window_on_demand) {
        void *m = mmap(0, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        p = m == MAP_FAILED ? 0 : (uintptr_t)m;
    } else if (window_base > bytes) {
        /* right below: the window has at least GM_WINDOW_ALIGN (64 MiB) of
         * its gap on each side, and the map is at most that */
        p = (window_base - bytes) & ~(uintptr_t)(PLAT_PAGE_SIZE - 1);
    }
    plat_unlock(&window_lock);
    return p;
}

bool plat_pagemap_back(uintptr_t p, uint64_t bytes)
{
    if (!window_on_demand)
        return mprotect((void *)p, bytes, PROT_READ | PROT_WRITE) == 0;
    void *m = mmap((void *)p, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
    if (m == (void *)p)
        return true;
    if (m != MAP_FAILED) /* a kernel without MAP_FIXED_NOREPLACE took it as a hint */
        munmap(m, bytes);
    return false;
}
