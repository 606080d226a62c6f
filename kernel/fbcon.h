/*
 * fbcon.h — the screen console: everything the kernel prints also drawn as
 * text on the UEFI GOP framebuffer (kernel/fbcon.c), with the built-in 8x16
 * font (kernel/font8x16.c).  Output only: the keyboard stays on serial.
 */
#ifndef KERNEL_FBCON_H
#define KERNEL_FBCON_H

#include <stddef.h>
#include <stdint.h>
#include "../boot/bootinfo.h"

#define FONT_WIDTH  8
#define FONT_HEIGHT 16

/* font8x16.c: expand the pictures (once, before the first glyph); the 16
 * row bytes (bit 7 = leftmost pixel) of ch, '?' for anything unprintable. */
void font8x16_init(void);
const uint8_t *font8x16_glyph(unsigned char ch);

/* The text grid is at most this big; a larger screen uses its top-left part. */
#define FBCON_MAX_COLS 256
#define FBCON_MAX_ROWS 128

/* Bytes printed (printf.c's emit, under the console lock or after panic broke
 * it).  Before fbcon_init they are kept (the last FBCON_EARLY_BYTES) and
 * drawn when the screen starts, so the screen shows the boot log from the
 * kernel's first line. */
#define FBCON_EARLY_BYTES 8192
void fbcon_write(const char *s, size_t n);

/* Starts the screen console when enabled (fbcon=, default on) and the loader
 * passed a usable framebuffer; prints one "fbcon: ..." line either way.  On
 * the BSP, after paging_init and before the other CPUs start. */
void fbcon_init(const struct bootinfo *bi, int enabled);

/* The check of the loader's fb_* fields: 1 when a console can use them, else
 * 0 with the reason in why. */
int fbcon_geometry_ok(const struct bootinfo *bi, char *why, size_t n);

/* For self-tests: the text of the screen row `back` rows above the cursor's
 * (0: the cursor's row), trailing blanks dropped, into out; returns the
 * number of columns, or -1 when the screen console is not drawing. */
int fbcon_row_text(uint32_t back, char *out, size_t n);

/* printf.c: run fn(arg) holding the console lock. */
void console_locked(void (*fn)(void *), void *arg);

#endif
