/*
 * mprof_proto.c — the heap profile as a profile.proto message, the format
 * `go tool pprof` reads (github.com/google/pprof proto/profile.proto),
 * encoded by hand: no allocation, no floating point, portable (the host
 * tests decode it back).
 *
 * WHAT IS WRITTEN (Go's runtime/pprof writeHeapProto, field for field):
 *   sample_type   alloc_objects/count, alloc_space/bytes,
 *                 inuse_objects/count, inuse_space/bytes
 *   sample        one per bucket: its stack as location ids (innermost
 *                 first) and the four values, scaled by 1/(1-exp(-avg/R))
 *                 (mprof_scale; R = 1: as counted), a num label
 *                 "bytes" = the object size
 *   mapping       id 1: the kernel image, [map_start, map_limit) at file
 *                 offset map_offset, file map_file; pprof symbolizes its
 *                 addresses from the ELF given on its command line
 *   location      one per distinct address, id = rank + 1, address only
 *   string_table  "" first, then the names above
 *   time_nanos, period_type space/bytes, period R
 *
 * ENCODING: varints; a nested message is written in place after a
 * one-byte length slot and moved up when its length needs more bytes.  A
 * field that does not fit sets the writer's overflow flag; the encoder
 * then returns 0.
 */
#include "mprof.h"

struct writer {
    uint8_t *buf;
    size_t cap, len;
    bool overflow;
};

enum { S_EMPTY, S_ALLOC_OBJECTS, S_COUNT, S_ALLOC_SPACE, S_BYTES, S_INUSE_OBJECTS,
       S_INUSE_SPACE, S_SPACE, S_FILE, S_NSTRINGS };

static void put_byte(struct writer *w, uint8_t b)
{
    if (w->len < w->cap)
        w->buf[w->len++] = b;
    else
        w->overflow = true;
}

static void put_varint(struct writer *w, uint64_t v)
{
    while (v >= 0x80) {
        put_byte(w, (uint8_t)(v | 0x80));
        v >>= 7;
    }
    put_byte(w, (uint8_t)v);
}

static void put_uint(struct writer *w, uint32_t field, uint64_t v)
{
    put_varint(w, (uint64_t)field << 3); /* wire type 0 */
    put_varint(w, v);
}

static void put_bytes(struct writer *w, uint32_t field, const void *p, size_t n)
{
    put_varint(w, (uint64_t)field << 3 | 2);
    put_varint(w, n);
    for (size_t i = 0; i < n; i++)
        put_byte(w, ((const uint8_t *)p)[i]);
}

/* A nested message: begin returns its start (after a 1-byte length slot). */
static size_t msg_begin(struct writer *w, uint32_t field)
{
    put_varint(w, (uint64_t)field << 3 | 2);
    put_byte(w, 0);
    return w->len;
}

static void msg_end(struct writer *w, size_t start)
{
    if (w->overflow)
        return;
    size_t n = w->len - start, extra = 0;
    for (size_t v = n >> 7; v; v >>= 7)
        extra++;
    if (w->len + extra > w->cap) {
        w->overflow = true;
        return;
    }
    __builtin_memmove(w->buf + start + extra, w->buf + start, n);
    size_t p = start - 1;
    uint64_t v = n;
    while (v >= 0x80) {
        w->buf[p++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    w->buf[p] = (uint8_t)v;
    w->len += extra;
}

static void put_value_type(struct writer *w, uint32_t field, uint64_t type, uint64_t unit)
{
    size_t m = msg_begin(w, field);
    put_uint(w, 1, type);
    put_uint(w, 2, unit);
    msg_end(w, m);
}

/* ------------------------------------------------------------ locations */

static void sort_addrs(uintptr_t *a, size_t n) /* Shell sort: no recursion */
{
    size_t gap = 1;
    while (gap < n / 3)
        gap = gap * 3 + 1;
    for (; gap; gap /= 3)
        for (size_t i = gap; i < n; i++) {
            uintptr_t x = a[i];
            size_t j = i;
            for (; j >= gap && a[j - gap] > x; j -= gap)
                a[j] = a[j - gap];
            a[j] = x;
        }
}

/* Distinct addresses of all records into scratch, sorted; their count, or
 * 0 when scratch is too small. */
static size_t collect_addrs(const struct mprof_record *r, uint32_t n, uintptr_t *scratch,
                            size_t nscratch)
{
    size_t k = 0;
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < r[i].nstk; j++) {
            if (k == nscratch)
                return 0;
            scratch[k++] = r[i].stk[j];
        }
    sort_addrs(scratch, k);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (!u || scratch[u - 1] != scratch[i])
            scratch[u++] = scratch[i];
    return u;
}

static uint64_t loc_id(const uintptr_t *addrs, size_t n, uintptr_t pc)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (addrs[mid] < pc)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo + 1;
}

/* ------------------------------------------------------------ messages */

static void put_sample(struct writer *w, const struct mprof_record *r, uint64_t rate,
                       const uintptr_t *addrs, size_t naddrs)
{
    uint64_t v[4];
    mprof_scale(r->allocs, r->alloc_bytes, rate, &v[0], &v[1]);
    mprof_scale(r->allocs - r->frees, r->alloc_bytes - r->free_bytes, rate, &v[2], &v[3]);
    size_t m = msg_begin(w, 2);
    size_t p = msg_begin(w, 1); /* location_id, packed */
    for (uint32_t j = 0; j < r->nstk; j++)
        put_varint(w, loc_id(addrs, naddrs, r->stk[j]));
    msg_end(w, p);
    p = msg_begin(w, 2); /* value, packed */
    for (int i = 0; i < 4; i++)
        put_varint(w, v[i]);
    msg_end(w, p);
    p = msg_begin(w, 3); /* label bytes = size */
    put_uint(w, 1, S_BYTES);
    put_uint(w, 3, r->size);
    msg_end(w, p);
    msg_end(w, m);
}

static void put_mapping(struct writer *w, const struct mprof_proto_info *info)
{
    size_t m = msg_begin(w, 3);
    put_uint(w, 1, 1);
    put_uint(w, 2, info->map_start);
    put_uint(w, 3, info->map_limit);
    put_uint(w, 4, info->map_offset);
    put_uint(w, 5, S_FILE);
    msg_end(w, m);
}

static void put_strings(struct writer *w, const char *file)
{
    static const char *const names[S_NSTRINGS] = {
        "", "alloc_objects", "count", "alloc_space", "bytes", "inuse_objects", "inuse_space",
        "space", 0};
    for (int i = 0; i < S_NSTRINGS; i++) {
        const char *s = i == S_FILE ? file : names[i];
        put_bytes(w, 6, s, __builtin_strlen(s));
    }
}

size_t mprof_proto_encode(const struct mprof_record *r, uint32_t n,
                          const struct mprof_proto_info *info, uint8_t *buf, size_t cap,
                          uintptr_t *scratch, size_t nscratch)
{
    struct writer w = {buf, cap, 0, false};
    size_t naddrs = collect_addrs(r, n, scratch, nscratch);
    if (!naddrs && n)
        return 0;
    put_value_type(&w, 1, S_ALLOC_OBJECTS, S_COUNT);
    put_value_type(&w, 1, S_ALLOC_SPACE, S_BYTES);
    put_value_type(&w, 1, S_INUSE_OBJECTS, S_COUNT);
    put_value_type(&w, 1, S_INUSE_SPACE, S_BYTES);
    for (uint32_t i = 0; i < n; i++)
        put_sample(&w, &r[i], info->rate, scratch, naddrs);
    put_mapping(&w, info);
    for (size_t i = 0; i < naddrs; i++) {
        size_t m = msg_begin(&w, 4);
        put_uint(&w, 1, i + 1);
        put_uint(&w, 2, 1);
        put_uint(&w, 3, scratch[i]);
        msg_end(&w, m);
    }
    put_strings(&w, info->map_file);
    put_uint(&w, 9, info->time_nanos);
    put_value_type(&w, 11, S_SPACE, S_BYTES);
    put_uint(&w, 12, info->rate);
    return w.overflow ? 0 : w.len;
}

size_t mprof_base64(const uint8_t *src, size_t n, char *dst)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t k = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t b = (uint32_t)src[i] << 16;
        if (i + 1 < n)
            b |= (uint32_t)src[i + 1] << 8;
        if (i + 2 < n)
            b |= src[i + 2];
        dst[k++] = tab[b >> 18];
        dst[k++] = tab[(b >> 12) & 63];
        dst[k++] = i + 1 < n ? tab[(b >> 6) & 63] : '=';
        dst[k++] = i + 2 < n ? tab[b & 63] : '=';
    }
    return k;
}
