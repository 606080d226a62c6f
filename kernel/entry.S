/* entry.S — first kernel instructions.  The loader jumps here with
 * rdi = bootinfo (direct-map address), interrupts off, its own stack. */
    .section .text.entry, "ax"
    .globl _start
_start:
    cli
    cld
    lea boot_stack_top(%rip), %rsp
    xor %ebp, %ebp              /* terminate frame-pointer backtraces */
    /* zero .bss (the loader zeroes memsz > filesz, but do not rely on it) */
    mov %rdi, %r12
    lea __bss_start(%rip), %rdi
    lea __bss_end(%rip), %rcx
    sub %rdi, %rcx
    xor %eax, %eax
    rep stosb
    mov %r12, %rdi
    call kmain
1:  cli
    hlt
    jmp 1b

    .section .bss
    .balign 16
    .globl boot_stack
boot_stack:
    .skip 65536
    .globl boot_stack_top
boot_stack_top:
