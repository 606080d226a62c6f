/*
 * serial.c — COM1 console.  Output is polled (wait for THR empty); input is
 * polled too, because the shell is the only reader and runs when nothing
 * else does.  Output from several CPUs is serialised by printf's lock, not
 * here.
 */
#include "serial.h"
#include "cpu.h"

#define COM1 0x3F8

void serial_init(void)
{
    outb(COM1 + 1, 0x00); /* no interrupts */
    outb(COM1 + 3, 0x80); /* DLAB on */
    outb(COM1 + 0, 0x01); /* divisor 1 = 115200 baud */
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03); /* 8N1, DLAB off */
    outb(COM1 + 2, 0xC1); /* FIFO on (not cleared: keep typed input), 14-byte threshold */
    outb(COM1 + 4, 0x03); /* DTR + RTS */
}

static void put_raw(char c)
{
    for (int spins = 0; spins < 100000 && !(inb(COM1 + 5) & 0x20); spins++)
        cpu_relax();
    outb(COM1, (uint8_t)c);
}

void serial_putc(char c)
{
    if (c == '\n')
        put_raw('\r');
    put_raw(c);
}

void serial_write(const char *s, unsigned long n)
{
    for (unsigned long i = 0; i < n; i++)
        serial_putc(s[i]);
}

int serial_getc_nonblock(void)
{
    if (inb(COM1 + 5) & 0x01)
        return inb(COM1);
    return -1;
}
