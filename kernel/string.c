/* string.c — the few libc routines the compiler may call on its own
 * (struct copies, __builtin_memset) plus strcmp/strlen for kernel code. */
#include <stddef.h>
#include <stdint.h>

#include "kernel.h"

/* Bulk in 8-byte words, 8 at a time, in plain stores: as fast as the
 * string instructions on hardware for the sizes the kernel uses, and far
 * faster where rep-prefixed instructions are emulated one iteration at a
 * time (QEMU's TCG).  The loops must not be turned back into calls to
 * memset/memcpy: no-tree-loop-distribute-patterns. */
#define NO_LIBCALL __attribute__((optimize("no-tree-loop-distribute-patterns")))

NO_LIBCALL void *memcpy(void *d, const void *s, size_t n)
{
    unsigned char *dp = d;
    const unsigned char *sp = s;
    if ((((uintptr_t)dp | (uintptr_t)sp) & 7) == 0) {
        for (; n >= 64; n -= 64, dp += 64, sp += 64) {
            const uint64_t *a = (const uint64_t *)sp;
            uint64_t *b = (uint64_t *)dp;
            b[0] = a[0], b[1] = a[1], b[2] = a[2], b[3] = a[3];
            b[4] = a[4], b[5] = a[5], b[6] = a[6], b[7] = a[7];
        }
        for (; n >= 8; n -= 8, dp += 8, sp += 8)
            *(uint64_t *)dp = *(const uint64_t *)sp;
    }
    __asm__ volatile("rep movsb" : "+D"(dp), "+S"(sp), "+c"(n)::"memory");
    return d;
}

NO_LIBCALL void *memset(void *d, int c, size_t n)
{
    unsigned char *dp = d;
    uint64_t v = (uint8_t)c * 0x0101010101010101ull;
    if (((uintptr_t)dp & 7) == 0) {
        for (; n >= 64; n -= 64, dp += 64) {
            uint64_t *b = (uint64_t *)dp;
            b[0] = v, b[1] = v, b[2] = v, b[3] = v, b[4] = v, b[5] = v, b[6] = v, b[7] = v;
        }
        for (; n >= 8; n -= 8, dp += 8)
            *(uint64_t *)dp = v;
    }
    __asm__ volatile("rep stosb" : "+D"(dp), "+c"(n) : "a"(v) : "memory");
    return d;
}

void *memmove(void *d, const void *s, size_t n)
{
    unsigned char *dp = d;
    const unsigned char *sp = s;
    if (dp < sp || dp >= sp + n)
        return memcpy(d, s, n);
    while (n--)
        dp[n] = sp[n];
    return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            return x[i] - y[i];
    return 0;
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

int strcmp(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return (unsigned char)*a - (unsigned char)*b;
}

/* For kernel code that looks for words in messages (self-tests). */
char *strstr(const char *hay, const char *needle)
{
    for (; *hay; hay++) {
        const char *a = hay, *b = needle;
        while (*b && *a == *b)
            a++, b++;
        if (!*b)
            return (char *)hay;
    }
    return *needle ? 0 : (char *)hay;
}

/* Zero 16 KiB of the stack below the caller's frame.  The
 * collector scans stacks conservatively from their stack pointer up: the
 * slots a later frame at these depths never writes would otherwise still
 * hold what an earlier, finished call left there — an object address that
 * keeps that object alive.  CPU stacks only (64 KiB): never on a task's. */
void __attribute__((noinline)) stack_scrub(void)
{
    volatile char pad[16384];
    __builtin_memset((char *)pad, 0, sizeof pad);
    __asm__ volatile("" ::"r"(pad) : "memory");
}
