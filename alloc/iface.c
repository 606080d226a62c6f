/*
 * iface.c — boxing a value into an interface (Go's iface.go convT*).
 *
 * An interface value is {type, data}: a value that is not itself a pointer
 * is copied into a heap box and data points at the box.  Go avoids the box
 * when it can, and so does this file:
 *   - integers below 256 point into staticuint64s (convT64);
 *   - the empty string and the nil slice point at a static zero value;
 *   - pointer-free values get a noscan box (convTnoptr; small ones land in
 *     the tiny allocator, as in Go), others a typed, zeroed box (convT).
 */
#include "goruntime.h"
#include "mbarrier.h"

static const uint8_t both_words_mask[1] = {0x3};
const gotype goiface_type = {sizeof(goiface), 16, both_words_mask, "interface"};
static const gotype uint64_type = {8, 0, 0, "uint64"};

/* Go's zeroVal: what a boxed zero value of a small type points at. */
static const uint64_t zero_val[4];

void *convT(const gotype *t, const void *v)
{
    void *x = mallocgc(t->size, t, true);
    gc_wb_memmove(x, v, t->size); /* Go's typedmemmove */
    return x;
}

void *convTnoptr(const gotype *t, const void *v)
{
    void *x = mallocgc(t->size, t, false);
    __builtin_memmove(x, v, t->size);
    return x;
}

void *convT64(uint64_t v)
{
    if (v < 256)
        return (void *)&go_staticuint64s[v];
    uint64_t *x = mallocgc(8, &uint64_type, false);
    *x = v;
    return x;
}

void *convTstring(gostring s)
{
    if (s.len == 0)
        return (void *)zero_val;
    gostring *x = mallocgc(sizeof s, &gostring_type, true);
    gc_wb_memmove(x, &s, sizeof s);
    return x;
}

void *convTslice(goslice s)
{
    if (!s.array)
        return (void *)zero_val;
    goslice *x = mallocgc(sizeof s, &goslice_type, true);
    gc_wb_memmove(x, &s, sizeof s);
    return x;
}
