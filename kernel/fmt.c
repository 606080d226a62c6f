/*
 * fmt.c — printf formatting without libc.
 *
 * One pass over the format: literal runs go to the sink as they are; each
 * conversion is parsed into a spec (flags, width, precision, length), its
 * digits are produced right-to-left into a small buffer, and padding is
 * emitted around them.  No allocation, no floating point, bounded stack.
 */
#include "fmt.h"

#include <stdint.h>

struct spec {
    int left, zero, plus, space, alt;
    int width, prec; /* prec < 0: none */
    int len;         /* 0 int, 1 long, 2 long long, -1 short, -2 char, 3 size/ptrdiff/intmax */
};

static void pad(fmt_sink sink, void *ctx, char c, int n)
{
    char buf[16];
    for (int i = 0; i < 16; i++)
        buf[i] = c;
    while (n > 0) {
        int k = n < 16 ? n : 16;
        sink(ctx, buf, (size_t)k);
        n -= k;
    }
}

/* prefix, then `zeros` zeros, then body, space-padded to width. */
static int emit_padded(fmt_sink sink, void *ctx, const struct spec *sp, const char *prefix,
                       int plen, const char *body, int blen, int zeros)
{
    int total = plen + zeros + blen;
    int fill = sp->width > total ? sp->width - total : 0;
    if (!sp->left)
        pad(sink, ctx, ' ', fill);
    if (plen)
        sink(ctx, prefix, (size_t)plen);
    pad(sink, ctx, '0', zeros);
    if (blen)
        sink(ctx, body, (size_t)blen);
    if (sp->left)
        pad(sink, ctx, ' ', fill);
    return total + fill;
}

/* force_hex_prefix: %p always shows 0x, even for zero. */
static int fmt_int(fmt_sink sink, void *ctx, const struct spec *sp, uint64_t v, int neg,
                   unsigned base, int upper, int is_signed, int force_hex_prefix)
{
    char digits[72];
    int n = 0;
    const char *d = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    int was_zero = v == 0;
    while (v) {
        digits[sizeof digits - 1 - n++] = d[v % base];
        v /= base;
    }
    if (n == 0 && sp->prec != 0)
        digits[sizeof digits - 1 - n++] = '0';
    char prefix[3];
    int plen = 0;
    if (is_signed) {
        if (neg)
            prefix[plen++] = '-';
        else if (sp->plus)
            prefix[plen++] = '+';
        else if (sp->space)
            prefix[plen++] = ' ';
    }
    if (force_hex_prefix || (sp->alt && base == 16 && !was_zero)) {
        prefix[plen++] = '0';
        prefix[plen++] = upper ? 'X' : 'x';
    }
    int zeros = sp->prec > n ? sp->prec - n : 0;
    if (sp->alt && base == 8 && zeros == 0 && (n == 0 || digits[sizeof digits - n] != '0'))
        zeros = 1;
    if (sp->zero && !sp->left && sp->prec < 0) {
        int total = plen + zeros + n;
        if (sp->width > total)
            zeros += sp->width - total;
    }
    return emit_padded(sink, ctx, sp, prefix, plen, &digits[sizeof digits - n], n, zeros);
}

int fmt_vformat(fmt_sink sink, void *ctx, const char *fmt, va_list ap)
{
    int count = 0;
    while (*fmt) {
        const char *lit = fmt;
        while (*fmt && *fmt != '%')
            fmt++;
        if (fmt != lit) {
            sink(ctx, lit, (size_t)(fmt - lit));
            count += (int)(fmt - lit);
        }
        if (!*fmt)
            break;
        const char *start = fmt++;
        struct spec sp = {0, 0, 0, 0, 0, 0, -1, 0};
        for (;; fmt++) {
            if (*fmt == '-') sp.left = 1;
            else if (*fmt == '0') sp.zero = 1;
            else if (*fmt == '+') sp.plus = 1;
            else if (*fmt == ' ') sp.space = 1;
            else if (*fmt == '#') sp.alt = 1;
            else break;
        }
        if (*fmt == '*') {
            sp.width = va_arg(ap, int);
            if (sp.width < 0) {
                sp.left = 1;
                sp.width = -sp.width;
            }
            fmt++;
        } else {
            while (*fmt >= '0' && *fmt <= '9')
                sp.width = sp.width * 10 + (*fmt++ - '0');
        }
        if (*fmt == '.') {
            fmt++;
            sp.prec = 0;
            if (*fmt == '*') {
                sp.prec = va_arg(ap, int);
                if (sp.prec < 0)
                    sp.prec = -1;
                fmt++;
            } else {
                while (*fmt >= '0' && *fmt <= '9')
                    sp.prec = sp.prec * 10 + (*fmt++ - '0');
            }
        }
        for (;; fmt++) {
            if (*fmt == 'l') sp.len = sp.len == 1 ? 2 : 1;
            else if (*fmt == 'h') sp.len = sp.len == -1 ? -2 : -1;
            else if (*fmt == 'z' || *fmt == 'j' || *fmt == 't') sp.len = 3;
            else break;
        }
        char c = *fmt;
        if (c)
            fmt++;
        switch (c) {
        case 'd':
        case 'i': {
            int64_t v;
            if (sp.len >= 1) v = va_arg(ap, int64_t);
            else v = va_arg(ap, int);
            if (sp.len == -1) v = (short)v;
            if (sp.len == -2) v = (signed char)v;
            uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
            count += fmt_int(sink, ctx, &sp, mag, v < 0, 10, 0, 1, 0);
            break;
        }
        case 'u':
        case 'x':
        case 'X':
        case 'o':
        case 'b': {
            uint64_t v;
            if (sp.len >= 1) v = va_arg(ap, uint64_t);
            else v = va_arg(ap, unsigned);
            if (sp.len == -1) v = (unsigned short)v;
            if (sp.len == -2) v = (unsigned char)v;
            unsigned base = c == 'u' ? 10 : c == 'o' ? 8 : c == 'b' ? 2 : 16;
            count += fmt_int(sink, ctx, &sp, v, 0, base, c == 'X', 0, 0);
            break;
        }
        case 'p': {
            uint64_t v = (uint64_t)(uintptr_t)va_arg(ap, void *);
            struct spec ps = sp;
            ps.prec = 16;
            ps.zero = 0;
            count += fmt_int(sink, ctx, &ps, v, 0, 16, 0, 0, 1);
            break;
        }
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            int n = 0;
            while (s[n] && (sp.prec < 0 || n < sp.prec))
                n++;
            struct spec ss = sp;
            ss.zero = 0;
            count += emit_padded(sink, ctx, &ss, 0, 0, s, n, 0);
            break;
        }
        case 'c': {
            char ch = (char)va_arg(ap, int);
            struct spec ss = sp;
            ss.zero = 0;
            count += emit_padded(sink, ctx, &ss, 0, 0, &ch, 1, 0);
            break;
        }
        case '%':
            sink(ctx, "%", 1);
            count++;
            break;
        default: {
            /* unknown conversion: show it instead of guessing an argument */
            int n = (int)(fmt - start);
            sink(ctx, "%?", 2);
            if (n > 1)
                sink(ctx, start + 1, (size_t)(n - 1));
            count += 1 + n;
            break;
        }
        }
    }
    return count;
}

struct buf_ctx {
    char *buf;
    size_t cap, len;
};

static void buf_sink(void *ctx, const char *s, size_t n)
{
    struct buf_ctx *b = ctx;
    for (size_t i = 0; i < n; i++) {
        if (b->len + 1 < b->cap)
            b->buf[b->len] = s[i];
        b->len++;
    }
}

int kvsnprintf(char *buf, size_t n, const char *fmt, va_list ap)
{
    struct buf_ctx b = {buf, n, 0};
    int r = fmt_vformat(buf_sink, &b, fmt, ap);
    if (n > 0)
        buf[b.len < n ? b.len : n - 1] = 0;
    return r;
}

int ksnprintf(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = kvsnprintf(buf, n, fmt, ap);
    va_end(ap);
    return r;
}
