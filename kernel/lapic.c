/*
 * lapic.c — local APIC access for the calling CPU.
 *
 * Owns: the register base (xAPIC MMIO at DIRECT_MAP_BASE + phys, or x2APIC
 * MSRs 0x800 + reg/16 when IA32_APIC_BASE says x2APIC is on).
 * IPIs: xAPIC needs two ICR writes (high = destination, low = command that
 * sends); they are done with interrupts off so a handler on the same CPU
 * can never split them, and we wait for the delivery-status bit to clear.
 * Invariant: lapic_setup runs on the BSP before any other CPU starts.
 */
#include "lapic.h"
#include "cpu.h"
#include "kernel.h"

#define MSR_APIC_BASE 0x1B
#define APIC_BASE_X2  (1ull << 10)
#define APIC_BASE_EN  (1ull << 11)

#define REG_ID      0x020
#define REG_TPR     0x080
#define REG_EOI     0x0B0
#define REG_SVR     0x0F0
#define REG_ESR     0x280
#define REG_ICR_LO  0x300
#define REG_ICR_HI  0x310
#define REG_LVT_TIMER 0x320
#define REG_TIMER_INIT 0x380
#define REG_TIMER_CUR  0x390
#define REG_TIMER_DIV  0x3E0
#define LVT_MASKED   (1u << 16)
#define LVT_PERIODIC (1u << 17)

#define ICR_FIXED   0x000u
#define ICR_NMI     0x400u
#define ICR_INIT    0x500u
#define ICR_SIPI    0x600u
#define ICR_PENDING (1u << 12)
#define ICR_ASSERT  (1u << 14)
#define ICR_LEVEL   (1u << 15)

static volatile uint32_t *mmio;
static int x2;

static uint32_t rd(uint32_t reg)
{
    if (x2)
        return (uint32_t)rdmsr(0x800 + (reg >> 4));
    return mmio[reg / 4];
}

static void wr(uint32_t reg, uint32_t v)
{
    if (x2)
        wrmsr(0x800 + (reg >> 4), v);
    else
        mmio[reg / 4] = v;
}

void lapic_setup(uint64_t phys)
{
    uint64_t base = rdmsr(MSR_APIC_BASE);
    x2 = (base & APIC_BASE_X2) != 0;
    if (!(base & APIC_BASE_EN))
        wrmsr(MSR_APIC_BASE, base | APIC_BASE_EN);
    mmio = (volatile uint32_t *)phys_to_virt(phys);
}

int lapic_x2apic_mode(void) { return x2; }

void lapic_enable(void)
{
    uint64_t base = rdmsr(MSR_APIC_BASE);
    if (!(base & APIC_BASE_EN))
        wrmsr(MSR_APIC_BASE, base | APIC_BASE_EN | (x2 ? APIC_BASE_X2 : 0));
    wr(REG_TPR, 0);
    wr(REG_SVR, (1u << 8) | LAPIC_SPURIOUS_VECTOR);
    if (!x2) { /* clear any error latched by the firmware (write, then read) */
        wr(REG_ESR, 0);
        (void)rd(REG_ESR);
    }
}

uint32_t lapic_id(void) { return x2 ? rd(REG_ID) : rd(REG_ID) >> 24; }

void lapic_eoi(void) { wr(REG_EOI, 0); }

static void send(uint32_t apic_id, uint32_t cmd)
{
    uint64_t f = irq_save();
    if (x2) {
        wrmsr(0x830, ((uint64_t)apic_id << 32) | cmd);
    } else {
        while (rd(REG_ICR_LO) & ICR_PENDING)
            cpu_relax();
        wr(REG_ICR_HI, apic_id << 24);
        wr(REG_ICR_LO, cmd);
        while (rd(REG_ICR_LO) & ICR_PENDING)
            cpu_relax();
    }
    irq_restore(f);
}

void lapic_send_init(uint32_t apic_id)
{
    send(apic_id, ICR_INIT | ICR_LEVEL | ICR_ASSERT);
}

void lapic_send_sipi(uint32_t apic_id, uint8_t vector_page) { send(apic_id, ICR_SIPI | vector_page); }
void lapic_send_fixed(uint32_t apic_id, uint8_t vector) { send(apic_id, ICR_FIXED | ICR_ASSERT | vector); }
void lapic_send_nmi(uint32_t apic_id) { send(apic_id, ICR_NMI | ICR_ASSERT); }

/* ------------------------------------------------------------ timer
 * Periodic, on the calling CPU only, to bound a hlt: the idle loops that
 * must still do something now and then (sysmon's forced GC, polling the
 * serial port) halt until the next tick instead of spinning.  The timer
 * counts the bus clock divided by 16; its rate is measured once against
 * the TSC. */
static uint64_t timer_ticks_per_ms;

static void timer_calibrate(void)
{
    wr(REG_TIMER_DIV, 0x3); /* divide by 16 */
    wr(REG_LVT_TIMER, LVT_MASKED);
    wr(REG_TIMER_INIT, 0xFFFFFFFFu);
    uint64_t t0 = nanotime();
    while (nanotime() - t0 < 10000000ull)
        cpu_relax();
    uint32_t left = rd(REG_TIMER_CUR);
    uint64_t ns = nanotime() - t0;
    wr(REG_TIMER_INIT, 0);
    timer_ticks_per_ms = (uint64_t)(0xFFFFFFFFu - left) * 1000000ull / ns;
    if (!timer_ticks_per_ms)
        timer_ticks_per_ms = 1;
}

void lapic_timer_start(uint8_t vector, uint32_t period_ms)
{
    if (!timer_ticks_per_ms)
        timer_calibrate();
    uint64_t n = timer_ticks_per_ms * period_ms;
    wr(REG_TIMER_DIV, 0x3);
    wr(REG_LVT_TIMER, LVT_PERIODIC | vector);
    wr(REG_TIMER_INIT, n > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)n);
}

void lapic_timer_stop(void)
{
    wr(REG_LVT_TIMER, LVT_MASKED);
    wr(REG_TIMER_INIT, 0);
}
