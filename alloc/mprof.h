/*
 * mprof.h — the heap profile (Go's mprof.go: MemProfileRate, per-stack
 * buckets of sampled allocations and frees).  See mprof.c for the design,
 * mprof_proto.c for the profile.proto encoding.
 */
#ifndef ALLOC_MPROF_H
#define ALLOC_MPROF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mcache.h"
#include "mspan.h"

#define MPROF_DEFAULT_RATE (512u * 1024u) /* Go's MemProfileRate */
#define MPROF_MAX_DEPTH 32                /* frames kept per sample */

/* Bytes between samples on average (0: off, 1: every allocation).  Takes
 * effect on each CPU at its next mallocgc (mprof.c, RATE CHANGES). */
void mprof_set_rate(uint64_t rate);
uint64_t mprof_get_rate(void);

/* mallocgc's counter ran out (size >= c->nextSample): draw the next
 * distance and say whether this allocation of size bytes is a sample.
 * Caller pinned on c's CPU. */
bool mprof_sample_point(mcache *c, uint64_t size);

/* Record a sampled allocation of `size` bytes at v (an object start, or an
 * address inside a tiny block).  fp: the frame of the allocator's entry
 * point (mallocgc / newobject / newarray); the stack recorded starts at its
 * return address.  Unpinned, no lock held. */
void mprof_malloc(uintptr_t v, uint64_t size, uintptr_t fp);

/* The sweep freed the slots `dead` of bitmap word w of small span s, which
 * has sampled objects (s->profSamples != 0).  Caller owns the span. */
void mprof_sweep_free(mspan *s, uint32_t w, uint64_t dead);
/* A large span with a sampled object is being freed (kfree, the sweep). */
void mprof_free_large(mspan *s);

/* One bucket: a call stack and object size, and its sampled counts
 * (unscaled: each sample counts once). */
struct mprof_record {
    uint64_t size; /* bytes per object */
    uint64_t allocs, alloc_bytes, frees, free_bytes;
    uint32_t nstk;
    uintptr_t stk[MPROF_MAX_DEPTH]; /* return addresses - 1, innermost first */
};
/* Copy up to max records into out (any order); returns how many buckets
 * exist (> max: call again with more room).  Takes the profile lock. */
uint32_t mprof_snapshot(struct mprof_record *out, uint32_t max);
/* Sampled objects not yet freed (all buckets). */
uint64_t mprof_live_samples(void);

/* Go's scaleHeapSample: count and bytes of samples of average size
 * bytes/count, scaled by 1 / (1 - exp(-avg/rate)) (integer arithmetic). */
void mprof_scale(uint64_t count, uint64_t bytes, uint64_t rate, uint64_t *count_out,
                 uint64_t *bytes_out);
/* 1 - exp(-avg/rate) in Q62 fixed point (2^62 = 1.0); rate >= 1. */
uint64_t mprof_one_minus_exp_q62(uint64_t avg, uint64_t rate);
/* An exponentially distributed distance with the given mean (> 1),
 * from the xorshift state *rng (nonzero). */
uint64_t mprof_exp_draw(uint64_t *rng, uint64_t mean);

/* Tests only: when set, frees of sampled objects are not recorded (the
 * in-use figures then never drop: the negative control). */
extern int mprof_test_drop_frees;

/* The bounds [*lo, *hi) of the stack holding address fp, if the platform
 * knows them (optional: a weak symbol; without it only the first frame,
 * the caller of the allocator, is recorded). */
bool plat_stack_bounds(uintptr_t fp, uintptr_t *lo, uintptr_t *hi)
    __attribute__((weak, visibility("hidden")));

/* ---- profile.proto (mprof_proto.c) ---- */

/* What the encoder needs besides the records. */
struct mprof_proto_info {
    uint64_t rate;           /* the sampling period (bytes) */
    uint64_t map_start, map_limit, map_offset; /* the kernel image's mapping */
    const char *map_file;    /* "kernel.elf" */
    uint64_t time_nanos;
};
/* Encode records as a profile.proto message into buf (cap bytes); returns
 * its length, or 0 when it does not fit. */
size_t mprof_proto_encode(const struct mprof_record *r, uint32_t n,
                          const struct mprof_proto_info *info, uint8_t *buf, size_t cap,
                          uintptr_t *scratch, size_t nscratch);
/* Base64 of src[0..n) into dst (4 * ceil(n/3) bytes, no NUL). */
size_t mprof_base64(const uint8_t *src, size_t n, char *dst);

#endif
