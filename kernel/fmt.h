/*
 * fmt.h — the kernel's printf engine (portable: also built into host tests).
 *
 * Conversions: %d %i %u %x %X %o %p %s %c %%  (and %b: binary, an extension)
 * Flags:       '-' left-justify, '0' zero-pad, '+' and ' ' sign, '#' 0x/0 prefix
 * Width:       a number or '*';  precision: '.N' or '.*' (digits for integers,
 *              maximum characters for %s)
 * Length:      hh h l ll z j t (l and ll are both 64-bit on x86-64)
 * %p prints 0x followed by 16 hex digits; %s of NULL prints "(null)".
 * Anything else (e.g. %f, %n) is printed literally as "%?" followed by the
 * character, so a bad format is visible instead of consuming arguments.
 */
#ifndef KERNEL_FMT_H
#define KERNEL_FMT_H

#include <stdarg.h>
#include <stddef.h>

typedef void (*fmt_sink)(void *ctx, const char *s, size_t n);

/* Formats through `sink`; returns the number of characters produced. */
int fmt_vformat(fmt_sink sink, void *ctx, const char *fmt, va_list ap);

/* Like vsnprintf: always NUL-terminates when n > 0; returns the length the
 * whole output would have had. */
int kvsnprintf(char *buf, size_t n, const char *fmt, va_list ap);
int ksnprintf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
