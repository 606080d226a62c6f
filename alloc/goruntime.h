/*
 * goruntime.h — the heap entry points Go's compiler calls for values that
 * escape (escape analysis moved them to the heap), with Go's semantics and
 * Go's panic messages, over mallocgc.  Slices, strings, channels and
 * interface values are small C structs laid out as Go lays them out, so the
 * collector scans them through their gotypes like any typed object.
 *
 *   C here                      Go (src/runtime)              file
 *   -------------------------   ---------------------------   ---------
 *   makeslice                   makeslice                     slice.c
 *   makeslicecopy               makeslicecopy                 slice.c
 *   growslice                   growslice (1.20+ signature)   slice.c
 *   nextslicecap, roundupsize   nextslicecap, roundupsize     slice.c
 *   rawstring, rawbyteslice,    the same                      string.c
 *   rawruneslice
 *   slicebytetostring           slicebytetostring             string.c
 *   stringtoslicebyte           stringtoslicebyte             string.c
 *   concatstrings               concatstrings                 string.c
 *   gostring, gobytes           gostring, gobytes             string.c
 *   makechan                    makechan                      chan.c
 *   chan_trysend, chan_tryrecv  selectnbsend, selectnbrecv    chan.c
 *   convT, convTnoptr, convT64, the same                      iface.c
 *   convTstring, convTslice
 *   newobject, newarray         the same                      malloc.c
 *
 * PANICS AND THROWS.  Where Go panics with a runtime error, these call
 * go_panic(text) with Go's text: "runtime error: " + message for
 * errorString panics (makeslice: len out of range), the bare message for
 * plainError ones (makechan: size out of range).  Where Go throws (a fatal
 * error: string concatenation too long, out of memory), go_throw(text).
 * Both hand ONE line to the hook, as Go prints it: "panic: TEXT" or
 * "fatal error: TEXT".  The default hook stops the machine with that line
 * (plat_panic); a test installs its own, which must not return (it jumps
 * back: kernel kjmp, host longjmp).  Checks run in Go's order, so a bad
 * call fails with the message Go gives for it.
 *
 * maxAlloc, Go's largest possible allocation (1 << 48 on amd64), is here
 * the heap window's size: no object can be larger.  A request below it
 * that memory cannot hold is Go's fatal "out of memory" (mallocgc).
 *
 * WHAT DIFFERS FROM GO (also in the closing note of issue 13):
 *   - no malloc headers (Go 1.22+ reserves 8 bytes in scan objects larger
 *     than 512 B): the heap bitmap describes every object, as in Go 1.21
 *     and earlier, so roundupsize ignores noscan and growslice's capacities
 *     equal Go 1.19–1.21's for every type, and 1.22+'s for pointer-free
 *     elements and scan objects up to 512 B;
 *   - channels never block (no scheduler integration in alloc/):
 *     chan_trysend/chan_tryrecv are Go's non-blocking select cases;
 *   - copies into typed memory with pointers go through the write barrier
 *     (gc_wb_memmove / gc_wb_memclr, mbarrier.h) as Go's typedmemmove
 *     does; since part 1 of the collector marks with the world stopped,
 *     it is off whenever these run today.
 */
#ifndef ALLOC_GORUNTIME_H
#define ALLOC_GORUNTIME_H

#include <stdbool.h>
#include <stdint.h>

#include "malloc.h"
#include "platform.h"

/* ------------------------------------------------------------ panics */

typedef void (*go_panic_hook_t)(const char *line);
/* Install a hook (NULL = the default); returns the previous one. */
go_panic_hook_t go_set_panic_hook(go_panic_hook_t hook);
/* Go's panic(text) and throw(text): never return. */
_Noreturn void go_panic(const char *text);
_Noreturn void go_throw(const char *text);

/* staticuint64s[i] == i: one-byte strings and small boxed integers point
 * into it instead of allocating. */
extern const uint64_t go_staticuint64s[256];
/* Shared by the entry points: Go's maxAlloc here (see above). */
uint64_t go_max_alloc(void);
/* The object state a zero-sized value points at (Go's zerobase). */
void *go_zerobase(void);

/* ------------------------------------------------------------ slices */

/* A slice header, as Go lays it out: {array, len, cap}. */
typedef struct goslice {
    void *array;
    int64_t len, cap;
} goslice;
extern const gotype goslice_type; /* 24 B, pointer in word 0 */

/* make([]T, len, cap): a zeroed backing array (et's type, so scan or noscan
 * as et).  Panics: "makeslice: len out of range" (len < 0, or len*size
 * overflows or exceeds maxAlloc), else "makeslice: cap out of range"
 * (cap < len, or cap*size too large). */
void *makeslice(const gotype *et, int64_t len, int64_t cap);
/* make([]T, tolen) followed by copy(new, from[:fromlen]) in one call. */
void *makeslicecopy(const gotype *et, int64_t tolen, int64_t fromlen, const void *from);
/* append past capacity: a new backing array holding old's first
 * newLen - num elements, of capacity nextslicecap rounded up to the size
 * class; returns {p, newLen, newcap}.  Elements in [oldLen, newLen) are for
 * the caller to write; the tail past newLen is zeroed.  Panics
 * "growslice: len out of range" for newLen < 0 or too large. */
goslice growslice(void *oldPtr, int64_t newLen, int64_t oldCap, int64_t num, const gotype *et);
/* Go's capacity rule before size-class rounding. */
int64_t nextslicecap(int64_t newLen, int64_t oldCap);
/* The size mallocgc really hands out for a request of `size` bytes (the
 * size class, or whole pages). */
uint64_t roundupsize(uint64_t size);

/* ------------------------------------------------------------ strings */

/* A string header: {str, len}; the bytes are immutable once built. */
typedef struct gostring {
    const uint8_t *str;
    int64_t len;
} gostring;
extern const gotype gostring_type; /* 16 B, pointer in word 0 */

/* Go's tmpBuf: a caller's stack buffer for results that do not escape. */
#define GO_TMP_BUF_SIZE 32
typedef struct go_tmpbuf {
    uint8_t b[GO_TMP_BUF_SIZE];
} go_tmpbuf;

/* A string of `size` bytes and the writable bytes behind it (noscan). */
gostring rawstring(int64_t size, uint8_t **bytes);
/* A []byte of len `size` and cap roundupsize(size); bytes past size zeroed. */
goslice rawbyteslice(int64_t size);
/* A []rune (int32) of len `size`, cap from roundupsize(size * 4).
 * rawstring, rawbyteslice and rawruneslice throw "out of memory" when the
 * bytes exceed maxAlloc (Go checks it for runes; a negative size is a huge
 * uintptr to Go, so it fails the same way here). */
goslice rawruneslice(int64_t size);
/* string(b): "" for n == 0, a static one-byte string for n == 1 (no
 * allocation), buf when it is given and large enough, else a heap copy. */
gostring slicebytetostring(go_tmpbuf *buf, const uint8_t *ptr, int64_t n);
/* []byte(s): in buf when given and large enough, else rawbyteslice. */
goslice stringtoslicebyte(go_tmpbuf *buf, gostring s);
/* s[0] + s[1] + ...: returns the only non-empty operand without copying
 * (Go's rule when it does not live on the stack); buf as above.  Throws
 * "string concatenation too long" on overflow. */
gostring concatstrings(go_tmpbuf *buf, const gostring *a, int n);
/* A Go string copy of a NUL-terminated C string / a []byte copy of n bytes. */
gostring gostring_from_c(const char *p);
goslice gobytes(const uint8_t *p, int64_t n);

/* ------------------------------------------------------------ channels */

/* Go's hchan, minus the wait queues (our channels never block). */
typedef struct hchan {
    uint64_t qcount;   /* elements in buf */
    uint64_t dataqsiz; /* capacity (the make size) */
    void *buf;         /* the ring: dataqsiz elements; inside this object when
                          the element type has no pointers */
    const gotype *elemtype;
    uint64_t elemsize;
    uint64_t sendx, recvx; /* ring indices */
    uint32_t closed;
    uint32_t pad;
    plat_lock_t lock;  /* rank LOCKRANK_HCHAN: every field above after make */
} hchan;
extern const gotype hchan_type;

/* make(chan T, size): one noscan allocation (header + ring) when T has no
 * pointers or the ring is empty; else a typed header and a typed ring (Go's
 * layout rule).  Panics "makechan: size out of range" (a plainError);
 * element types of 64 KiB or more are Go's throw "makechan: invalid
 * channel element type". */
hchan *makechan(const gotype *elem, int64_t size);
/* select { case c <- *elem: ... default: }: false when full.  Sending on a
 * closed channel panics "send on closed channel". */
bool chan_trysend(hchan *c, const void *elem);
/* select { case *elem = <-c: ... default: }: false when empty and open;
 * a closed, drained channel yields the zero value and *ok = false. */
bool chan_tryrecv(hchan *c, void *elem, bool *ok);
void chan_close(hchan *c); /* panics "close of closed channel" */

/* ------------------------------------------------------------ interfaces */

/* An empty interface value: {type, data}.  data points at the value (a
 * heap box, or a static one for small integers and empty values). */
typedef struct goiface {
    const gotype *type;
    void *data;
} goiface;
extern const gotype goiface_type; /* 16 B, both words pointers */

/* Box the value at v (t->size bytes) into an interface: */
void *convT(const gotype *t, const void *v);      /* typed box */
void *convTnoptr(const gotype *t, const void *v); /* pointer-free box */
void *convT64(uint64_t v);       /* < 256: a static box, no allocation */
void *convTstring(gostring s);   /* "": a static box */
void *convTslice(goslice s);     /* nil slice: a static box */

#endif
