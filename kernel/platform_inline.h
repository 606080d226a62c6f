/*
 * platform_inline.h — the kernel's inline versions of alloc/platform.h's
 * per-CPU hooks (on the malloc/free fast path).
 *
 * Pinning = interrupts off: kernel code is not preempted (scheduling is
 * cooperative), so with interrupts off nothing can move the caller to
 * another CPU or re-enter the allocator on this one.  The CPU id is one
 * GS-relative load from the per-CPU area (the BSP installs its area before
 * the heap exists; APs before they run any work).
 */
#ifndef KERNEL_PLATFORM_INLINE_H
#define KERNEL_PLATFORM_INLINE_H

#include <stdint.h>

/* alloc/'s metadata globals go to .noscan (linker.ld), which the
 * collector's root scan of data and bss does not cover (see platform.h). */
#define PLAT_NOSCAN __attribute__((section(".noscan")))

static inline uint64_t plat_pin(void)
{
    uint64_t f;
    __asm__ volatile("pushfq; popq %0; cli" : "=r"(f)::"memory");
    return f;
}

static inline void plat_unpin(uint64_t token)
{
    if (token & (1u << 9))
        __asm__ volatile("sti" ::: "memory");
    else
        __asm__ volatile("" ::: "memory");
}

/* From a task (current_task, %gs:24, set): the CPU's scheduler stack
 * (kernel/gcstw.c kernel_systemstack); otherwise already on a big stack. */
void kernel_systemstack(void (*fn)(void *), void *arg);
static inline void plat_systemstack(void (*fn)(void *), void *arg)
{
    void *t;
    __asm__ volatile("movq %%gs:24, %0" : "=r"(t)); /* struct percpu.current_task */
    if (__builtin_expect(t == 0, 1))
        fn(arg);
    else
        kernel_systemstack(fn, arg);
}

static inline uint32_t plat_cpu_id(void)
{
    uint32_t id;
    __asm__ volatile("movl %%gs:8, %0" : "=r"(id)); /* struct percpu.cpu_id */
    return id;
}

/* Per-CPU cache slot (alloc/platform.h): struct percpu.mcache, set by
 * plat_set_cpu_cache (alloc_platform.c) from malloc_init. */
#define PLAT_HAVE_CPU_CACHE 1
static inline void *plat_cpu_cache(void)
{
    void *p;
    __asm__ volatile("movq %%gs:16, %0" : "=r"(p)); /* struct percpu.mcache */
    return p;
}

#endif
