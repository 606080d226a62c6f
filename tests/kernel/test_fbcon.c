/*
 * test_fbcon.c — self-tests of the screen console's checks (kernel/fbcon.c):
 * the boot info's framebuffer refused with the reason for each kind of bad
 * geometry, the write-combining memory type on every CPU, and the text rules
 * (tab, escape sequences, UTF-8, backspace, carriage return, wrapping) on
 * the text grid.  The pixels are checked from outside, by the screen boots'
 * screendumps (tests/qemu/test_screen.py), which see these lines too.
 */
#include "cpu.h"
#include "fbcon.h"
#include "kernel.h"
#include "ktest.h"
#include "paging.h"
#include "percpu.h"
#include "smp.h"

static struct bootinfo good_fb(void)
{
    struct bootinfo bi = {0};
    bi.fb_phys = 0xc0000000;
    bi.fb_width = 1280;
    bi.fb_height = 800;
    bi.fb_stride = 1280;
    bi.fb_size = 1280 * 800 * 4;
    bi.fb_format = BOOT_FB_BGRX;
    return bi;
}

static int refused(const struct bootinfo *bi, const char *want)
{
    char why[160];
    if (fbcon_geometry_ok(bi, why, sizeof why)) {
        kprintf("# accepted, want \"%s\"\n", want);
        return 0;
    }
    if (__builtin_strcmp(why, want) != 0) {
        kprintf("# refused with \"%s\", want \"%s\"\n", why, want);
        return 0;
    }
    return 1;
}

KTEST(fbcon_geometry_refuses_bad_boot_info, KTEST_QUICK)
{
    char why[160];
    struct bootinfo bi = good_fb();
    KCHECK(fbcon_geometry_ok(&bi, why, sizeof why));
    bi.fb_format = BOOT_FB_RGBX;
    KCHECK(fbcon_geometry_ok(&bi, why, sizeof why));
    bi.fb_stride = 1344; /* padded scan lines are fine when the size covers them */
    bi.fb_size = 1344 * 800 * 4;
    KCHECK(fbcon_geometry_ok(&bi, why, sizeof why));

    bi = good_fb();
    bi.fb_format = 3;
    KCHECK(refused(&bi, "pixel format 3 is not RGBX or BGRX"));
    bi = good_fb();
    bi.fb_height = 8;
    bi.fb_width = 640;
    KCHECK(refused(&bi, "640x8 is smaller than one character"));
    bi = good_fb();
    bi.fb_stride = 1000;
    KCHECK(refused(&bi, "1000 pixels per scan line for a width of 1280"));
    bi = good_fb();
    bi.fb_height = 100000;
    KCHECK(refused(&bi, "1280x100000 with 1280 pixels per scan line is implausibly large"));
    bi = good_fb();
    bi.fb_size = 4096;
    KCHECK(refused(&bi, "4096 bytes of framebuffer for 800 scan lines of 1280 pixels (need 4096000, "
                        "at most 1 GiB)"));
    bi = good_fb();
    bi.fb_size = 2ull << 30;
    KCHECK(refused(&bi, "2147483648 bytes of framebuffer for 800 scan lines of 1280 pixels "
                        "(need 4096000, at most 1 GiB)"));
    bi = good_fb();
    bi.fb_phys = 0;
    KCHECK(refused(&bi, "framebuffer address 0x0 is not a usable physical address"));
    bi.fb_phys = 0xc0000002;
    KCHECK(refused(&bi, "framebuffer address 0xc0000002 is not a usable physical address"));
    bi.fb_phys = (1ull << 52) - 4096;
    KCHECK(refused(&bi, "framebuffer address 0xffffffffff000 is not a usable physical address"));
}

#define MSR_PAT 0x277

static void read_pat(void *arg) { ((uint64_t *)arg)[this_cpu()->cpu_id] = rdmsr(MSR_PAT); }

/* fbcon maps the framebuffer with PTE_WC (PAT entry 5): every CPU must give
 * that entry the same type, write-combining, or the CPUs would disagree on
 * how the screen's memory is cached. */
KTEST(fbcon_pat_entry_5_is_wc_on_every_cpu, KTEST_QUICK)
{
    if (!paging_pat_wc()) {
        kprintf("# no PAT on this CPU: fbcon maps the screen uncached\n");
        return;
    }
    static uint64_t pat[256];
    for (uint32_t c = 0; c < smp_ncpu() && c < 256; c++) {
        pat[c] = 0;
        smp_run_on(c, read_pat, pat);
        KCHECKF(((pat[c] >> 40) & 0xff) == 0x01, "cpu %u: PAT 0x%016lx, entry 5 is not WC (1)", c,
                pat[c]);
        KCHECKF((pat[c] & 0xffffffff) == (pat[0] & 0xffffffff),
                "cpu %u: PAT entries 0-3 0x%08lx differ from cpu 0's 0x%08lx", c,
                pat[c] & 0xffffffff, pat[0] & 0xffffffff);
    }
}

/* The lines below go to serial too; tests/qemu/test_screen.py's model must
 * predict the same screen from them (the screen-panic boot shows them). */
KTEST(fbcon_text_rules, KTEST_QUICK)
{
    static char row[FBCON_MAX_COLS + 1], wide[FBCON_MAX_COLS + 1];
    int cols = fbcon_row_text(0, row, sizeof row);
    if (cols < 0) {
        kprintf("# no screen console: nothing to check\n");
        return;
    }
    kprintf("# screen rules: tab\t|esc \x1b[1mbold\x1b[0m|utf-8 \xc2\xb5s|bs xy\b\bz|cr\rCR\n");
    KCHECK(fbcon_row_text(1, row, sizeof row) == cols);
    KCHECKF(!__builtin_strcmp(row, "CRscreen rules: tab     |esc bold|utf-8 ?s|bs z|cr"), "row '%s'", row);

    for (int i = 0; i < cols; i++)
        wide[i] = 'w';
    wide[cols] = 0;
    kprintf("# wrap: %s|\n", wide); /* cols + 9 characters: two rows */
    KCHECK(fbcon_row_text(2, row, sizeof row) == cols);
    KCHECKF(!__builtin_strncmp(row, "# wrap: www", 11) && __builtin_strlen(row) == (size_t)cols,
            "first row '%s'", row);
    KCHECK(fbcon_row_text(1, row, sizeof row) == cols);
    KCHECKF(!__builtin_strcmp(row, "wwwwwwww|"), "second row '%s'", row);
}
