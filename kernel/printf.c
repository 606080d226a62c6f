/* printf.c — kprintf: fmt.c's engine, a line buffer, the serial port. */
#include "fmt.h"
#include "kernel.h"
#include "serial.h"
#include "spinlock.h"

static spinlock_t print_lock = SPINLOCK_INIT(LOCKRANK_CONSOLE);
static int print_lock_broken; /* set by panic: never wait for a dead CPU */

struct line {
    char buf[256];
    size_t n;
};

static void line_sink(void *ctx, const char *s, size_t n)
{
    struct line *l = ctx;
    for (size_t i = 0; i < n; i++) {
        if (l->n == sizeof l->buf) {
            serial_write(l->buf, l->n);
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
    serial_write(l.buf, l.n);
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
