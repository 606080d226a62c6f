/*
 * lockrank.h — the allocator's locks and the order in which they nest.
 *
 * A thread may acquire a lock only while every lock it holds has a LOWER
 * rank.  Stored in plat_lock_t.rank so a debugging host can check it.
 *
 *   LOCKRANK_MCENTRAL   mheap_.central[spc].lock      (one per span class;
 *                       never two at once — except heap_verify, which takes
 *                       all of them in span-class order with nothing else
 *                       held)
 *   LOCKRANK_MHEAP      mheap_.lock: page allocator, arenas, span structs
 *                       (fixalloc), span bitmaps (gcbits), heap statistics
 *   LOCKRANK_PERSISTENT persistentalloc's lock (a leaf)
 *
 * So the only legal nestings are
 *     mcentral → mheap → persistent
 *     mcentral → persistent,  mheap → persistent.
 * mcache has no lock: it belongs to one CPU and is used only while pinned
 * (plat_pin), so an mcache → mcentral → mheap chain is the deepest path.
 */
#ifndef ALLOC_LOCKRANK_H
#define ALLOC_LOCKRANK_H

enum lockrank {
    LOCKRANK_NONE = 0,
    LOCKRANK_MCENTRAL = 10,
    LOCKRANK_MHEAP = 20,
    LOCKRANK_PERSISTENT = 30,
};

#endif
