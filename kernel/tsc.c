/*
 * tsc.c — a clock from the TSC, calibrated once against the PIT.
 *
 * PIT channel 2 counts down from N at 1.193182 MHz with its gate opened by
 * port 0x61; when it reaches zero its output (port 0x61 bit 5) goes high.
 * Counting TSC ticks across 20 ms of PIT time gives the TSC rate.  Under
 * QEMU TCG both clocks are emulated from the host clock, so the rate is
 * whatever QEMU presents; it is still monotonic and consistent.
 */
#include "cpu.h"
#include "kernel.h"

#define PIT_HZ 1193182u

static uint64_t hz, tsc0;

void tsc_calibrate(void)
{
    const uint32_t ms = 20;
    uint32_t count = PIT_HZ * ms / 1000;
    uint8_t p61 = inb(0x61);
    outb(0x61, (uint8_t)((p61 & ~0x02) | 0x01)); /* gate on, speaker off */
    outb(0x43, 0xB0);                              /* ch2, lo/hi, mode 0 */
    outb(0x42, count & 0xFF);
    outb(0x42, (count >> 8) & 0xFF);
    uint64_t t0 = rdtsc();
    uint64_t spins = 0;
    while (!(inb(0x61) & 0x20) && spins < 200000000ull)
        spins++;
    uint64_t t1 = rdtsc();
    outb(0x61, p61);
    hz = (t1 - t0) * 1000 / ms;
    if (hz < 1000000) /* no PIT answer: assume 1 GHz rather than divide by 0 */
        hz = 1000000000ull;
    tsc0 = t0;
}

uint64_t tsc_hz(void) { return hz; }

uint64_t tsc_to_ns(uint64_t cycles)
{
    return (uint64_t)((unsigned __int128)cycles * 1000000000ull / hz);
}

uint64_t nanotime(void) { return hz ? tsc_to_ns(rdtsc() - tsc0) : 0; }
