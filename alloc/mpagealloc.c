/*
 * mpagealloc.c — the page allocator (the idea of Go's mpagealloc.go, own
 * code): which 8 KiB heap pages are free, and which free pages have had
 * their memory given back to the host.
 *
 * OWNS
 *   For every 4 MiB chunk (512 pages) of grown heap: an alloc bitmap
 *   (1 = allocated, or not part of the heap) and a scav bitmap (1 = free and
 *   scavenged, i.e. Prepared, not Ready).  Above them a tree of free-run
 *   summaries {start, max, end} (free pages at the start of a range, longest
 *   free run inside it, free pages at its end):
 *       top[g]        one per 4 GiB group  (8 mids)      — array sized at init
 *       L0->mid[m]    one per 512 MiB mid  (8 blocks)    — allocated on grow
 *       L0->sum[b]    one per 64 MiB block (16 chunks)   — allocated on grow
 *       L1->sum[c]    one per 4 MiB chunk  (512 pages)   — allocated on grow
 *   The metadata of a 64 MiB block (bitmaps + chunk summaries, ~2.3 KiB) and
 *   of a 4 GiB group (mid and block summaries + pointers, ~1.4 KiB) come from
 *   persistentalloc the first time grow touches them; the top level costs
 *   20 bytes per 4 GiB of heap window and is taken at init.  Also: the
 *   search hint search_addr, and the free/scavenged/total page counters.
 *   Page addresses are handled as page indices relative to `origin` (the
 *   window base rounded down to 4 GiB) so every level is naturally aligned.
 *
 * ALLOC (pagealloc_alloc, npages)
 *   1. Reject npages == 0 or npages > free pages.
 *   2. Find: scan top[] from the hint's group upward.  For each entry, with
 *      a run of `len` free pages carried from the entries before it:
 *      len + start >= npages → the run beginning at the carried base is the
 *      answer; else max >= npages → descend into the entry and scan its
 *      children the same way (beginning at the hint's child when the hint
 *      lies inside); else carry `end` (or len + the whole entry when it is
 *      entirely free).  In a chunk, scan the bitmap's free runs from the
 *      hint bit.  This yields the lowest-addressed fit; runs may cross any
 *      number of chunks, blocks and groups.  (find(): one scan_level() over
 *      top[], scan_children() for each level below, chunk_find().)
 *   3. For each maximal scavenged sub-run of the found run, call back(); on
 *      success clear its scav bits.  On failure: stop, leave the run free
 *      (the sub-runs already backed stay free and Ready), set *oom, return 0.
 *   4. Set the alloc bits, recompute the summaries of the touched chunks,
 *      then their blocks, mids and groups (stopping at the first level that
 *      did not change), decrease free_pages, move the hint (past the run
 *      when the run began at the first free page after the old hint, else
 *      to the first free page seen).  Hint rule: every grown page below
 *      search_addr is allocated; find() starts each level at the hint.
 * FREE (pagealloc_free)
 *   1. Check that every page is grown and allocated (else plat_panic naming
 *      the first bad page).
 *   2. Clear the alloc bits (free runs coalesce by construction: the
 *      summaries are recomputed from the bitmap), update summaries as in
 *      alloc step 4, free_pages += n, hint = min(hint, base).
 * SCAVENGE (pagealloc_scavenge)
 *   1. Walk groups, mids, blocks, chunks from the highest address downward,
 *      skipping every summary with max == 0 (no free page).
 *   2. In a chunk, walk the words of (free & ~scav) from the top; merge runs
 *      that touch into one pending run (also across chunks); when a run is
 *      complete or enough pages are pending, call unback() on it and set
 *      its scav bits.  Stop once `bytes` are released.
 * GROW (pagealloc_grow)
 *   1. Allocate the missing group/block metadata (a new block's alloc bits
 *      start all ones = "not heap", so a partial failure leaves a valid
 *      state and returns false).
 *   2. Mark the chunks grown, free and scavenged; update summaries and
 *      counters; lower the hint to base.
 *
 * INVARIANTS (pagealloc_verify checks all of them)
 *   - Every stored summary equals the one recomputed from the bitmaps
 *     (chunks from bits, blocks from chunks, mids from blocks, groups from
 *     mids).
 *   - scav ⊆ free: no page has both its alloc and scav bit set.
 *   - Chunks not grown have all alloc bits set, no scav bit, summary 0;
 *     absent blocks/groups have zero summaries.
 *   - free_pages, scav_pages, total_pages equal the counts of the bitmaps.
 *   - Every grown page below search_addr is allocated.
 *   - Grown groups lie in [lo_group, hi_group).
 *
 * LOCKING
 *   The pageAlloc has no lock: the whole structure is protected by the
 *   owning mheap's lock, held by the caller of every function here
 *   (including across the back()/unback() callbacks, which only touch the
 *   platform).
 *
 * COST (n = npages; fan-outs: 8 mids per group, 8 blocks per mid, 16 chunks
 * per block, 8 words per chunk)
 *   alloc:    O(G + 8 + 8 + 16 + 8 + runs scanned in one chunk) for the search,
 *             where G = grown groups between the hint and the answer
 *             (usually 0–1), plus O(n/64 + chunks touched) to set bits and
 *             summaries, plus one merge of 16 / 8 / 8 summaries per touched
 *             block / mid / group (skipped from the first level that did not
 *             change).  Measured on the host (-O2, no sanitizers, rough):
 *             ~85 ns per alloc+free pair of 1 or of 64 pages reusing the same
 *             run, ~130 ns per pair in batches of 1000 one-page allocs.
 *             A failing search (no fit) costs the scan from the hint to the
 *             last grown group, then O(1) while nothing is freed when memory
 *             is simply full (the hint moves past the end).
 *   free:     O(n/64 + chunks touched) + the same summary merges.
 *   scavenge: O(summaries with free pages visited + words of those chunks).
 *   grow:     O(chunks grown) + metadata allocation.
 *   verify:   O(grown chunks × 512) (bit by bit, independent of the fast code).
 */
#include "mpagealloc.h"
#include "persistent.h"
#include "platform.h"

#define CHUNK_PAGES 512ull
#define BLOCK_PAGES (CHUNK_PAGES * PALLOC_L1_CHUNKS)  /* 8192 */
#define MID_PAGES (BLOCK_PAGES * PALLOC_MID_BLOCKS)    /* 65536 */
#define GROUP_PAGES (BLOCK_PAGES * PALLOC_L0_BLOCKS)  /* 524288 */
#define NMIDS (PALLOC_L0_BLOCKS / PALLOC_MID_BLOCKS)
#define MID_PSHIFT 16
#define CHUNK_PSHIFT 9
#define BLOCK_PSHIFT 13
#define GROUP_PSHIFT 19
#define GROUP_BYTES (1ull << PALLOC_L0_SHIFT)

_Static_assert(PALLOC_CHUNK_WORDS == 8, "chunk = 8 words");
_Static_assert((1ull << CHUNK_PSHIFT) == CHUNK_PAGES, "chunk shift");
_Static_assert((1ull << BLOCK_PSHIFT) == BLOCK_PAGES, "block shift");
_Static_assert((1ull << GROUP_PSHIFT) == GROUP_PAGES, "group shift");
_Static_assert((1ull << MID_PSHIFT) == MID_PAGES, "mid shift");

enum { BM_ALLOC, BM_SCAV };

static _Noreturn void panicf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static _Noreturn void panicf(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    plat_vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    plat_panic(buf);
}

static int errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        plat_vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return 0;
}

static inline uintptr_t pg_addr(const pageAlloc *p, uint64_t pi)
{
    return p->origin + ((uintptr_t)pi << PAGE_SHIFT);
}

/* Low `n` bits set (n in 0..64). */
static inline uint64_t low_mask(uint32_t n)
{
    return n >= 64 ? ~0ull : ((1ull << n) - 1);
}

/* ------------------------------------------------------------------ summaries */

static const pallocSum sum_zero = {0, 0, 0};

static inline bool sum_eq(pallocSum a, pallocSum b)
{
    return a.start == b.start && a.max == b.max && a.end == b.end;
}

/* Longest run of one bits in x. */
static inline uint32_t longest_ones(uint64_t x)
{
    uint32_t n = 0;
    while (x) {
        x &= x >> 1;
        n++;
    }
    return n;
}

/* Summary of a chunk from its alloc bitmap (0 bits are free). */
static pallocSum sum_chunk(const uint64_t *alloc)
{
    uint32_t start = 0, max = 0, cur = 0;
    bool seen = false;
    for (int w = 0; w < 8; w++) {
        uint64_t x = alloc[w];
        if (x == 0) {
            cur += 64;
            continue;
        }
        cur += (uint32_t)__builtin_ctzll(x);
        if (!seen) {
            start = cur;
            seen = true;
        }
        if (cur > max)
            max = cur;
        /* Runs strictly inside the word (bounded by allocated bits); the
         * word's edge runs are parts of longer runs, counting them is safe. */
        uint32_t lz = (uint32_t)__builtin_clzll(x);
        uint32_t tz = (uint32_t)__builtin_ctzll(x);
        if (lz + tz + max < 62) { /* a gap between the lowest and highest set bit could beat max */
            uint32_t in = longest_ones(~x);
            if (in > max)
                max = in;
        }
        cur = lz;
    }
    if (!seen)
        return (pallocSum){CHUNK_PAGES, CHUNK_PAGES, CHUNK_PAGES};
    if (cur > max)
        max = cur;
    return (pallocSum){start, max, cur};
}

/* Summary of n consecutive ranges of `child` pages each. */
static pallocSum sum_merge(const pallocSum *s, int n, uint32_t child)
{
    uint32_t start = 0, max = 0, cur = 0;
    int i;
    for (i = 0; i < n; i++) {
        start += s[i].start;
        if (s[i].start != child)
            break;
    }
    if (i == n) /* entirely free */
        return (pallocSum){start, start, start};
    for (i = 0; i < n; i++) {
        uint32_t across = cur + s[i].start;
        if (across > max)
            max = across;
        if (s[i].max > max)
            max = s[i].max;
        cur = s[i].start == child ? cur + child : s[i].end;
    }
    if (cur > max)
        max = cur;
    return (pallocSum){start, max, cur};
}

/* ------------------------------------------------------------------ lookup */

static inline pallocL1 *block_of(const pageAlloc *p, uint64_t ci)
{
    pallocL0 *g = p->groups[ci >> 10];
    return g ? g->l1[(ci >> 4) & 63] : 0;
}

static inline bool chunk_grown(const pageAlloc *p, uint64_t ci)
{
    if ((ci >> 10) >= p->ngroups)
        return false;
    pallocL1 *b = block_of(p, ci);
    return b && (b->grown >> (ci & 15) & 1);
}

static inline uint64_t *bitmap(const pageAlloc *p, uint64_t ci, int which)
{
    pallocChunk *c = &block_of(p, ci)->chunk[ci & 15];
    return which == BM_ALLOC ? c->alloc : c->scav;
}

/* Set (val) or clear (!val) bits [pi, pi+n) of one bitmap kind; the range may
 * span chunks, all of which must exist. */
static void bits_fill(pageAlloc *p, int which, uint64_t pi, uint64_t n, bool val)
{
    while (n > 0) {
        uint64_t *bm = bitmap(p, pi >> CHUNK_PSHIFT, which);
        uint32_t i = (uint32_t)(pi & (CHUNK_PAGES - 1));
        uint64_t cnt = CHUNK_PAGES - i < n ? CHUNK_PAGES - i : n;
        pi += cnt;
        n -= cnt;
        while (cnt > 0) {
            uint32_t w = i >> 6, b = i & 63;
            uint32_t k = 64 - b < cnt ? 64 - b : (uint32_t)cnt;
            uint64_t m = low_mask(k) << b;
            if (val)
                bm[w] |= m;
            else
                bm[w] &= ~m;
            i += k;
            cnt -= k;
        }
    }
}

/* First page in [pi, lim) whose bit of kind `which` equals `val`, or lim. */
static uint64_t bits_next(const pageAlloc *p, int which, bool val, uint64_t pi, uint64_t lim)
{
    while (pi < lim) {
        const uint64_t *bm = bitmap(p, pi >> CHUNK_PSHIFT, which);
        uint64_t cbase = pi & ~(CHUNK_PAGES - 1);
        uint32_t i = (uint32_t)(pi - cbase);
        uint32_t w = i >> 6;
        uint64_t x = (val ? bm[w] : ~bm[w]) & (~0ull << (i & 63));
        for (;;) {
            if (x) {
                uint64_t r = cbase + w * 64 + (uint32_t)__builtin_ctzll(x);
                return r < lim ? r : lim;
            }
            if (++w == 8)
                break;
            x = val ? bm[w] : ~bm[w];
        }
        pi = cbase + CHUNK_PAGES;
    }
    return lim;
}

/* Recompute the summaries over chunks [c0, c1] (inclusive) and upward. */
static void update_sums(pageAlloc *p, uint64_t c0, uint64_t c1)
{
    bool changed = false;
    for (uint64_t ci = c0; ci <= c1; ci++) {
        pallocL1 *b = block_of(p, ci);
        pallocSum s = sum_chunk(b->chunk[ci & 15].alloc);
        if (!sum_eq(s, b->sum[ci & 15])) {
            b->sum[ci & 15] = s;
            changed = true;
        }
    }
    if (!changed)
        return;
    changed = false;
    for (uint64_t bi = c0 >> 4; bi <= c1 >> 4; bi++) {
        pallocL0 *g = p->groups[bi >> 6];
        pallocSum s = sum_merge(g->l1[bi & 63]->sum, PALLOC_L1_CHUNKS, CHUNK_PAGES);
        if (!sum_eq(s, g->sum[bi & 63])) {
            g->sum[bi & 63] = s;
            changed = true;
        }
    }
    if (!changed)
        return;
    changed = false;
    for (uint64_t mi = c0 >> 7; mi <= c1 >> 7; mi++) {
        pallocL0 *g = p->groups[mi >> 3];
        pallocSum s = sum_merge(&g->sum[(mi & 7) * PALLOC_MID_BLOCKS], PALLOC_MID_BLOCKS,
                                BLOCK_PAGES);
        if (!sum_eq(s, g->mid[mi & 7])) {
            g->mid[mi & 7] = s;
            changed = true;
        }
    }
    if (!changed)
        return;
    for (uint64_t gi = c0 >> 10; gi <= c1 >> 10; gi++)
        p->top[gi] = sum_merge(p->groups[gi]->mid, NMIDS, MID_PAGES);
}

/* ------------------------------------------------------------------ init/grow */

void pagealloc_init(pageAlloc *p)
{
    uintptr_t wbase;
    uint64_t wsize;
    __builtin_memset(p, 0, sizeof *p);
    plat_heap_window(&wbase, &wsize);
    if (wbase & (PAGE_SIZE - 1))
        panicf("pagealloc_init: heap window 0x%lx not page aligned", (unsigned long)wbase);
    p->origin = wbase & ~(uintptr_t)(GROUP_BYTES - 1);
    p->limit = wbase + wsize;
    p->ngroups = (p->limit - p->origin + GROUP_BYTES - 1) / GROUP_BYTES;
    p->top = persistentalloc(p->ngroups * sizeof(pallocSum), 64, &p->meta_bytes);
    p->groups = persistentalloc(p->ngroups * sizeof(pallocL0 *), 64, &p->meta_bytes);
    if (!p->top || !p->groups)
        panicf("pagealloc_init: no memory for %lu group summaries", (unsigned long)p->ngroups);
    p->lo_group = p->ngroups;
    p->hi_group = 0;
    p->search_addr = p->limit;
    p->inited = true;
}

bool pagealloc_grow(pageAlloc *p, uintptr_t base, uint64_t size)
{
    if (!p->inited)
        panicf("pagealloc_grow: pageAlloc not initialised");
    if (size == 0 || (base & (PALLOC_CHUNK_BYTES - 1)) || (size & (PALLOC_CHUNK_BYTES - 1)) ||
        base < p->origin || base + size > p->limit || base + size < base)
        panicf("pagealloc_grow: bad range 0x%lx+0x%lx (chunk-aligned, inside the window)",
               (unsigned long)base, (unsigned long)size);
    uint64_t pi = (base - p->origin) >> PAGE_SHIFT;
    uint64_t n = size >> PAGE_SHIFT;
    uint64_t c0 = pi >> CHUNK_PSHIFT, c1 = (pi + n - 1) >> CHUNK_PSHIFT;
    for (uint64_t ci = c0; ci <= c1; ci++)
        if (chunk_grown(p, ci))
            panicf("pagealloc_grow: chunk 0x%lx already grown",
                   (unsigned long)pg_addr(p, ci << CHUNK_PSHIFT));
    /* 1. metadata; every intermediate state is valid. */
    for (uint64_t gi = c0 >> 10; gi <= c1 >> 10; gi++) {
        if (!p->groups[gi]) {
            pallocL0 *g = persistentalloc(sizeof(pallocL0), 64, &p->meta_bytes);
            if (!g)
                return false;
            p->groups[gi] = g;
        }
    }
    for (uint64_t bi = c0 >> 4; bi <= c1 >> 4; bi++) {
        pallocL0 *g = p->groups[bi >> 6];
        if (!g->l1[bi & 63]) {
            pallocL1 *b = persistentalloc(sizeof(pallocL1), 64, &p->meta_bytes);
            if (!b)
                return false;
            __builtin_memset(b->chunk, 0xff, sizeof b->chunk);
            for (int c = 0; c < (int)PALLOC_L1_CHUNKS; c++)
                __builtin_memset(b->chunk[c].scav, 0, sizeof b->chunk[c].scav);
            g->l1[bi & 63] = b;
        }
    }
    /* 2. the chunks become heap: free and scavenged. */
    for (uint64_t ci = c0; ci <= c1; ci++) {
        pallocL1 *b = block_of(p, ci);
        pallocChunk *c = &b->chunk[ci & 15];
        __builtin_memset(c->alloc, 0, sizeof c->alloc);
        __builtin_memset(c->scav, 0xff, sizeof c->scav);
        b->grown |= (uint16_t)(1u << (ci & 15));
    }
    update_sums(p, c0, c1);
    p->total_pages += n;
    p->free_pages += n;
    p->scav_pages += n;
    if (base < p->search_addr)
        p->search_addr = base;
    if ((c0 >> 10) < p->lo_group)
        p->lo_group = c0 >> 10;
    if ((c1 >> 10) + 1 > p->hi_group)
        p->hi_group = (c1 >> 10) + 1;
    return true;
}

/* ------------------------------------------------------------------ find */

enum { STEP_NEXT, STEP_FOUND, STEP_DESCEND };

struct finder {
    uint64_t npages;
    uint64_t run_base, run_len; /* free run carried from earlier entries */
    uint64_t nh;                /* every page below nh is allocated */
    bool frozen;                /* a free page was passed: nh stops moving */
    bool exact;                 /* answer == first free page at/after the hint */
    uint64_t found;
};

static inline int step(struct finder *f, const pallocSum *s, uint64_t ebase, uint64_t epages)
{
    if (f->run_len == 0)
        f->run_base = ebase;
    if (f->run_len + s->start >= f->npages) {
        f->found = f->run_base;
        f->exact = !f->frozen && f->run_len == 0;
        return STEP_FOUND;
    }
    if (s->max >= f->npages)
        return STEP_DESCEND;
    if (s->max == 0) {
        if (!f->frozen)
            f->nh = ebase + epages;
        f->run_len = 0;
        return STEP_NEXT;
    }
    f->frozen = true;
    if (s->start == epages) {
        f->run_len += epages;
    } else {
        f->run_len = s->end;
        f->run_base = ebase + epages - s->end;
    }
    return STEP_NEXT;
}

/* Lowest fit in a chunk's bitmap from bit `from`; the chunk holds one. */
static uint64_t chunk_find(struct finder *f, const uint64_t *bm, uint64_t cbase, uint32_t from)
{
    uint32_t i = from;
    bool first = true;
    while (i < CHUNK_PAGES) {
        /* next free bit */
        uint32_t w = i >> 6;
        uint64_t x = ~bm[w] & (~0ull << (i & 63));
        while (!x && ++w < 8)
            x = ~bm[w];
        if (!x)
            break;
        uint32_t z = w * 64 + (uint32_t)__builtin_ctzll(x);
        if (first) {
            if (!f->frozen)
                f->nh = cbase + z;
            f->frozen = true;
            first = false;
        }
        /* next allocated bit */
        x = bm[w] & (~0ull << (z & 63));
        while (!x && ++w < 8)
            x = bm[w];
        uint32_t o = x ? w * 64 + (uint32_t)__builtin_ctzll(x) : CHUNK_PAGES;
        if (o - z >= f->npages) {
            f->found = cbase + z;
            f->exact = f->nh == f->found;
            return 1;
        }
        i = o;
    }
    return 0;
}

/* Index of the entry (2^shift pages each, entry 0 at page `base`, n entries)
 * that holds the hint, or 0 when the hint lies outside them.  Every grown
 * page below the hint is allocated, so a scan may skip the entries before
 * the hint's; a range wholly after the hint is scanned from its start. */
static inline uint64_t hint_index(uint64_t hint, uint64_t base, uint64_t n, unsigned shift)
{
    uint64_t off = hint - base; /* wraps to a huge value when hint < base */
    return off < (n << shift) ? off >> shift : 0;
}

/* Step through summaries s[i..n) (entry j covers 2^shift pages from page
 * base + (j << shift)); returns the step that stopped the scan, STEP_NEXT
 * when none did, and sets *at to the entry it stopped at. */
static inline int scan_level(struct finder *f, const pallocSum *s, uint64_t i, uint64_t n,
                             uint64_t base, unsigned shift, uint64_t *at)
{
    int r = STEP_NEXT;
    for (; i < n; i++) {
        r = step(f, &s[i], base + (i << shift), 1ull << shift);
        if (r != STEP_NEXT)
            break;
    }
    *at = i;
    return r;
}

static _Noreturn void broken_promise(pageAlloc *p, struct finder *f, const char *what,
                                     uint64_t base)
{
    panicf("pagealloc: summary of %s 0x%lx promises a run of %lu pages that is not there", what,
           (unsigned long)pg_addr(p, base), (unsigned long)f->npages);
}

/* Scan the n children (2^shift pages each) of the `what` entry at page
 * `base`, which step() said to descend into: run_len + start < npages and
 * the entry is not wholly free, so no fit uses the run carried into it and
 * run_len restarts at 0.  The scan starts at the hint's child when the hint
 * lies inside.  Returns STEP_FOUND or STEP_DESCEND (*at = the child to
 * descend into); a scan that finds neither contradicts the summary. */
static int scan_children(pageAlloc *p, struct finder *f, const char *what, const pallocSum *s,
                         uint64_t n, uint64_t base, unsigned shift, uint64_t hint, uint64_t *at)
{
    f->run_len = 0;
    int r = scan_level(f, s, hint_index(hint, base, n, shift), n, base, shift, at);
    if (r == STEP_NEXT)
        broken_promise(p, f, what, base);
    return r;
}

/* Find the lowest run; returns false when there is none.  Sets f->nh to a
 * new valid hint base (before allocating the answer).  The descent: groups
 * (top[], from the hint's group; the run carried from the entries before is
 * kept across them), then the mids of the group, the blocks of the mid, the
 * chunks of the block, the bits of the chunk. */
static bool find(pageAlloc *p, struct finder *f)
{
    uint64_t hint = (p->search_addr - p->origin) >> PAGE_SHIFT;
    f->nh = hint;
    uint64_t gi = hint >> GROUP_PSHIFT, m, b, c;
    if (gi < p->lo_group)
        gi = p->lo_group;
    int r = scan_level(f, p->top, gi, p->hi_group, 0, GROUP_PSHIFT, &gi);
    if (r == STEP_NEXT) {
        /* Nothing free from the hint to the last grown group: the hint may
         * move past it (never backward). */
        if (!f->frozen && (p->hi_group << GROUP_PSHIFT) > f->nh)
            f->nh = p->hi_group << GROUP_PSHIFT;
        return false;
    }
    if (r == STEP_FOUND)
        return true;

    pallocL0 *g = p->groups[gi];
    uint64_t gbase = gi << GROUP_PSHIFT;
    if (scan_children(p, f, "group", g->mid, NMIDS, gbase, MID_PSHIFT, hint, &m) == STEP_FOUND)
        return true;

    uint64_t mbase = gbase + (m << MID_PSHIFT);
    if (scan_children(p, f, "mid", &g->sum[m * PALLOC_MID_BLOCKS], PALLOC_MID_BLOCKS, mbase,
                      BLOCK_PSHIFT, hint, &b) == STEP_FOUND)
        return true;

    b += m * PALLOC_MID_BLOCKS; /* index in the group */
    pallocL1 *bl = g->l1[b];
    uint64_t bbase = gbase + (b << BLOCK_PSHIFT);
    if (scan_children(p, f, "block", bl->sum, PALLOC_L1_CHUNKS, bbase, CHUNK_PSHIFT, hint,
                      &c) == STEP_FOUND)
        return true;

    uint64_t cbase = bbase + (c << CHUNK_PSHIFT);
    uint32_t from = (uint32_t)hint_index(hint, cbase, CHUNK_PAGES, 0);
    if (!chunk_find(f, bl->chunk[c].alloc, cbase, from))
        broken_promise(p, f, "chunk", cbase);
    return true;
}

/* ------------------------------------------------------------------ alloc/free */

uintptr_t pagealloc_alloc(pageAlloc *p, uint64_t npages, bool (*back)(uintptr_t, uint64_t),
                          bool *oom)
{
    if (oom)
        *oom = false;
    if (npages == 0 || npages > p->free_pages)
        return 0;
    struct finder f = {.npages = npages};
    if (!find(p, &f)) {
        p->search_addr = pg_addr(p, f.nh);
        return 0;
    }
    uint64_t pi = f.found, lim = pi + npages;
    /* Back the scavenged parts, lowest first. */
    if (p->scav_pages) {
        uint64_t q = pi;
        while (q < lim) {
            uint64_t s = bits_next(p, BM_SCAV, true, q, lim);
            if (s >= lim)
                break;
            uint64_t e = bits_next(p, BM_SCAV, false, s, lim);
            if (!back || !back(pg_addr(p, s), (e - s) << PAGE_SHIFT)) {
                if (oom)
                    *oom = true;
                p->search_addr = pg_addr(p, f.nh);
                return 0;
            }
            bits_fill(p, BM_SCAV, s, e - s, false);
            p->scav_pages -= e - s;
            q = e;
        }
    }
    bits_fill(p, BM_ALLOC, pi, npages, true);
    update_sums(p, pi >> CHUNK_PSHIFT, (lim - 1) >> CHUNK_PSHIFT);
    p->free_pages -= npages;
    p->search_addr = pg_addr(p, f.exact ? lim : f.nh);
    return pg_addr(p, pi);
}

void pagealloc_free(pageAlloc *p, uintptr_t base, uint64_t npages)
{
    if (npages == 0)
        return;
    if (base < p->origin || base >= p->limit || (base & (PAGE_SIZE - 1)) ||
        npages > (p->limit - base) >> PAGE_SHIFT)
        panicf("pagealloc_free: 0x%lx (%lu pages) is not a heap page range",
               (unsigned long)base, (unsigned long)npages);
    uint64_t pi = (base - p->origin) >> PAGE_SHIFT, lim = pi + npages;
    uint64_t c0 = pi >> CHUNK_PSHIFT, c1 = (lim - 1) >> CHUNK_PSHIFT;
    for (uint64_t ci = c0; ci <= c1; ci++)
        if (!chunk_grown(p, ci)) {
            uint64_t bad = ci == c0 ? pi : ci << CHUNK_PSHIFT;
            panicf("pagealloc_free: page 0x%lx is not in the heap (freeing 0x%lx, %lu pages)",
                   (unsigned long)pg_addr(p, bad), (unsigned long)base, (unsigned long)npages);
        }
    uint64_t bad = bits_next(p, BM_ALLOC, false, pi, lim);
    if (bad < lim)
        panicf("pagealloc_free: page 0x%lx is not allocated (freeing 0x%lx, %lu pages)",
               (unsigned long)pg_addr(p, bad), (unsigned long)base, (unsigned long)npages);
    bits_fill(p, BM_ALLOC, pi, npages, false);
    update_sums(p, c0, c1);
    p->free_pages += npages;
    if (base < p->search_addr)
        p->search_addr = base;
}

/* ------------------------------------------------------------------ scavenge */

struct scav {
    pageAlloc *p;
    void (*unback)(uintptr_t, uint64_t);
    uint64_t want, done;  /* pages */
    uint64_t ps, pe;      /* pending run [ps, pe), empty when ps == pe */
};

static void scav_flush(struct scav *s)
{
    if (s->ps == s->pe)
        return;
    uint64_t n = s->pe - s->ps;
    if (s->unback)
        s->unback(pg_addr(s->p, s->ps), n << PAGE_SHIFT);
    bits_fill(s->p, BM_SCAV, s->ps, n, true);
    s->p->scav_pages += n;
    s->done += n;
    s->ps = s->pe = 0;
}

/* Add run [a, e) (found top-down); true when enough is pending/done. */
static bool scav_add(struct scav *s, uint64_t a, uint64_t e)
{
    if (s->ps != s->pe && e != s->ps)
        scav_flush(s);
    uint64_t need = s->want - s->done - (s->pe - s->ps);
    if (e - a > need)
        a = e - need;
    if (s->ps == s->pe)
        s->pe = e;
    s->ps = a;
    if (s->done + (s->pe - s->ps) >= s->want) {
        scav_flush(s);
        return true;
    }
    return false;
}

static bool scav_chunk(struct scav *s, const pallocChunk *c, uint64_t cbase)
{
    for (int w = 7; w >= 0; w--) {
        uint64_t x = ~c->alloc[w] & ~c->scav[w];
        while (x) {
            uint32_t h = 63 - (uint32_t)__builtin_clzll(x);
            uint64_t z = ~x & low_mask(h);
            uint32_t lo = z ? 64 - (uint32_t)__builtin_clzll(z) : 0;
            if (scav_add(s, cbase + (uint64_t)w * 64 + lo, cbase + (uint64_t)w * 64 + h + 1))
                return true;
            x &= low_mask(lo);
        }
    }
    return false;
}

uint64_t pagealloc_scavenge(pageAlloc *p, uint64_t bytes, void (*unback)(uintptr_t, uint64_t))
{
    struct scav s = {.p = p, .unback = unback,
                     /* round up without overflowing: bytes may be ~0 ("all") */
                     .want = (bytes >> PAGE_SHIFT) + ((bytes & (PAGE_SIZE - 1)) != 0)};
    if (s.want == 0 || p->free_pages == p->scav_pages)
        return 0;
    for (uint64_t gi = p->hi_group; gi-- > p->lo_group;) {
        if (p->top[gi].max == 0)
            continue;
        pallocL0 *g = p->groups[gi];
        for (int b = PALLOC_L0_BLOCKS - 1; b >= 0; b--) {
            if (g->mid[b / PALLOC_MID_BLOCKS].max == 0) {
                b -= b % PALLOC_MID_BLOCKS; /* skip the whole mid */
                continue;
            }
            if (g->sum[b].max == 0)
                continue;
            pallocL1 *bl = g->l1[b];
            for (int c = PALLOC_L1_CHUNKS - 1; c >= 0; c--) {
                if (bl->sum[c].max == 0)
                    continue;
                uint64_t cbase = ((gi << 6 | (uint64_t)b) << 4 | (uint64_t)c) << CHUNK_PSHIFT;
                if (scav_chunk(&s, &bl->chunk[c], cbase))
                    return s.done << PAGE_SHIFT;
            }
        }
    }
    scav_flush(&s);
    return s.done << PAGE_SHIFT;
}

/* ------------------------------------------------------------------ queries */

static bool page_bit(pageAlloc *p, uintptr_t addr, int which, bool *grown)
{
    *grown = false;
    if (!p->inited || addr < p->origin || addr >= p->limit)
        return false;
    uint64_t pi = (addr - p->origin) >> PAGE_SHIFT;
    if (!chunk_grown(p, pi >> CHUNK_PSHIFT))
        return false;
    *grown = true;
    uint32_t i = (uint32_t)(pi & (CHUNK_PAGES - 1));
    return bitmap(p, pi >> CHUNK_PSHIFT, which)[i >> 6] >> (i & 63) & 1;
}

bool pagealloc_allocated(pageAlloc *p, uintptr_t addr)
{
    bool grown;
    return page_bit(p, addr, BM_ALLOC, &grown);
}

bool pagealloc_scavenged(pageAlloc *p, uintptr_t addr)
{
    bool grown;
    return page_bit(p, addr, BM_SCAV, &grown);
}

uint64_t pagealloc_free_pages(pageAlloc *p) { return p->free_pages; }
uint64_t pagealloc_scav_pages(pageAlloc *p) { return p->scav_pages; }
uint64_t pagealloc_total_pages(pageAlloc *p) { return p->total_pages; }
uint64_t pagealloc_meta_bytes(pageAlloc *p) { return p->meta_bytes; }

/* ------------------------------------------------------------------ verify */

/* Chunk summary bit by bit: independent of sum_chunk's word tricks. */
static pallocSum sum_chunk_slow(const uint64_t *alloc)
{
    uint32_t start = 0, max = 0, cur = 0;
    bool seen = false;
    for (uint32_t i = 0; i < CHUNK_PAGES; i++) {
        if (alloc[i >> 6] >> (i & 63) & 1) {
            if (!seen)
                start = cur;
            seen = true;
            cur = 0;
        } else {
            cur++;
            if (cur > max)
                max = cur;
        }
    }
    if (!seen)
        start = cur;
    return (pallocSum){start, max, cur};
}

static int sum_check(char *err, size_t errlen, const char *what, uintptr_t addr,
                     pallocSum have, pallocSum want)
{
    if (have.start != want.start)
        return errf(err, errlen, "pagealloc_verify: %s 0x%lx: start = %u, recomputed %u", what,
                    (unsigned long)addr, have.start, want.start);
    if (have.max != want.max)
        return errf(err, errlen, "pagealloc_verify: %s 0x%lx: max = %u, recomputed %u", what,
                    (unsigned long)addr, have.max, want.max);
    if (have.end != want.end)
        return errf(err, errlen, "pagealloc_verify: %s 0x%lx: end = %u, recomputed %u", what,
                    (unsigned long)addr, have.end, want.end);
    return 1;
}

/* pagealloc_verify's walk: where to report, and what it has counted. */
struct vwalk {
    pageAlloc *p;
    char *err;
    size_t errlen;
    uint64_t hint;                /* search_addr as a page index */
    uint64_t nfree, nscav, ntotal;
};

/* The words of chunk ci: not grown → all allocated and none scavenged;
 * never scav on an allocated page.  Counts the free and scavenged pages of
 * a grown chunk. */
static bool verify_chunk_words(struct vwalk *v, const pallocChunk *ch, uint64_t ci, bool grown)
{
    uintptr_t caddr = pg_addr(v->p, ci << CHUNK_PSHIFT);
    for (int w = 0; w < 8; w++) {
        if (!grown && (ch->alloc[w] != ~0ull || ch->scav[w] != 0))
            return errf(v->err, v->errlen,
                        "pagealloc_verify: chunk 0x%lx not grown but word %d has "
                        "alloc 0x%lx scav 0x%lx", (unsigned long)caddr, w,
                        (unsigned long)ch->alloc[w], (unsigned long)ch->scav[w]);
        if (ch->alloc[w] & ch->scav[w])
            return errf(v->err, v->errlen,
                        "pagealloc_verify: chunk 0x%lx word %d: scav bits 0x%lx "
                        "on allocated pages", (unsigned long)caddr, w,
                        (unsigned long)(ch->alloc[w] & ch->scav[w]));
        if (grown) {
            v->nfree += (uint64_t)__builtin_popcountll(~ch->alloc[w]);
            v->nscav += (uint64_t)__builtin_popcountll(ch->scav[w]);
        }
    }
    return true;
}

/* Chunk ci: grown only inside [lo_group, hi_group), its words, no free page
 * below the hint, its stored summary; *sum = the summary recomputed bit by
 * bit (for its block's check). */
static bool verify_chunk(struct vwalk *v, const pallocL1 *bl, uint64_t ci, pallocSum *sum)
{
    pageAlloc *p = v->p;
    const pallocChunk *ch = &bl->chunk[ci & 15];
    uintptr_t caddr = pg_addr(p, ci << CHUNK_PSHIFT);
    uint64_t gi = ci >> 10;
    bool grown = bl->grown >> (ci & 15) & 1;
    if (grown && (gi < p->lo_group || gi >= p->hi_group))
        return errf(v->err, v->errlen,
                    "pagealloc_verify: chunk 0x%lx grown outside groups [%lu, %lu)",
                    (unsigned long)caddr, (unsigned long)p->lo_group,
                    (unsigned long)p->hi_group);
    if (!verify_chunk_words(v, ch, ci, grown))
        return false;
    if (grown) {
        v->ntotal += CHUNK_PAGES;
        /* hint: no free page below it */
        uint64_t cpi = ci << CHUNK_PSHIFT;
        for (uint64_t i = 0; i < CHUNK_PAGES && cpi + i < v->hint; i++)
            if (!(ch->alloc[i >> 6] >> (i & 63) & 1))
                return errf(v->err, v->errlen,
                            "pagealloc_verify: chunk 0x%lx: page 0x%lx is free but "
                            "below search_addr 0x%lx", (unsigned long)caddr,
                            (unsigned long)pg_addr(p, cpi + i),
                            (unsigned long)p->search_addr);
    }
    *sum = sum_chunk_slow(ch->alloc);
    return sum_check(v->err, v->errlen, "chunk", caddr, bl->sum[ci & 15], *sum);
}

/* Block bi (absent → zero summary): its chunks, then its stored summary
 * against the merge of theirs; *sum = that merge. */
static bool verify_block(struct vwalk *v, const pallocL0 *g, uint64_t bi, pallocSum *sum)
{
    const pallocL1 *bl = g->l1[bi & 63];
    uintptr_t baddr = pg_addr(v->p, bi << BLOCK_PSHIFT);
    *sum = sum_zero;
    if (!bl)
        return sum_check(v->err, v->errlen, "absent block", baddr, g->sum[bi & 63], sum_zero);
    pallocSum csums[PALLOC_L1_CHUNKS];
    for (uint64_t c = 0; c < PALLOC_L1_CHUNKS; c++)
        if (!verify_chunk(v, bl, bi << 4 | c, &csums[c]))
            return false;
    *sum = sum_merge(csums, PALLOC_L1_CHUNKS, CHUNK_PAGES);
    return sum_check(v->err, v->errlen, "block", baddr, g->sum[bi & 63], *sum);
}

/* Group gi (absent → zero summary): its blocks, then each mid's and the
 * group's stored summaries against the merges below them. */
static bool verify_group(struct vwalk *v, uint64_t gi)
{
    pageAlloc *p = v->p;
    const pallocL0 *g = p->groups[gi];
    uintptr_t gaddr = pg_addr(p, gi << GROUP_PSHIFT);
    if (!g)
        return sum_check(v->err, v->errlen, "absent group", gaddr, p->top[gi], sum_zero);
    pallocSum bsums[PALLOC_L0_BLOCKS], msums[NMIDS];
    for (uint64_t b = 0; b < PALLOC_L0_BLOCKS; b++)
        if (!verify_block(v, g, gi << 6 | b, &bsums[b]))
            return false;
    for (uint64_t m = 0; m < NMIDS; m++) {
        msums[m] = sum_merge(&bsums[m * PALLOC_MID_BLOCKS], PALLOC_MID_BLOCKS, BLOCK_PAGES);
        if (!sum_check(v->err, v->errlen, "mid",
                       pg_addr(p, (gi << GROUP_PSHIFT) + (m << MID_PSHIFT)), g->mid[m], msums[m]))
            return false;
    }
    return sum_check(v->err, v->errlen, "group", gaddr, p->top[gi],
                     sum_merge(msums, NMIDS, MID_PAGES));
}

bool pagealloc_verify(pageAlloc *p, char *err, size_t errlen)
{
    if (!p->inited)
        return errf(err, errlen, "pagealloc_verify: not initialised");
    struct vwalk v = {.p = p, .err = err, .errlen = errlen,
                      .hint = (p->search_addr - p->origin) >> PAGE_SHIFT};
    for (uint64_t gi = 0; gi < p->ngroups; gi++)
        if (!verify_group(&v, gi))
            return false;
    if (v.nfree != p->free_pages)
        return errf(err, errlen, "pagealloc_verify: free_pages = %lu, bitmaps say %lu",
                    (unsigned long)p->free_pages, (unsigned long)v.nfree);
    if (v.nscav != p->scav_pages)
        return errf(err, errlen, "pagealloc_verify: scav_pages = %lu, bitmaps say %lu",
                    (unsigned long)p->scav_pages, (unsigned long)v.nscav);
    if (v.ntotal != p->total_pages)
        return errf(err, errlen, "pagealloc_verify: total_pages = %lu, grown chunks say %lu",
                    (unsigned long)p->total_pages, (unsigned long)v.ntotal);
    if (err && errlen)
        err[0] = 0;
    return true;
}
