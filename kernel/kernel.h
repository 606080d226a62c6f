/* kernel.h — services every kernel file uses: printing, panic, exit. */
#ifndef KERNEL_KERNEL_H
#define KERNEL_KERNEL_H

#include <stdarg.h>
#include <stdint.h>

#include "../boot/bootinfo.h"

#define DIRECT_MAP_BASE BOOT_DIRECT_MAP_BASE
static inline void *phys_to_virt(uint64_t pa) { return (void *)(pa + DIRECT_MAP_BASE); }
static inline uint64_t direct_virt_to_phys(const void *va) { return (uint64_t)va - DIRECT_MAP_BASE; }

/* printf to the serial console (formats: kernel/fmt.h).  Lines from
 * different CPUs do not interleave within one call. */
int kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int kvprintf(const char *fmt, va_list ap);
/* Tests: also copy everything printed into buf (NUL-terminated, cut at
 * cap - 1 bytes) until kprintf_capture_end(), which returns the length.
 * One capture at a time; output still goes to the console. */
void kprintf_capture(char *buf, uint64_t cap);
uint64_t kprintf_capture_end(void);
/* Zero 16 KiB of stack below the caller (kernel/string.c): dead frames'
 * object addresses must not look like roots to the collector.  CPU stacks
 * (64 KiB) only, never a task's. */
void stack_scrub(void);

/* QEMU isa-debug-exit (port 0xf4): QEMU exits with (code << 1) | 1.
 * PASS → 33 and FAIL → 35, never confusable with QEMU's own 0 and 1. */
#define QEMU_EXIT_PASS 0x10
#define QEMU_EXIT_FAIL 0x11
_Noreturn void qemu_exit(uint32_t code);

/* Fatal error: prints "PANIC on cpu N: <message>", a backtrace, and ends
 * QEMU with the fail code (a running self-test is reported as failed). */
_Noreturn void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* For trap.c: stop other output, print context, then panic_end. */
void panic_begin(void);
_Noreturn void panic_end(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint32_t panic_cpu_id(void);
void backtrace_from(uint64_t rbp);

/* TSC clock (tsc.c) */
void tsc_calibrate(void);
uint64_t tsc_hz(void);
uint64_t nanotime(void); /* ns since tsc_calibrate */
uint64_t tsc_to_ns(uint64_t cycles);

/* Boot info, valid after kmain's checks. */
extern const struct bootinfo *boot_info;

/* ktest hook used by panic (tests/kernel/runner.c) */
void ktest_on_panic(const char *msg);

/* alloc_platform.c.  Tests: the heap may have at most this many bytes
 * backed (0: no limit but physical memory); the bytes backed now. */
extern volatile uint64_t kernel_debug_heap_limit;
uint64_t kernel_heap_backed(void);

#endif
