/* isr.S — one entry stub per IDT vector, a common save/restore path, and
 * the fault-probe helpers whose faults trap.c fixes up via .extable. */
    .text
/* Every stub is 16-byte aligned and at most 12 bytes long, so stub v is at
 * isr_stubs + 16 * v (idt.c relies on this; the .rept below guarantees it). */
.macro STUB v
    .balign 16
    .if (\v == 8) || (\v == 10) || (\v == 11) || (\v == 12) || (\v == 13) || (\v == 14) || (\v == 17) || (\v == 21) || (\v == 29) || (\v == 30)
    .else
    pushq $0                    /* no error code from the CPU: keep one layout */
    .endif
    pushq $\v
    jmp isr_common
.endm

    .altmacro
    .balign 16
    .globl isr_stubs
isr_stubs:
    .set i, 0
    .rept 256
    STUB %i
    .set i, i + 1
    .endr
    .noaltmacro

isr_common:
    push %rax
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %rbp
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, %rdi
    /* the IST stack is 16-aligned; 22 quadwords were pushed: realign */
    mov %rsp, %rbx
    and $-16, %rsp
    cld
    call trap_handler
    mov %rbx, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rbp
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    pop %rax
    add $16, %rsp               /* vector and error code */
    iretq


/* int probe_read64(uint64_t addr, uint64_t *out): 0 and *out = [addr], or
 * -1 if the load faulted (the fault is fixed up, not fatal). */
    .text
    .globl probe_read64
probe_read64:
1:  mov (%rdi), %rax
    mov %rax, (%rsi)
    xor %eax, %eax
    ret
2:  mov $-1, %eax
    ret
    .section .extable, "a"
    .quad 1b, 2b
    .text

/* int probe_write64(uint64_t addr, uint64_t v): 0, or -1 on a fault. */
    .globl probe_write64
probe_write64:
1:  mov %rsi, (%rdi)
    xor %eax, %eax
    ret
2:  mov $-1, %eax
    ret
    .section .extable, "a"
    .quad 1b, 2b
    .text

/* int probe_ud2(void): executes ud2; returns -1 after the #UD is fixed up. */
    .globl probe_ud2
probe_ud2:
1:  ud2
    xor %eax, %eax
    ret
2:  mov $-1, %eax
    ret
    .section .extable, "a"
    .quad 1b, 2b
    .text

/* int probe_div0(uint64_t x): x / 0; returns -1 after the #DE is fixed up. */
    .globl probe_div0
probe_div0:
    mov %rdi, %rax
    xor %edx, %edx
    xor %ecx, %ecx
1:  div %rcx
    ret
2:  mov $-1, %eax
    ret
    .section .extable, "a"
    .quad 1b, 2b
    .text
