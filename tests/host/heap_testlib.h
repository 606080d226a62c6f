/*
 * heap_testlib.h — helpers shared by the allocator host tests
 * (header-only: every test binary includes it once).
 */
#ifndef HEAP_TESTLIB_H
#define HEAP_TESTLIB_H

#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "malloc.h"
#include "mstats.h"
#include "platform_host.h"
#include "tap.h"

/* ---- error hook capture ---- */
static char hook_msg[512];
static int hook_count;

static inline __attribute__((unused)) void capture_hook(const char *msg)
{
    snprintf(hook_msg, sizeof hook_msg, "%s", msg);
    hook_count++;
}

static inline __attribute__((unused)) void hook_reset(void)
{
    hook_msg[0] = 0;
    hook_count = 0;
    alloc_set_error_hook(capture_hook);
}

/* Exactly one message since hook_reset, equal to the formatted text. */
#define CHECK_HOOK(...)                                                           \
    do {                                                                          \
        char want_[512];                                                          \
        snprintf(want_, sizeof want_, __VA_ARGS__);                               \
        CHECKF(hook_count == 1 && strcmp(hook_msg, want_) == 0,                   \
               "hook: %d message(s), last \"%s\", want \"%s\"", hook_count,       \
               hook_msg, want_);                                                  \
        hook_count = 0;                                                           \
        hook_msg[0] = 0;                                                          \
    } while (0)

#define CHECK_NO_HOOK() CHECKF(hook_count == 0, "unexpected hook message \"%s\"", hook_msg)

/* ---- verify ---- */
#define VERIFY()                                                                  \
    do {                                                                          \
        char verr_[1024];                                                         \
        bool vok_ = heap_verify(verr_, sizeof verr_);                             \
        CHECKF(vok_, "%s", verr_);                                                \
    } while (0)

/* ---- deterministic random numbers (xorshift64*) ---- */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static inline __attribute__((unused)) void rng_seed(uint64_t s) { rng_state = s ? s : 1; }
static inline __attribute__((unused)) uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}
static inline __attribute__((unused)) uint64_t rng_n(uint64_t n) { return rng() % n; }

static inline __attribute__((unused)) void shuffle(void **a, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = rng_n(i);
        void *t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

/* Fill / check an object with a pattern derived from `tag`. */
static inline __attribute__((unused)) void fill(void *p, size_t n, uint64_t tag)
{
    uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(tag * 131 + i * 7 + (tag >> 8));
}
static inline __attribute__((unused)) bool check_fill(const void *p, size_t n, uint64_t tag)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != (uint8_t)(tag * 131 + i * 7 + (tag >> 8)))
            return false;
    return true;
}

static inline __attribute__((unused)) struct memstats stats_now(void)
{
    struct memstats st;
    read_memstats(&st);
    return st;
}

/* Return every cached span and give all free memory back. */
static inline __attribute__((unused)) void quiesce(void)
{
    malloc_flush_all_mcaches();
    heap_scavenge(~0ull >> 1);
}

#endif
