/* serial.h — 16550 UART on COM1 (0x3F8), 115200 8N1, polled. */
#ifndef KERNEL_SERIAL_H
#define KERNEL_SERIAL_H

void serial_init(void);
void serial_putc(char c);          /* "\n" is sent as "\r\n" */
void serial_write(const char *s, unsigned long n);
/* Next received byte, or -1 if none is waiting (never blocks). */
int serial_getc_nonblock(void);

#endif
