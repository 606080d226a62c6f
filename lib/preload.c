/*
 * preload.c — the C (and C++) allocation API over alloc/, for
 * LD_PRELOAD=build/libgomalloc.so or linking with -lgomalloc.
 *
 *   malloc free calloc realloc reallocarray posix_memalign aligned_alloc
 *   memalign valloc pvalloc malloc_usable_size, operator new/delete (all
 *   variants: plain, array, nothrow, sized, aligned), plus the marker
 *   gomalloc_version() so tests can tell the library is in use, and
 *   gomalloc_heap_verify(err, errlen) (heap_verify, for tests).
 *
 * SEMANTICS (glibc's where C leaves a choice)
 *   malloc(0)        a unique minimal object (kmalloc(0): 8-byte class).
 *   realloc(NULL,n)  malloc(n).   realloc(p,0)  free(p), returns NULL (glibc).
 *   realloc(p,n)     in place when n fits the block, unless the block is
 *                    > 4 KiB and n < half of it (then moved, so shrinking a
 *                    big buffer gives memory back); else malloc+copy+free.
 *   calloc / reallocarray overflow → NULL, errno ENOMEM, no message.
 *   Failure → NULL with errno ENOMEM.
 *   free(NULL) does nothing.  free/realloc/malloc_usable_size of a pointer
 *   this heap did not hand out (foreign, interior, freed) prints ONE line
 *   naming the call — "gomalloc: kfree: ..." (free, delete),
 *   "gomalloc: realloc: ...", "gomalloc: malloc_usable_size: ..." — on
 *   stderr and is otherwise ignored (the heap is unchanged, the process
 *   continues; realloc returns NULL with errno EINVAL, malloc_usable_size
 *   0); GOMALLOC_ABORT=1 aborts.
 *   Alignment: the natural alignment of the size class (≥ 8; 16 for sizes
 *   ≥ 16 except the 24-byte class, which holds no 16-aligned type).
 *
 * ALIGNED ALLOCATION (posix_memalign & co; alignment must be a power of two,
 * else EINVAL; posix_memalign also requires a multiple of sizeof(void *))
 *   align ≤ 8        plain malloc.
 *   align ≤ 8 KiB    the smallest size class ≥ size that is a multiple of
 *                    align: spans start on 8 KiB pages, so every object of
 *                    such a class is aligned.  Above 32 KiB: large objects,
 *                    which are 8 KiB aligned.  Object starts, so free works.
 *   align > 8 KiB    over-allocate a large object by align - 8 KiB and return
 *                    the aligned address inside it; a side table (a hash
 *                    table that grows with use) maps it to the object start.  free() checks the table only
 *                    for 16 KiB-aligned pointers and only once the table has
 *                    ever been used.
 *
 * STATISTICS: GOMALLOC_STATS=1 prints one line on stderr at exit;
 * GOMALLOC_STATS=/abs/path appends it (with the pid) to that file.
 */
#define _GNU_SOURCE
#include "gomalloc.h"
#include "lockrank.h"
#include "malloc.h"
#include "malloc_fast.h"
#include "mstats.h"
#include "sizeclass.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "fmt.h"

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define SMALL_MAX 32768u
#define GM_PAGE 8192u

GM_EXPORT const char *gomalloc_version(void) { return "gomalloc 1 (Go allocator design, gokernel alloc/)"; }

/* Debug entry point: alloc/'s heap_verify (every invariant, see
 * alloc/verify.c).  1 when the heap is consistent; else 0 and the first
 * broken invariant in err.  The caller must make sure no other thread is
 * inside the allocator (threads joined, or parked at a barrier). */
GM_EXPORT int gomalloc_heap_verify(char *err, size_t errlen)
{
    gm_ensure_init();
    return heap_verify(err, errlen) ? 1 : 0;
}

/* ------------------------------------------------------------ over-aligned side table */

/* Open addressing with linear probing over a power-of-two array of
 * big_cap entries (mmap'ed: the table must not allocate from the heap it
 * serves).  An entry's user is 0 (empty), 1 (tombstone: keeps probe chains
 * intact after a removal) or the aligned address handed out.  Load: at
 * most 3/4 of the entries used (live + tombstones); an insert that would
 * pass that rebuilds the table — twice as large while live entries would
 * fill more than half of it, else the same size without tombstones.  Grows
 * without bound, so posix_memalign fails only when the heap (or mmap for
 * the table) does.  big_lock protects every field; it is held across fork
 * (gm_aligned_fork_*).  big_ever is set (release) once, and read without
 * the lock by free's quick filter. */
#define BIG_MIN_CAP 1024u
struct bigent {
    uintptr_t user; /* 0 empty, 1 tombstone */
    uintptr_t base;
};
static struct bigent *bigtab;
static uint64_t big_cap, big_live, big_used;
static int big_ever; /* set once the table has been used: free() consults it */
static plat_lock_t big_lock = PLAT_LOCK_INIT(LOCKRANK_BIGALIGN);

static uint64_t big_hash(uintptr_t p)
{
    return ((p >> 14) * 0x9E3779B97F4A7C15ull >> 20) & (big_cap - 1);
}

static struct bigent *big_map(uint64_t cap)
{
    void *m = mmap(0, cap * sizeof(struct bigent), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return m == MAP_FAILED ? NULL : m;
}

/* Put (user, base) in the first empty or tombstone entry of its probe
 * chain; the caller made sure there is room. */
static void big_put(uintptr_t user, uintptr_t base)
{
    uint64_t h = big_hash(user);
    while (bigtab[h].user > 1)
        h = (h + 1) & (big_cap - 1);
    if (bigtab[h].user == 0)
        big_used++;
    bigtab[h].user = user;
    bigtab[h].base = base;
}

/* Rebuild into a table of cap entries (live entries only).  false when the
 * new table cannot be mapped (the old one stays). */
static bool big_rebuild(uint64_t cap)
{
    struct bigent *old = bigtab, *m = big_map(cap);
    uint64_t old_cap = big_cap;
    if (!m)
        return false;
    bigtab = m;
    big_cap = cap;
    big_used = 0;
    for (uint64_t i = 0; i < old_cap; i++)
        if (old[i].user > 1)
            big_put(old[i].user, old[i].base);
    if (old)
        munmap(old, old_cap * sizeof(struct bigent));
    return true;
}

static bool big_insert(uintptr_t user, uintptr_t base)
{
    plat_lock(&big_lock);
    if (big_used + 1 > big_cap * 3 / 4) {
        uint64_t cap = big_cap ? big_cap : BIG_MIN_CAP;
        while (big_live + 1 > cap / 2)
            cap *= 2;
        if (!big_rebuild(cap)) {
            plat_unlock(&big_lock);
            return false;
        }
    }
    big_put(user, base);
    big_live++;
    __atomic_store_n(&big_ever, 1, __ATOMIC_RELEASE);
    plat_unlock(&big_lock);
    return true;
}

/* Base of the object behind an over-aligned pointer, 0 if p is not one;
 * remove the entry when `take`. */
static uintptr_t big_lookup(uintptr_t p, bool take)
{
    uintptr_t base = 0;
    plat_lock(&big_lock);
    if (bigtab) {
        uint64_t h = big_hash(p);
        for (uint64_t n = 0; n < big_cap && bigtab[h].user != 0; n++, h = (h + 1) & (big_cap - 1)) {
            if (bigtab[h].user == p) {
                base = bigtab[h].base;
                if (take) {
                    bigtab[h].user = 1;
                    big_live--;
                }
                break;
            }
        }
    }
    plat_unlock(&big_lock);
    return base;
}

/* fork: the table is consistent in the child (platform_linux.c's
 * handlers call these around fork). */
void gm_aligned_fork_prepare(void) { plat_lock(&big_lock); }
void gm_aligned_fork_release(void) { plat_unlock(&big_lock); }

static inline bool maybe_big(const void *p)
{
    return unlikely(((uintptr_t)p & 16383) == 0) && __atomic_load_n(&big_ever, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------ C API */

/* kmalloc returned NULL: the heap may not be initialised yet (large sizes
 * reach the page heap before anything pins), else memory is exhausted. */
static void *__attribute__((noinline)) malloc_miss(size_t n)
{
    gm_ensure_init();
    void *p = kmalloc(n);
    if (!p)
        errno = ENOMEM;
    return p;
}

/* kmalloc's fast path missed (size 0, large, empty allocCache, first call):
 * exactly what kmalloc does after its fast path, then malloc_miss. */
static void *__attribute__((noinline)) malloc_slow(size_t n)
{
    void *p = kmalloc_slow(n, false);
    if (unlikely(!p))
        return malloc_miss(n);
    return p;
}

GM_EXPORT void *malloc(size_t n)
{
    void *p;
    if (likely(kmalloc_fast(n, false, &p)))
        return p;
    return malloc_slow(n);
}

static void __attribute__((noinline)) free_big(void *p)
{
    uintptr_t base = big_lookup((uintptr_t)p, true);
    kfree(base ? (void *)base : p);
}

/* kfree_inline's slow path: an over-aligned pointer is inside a large
 * object, whose span's gate always sends it here. */
static void __attribute__((noinline)) free_slow(uintptr_t x)
{
    if (maybe_big((void *)x))
        free_big((void *)x);
    else
        kfree_slow(x);
}

GM_EXPORT void free(void *p) { kfree_inline_with(p, free_slow); }

GM_EXPORT void cfree(void *p) { free(p); }

static void *__attribute__((noinline)) calloc_slow(size_t total)
{
    gm_ensure_init();
    void *p = kcalloc(1, total);
    if (unlikely(!p))
        errno = ENOMEM;
    return p;
}

GM_EXPORT void *calloc(size_t n, size_t size)
{
    size_t total;
    if (unlikely(__builtin_mul_overflow(n, size, &total))) {
        errno = ENOMEM;
        return NULL;
    }
    void *p;
    if (likely(kmalloc_fast(total, true, &p)))
        return p;
    return calloc_slow(total);
}

GM_EXPORT size_t malloc_usable_size(void *p)
{
    if (!p)
        return 0;
    if (maybe_big(p)) {
        uintptr_t base = big_lookup((uintptr_t)p, false);
        if (base)
            return ksize_op((void *)base, "malloc_usable_size") - ((uintptr_t)p - base);
    }
    return ksize_op(p, "malloc_usable_size");
}

GM_EXPORT void *realloc(void *p, size_t n)
{
    if (!p)
        return malloc(n);
    if (n == 0) {
        free(p);
        return NULL;
    }
    if (maybe_big(p)) {
        uintptr_t base = big_lookup((uintptr_t)p, false);
        if (base) {
            size_t have = ksize_op((void *)base, "realloc") - ((uintptr_t)p - base);
            void *q = malloc(n);
            if (!q)
                return NULL;
            memcpy(q, p, have < n ? have : n);
            free(p);
            return q;
        }
    }
    size_t have = ksize_op(p, "realloc"); /* 0: not a live object of ours, reported */
    if (unlikely(have == 0)) {
        errno = EINVAL;
        return NULL;
    }
    if (n <= have && (have <= 4096 || n >= have / 2))
        return p; /* fits, and not wasting more than half of a big block */
    void *q = malloc(n);
    if (unlikely(!q))
        return NULL; /* errno ENOMEM; p untouched */
    memcpy(q, p, n < have ? n : have);
    kfree(p);
    return q;
}

GM_EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, total);
}

/* align: a power of two.  NULL (errno ENOMEM) on failure. */
static void *alloc_aligned(size_t align, size_t size)
{
    if (align <= 8)
        return malloc(size);
    if (size > (1ull << 48)) {
        errno = ENOMEM;
        return NULL;
    }
    if (align <= GM_PAGE) {
        size_t n = size < align ? align : (size + align - 1) & ~(align - 1);
        while (n <= SMALL_MAX) {
            uint32_t cs = class_to_size[size_to_class(n)];
            if (cs % align == 0)
                return malloc(cs);
            n += align;
        }
        return malloc(n); /* large: 8 KiB aligned */
    }
    if (align > (1ull << 40)) {
        errno = ENOMEM;
        return NULL;
    }
    size_t total = (size > SMALL_MAX ? size : SMALL_MAX + 1) + align - GM_PAGE;
    char *b = malloc(total);
    if (!b)
        return NULL;
    uintptr_t u = ((uintptr_t)b + align - 1) & ~(uintptr_t)(align - 1);
    if (u == (uintptr_t)b)
        return b;
    if (!big_insert(u, (uintptr_t)b)) {
        kfree(b);
        errno = ENOMEM;
        return NULL;
    }
    return (void *)u;
}

static inline bool pow2(size_t a) { return a && !(a & (a - 1)); }

GM_EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
    if (!pow2(align) || align % sizeof(void *))
        return EINVAL;
    int saved = errno;
    void *p = alloc_aligned(align, size);
    errno = saved;
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

GM_EXPORT void *aligned_alloc(size_t align, size_t size)
{
    if (!pow2(align)) {
        errno = EINVAL;
        return NULL;
    }
    return alloc_aligned(align, size);
}

GM_EXPORT void *memalign(size_t align, size_t size) { return aligned_alloc(align, size); }

GM_EXPORT void *valloc(size_t size) { return alloc_aligned(4096, size); }

GM_EXPORT void *pvalloc(size_t size)
{
    size_t n = size ? (size + 4095) & ~(size_t)4095 : 4096;
    if (n < size) {
        errno = ENOMEM;
        return NULL;
    }
    return alloc_aligned(4096, n);
}

/* ------------------------------------------------------------ C++ */

/* Failure path of operator new: call the new_handler while there is one,
 * else throw std::bad_alloc — through libstdc++'s own symbols, resolved
 * weakly so the library does not depend on libstdc++ (they are there in
 * any program that calls operator new).  This file is built with
 * -fexceptions so the exception can unwind through these frames. */
typedef void (*new_handler_fn)(void);
extern new_handler_fn _ZSt15get_new_handlerv(void) __attribute__((weak));
extern void *__cxa_allocate_exception(size_t) __attribute__((weak));
extern void __cxa_throw(void *, void *, void (*)(void *)) __attribute__((weak, noreturn));
extern char _ZTISt9bad_alloc[] __attribute__((weak));
extern void *_ZTVSt9bad_alloc[] __attribute__((weak));
extern void _ZNSt9bad_allocD1Ev(void *) __attribute__((weak));

static void *__attribute__((noinline)) new_fail(size_t align, size_t n, bool nothrow)
{
    for (;;) {
        new_handler_fn h = _ZSt15get_new_handlerv ? _ZSt15get_new_handlerv() : NULL;
        if (!h)
            break;
        h(); /* may throw */
        void *p = align ? alloc_aligned(align, n) : malloc(n);
        if (p)
            return p;
    }
    if (nothrow)
        return NULL;
    if (__cxa_allocate_exception && __cxa_throw && _ZTISt9bad_alloc && _ZTVSt9bad_alloc) {
        void **e = __cxa_allocate_exception(sizeof(void *));
        *e = &_ZTVSt9bad_alloc[2];
        __cxa_throw(e, _ZTISt9bad_alloc, _ZNSt9bad_allocD1Ev);
    }
    gm_write_err("gomalloc: operator new: out of memory\n");
    abort();
}

static inline void *new_impl(size_t n, bool nothrow)
{
    void *p;
    if (likely(kmalloc_fast(n, false, &p)))
        return p;
    if ((p = kmalloc_slow(n, false)) || (p = malloc_miss(n)))
        return p;
    return new_fail(0, n, nothrow);
}

static inline void *new_aligned(size_t n, size_t align, bool nothrow)
{
    void *p = pow2(align) ? alloc_aligned(align, n) : NULL;
    if (likely(p != NULL))
        return p;
    return new_fail(align, n, nothrow);
}

typedef const void *nothrow_ref;
GM_EXPORT void *_Znwm(size_t n) { return new_impl(n, false); }
GM_EXPORT void *_Znam(size_t n) { return new_impl(n, false); }
GM_EXPORT void *_ZnwmRKSt9nothrow_t(size_t n, nothrow_ref t) { (void)t; return new_impl(n, true); }
GM_EXPORT void *_ZnamRKSt9nothrow_t(size_t n, nothrow_ref t) { (void)t; return new_impl(n, true); }
GM_EXPORT void *_ZnwmSt11align_val_t(size_t n, size_t a) { return new_aligned(n, a, false); }
GM_EXPORT void *_ZnamSt11align_val_t(size_t n, size_t a) { return new_aligned(n, a, false); }
GM_EXPORT void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t n, size_t a, nothrow_ref t) { (void)t; return new_aligned(n, a, true); }
GM_EXPORT void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t n, size_t a, nothrow_ref t) { (void)t; return new_aligned(n, a, true); }

GM_EXPORT void _ZdlPv(void *p) { free(p); }
GM_EXPORT void _ZdaPv(void *p) { free(p); }
GM_EXPORT void _ZdlPvm(void *p, size_t n) { (void)n; free(p); }
GM_EXPORT void _ZdaPvm(void *p, size_t n) { (void)n; free(p); }
GM_EXPORT void _ZdlPvRKSt9nothrow_t(void *p, nothrow_ref t) { (void)t; free(p); }
GM_EXPORT void _ZdaPvRKSt9nothrow_t(void *p, nothrow_ref t) { (void)t; free(p); }
GM_EXPORT void _ZdlPvSt11align_val_t(void *p, size_t a) { (void)a; free(p); }
GM_EXPORT void _ZdaPvSt11align_val_t(void *p, size_t a) { (void)a; free(p); }
GM_EXPORT void _ZdlPvmSt11align_val_t(void *p, size_t n, size_t a) { (void)n; (void)a; free(p); }
GM_EXPORT void _ZdaPvmSt11align_val_t(void *p, size_t n, size_t a) { (void)n; (void)a; free(p); }
GM_EXPORT void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t a, nothrow_ref t) { (void)a; (void)t; free(p); }
GM_EXPORT void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t a, nothrow_ref t) { (void)a; (void)t; free(p); }

/* ------------------------------------------------------------ statistics */

static void __attribute__((destructor)) gm_stats_at_exit(void)
{
    const char *s = getenv("GOMALLOC_STATS");
    if (!s || (s[0] != '1' && s[0] != '/'))
        return;
    struct memstats st;
    read_memstats_heap(&st);
    char line[256];
    ksnprintf(line, sizeof line,
              "gomalloc: stats: HeapSys %lu HeapInuse %lu HeapIdle %lu HeapReleased %lu ready %lu "
              "scavenges %lu scavenged %lu\n",
              (unsigned long)st.HeapSys, (unsigned long)st.HeapInuse, (unsigned long)st.HeapIdle,
              (unsigned long)st.HeapReleased, (unsigned long)gm_ready_bytes(),
              (unsigned long)gm_scavenge_count(), (unsigned long)gm_scavenged_bytes());
    if (s[0] == '/') { /* a file: programs may have closed stderr (coreutils do) */
        int fd = open(s, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0) {
            ksnprintf(line + strlen(line) - 1, 64, " pid %d\n", (int)getpid());
            ssize_t w = write(fd, line, strlen(line));
            (void)w;
            close(fd);
        }
        return;
    }
    gm_write_err(line);
}
