/* kjmp.h — setjmp/longjmp for the kernel (the self-test runner aborts a
 * test with it).  Saves rbx, rbp, r12–r15, rsp and the return address. */
#ifndef KERNEL_KJMP_H
#define KERNEL_KJMP_H

#include <stdint.h>

typedef struct { uint64_t regs[8]; } kjmp_buf;

int kjmp_set(kjmp_buf *b) __attribute__((returns_twice));
_Noreturn void kjmp_long(kjmp_buf *b, int v);

#endif
