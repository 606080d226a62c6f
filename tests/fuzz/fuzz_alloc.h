/*
 * fuzz_alloc.h — the interface between the allocator fuzz harness
 * (fuzz_alloc.c) and its two drivers: libFuzzer (`make fuzz`, clang) and
 * the corpus replay (replay_main.c, gcc, part of `make test`).
 */
#ifndef FUZZ_ALLOC_H
#define FUZZ_ALLOC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* libFuzzer's entry points (the replay driver calls them too). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Called once with the reason when the harness detects a failure.  NULL
 * (libFuzzer): print and abort(), so libFuzzer saves the input.  The
 * replay driver installs a hook that longjmps back to it. */
extern void (*fuzz_fail_hook)(const char *why);

/* Counters since the process started. */
struct fuzz_counts {
    uint64_t inputs;   /* LLVMFuzzerTestOneInput calls */
    uint64_t ops;      /* allocator API calls made (good and bad) */
    uint64_t bad;      /* of which bad calls (each checked for its message) */
    uint64_t tiny;     /* tiny mallocgc objects (never freed: no collector) */
    uint64_t tiny_blocks;  /* 16-byte blocks they live in */
    uint64_t verifies;     /* heap_verify calls */
    uint64_t skipped;      /* ops skipped (memory budget, tiny cap, cycles per input) */
    uint64_t gcs;          /* collections (op_gc) */
};
extern struct fuzz_counts fuzz_counts;

/* One line: inputs, ops, bad calls, tiny objects, cycles, ... */
void fuzz_print_summary(FILE *f, const char *prefix);

#endif
