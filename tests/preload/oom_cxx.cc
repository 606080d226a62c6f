// oom_cxx.cc — operator new until std::bad_alloc (run under `ulimit -v`).
//
//   oom_cxx BLOCK
//
// new char[BLOCK] until it throws, the blocks linked through their first
// word; delete them all, then new as much again (the heap recovers).
// Prints "oom_cxx: BLOCK-byte blocks: N MiB until bad_alloc, again N MiB: ok"
// and exits 0 (1 when the second round falls short).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>

static void **fill(size_t block, uint64_t limit, uint64_t *got)
{
    void **head = nullptr;
    *got = 0;
    try {
        while (*got < limit) {
            void **p = reinterpret_cast<void **>(new char[block]);
            *p = head;
            head = p;
            *got += block;
        }
    } catch (const std::bad_alloc &) {
    }
    return head;
}

static void release(void **head)
{
    while (head) {
        void **next = static_cast<void **>(*head);
        delete[] reinterpret_cast<char *>(head);
        head = next;
    }
}

int main(int argc, char **argv)
{
    size_t block = argc > 1 ? std::strtoull(argv[1], nullptr, 0) : 1 << 20;
    uint64_t got, again;
    release(fill(block, UINT64_MAX, &got));
    release(fill(block, got, &again));
    bool ok = again + block >= got; // the last block of the first round may not fit again
    std::printf("oom_cxx: %zu-byte blocks: %llu MiB until bad_alloc, again %llu MiB: %s\n", block,
                (unsigned long long)(got >> 20), (unsigned long long)(again >> 20),
                ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
