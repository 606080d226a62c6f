/*
 * spinlock.h — fair ticket spinlock; interrupts are off while it is held
 * (the previous state is restored on unlock), so an interrupt handler on the
 * same CPU can never spin on a lock its CPU holds.
 *
 * Every lock has a rank from alloc/lockrank.h's table (SPINLOCK_INIT); the
 * acquire checks the order against the locks this CPU holds before it
 * spins (kernel_lock_acquire), so an out-of-order or recursive acquire is a
 * panic naming both locks instead of a silent hang.
 */
#ifndef KERNEL_SPINLOCK_H
#define KERNEL_SPINLOCK_H

#include <stdint.h>
#include "../alloc/lockrank.h"
#include "cpu.h"

typedef struct spinlock {
    volatile uint32_t next, owner;
    uint64_t flags;
    int32_t holder; /* cpu id + 1 of the holder, 0 when free */
    uint32_t rank;  /* alloc/lockrank.h */
} spinlock_t;
#define SPINLOCK_INIT(r) {.rank = (r)}

uint32_t spin_cpu_id(void);
/* The lock-order check and bookkeeping shared with plat_lock (percpu.c):
 * holder is the lock's holder field (cpu + 1, 0 when free). */
void kernel_lock_acquire(const void *lock, uint32_t rank, int32_t holder);
void kernel_lock_release(const void *lock, uint32_t rank);

static inline void spin_lock(spinlock_t *l)
{
    kernel_lock_acquire(l, l->rank, l->holder);
    uint64_t f = irq_save();
    uint32_t t = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED);
    while (__atomic_load_n(&l->owner, __ATOMIC_ACQUIRE) != t)
        cpu_relax();
    l->flags = f;
    l->holder = (int32_t)spin_cpu_id() + 1;
}

static inline void spin_unlock(spinlock_t *l)
{
    uint64_t f = l->flags;
    l->holder = 0;
    __atomic_store_n(&l->owner, l->owner + 1, __ATOMIC_RELEASE);
    kernel_lock_release(l, l->rank);
    irq_restore(f);
}

static inline int spin_held(const spinlock_t *l)
{
    return l->next != l->owner && l->holder == (int32_t)spin_cpu_id() + 1;
}

#endif
