/* printf.c — kprintf: fmt.c's engine, a line buffer, the screen (fbcon.c)
 * and the serial port.  The screen is drawn first, so whatever is on serial
 * is already on the screen. */
#include "fbcon.h"
#include "fmt.h"
#include "kernel.h"
#include "serial.h"
#include "spinlock.h"

static spinlock_t print_lock = SPINLOCK_INIT(LOCKRANK_CONSOLE);
static int print_lock_broken; /* set by panic: never wait for a dead CPU */
/* kprintf_capture's copy; under print_lock (set and cleared with it held) */
static struct {
    char *buf;
    uint64_t cap, n;
} cap;

struct line {
    char buf[256];
    size_t n;
};

static void emit(const char *s, size_t n)
{
    fbcon_write(s, n);
    serial_write(s, n);
    for (size_t i = 0; cap.buf && i < n && cap.n + 1 < cap.cap; i++) {
        cap.buf[cap.n++] = s[i];
        cap.buf[cap.n] = 0;
    }
}

static void line_sink(void *ctx, const char *s, size_t n)
{
    struct line *l = ctx;
    for (size_t i = 0; i < n; i++) {
        if (l->n == sizeof l->buf) {
            emit(l->buf, l->n);
            l->n = 0;
        }
        l->buf[l->n++] = s[i];
    }
}

int kvprintf(const char *fmt, va_list ap)
{
    struct line l;
    l.n = 0;
    int locked = !print_lock_broken;
    if (locked)
        spin_lock(&print_lock);
    int r = fmt_vformat(line_sink, &l, fmt, ap);
    emit(l.buf, l.n);
    if (locked)
        spin_unlock(&print_lock);
    return r;
}

int kprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = kvprintf(fmt, ap);
    va_end(ap);
    return r;
}

void printf_break_lock(void) { print_lock_broken = 1; }

void console_locked(void (*fn)(void *), void *arg)
{
    int locked = !print_lock_broken;
    if (locked)
        spin_lock(&print_lock);
    fn(arg);
    if (locked)
        spin_unlock(&print_lock);
}

void kprintf_capture(char *buf, uint64_t size)
{
    spin_lock(&print_lock);
    cap.buf = size ? buf : 0;
    cap.cap = size;
    cap.n = 0;
    if (size)
        buf[0] = 0;
    spin_unlock(&print_lock);
}

uint64_t kprintf_capture_end(void)
{
    spin_lock(&print_lock);
    uint64_t n = cap.n;
    cap.buf = 0;
    spin_unlock(&print_lock);
    return n;
}
