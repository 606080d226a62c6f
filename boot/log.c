/*
 * log.c — loader messages on the UEFI console and on COM1.
 *
 * Every line goes to ConOut (while boot services exist) and, independently,
 * straight to the 16550 at 0x3F8 (115200 8N1, polled), so the log survives
 * on machines whose firmware console is not the serial port and after
 * ExitBootServices.  When OVMF also mirrors ConOut onto COM1 a line appears
 * twice in the serial log; harnesses grep, so that is harmless.
 * Formatting uses GNU-EFI's UnicodeVSPrint into a fixed buffer; the
 * post-exit helpers (serial_*) format nothing but strings and numbers.
 */
#include "boot.h"

#define COM1 0x3F8

static BOOLEAN serial_ok;

static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

void log_init(void)
{
    outb(COM1 + 1, 0x00); /* no interrupts */
    outb(COM1 + 3, 0x80); /* DLAB */
    outb(COM1 + 0, 0x01); /* divisor 1 = 115200 */
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03); /* 8N1 */
    outb(COM1 + 2, 0xC7); /* FIFO on, cleared, 14-byte threshold */
    outb(COM1 + 4, 0x03); /* DTR | RTS */
    /* A floating bus reads 0xFF: no UART, stay quiet on the port. */
    serial_ok = inb(COM1 + 5) != 0xFF;
}

static void serial_putc(char c)
{
    if (!serial_ok)
        return;
    for (int spin = 0; spin < 100000 && !(inb(COM1 + 5) & 0x20); spin++)
        ;
    outb(COM1, (uint8_t)c);
}

void serial_puts(const char *s)
{
    for (; *s; s++) {
        if (*s == '\n')
            serial_putc('\r');
        serial_putc(*s);
    }
}

void serial_hex(uint64_t v)
{
    char buf[19];
    int i = 18;
    buf[i] = 0;
    do {
        buf[--i] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    buf[--i] = 'x';
    buf[--i] = '0';
    serial_puts(&buf[i]);
}

void serial_dec(uint64_t v)
{
    char buf[21];
    int i = 20;
    buf[i] = 0;
    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    serial_puts(&buf[i]);
}

static void emit(const CHAR16 *prefix, const CHAR16 *fmt, va_list ap)
{
    CHAR16 line[320];
    char narrow[320];
    UINTN n = 0;

    for (const CHAR16 *p = prefix; *p && n < 64; p++)
        line[n++] = *p;
    UnicodeVSPrint(&line[n], sizeof(line) - n * sizeof(CHAR16) - 8, fmt, ap);
    while (line[n])
        n++;
    line[n++] = L'\r';
    line[n++] = L'\n';
    line[n] = 0;

    if (ST && ST->ConOut)
        uefi_call_wrapper(ST->ConOut->OutputString, 2, ST->ConOut, line);

    UINTN j = 0;
    for (UINTN i = 0; line[i] && j < sizeof(narrow) - 1; i++)
        if (line[i] != L'\r')
            narrow[j++] = line[i] < 0x80 ? (char)line[i] : '?';
    narrow[j] = 0;
    serial_puts(narrow);
}

void blog(const CHAR16 *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(L"boot: ", fmt, ap);
    va_end(ap);
}

void berror(const CHAR16 *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(L"boot: error: ", fmt, ap);
    va_end(ap);
}
