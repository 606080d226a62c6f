/*
 * mgcwork.c — the grey-object queue (Go's mgcwork.go): per-CPU work
 * buffers and the global lists every marker shares.
 *
 * OWNS
 *   - workbufs: 2 KiB blocks of up to WBUF_ENTRIES grey addresses (object
 *     bases or oblet starts), carved from persistentalloc 32 KiB at a time
 *     and never returned (reused every cycle);
 *   - the global full list (buffers with work) and empty list, under
 *     wq.lock (rank GCWORK: acquired with nothing else held except during
 *     a refill from persistentalloc, rank PERSISTENT, above it);
 *   - the termination counters nwait and nproc (Go's work.nwait /
 *     work.nproc).  A marker joins (nproc++) before it claims root jobs, so
 *     the count is whoever actually marks, however many CPUs the host
 *     runs the mark on.
 *
 * A MARKER (struct gcwork, one per participating CPU, touched only by it)
 * holds one current buffer:
 *   put: append; a full buffer goes to the full list and an empty one
 *        replaces it.  When other markers wait for work (nwait > 0), or an
 *        idle helper found nothing (want, set by gcwork_try_refill), and the
 *        global list is empty, a buffer with more than a few entries is
 *        handed over too (load balancing, Go's gcw.balance) — to a helper,
 *        its older half only, so that both go on.
 *   get: pop from the current buffer; when it is empty, trade it for a full
 *        one from the global list (gcwork_get_full).
 * TERMINATION (gcwork_get_full, Go's getfull): a marker with nothing left
 * increments nwait; it then waits until the full list has a buffer
 * (decrement nwait, take it) or nwait == nproc with no root job left (every
 * marker is idle and no one can produce work: marking is done).  A marker
 * that joins after the others finished finds no root job and no buffer,
 * and finishes too (nwait is left counting the finished ones).
 *
 * INVARIANT at the end of a mark: the full list is empty, every marker's
 * buffer is empty, nwait == nproc.
 */
#include "debug.h"
#include "lockrank.h"
#include "malloc_impl.h"
#include "mgcpriv.h"
#include "persistent.h"
#include "platform.h"

#define WBUF_CHUNK (32u * 1024u)

static struct {
    plat_lock_t lock;
    struct workbuf *full, *empty; /* (lock) */
    uint64_t nfull;               /* (lock), read relaxed by balance */
    uint64_t sys;                 /* bytes from persistentalloc */
    uint32_t nproc;               /* atomic: markers that joined this mark */
    uint32_t nwait;               /* atomic: markers waiting for work */
    uint32_t want;                /* atomic: an idle helper found the full list empty
                                     (gcwork_try_refill); balance hands over, clears it */
} wq = {.lock = PLAT_LOCK_INIT(LOCKRANK_GCWORK)};

uint64_t gcwork_sys_bytes(void) { return __atomic_load_n(&wq.sys, __ATOMIC_RELAXED); }

static struct workbuf *pop_locked(struct workbuf **l)
{
    struct workbuf *b = *l;
    if (b)
        *l = b->next;
    return b;
}

/* An empty buffer (from the empty list or fresh memory); NULL when memory
 * runs out (fatal for the marker: the collector cannot lose grey objects). */
static struct workbuf *get_empty(void)
{
    plat_lock(&wq.lock);
    struct workbuf *b = pop_locked(&wq.empty);
    if (!b) {
        char *chunk = persistentalloc(WBUF_CHUNK, 64, &wq.sys);
        if (!chunk)
            alloc_fatal_span(0, "gc: out of memory for mark work buffers");
        for (uint32_t off = sizeof(struct workbuf); off < WBUF_CHUNK; off += sizeof(struct workbuf)) {
            struct workbuf *e = (struct workbuf *)(chunk + off);
            e->next = wq.empty;
            wq.empty = e;
        }
        b = (struct workbuf *)chunk;
    }
    plat_unlock(&wq.lock);
    b->n = 0;
    b->next = 0;
    return b;
}

static void put_full(struct workbuf *b)
{
    plat_lock(&wq.lock);
    b->next = wq.full;
    wq.full = b;
    wq.nfull++;
    plat_unlock(&wq.lock);
}

static struct workbuf *try_get_full(void)
{
    if (!__atomic_load_n(&wq.nfull, __ATOMIC_ACQUIRE))
        return 0;
    plat_lock(&wq.lock);
    struct workbuf *b = pop_locked(&wq.full);
    if (b)
        wq.nfull--;
    plat_unlock(&wq.lock);
    return b;
}

static void put_empty(struct workbuf *b)
{
    plat_lock(&wq.lock);
    b->next = wq.empty;
    wq.empty = b;
    plat_unlock(&wq.lock);
}

void gcwork_start(void)
{
    ALLOC_CHECK(!wq.full && !wq.nfull, 0, "gc: work left over from the previous mark");
    __atomic_store_n(&wq.nproc, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&wq.nwait, 0, __ATOMIC_RELEASE);
}

void gcwork_restart(void)
{
    __atomic_store_n(&wq.nproc, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&wq.nwait, 0, __ATOMIC_RELEASE);
}

void gcwork_join(void) { __atomic_add_fetch(&wq.nproc, 1, __ATOMIC_SEQ_CST); }

void gcwork_init(struct gcwork *w)
{
    __builtin_memset(w, 0, sizeof *w);
    w->buf = get_empty();
}

void gcwork_put_slow(struct gcwork *w, uintptr_t obj)
{
    put_full(w->buf);
    w->buf = get_empty();
    w->buf->obj[w->buf->n++] = obj;
}

/* Hand part of the work to idle markers: the whole current buffer goes to
 * the full list when someone waits and the list is empty. */
/* The older half of w's buffer (the bottom of a depth-first stack: the
 * larger subtrees) to the full list; w keeps the newer half. */
static void hand_half(struct gcwork *w)
{
    struct workbuf *b = w->buf, *h = get_empty();
    uint32_t half = b->n / 2;
    __builtin_memcpy(h->obj, b->obj, half * sizeof b->obj[0]);
    __builtin_memmove(b->obj, b->obj + half, (b->n - half) * sizeof b->obj[0]);
    h->n = half;
    b->n -= half;
    put_full(h);
}

void gcwork_balance(struct gcwork *w)
{
    if (w->buf->n <= 4 || __atomic_load_n(&wq.nfull, __ATOMIC_RELAXED))
        return;
    if (__atomic_load_n(&wq.nwait, __ATOMIC_RELAXED)) { /* a joined marker waits */
        put_full(w->buf);
        w->buf = get_empty();
    } else if (__atomic_load_n(&wq.want, __ATOMIC_RELAXED)) { /* an idle helper asks */
        __atomic_store_n(&wq.want, 0, __ATOMIC_RELAXED);
        hand_half(w);
    }
}

bool gcwork_get_full(struct gcwork *w, bool (*roots_left)(void))
{
    struct workbuf *b = try_get_full();
    if (!b) {
        __atomic_add_fetch(&wq.nwait, 1, __ATOMIC_SEQ_CST);
        for (;;) {
            if (__atomic_load_n(&wq.nfull, __ATOMIC_ACQUIRE)) {
                __atomic_sub_fetch(&wq.nwait, 1, __ATOMIC_SEQ_CST);
                if ((b = try_get_full()) != 0)
                    break;
                __atomic_add_fetch(&wq.nwait, 1, __ATOMIC_SEQ_CST);
            }
            if (__atomic_load_n(&wq.nwait, __ATOMIC_SEQ_CST) ==
                    __atomic_load_n(&wq.nproc, __ATOMIC_SEQ_CST) &&
                !roots_left())
                return false;
            plat_cpu_relax();
        }
    }
    put_empty(w->buf);
    w->buf = b;
    return true;
}

void gcwork_want(void)
{
    if (!__atomic_load_n(&wq.want, __ATOMIC_RELAXED))
        __atomic_store_n(&wq.want, 1, __ATOMIC_RELAXED);
}

bool gcwork_try_refill(struct gcwork *w)
{
    struct workbuf *b = try_get_full();
    if (!b) {
        gcwork_want(); /* ask the markers to share */
        return false;
    }
    put_empty(w->buf);
    w->buf = b;
    return true;
}

void gcwork_flush(struct gcwork *w)
{
    if (!w->buf->n)
        return;
    put_full(w->buf);
    w->buf = get_empty();
}

void gcwork_dispose(struct gcwork *w)
{
    ALLOC_CHECK(w->buf && w->buf->n == 0, 0, "gc: a marker finished with grey objects left");
    put_empty(w->buf);
    w->buf = 0;
}

bool gcwork_empty(void)
{
    return !__atomic_load_n(&wq.nfull, __ATOMIC_ACQUIRE);
}
