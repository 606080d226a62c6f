// cxx_new.cc — C++ operator new/delete through the preloaded malloc: plain,
// array, nothrow, sized, over-aligned, containers, and bad_alloc.
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <vector>

struct alignas(64) Line {
    char b[64];
};
struct alignas(32768) Huge {
    char b[100];
};

int main()
{
    std::map<std::string, std::vector<int>> m;
    for (int i = 0; i < 20000; i++)
        m[std::to_string(i * 7919 % 10007)].push_back(i);
    unsigned long sum = 0;
    for (auto &kv : m)
        for (int v : kv.second)
            sum += (unsigned long)v * kv.first.size();
    std::printf("map: %zu keys, sum %lu\n", m.size(), sum);

    int *a = new int[1000];
    a[999] = 5;
    delete[] a;
    Line *l = new Line[10];
    std::printf("Line aligned: %d\n", (int)(((uintptr_t)l % 64) == 0));
    delete[] l;
    auto h = std::make_unique<Huge>();
    std::printf("Huge aligned: %d\n", (int)(((uintptr_t)h.get() % 32768) == 0));
    Huge *hn = new (std::nothrow) Huge;
    std::printf("Huge nothrow aligned: %d\n", (int)(hn && ((uintptr_t)hn % 32768) == 0));
    delete hn;
    void *p = ::operator new(100, std::nothrow);
    ::operator delete(p, std::nothrow);

    try {
        volatile size_t n = (size_t)1 << 60;
        char *x = new char[n];
        std::printf("no bad_alloc?! %p\n", (void *)x);
    } catch (const std::bad_alloc &e) {
        std::printf("caught bad_alloc: %s\n", e.what());
    }
    char *y = new (std::nothrow) char[(size_t)1 << 60];
    std::printf("nothrow huge: %s\n", y ? "non-null" : "null");
    return 0;
}
