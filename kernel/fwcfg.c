/*
 * fwcfg.c — find a named file in QEMU's fw_cfg directory and read it.
 * Used for the per-boot command line (-fw_cfg name=opt/gokernel/cmdline,...)
 * so tests need not rebuild the boot image.  Selector 0 holds "QEMU";
 * selector 0x19 the directory: a big-endian count, then 64-byte entries
 * {be32 size, be16 select, be16 reserved, char name[56]}.
 */
#include "fwcfg.h"
#include "cpu.h"

#include <stdint.h>

#define FW_CFG_SEL  0x510
#define FW_CFG_DATA 0x511

static void read_bytes(void *dst, size_t n)
{
    uint8_t *d = dst;
    for (size_t i = 0; i < n; i++)
        d[i] = inb(FW_CFG_DATA);
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

int fwcfg_read_file(const char *name, char *buf, size_t n)
{
    uint8_t sig[4];
    outw(FW_CFG_SEL, 0x0000);
    read_bytes(sig, 4);
    if (sig[0] != 'Q' || sig[1] != 'E' || sig[2] != 'M' || sig[3] != 'U')
        return -1;
    uint8_t cnt[4];
    outw(FW_CFG_SEL, 0x0019);
    read_bytes(cnt, 4);
    uint32_t count = be32(cnt);
    for (uint32_t i = 0; i < count && i < 4096; i++) {
        uint8_t e[64];
        read_bytes(e, 64);
        const char *en = (const char *)e + 8;
        size_t k = 0;
        while (k < 56 && name[k] && en[k] == name[k])
            k++;
        if (k < 56 && name[k] == 0 && en[k] == 0) {
            uint32_t size = be32(e);
            uint16_t sel = (uint16_t)(e[4] << 8 | e[5]);
            outw(FW_CFG_SEL, sel);
            size_t take = size < n - 1 ? size : n - 1;
            read_bytes(buf, take);
            buf[take] = 0;
            return (int)take;
        }
    }
    return -1;
}
