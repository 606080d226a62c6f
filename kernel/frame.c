/*
 * frame.c — the physical frame allocator.
 *
 * Owns two bitmaps over [0, top), one bit per 4 KiB frame:
 *   managed[]  the frame is usable RAM (from the sanitised map) — constant
 *   free[]     the frame is free now; invariant: free ⊆ managed
 * The bitmaps live in the first usable range big enough for them, and the
 * frames they occupy are taken out of `managed` so they are never handed out.
 *
 * frame_alloc: (1) under the lock, scan free[] word by word from `hint`
 * (wrapping once) for a non-zero word; (2) take its lowest set bit;
 * (3) move the hint there.  Cost: O(1) amortised while memory is plentiful,
 * O(top/64) words in the worst case (nearly exhausted).
 * frame_free: check alignment, managed, not already free; set the bit.
 * Frames below 1 MiB are kept for frame_alloc_low (the SMP trampoline).
 */
#include "frame.h"
#include "kernel.h"
#include "spinlock.h"

static spinlock_t lock = SPINLOCK_INIT(LOCKRANK_FRAMES);
static uint64_t *managed, *freebits; /* direct-map pointers */
static uint64_t nwords, top;
static uint64_t hint;                 /* word index to start scanning */
static uint64_t total, nfree;         /* frames >= 1 MiB */

static inline int bit_get(const uint64_t *b, uint64_t f) { return (b[f / 64] >> (f % 64)) & 1; }
static inline void bit_set(uint64_t *b, uint64_t f) { b[f / 64] |= 1ull << (f % 64); }
static inline void bit_clr(uint64_t *b, uint64_t f) { b[f / 64] &= ~(1ull << (f % 64)); }

void frame_init(const struct mem_range *usable, int n)
{
    if (n <= 0)
        panic("frame_init: no usable memory in the memory map");
    top = usable[n - 1].end;
    uint64_t frames = top / FRAME_SIZE;
    nwords = (frames + 63) / 64;
    uint64_t bytes = ((nwords * 8 * 2) + FRAME_SIZE - 1) & ~(FRAME_SIZE - 1);
    /* place the bitmaps in the first range above 1 MiB that holds them */
    uint64_t at = 0;
    for (int i = 0; i < n && !at; i++) {
        uint64_t s = usable[i].start < FRAME_LOW_LIMIT ? FRAME_LOW_LIMIT : usable[i].start;
        if (s < usable[i].end && usable[i].end - s >= bytes)
            at = s;
    }
    if (!at)
        panic("frame_init: no usable range can hold the %lu-byte frame bitmaps", bytes);
    managed = phys_to_virt(at);
    freebits = managed + nwords;
    for (uint64_t w = 0; w < 2 * nwords; w++)
        managed[w] = 0;
    for (int i = 0; i < n; i++)
        for (uint64_t pa = usable[i].start; pa < usable[i].end; pa += FRAME_SIZE) {
            if (pa >= at && pa < at + bytes)
                continue;
            uint64_t f = pa / FRAME_SIZE;
            bit_set(managed, f);
            bit_set(freebits, f);
            if (pa >= FRAME_LOW_LIMIT)
                total++;
        }
    nfree = total;
    hint = FRAME_LOW_LIMIT / FRAME_SIZE / 64;
}

static uint64_t alloc_locked(uint64_t from_word, uint64_t to_word, int move_hint)
{
    if (!spin_held(&lock))
        panic("frame allocator: %s called without its lock", __func__);
    for (uint64_t w = from_word; w < to_word; w++) {
        if (freebits[w]) {
            uint64_t f = w * 64 + (uint64_t)__builtin_ctzll(freebits[w]);
            bit_clr(freebits, f);
            if (move_hint)
                hint = w;
            return f * FRAME_SIZE;
        }
    }
    return 0;
}

uint64_t frame_alloc(void)
{
    spin_lock(&lock);
    uint64_t low_words = FRAME_LOW_LIMIT / FRAME_SIZE / 64;
    uint64_t pa = alloc_locked(hint, nwords, 1);
    if (!pa)
        pa = alloc_locked(low_words, hint, 1);
    if (pa)
        nfree--;
    spin_unlock(&lock);
    return pa;
}

uint64_t frame_alloc_zeroed(void)
{
    uint64_t pa = frame_alloc();
    if (pa) {
        uint64_t *p = phys_to_virt(pa);
        for (int i = 0; i < 512; i++)
            p[i] = 0;
    }
    return pa;
}

uint64_t frame_alloc_low(void)
{
    spin_lock(&lock);
    /* skip frame 0: a zero physical address means "none" */
    uint64_t pa = 0;
    for (uint64_t f = 1; f < FRAME_LOW_LIMIT / FRAME_SIZE && f / 64 < nwords; f++)
        if (bit_get(freebits, f)) {
            bit_clr(freebits, f);
            pa = f * FRAME_SIZE;
            break;
        }
    spin_unlock(&lock);
    return pa;
}

void frame_free(uint64_t pa)
{
    uint64_t f = pa / FRAME_SIZE;
    if (pa % FRAME_SIZE)
        panic("frame_free: 0x%lx is not 4 KiB aligned", pa);
    if (pa >= top || !bit_get(managed, f))
        panic("frame_free: 0x%lx is not a managed frame (reserved or outside RAM)", pa);
    spin_lock(&lock);
    if (bit_get(freebits, f)) {
        spin_unlock(&lock);
        panic("frame_free: double free of frame 0x%lx", pa);
    }
    bit_set(freebits, f);
    if (pa >= FRAME_LOW_LIMIT) {
        nfree++;
        if (f / 64 < hint)
            hint = f / 64;
    }
    spin_unlock(&lock);
}

uint64_t frame_total(void) { return total; }
uint64_t frame_free_count(void) { return __atomic_load_n(&nfree, __ATOMIC_RELAXED); }
int frame_is_managed(uint64_t pa) { return pa < top && bit_get(managed, pa / FRAME_SIZE); }
