/* fwcfg.h — QEMU's fw_cfg device (I/O ports 0x510/0x511), read-only use. */
#ifndef KERNEL_FWCFG_H
#define KERNEL_FWCFG_H

#include <stddef.h>

/* Copies the fw_cfg file `name` (e.g. "opt/gokernel/cmdline") into buf,
 * NUL-terminated, at most n-1 bytes.  Returns its length, or -1 when there
 * is no fw_cfg device or no such file. */
int fwcfg_read_file(const char *name, char *buf, size_t n);

#endif
