/*
 * chan.c — make(chan T, n) and buffered sends and receives (Go's chan.go,
 * without the wait queues: alloc/ has no scheduler, so an operation that
 * would block reports false instead, as a select with a default case).
 *
 * LAYOUT (Go's rule in makechan):
 *   - the ring is empty (n == 0 or T has size 0): the header alone, noscan;
 *   - T has no pointers: header and ring in ONE noscan allocation, the ring
 *     right after the header (buf is an interior pointer to the same
 *     object, so the collector has nothing to follow);
 *   - T has pointers: a typed header (hchan_type: buf is a pointer word)
 *     and a typed ring of n elements (mallocgc(n * size, T)), so the
 *     collector reaches every element through the header.
 * A received slot is cleared, so a drained ring never keeps an object
 * alive (Go's typedmemclr after recv).
 *
 * LOCKING: c->lock (rank LOCKRANK_HCHAN, a leaf) guards qcount, sendx,
 * recvx, closed and the ring's contents; nothing allocates under it.
 */
#include "goruntime.h"
#include "mbarrier.h"
#include "lockrank.h"

_Static_assert(sizeof(hchan) % 8 == 0, "Go's makechan: hchan size is a multiple of maxAlign");
/* words 2 (buf) and 3 (elemtype) are pointers */
static const uint8_t hchan_mask[1] = {0x0C};
const gotype hchan_type = {sizeof(hchan), 32, hchan_mask, "hchan"};

hchan *makechan(const gotype *elem, int64_t size)
{
    if (elem->size >= 1u << 16)
        go_throw("makechan: invalid channel element type");
    uint64_t mem;
    if (__builtin_mul_overflow(elem->size, (uint64_t)size, &mem) ||
        mem > go_max_alloc() - sizeof(hchan) || size < 0)
        go_panic("makechan: size out of range");
    hchan *c;
    if (mem == 0) {
        c = mallocgc(sizeof(hchan), 0, true);
        c->buf = c; /* never read: the ring is empty */
    } else if (elem->ptrdata == 0) {
        c = mallocgc(sizeof(hchan) + mem, 0, true);
        c->buf = c + 1;
    } else {
        c = newobject(&hchan_type);
        c->buf = mallocgc(mem, elem, true);
    }
    c->elemtype = elem;
    c->elemsize = elem->size;
    c->dataqsiz = (uint64_t)size;
    c->lock.rank = LOCKRANK_HCHAN;
    return c;
}

static uint8_t *slot(hchan *c, uint64_t i) { return (uint8_t *)c->buf + i * c->elemsize; }

bool chan_trysend(hchan *c, const void *elem)
{
    if (!c)
        return false; /* a nil channel is never ready */
    plat_lock(&c->lock);
    if (c->closed) {
        plat_unlock(&c->lock);
        go_panic("send on closed channel");
    }
    bool sent = c->qcount < c->dataqsiz;
    if (sent) {
        gc_wb_memmove(slot(c, c->sendx), elem, c->elemsize); /* typed ring */
        c->sendx = c->sendx + 1 == c->dataqsiz ? 0 : c->sendx + 1;
        c->qcount++;
    }
    plat_unlock(&c->lock);
    return sent;
}

bool chan_tryrecv(hchan *c, void *elem, bool *ok)
{
    if (!c)
        return false;
    plat_lock(&c->lock);
    bool got = true;
    if (c->qcount > 0) {
        uint8_t *qp = slot(c, c->recvx);
        __builtin_memmove(elem, qp, c->elemsize); /* to the caller's memory */
        gc_wb_memclr(qp, c->elemsize);
        c->recvx = c->recvx + 1 == c->dataqsiz ? 0 : c->recvx + 1;
        c->qcount--;
        *ok = true;
    } else if (c->closed) {
        __builtin_memset(elem, 0, c->elemsize);
        *ok = false;
    } else {
        got = false;
    }
    plat_unlock(&c->lock);
    return got;
}

void chan_close(hchan *c)
{
    if (!c)
        go_panic("close of nil channel");
    plat_lock(&c->lock);
    if (c->closed) {
        plat_unlock(&c->lock);
        go_panic("close of closed channel");
    }
    c->closed = 1;
    plat_unlock(&c->lock);
}
