/*
 * fbcon.c — the screen console: what the kernel prints, as text on the GOP
 * framebuffer the loader found (boot/gop.c), so a PC without a serial cable
 * shows the boot log, the shell and a panic.
 *
 * Where it sits.  printf.c's emit() hands every byte to fbcon_write before
 * it goes to COM1, under the console lock (LOCKRANK_CONSOLE, a leaf), so the
 * screen needs no lock of its own and a line is on the screen before it is
 * on serial (the screen test relies on that: when the harness reads a line
 * on serial, the pixels are there).  panic() breaks that lock after
 * stopping the other CPUs; drawing then runs unlocked on the one CPU left,
 * and every index is clamped so a CPU stopped half-way through a line
 * cannot make the next writer draw outside the grid.
 *
 * Before the screen exists.  The framebuffer can only be mapped once frames
 * and paging work, and fbcon= is only known after the command line; the
 * lines before that go to an early ring (the last FBCON_EARLY_BYTES bytes)
 * that fbcon_init replays, so the screen shows the log from its first line.
 *
 * The model.  A text grid of cols x rows characters (text, a ring of rows:
 * scrolling moves `top`, it copies nothing) and what is on the glass
 * (shown, row-major as displayed).  Writing changes text and marks rows
 * dirty; at the end of each fbcon_write the dirty rows are compared cell by
 * cell with shown and only the cells that differ are drawn (16 rows of 8
 * pixel pairs each).  The framebuffer is never read: reads of device
 * memory are slow on real hardware.  A scroll marks every row dirty, which
 * redraws most of the screen, so it is a jump scroll: at the bottom the text
 * moves up by a quarter of the rows at once (xterm's jump scroll), and the
 * next rows/4 - 1 lines only draw themselves.  Measured under TCG on
 * `test=quick stats halt` (2027 lines, 160x50): 2410 ms in fbcon_write
 * scrolling line by line with 32-bit stores, 333 ms with the jump, 137 ms
 * with the paired stores.
 *
 * Characters.  0x20..0x7E are drawn; '\n' (next line, column 0), '\r'
 * (column 0), '\b' (one column left, nothing erased: the shell's "\b \b"
 * erases), '\t' (next multiple of 8).  A character in the last column
 * leaves the cursor past the edge; the next printable one wraps first, so a
 * line of exactly `cols` characters and its '\n' take one row.  ANSI escape
 * sequences (ESC [ ... final byte 0x40..0x7E, or ESC and one byte) are
 * skipped; a UTF-8 sequence shows as one '?'; other control bytes are
 * ignored.  tests/qemu/test_screen.py implements the same rules to predict
 * the screen from the serial log.
 *
 * Memory.  The framebuffer is mapped with 4 KiB pages at FBCON_VA,
 * write-combining through PAT entry 5 (paging.h: PTE_WC; uncached when the
 * CPU has no PAT).  The direct map may also cover it (below 4 GiB) as
 * write-back, but it is never touched there, and the firmware's MTRRs
 * usually make device memory uncached, which that alias then is too.  The two grids live in frames mapped after the
 * framebuffer (not in .bss, which the collector scans).
 */
#include "fbcon.h"
#include "fmt.h"
#include "frame.h"
#include "kernel.h"
#include "paging.h"

/* Not the heap window (0xffffc0...), the SMP stacks (0xffffd0...), the fault
 * probe (0xffffd8...) or the paging self-tests' scratch (0xffffe0...). */
#define FBCON_VA    0xffffe80000000000ull
#define FB_MAX_SIZE (1ull << 30)
#define GRID_VA     (FBCON_VA + FB_MAX_SIZE + (2ull << 20)) /* past the largest framebuffer */

#define FG_R 0xe0 /* warm white on black */
#define FG_G 0xe0
#define FG_B 0xc0

enum { FB_EARLY, FB_ON, FB_OFF };
enum { ESC_NONE, ESC_SEEN, ESC_CSI };

/* All fields: written under the console lock (or by the one CPU left after
 * a panic); fbcon_init's switch to FB_ON runs under it too. */
static struct {
    int state;
    uint32_t *fb;
    uint32_t stride, cols, rows;
    uint32_t fg, bg;
    uint64_t pairs[4];    /* two pixels by bits (left, right): bg/fg */
    char *text, *shown;   /* rows * cols each */
    uint8_t dirty[FBCON_MAX_ROWS];
    uint32_t top, row, col; /* text ring's first row; cursor (row on screen) */
    int esc;
} con = {.state = FB_EARLY};

static struct {
    char buf[FBCON_EARLY_BYTES];
    uint64_t n; /* bytes ever written; buf holds the last min(n, size) */
} early;

/* ------------------------------------------------------------ drawing */

static char *text_row(uint32_t y) { return &con.text[((con.top + y) % con.rows) * con.cols]; }

/* A glyph row is drawn as four 64-bit stores of pixel pairs (pairs[] by the
 * two bits, leftmost pixel in the low half), or eight 32-bit stores when the
 * framebuffer is not 8-byte aligned. */
static void draw_cell(uint32_t x, uint32_t y, char ch)
{
    const uint8_t *g = font8x16_glyph((unsigned char)ch);
    uint32_t *p = con.fb + (uint64_t)y * FONT_HEIGHT * con.stride + (uint64_t)x * FONT_WIDTH;
    if (((uint64_t)con.fb | con.stride * 4ull) & 7) {
        for (int r = 0; r < FONT_HEIGHT; r++, p += con.stride)
            for (int i = 0; i < FONT_WIDTH; i++)
                p[i] = (g[r] & (0x80 >> i)) ? con.fg : con.bg;
        return;
    }
    for (int r = 0; r < FONT_HEIGHT; r++, p += con.stride) {
        uint64_t *q = (uint64_t *)p;
        uint8_t bits = g[r];
        q[0] = con.pairs[bits >> 6];
        q[1] = con.pairs[(bits >> 4) & 3];
        q[2] = con.pairs[(bits >> 2) & 3];
        q[3] = con.pairs[bits & 3];
    }
}

static void flush(void)
{
    for (uint32_t y = 0; y < con.rows; y++) {
        if (!con.dirty[y])
            continue;
        con.dirty[y] = 0;
        const char *t = text_row(y);
        char *s = &con.shown[y * con.cols];
        for (uint32_t x = 0; x < con.cols; x++)
            if (s[x] != t[x]) {
                draw_cell(x, y, t[x]);
                s[x] = t[x];
            }
    }
    __asm__ volatile("sfence" ::: "memory"); /* drain write-combining buffers */
}

/* ------------------------------------------------------------ the text model */

/* Jump scroll: at the bottom, the text moves up by a quarter of the screen
 * at once, so one redraw of the screen serves rows/4 new lines. */
static uint32_t jump(void) { return con.rows >= 4 ? con.rows / 4 : 1; }

static void newline(void)
{
    con.col = 0;
    if (con.row + 1 < con.rows) {
        con.row++;
        return;
    }
    uint32_t k = jump();
    con.top = (con.top + k) % con.rows;
    for (uint32_t y = con.rows - k; y < con.rows; y++) {
        char *t = text_row(y);
        for (uint32_t x = 0; x < con.cols; x++)
            t[x] = ' ';
    }
    for (uint32_t y = 0; y < con.rows; y++)
        con.dirty[y] = 1;
    con.row = con.rows - k;
}

static void put_glyph(char ch)
{
    if (con.col >= con.cols)
        newline();
    if (con.row >= con.rows) /* a CPU stopped mid-update (panic) */
        con.row = con.rows - 1;
    text_row(con.row)[con.col] = ch;
    con.dirty[con.row] = 1;
    con.col++;
}

/* 1 when c belongs to an escape sequence (and is consumed by it). */
static int escape_byte(unsigned char c)
{
    if (con.esc == ESC_SEEN) {
        con.esc = c == '[' ? ESC_CSI : ESC_NONE;
        return 1;
    }
    if (con.esc == ESC_CSI) {
        if (c >= 0x40 && c <= 0x7e)
            con.esc = ESC_NONE;
        return 1;
    }
    if (c == 0x1b) {
        con.esc = ESC_SEEN;
        return 1;
    }
    return 0;
}

static void put_byte(unsigned char c)
{
    if (escape_byte(c))
        return;
    if (c >= 0x20 && c <= 0x7e)
        put_glyph((char)c);
    else if (c == '\n')
        newline();
    else if (c == '\r')
        con.col = 0;
    else if (c == '\b')
        con.col = con.col ? (con.col > con.cols ? con.cols : con.col) - 1 : 0;
    else if (c == '\t') {
        uint32_t next = (con.col + 8) & ~7u;
        con.col = next > con.cols ? con.cols : next;
    } else if (c >= 0xc0) /* a UTF-8 lead byte; 0x80..0xbf continue it */
        put_glyph('?');
}

static void early_keep(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        early.buf[(early.n + i) % FBCON_EARLY_BYTES] = s[i];
    early.n += n;
}

void fbcon_write(const char *s, size_t n)
{
    if (con.state == FB_EARLY)
        early_keep(s, n);
    if (con.state != FB_ON)
        return;
    for (size_t i = 0; i < n; i++)
        put_byte((unsigned char)s[i]);
    flush();
}

/* ------------------------------------------------------------ start-up */

int fbcon_geometry_ok(const struct bootinfo *bi, char *why, size_t n)
{
    uint64_t w = bi->fb_width, h = bi->fb_height, st = bi->fb_stride;
    uint64_t need = st * h * 4;
    if (bi->fb_format != BOOT_FB_RGBX && bi->fb_format != BOOT_FB_BGRX)
        ksnprintf(why, n, "pixel format %u is not RGBX or BGRX", bi->fb_format);
    else if (w < FONT_WIDTH || h < FONT_HEIGHT)
        ksnprintf(why, n, "%lux%lu is smaller than one character", w, h);
    else if (st < w)
        ksnprintf(why, n, "%lu pixels per scan line for a width of %lu", st, w);
    else if (st > 65536 || h > 65536)
        ksnprintf(why, n, "%lux%lu with %lu pixels per scan line is implausibly large", w, h, st);
    else if (bi->fb_size > FB_MAX_SIZE || need > bi->fb_size)
        ksnprintf(why, n, "%lu bytes of framebuffer for %lu scan lines of %lu pixels (need %lu, "
                  "at most 1 GiB)", bi->fb_size, h, st, need);
    else if (!bi->fb_phys || (bi->fb_phys & 3) || bi->fb_phys + need > (1ull << 52))
        ksnprintf(why, n, "framebuffer address 0x%lx is not a usable physical address",
                  bi->fb_phys);
    else
        return 1;
    return 0;
}

static uint32_t pixel(uint32_t format, uint8_t r, uint8_t g, uint8_t b)
{
    if (format == BOOT_FB_RGBX)
        return r | (uint32_t)g << 8 | (uint32_t)b << 16;
    return b | (uint32_t)g << 8 | (uint32_t)r << 16;
}

static void unmap_range(uint64_t va, uint64_t bytes, int free_frames)
{
    for (uint64_t off = 0; off < bytes; off += 4096) {
        uint64_t frame;
        if (unmap_page(va + off, &frame) == 0 && free_frames)
            frame_free(frame);
    }
}

/* Maps [va, va+bytes) to pa.. (pa == 0: fresh zeroed frames); 0 or a PG_E*
 * code with nothing left mapped. */
static int map_range(uint64_t va, uint64_t pa, uint64_t bytes, uint64_t flags)
{
    for (uint64_t off = 0; off < bytes; off += 4096) {
        uint64_t frame = pa ? pa + off : frame_alloc_zeroed();
        int err = frame ? map_page(va + off, frame, flags) : PG_ENOMEM;
        if (err) {
            if (frame && !pa)
                frame_free(frame);
            unmap_range(va, off, !pa);
            return err;
        }
    }
    return 0;
}

static void start_locked(void *arg)
{
    const struct bootinfo *bi = arg;
    for (uint64_t y = 0; y < bi->fb_height; y++)
        for (uint64_t x = 0; x < bi->fb_width; x++)
            con.fb[y * con.stride + x] = con.bg;
    for (uint64_t i = 0; i < (uint64_t)con.cols * con.rows; i++)
        con.text[i] = con.shown[i] = ' ';
    con.state = FB_ON;
    uint64_t first = early.n > FBCON_EARLY_BYTES ? early.n - FBCON_EARLY_BYTES : 0;
    for (uint64_t i = first; i < early.n; i++)
        put_byte((unsigned char)early.buf[i % FBCON_EARLY_BYTES]);
    flush();
}

static const char *setup(const struct bootinfo *bi, char *why, size_t n)
{
    if (!fbcon_geometry_ok(bi, why, n))
        return why;
    uint64_t offset = bi->fb_phys & 0xfff;
    uint64_t bytes = offset + (uint64_t)bi->fb_stride * bi->fb_height * 4;
    int wc = paging_pat_wc();
    int err = map_range(FBCON_VA, bi->fb_phys - offset, bytes,
                        PTE_W | PTE_NX | (wc ? PTE_WC : PTE_PCD | PTE_PWT));
    if (err) {
        ksnprintf(why, n, "cannot map %lu bytes at 0x%lx (error %d)", bytes, bi->fb_phys, err);
        return why;
    }
    con.cols = bi->fb_width / FONT_WIDTH;
    con.rows = bi->fb_height / FONT_HEIGHT;
    con.cols = con.cols > FBCON_MAX_COLS ? FBCON_MAX_COLS : con.cols;
    con.rows = con.rows > FBCON_MAX_ROWS ? FBCON_MAX_ROWS : con.rows;
    uint64_t grid = (uint64_t)con.cols * con.rows;
    err = map_range(GRID_VA, 0, 2 * grid, PTE_W | PTE_NX);
    if (err) {
        unmap_range(FBCON_VA, bytes, 0);
        ksnprintf(why, n, "no memory for a %ux%u text grid (error %d)", con.cols, con.rows, err);
        return why;
    }
    con.fb = (uint32_t *)(FBCON_VA + offset);
    con.stride = bi->fb_stride;
    con.text = (char *)GRID_VA;
    con.shown = (char *)GRID_VA + grid;
    con.fg = pixel(bi->fb_format, FG_R, FG_G, FG_B);
    con.bg = pixel(bi->fb_format, 0, 0, 0);
    for (int i = 0; i < 4; i++)
        con.pairs[i] = (i & 2 ? con.fg : con.bg) | (uint64_t)(i & 1 ? con.fg : con.bg) << 32;
    return 0;
}

static void set_state(void *arg) { con.state = *(int *)arg; }

struct row_req {
    uint32_t back;
    char *out;
    size_t n;
    int cols;
};

static void row_text_locked(void *arg)
{
    struct row_req *r = arg;
    r->cols = -1;
    if (con.state != FB_ON || r->back > con.row || !r->n)
        return;
    const char *t = text_row(con.row - r->back);
    size_t len = con.cols < r->n - 1 ? con.cols : r->n - 1;
    while (len && t[len - 1] == ' ')
        len--;
    for (size_t i = 0; i < len; i++)
        r->out[i] = t[i];
    r->out[len] = 0;
    r->cols = (int)con.cols;
}

int fbcon_row_text(uint32_t back, char *out, size_t n)
{
    struct row_req r = {back, out, n, -1};
    console_locked(row_text_locked, &r);
    return r.cols;
}

void fbcon_init(const struct bootinfo *bi, int enabled)
{
    char why[160];
    const char *no = 0;
    if (!enabled)
        no = "fbcon=off";
    else if (bi->fb_format == BOOT_FB_NONE && bi->fb_gop_format == BOOT_FB_NO_GOP)
        no = "the firmware has no Graphics Output Protocol";
    else if (bi->fb_format == BOOT_FB_NONE) {
        ksnprintf(why, sizeof why, "the GOP's pixel format %u is not RGB or BGR",
                  bi->fb_gop_format);
        no = why;
    } else
        no = setup(bi, why, sizeof why);
    if (no) {
        int off = FB_OFF;
        console_locked(set_state, &off);
        kprintf(enabled ? "fbcon: no framebuffer (%s)\n" : "fbcon: off (%s)\n", no);
        return;
    }
    font8x16_init();
    console_locked(start_locked, (void *)bi);
    kprintf("fbcon: %ux%u (%ux%u chars) at 0x%lx, %s\n", bi->fb_width, bi->fb_height, con.cols,
            con.rows, bi->fb_phys, paging_pat_wc() ? "write-combining" : "uncached");
}
