#!/usr/bin/env python3
"""mkcorpus.py — write the seed corpus tests/fuzz/corpus/ for fuzz_alloc.

Each seed is a short program in the harness's input language (see the
essay at the top of tests/fuzz/fuzz_alloc.c and its optab): one opcode byte
then that operation's argument bytes.  The seeds give libFuzzer a start in
every kind of call; `make test` replays them (build/host/test_fuzz_replay).
Run from the repository root: python3 tests/fuzz/mkcorpus.py
"""
import os
import struct

# opcodes: the first index of each operation in fuzz_alloc.c's optab
KMALLOC, GC, KCALLOC, KREALLOC, KFREE, REMOTE, KSIZE = 0, 4, 5, 6, 8, 11, 12
MALLOCGC, TYPED, NEWARRAY, TINY, STACKALLOC, STACKFREE = 13, 15, 17, 18, 19, 21
CPU, FLUSH, BAD, SIZEERR, CHECK, REWRITE = 22, 23, 24, 29, 30, 31
# dec_size selectors (sel & 31) and bad_pointer kinds
S_TINY, S_128, S_1K, S_CLASS, S_4K, S_32K, S_LARGE = 0, 6, 11, 15, 20, 24, 27
W_KFREE, W_KSIZE, W_KREALLOC, W_STACKFREE = 0, 1, 2, 3


def size(sel, v):
    return bytes([sel]) + struct.pack("<H", v)


def kmalloc(slot, sel, v):
    return bytes([KMALLOC, slot]) + size(sel, v)


def bad(which, kind, off, i, sel=0):
    return bytes([BAD, which, sel, kind]) + struct.pack("<H", off) + bytes([i])


SEEDS = {
    # every small class boundary, ksize, then free in another order
    "01_kmalloc_classes": b"".join(kmalloc(s, S_CLASS, s * 3 + (s % 3) * 256) for s in range(12))
    + bytes([KSIZE, 3, KSIZE, 7]) + b"".join(bytes([KFREE, s]) for s in (5, 0, 11, 2, 8))
    + bytes([CHECK, 1]),
    # grow one object through krealloc, shrink it, free it with size 0
    "02_krealloc_chain": kmalloc(0, S_128, 40)
    + b"".join(bytes([KREALLOC, 0]) + size(S_1K, v) + b"\x00" for v in (100, 700, 1000))
    + bytes([KREALLOC, 0]) + size(S_LARGE, 2) + b"\x00"
    + bytes([KREALLOC, 0]) + size(S_128, 10) + b"\x00"
    + bytes([KREALLOC, 0]) + size(S_TINY, 0) + b"\x00",
    # typed objects with pointers, arrays of them, newobject, kcalloc
    "03_typed_gc": bytes([TYPED, 1, 0x00, 0, 3, TYPED, 2, 0x01, 2, 5, TYPED, 3, 0x80, 5])
    + struct.pack("<H", 40) + bytes([NEWARRAY, 4, 0x00, 3, 7, NEWARRAY, 5, 0x01, 1, 0])
    + bytes([KCALLOC, 6]) + size(S_1K, 300) + bytes([3, 1]) + bytes([CHECK, 7, KFREE, 2, KFREE, 4]),
    # tiny objects packed into blocks; kfree of a tiny block is refused
    "04_tiny": bytes([TINY, 7, 1, 2, 3, 4, 5, 6, 7, 8, TINY, 3, 0x8c, 0x45, 0x0b])
    + bytes([MALLOCGC, 0, 0]) + size(S_TINY, 9) + bad(W_KFREE, 6, 1, 0) + bad(W_KFREE, 6, 2, 3),
    # stacks of every pool order and a large one; bad stackfree and kfree
    "05_stacks": b"".join(bytes([STACKALLOC, s, s]) for s in range(5))
    + bytes([STACKALLOC, 5, 0xE6]) + bad(W_STACKFREE, 7, 0, 1, 0x85) + bad(W_KFREE, 7, 1, 2)
    + bad(W_KSIZE, 7, 40, 5) + bytes([STACKFREE, 1, STACKFREE, 5, FLUSH, 3, CHECK, 1]),
    # allocate on CPU 0, free on CPUs 1-3, flush every mcache
    "06_remote_cpus": b"".join(kmalloc(s, S_128, 48) for s in range(8))
    + bytes([CPU, 1, KFREE, 0, KFREE, 1, CPU, 2, REMOTE, 2, 1, REMOTE, 3, 2, CPU, 3])
    + kmalloc(9, S_128, 48) + bytes([FLUSH, 1, CPU, 0, FLUSH, 0, CHECK, 1]),
    # one bad call of each pointer kind, through kfree, ksize and krealloc
    "07_bad_pointers": kmalloc(0, S_1K, 200) + kmalloc(1, S_128, 48) + bytes([KFREE, 1])
    + b"".join(bad(k % 3, k, 8 + k, 0) for k in range(13)),
    # the size errors: larger than memory, kcalloc/newarray overflow, bad stackalloc
    "08_size_errors": kmalloc(0, S_128, 64)
    + b"".join(bytes([SIZEERR, k, 3 + k, 5 * k]) for k in range(5)),
    # large objects: interior pointer, double free, scavenge, reuse
    "09_large": kmalloc(0, S_LARGE, 3) + kmalloc(1, S_LARGE, 0x100 + 5) + bad(W_KFREE, 3, 9000, 0)
    + bytes([KFREE, 0]) + bad(W_KFREE, 4, 1, 0) + bytes([FLUSH, 0x82, 8])
    + kmalloc(2, S_LARGE, 3) + bytes([REWRITE, 2, CHECK, 1]),
    # collections: typed, large and tiny objects rooted in the model's tables
    # survive; forgotten tiny blocks are collected; kfree after a cycle
    "11_gc": bytes([TYPED, 1, 0x00, 0, 3, TYPED, 2, 0x01, 2, 5, NEWARRAY, 4, 0x00, 3, 7])
    + bytes([MALLOCGC, 5, 0]) + size(S_LARGE, 2) + kmalloc(6, S_1K, 300)
    + bytes([TINY, 7, 1, 2, 3, 4, 5, 6, 7, 8, GC, 0, CPU, 1, TINY, 3, 0x8c, 0x45, 0x0b])
    + bytes([GC, 1, KFREE, 2, KFREE, 5, GC, 0, CHECK, 1]),
}


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    os.makedirs(out, exist_ok=True)
    for name, data in sorted(SEEDS.items()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
