/*
 * string.c — strings and byte/rune slices on the heap (Go's string.go).
 *
 * A string is {str, len} over immutable bytes.  The entry points allocate
 * their bytes noscan (bytes hold no pointers) and avoid allocating when Go
 * does:
 *   - the empty result is "" (no bytes);
 *   - a one-byte result points into staticuint64s (byte b is the low byte
 *     of entry b on a little-endian machine), shared with convT64;
 *   - a caller that knows the result does not escape passes a 32-byte
 *     go_tmpbuf on its stack, used when the result fits;
 *   - concatstrings returns its only non-empty operand as is when that
 *     operand's bytes are not on a stack (here: they are a heap object) or
 *     the result does not escape (buf given).  Go can also tell static data
 *     from a stack; alloc/ cannot, so static operands are copied (the one
 *     difference).
 * Sizes: rawbyteslice and rawruneslice hand out the whole size class
 * (roundupsize) as capacity, zeroing past the length; rawstring hands out
 * exactly `size` bytes.
 */
#include "goruntime.h"
#include "mheap.h"

static const uint8_t word0_mask[1] = {0x1};
const gotype gostring_type = {sizeof(gostring), 8, word0_mask, "string header"};

/* staticuint64s[i] == i: one-byte strings and small boxed integers. */
const uint64_t go_staticuint64s[256] = {
#define S4(i) (i), (i) + 1, (i) + 2, (i) + 3
#define S16(i) S4(i), S4((i) + 4), S4((i) + 8), S4((i) + 12)
#define S64(i) S16(i), S16((i) + 16), S16((i) + 32), S16((i) + 48)
    S64(0), S64(64), S64(128), S64(192)
#undef S64
#undef S16
#undef S4
};

static void check_size(int64_t size, uint64_t unit)
{
    if ((uint64_t)size > go_max_alloc() / unit)
        go_throw("out of memory");
}

gostring rawstring(int64_t size, uint8_t **bytes)
{
    check_size(size, 1);
    uint8_t *p = mallocgc((uint64_t)size, 0, false);
    *bytes = p;
    return (gostring){p, size};
}

goslice rawbyteslice(int64_t size)
{
    check_size(size, 1);
    uint64_t cap = roundupsize((uint64_t)size);
    uint8_t *p = mallocgc(cap, 0, false);
    if (cap != (uint64_t)size)
        __builtin_memset(p + size, 0, cap - (uint64_t)size);
    return (goslice){p, size, (int64_t)cap};
}

goslice rawruneslice(int64_t size)
{
    check_size(size, 4);
    uint64_t mem = roundupsize((uint64_t)size * 4);
    uint8_t *p = mallocgc(mem, 0, false);
    if (mem != (uint64_t)size * 4)
        __builtin_memset(p + size * 4, 0, mem - (uint64_t)size * 4);
    return (goslice){p, size, (int64_t)(mem / 4)};
}

gostring slicebytetostring(go_tmpbuf *buf, const uint8_t *ptr, int64_t n)
{
    if (n == 0)
        return (gostring){0, 0};
    if (n == 1)
        return (gostring){(const uint8_t *)&go_staticuint64s[*ptr], 1};
    uint8_t *p;
    if (buf && n <= GO_TMP_BUF_SIZE)
        p = buf->b;
    else
        rawstring(n, &p);
    __builtin_memmove(p, ptr, (uint64_t)n);
    return (gostring){p, n};
}

goslice stringtoslicebyte(go_tmpbuf *buf, gostring s)
{
    goslice b;
    if (buf && s.len <= GO_TMP_BUF_SIZE) {
        __builtin_memset(buf->b, 0, sizeof buf->b);
        b = (goslice){buf->b, s.len, GO_TMP_BUF_SIZE};
    } else {
        b = rawbyteslice(s.len);
    }
    if (s.len)
        __builtin_memmove(b.array, s.str, (uint64_t)s.len);
    return b;
}

/* Bytes that belong to a heap object cannot be on a stack (stacks are
 * manual spans). */
static bool in_heap_object(const uint8_t *p)
{
    mspan *s = span_of((uintptr_t)p);
    return s && __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == mSpanInUse;
}

gostring concatstrings(go_tmpbuf *buf, const gostring *a, int n)
{
    int64_t l = 0;
    int count = 0, idx = 0;
    for (int i = 0; i < n; i++) {
        if (a[i].len == 0)
            continue;
        int64_t sum = (int64_t)((uint64_t)l + (uint64_t)a[i].len); /* Go's ints wrap */
        if (sum < l)
            go_throw("string concatenation too long");
        l = sum;
        count++;
        idx = i;
    }
    if (count == 0)
        return (gostring){0, 0};
    if (count == 1 && (buf || in_heap_object(a[idx].str)))
        return a[idx];
    uint8_t *p;
    gostring s;
    if (buf && l <= GO_TMP_BUF_SIZE)
        s = (gostring){p = buf->b, l};
    else
        s = rawstring(l, &p);
    for (int i = 0; i < n; i++) {
        if (a[i].len)
            __builtin_memmove(p, a[i].str, (uint64_t)a[i].len);
        p += a[i].len;
    }
    return s;
}

gostring gostring_from_c(const char *p)
{
    int64_t l = 0;
    while (p[l])
        l++;
    if (l == 0)
        return (gostring){0, 0};
    uint8_t *b;
    gostring s = rawstring(l, &b);
    __builtin_memmove(b, p, (uint64_t)l);
    return s;
}

goslice gobytes(const uint8_t *p, int64_t n)
{
    if (n == 0)
        return (goslice){go_zerobase(), 0, 0};
    if (n < 0 || (uint64_t)n > go_max_alloc())
        go_panic("runtime error: gobytes: length out of range");
    uint8_t *b = mallocgc((uint64_t)n, 0, false);
    __builtin_memmove(b, p, (uint64_t)n);
    return (goslice){b, n, n};
}
