/*
 * spinlock.h — fair ticket spinlock; interrupts are off while it is held
 * (the previous state is restored on unlock), so an interrupt handler on the
 * same CPU can never spin on a lock its CPU holds.
 */
#ifndef KERNEL_SPINLOCK_H
#define KERNEL_SPINLOCK_H

#include <stdint.h>
#include "cpu.h"

typedef struct spinlock {
    volatile uint32_t next, owner;
    uint64_t flags;
    int32_t holder; /* cpu id + 1 of the holder, 0 when free */
} spinlock_t;

uint32_t spin_cpu_id(void);

static inline void spin_lock(spinlock_t *l)
{
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
    irq_restore(f);
}

static inline int spin_held(const spinlock_t *l)
{
    return l->next != l->owner && l->holder == (int32_t)spin_cpu_id() + 1;
}

#endif
