/*
 * trampoline.S — where an application processor starts: real mode → 32-bit
 * protected mode → long mode → smp.c's C entry.
 *
 * The blob between trampoline_start and trampoline_end is position
 * independent: smp.c copies it to a page below 1 MiB (P, from
 * frame_alloc_low) and fills the tramp_* data fields (GDT pointer, far-jump
 * targets, CR0/CR3/CR4/EFER of the BSP, stack top, C entry).  The SIPI vector
 * is P >> 12, so the AP starts at CS = P >> 4, IP = 0.  EBX holds P from
 * the first instructions on and addresses the data in every mode.
 * Needs: the identity map of low memory (paging_identity_low(1)) while an AP
 * runs here, and CR3 below 4 GiB (it is loaded from 32 bits).
 * One AP at a time uses the blob (the BSP starts them one after another).
 */
#define OFF(x) ((x) - trampoline_start)

    .section .rodata.trampoline, "a"
    .balign 16
    .globl trampoline_start
    .code16
trampoline_start:
    cli
    cld
    mov %cs, %ax
    mov %ax, %ds
    xor %ebx, %ebx
    mov %ax, %bx
    shl $4, %ebx                        /* ebx = P */
    lgdtl OFF(tramp_gdtr)
    mov %cr0, %eax
    or $1, %eax                         /* PE */
    mov %eax, %cr0
    ljmpl *OFF(tramp_pm_ptr)            /* to tramp_pm32 through selector 0x18 */

    .code32
tramp_pm32:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov OFF(tramp_cr4)(%ebx), %eax      /* PAE (and the BSP's other CR4 bits) */
    mov %eax, %cr4
    mov OFF(tramp_cr3)(%ebx), %eax
    mov %eax, %cr3
    mov $0xC0000080, %ecx               /* EFER: LME, NXE, SCE as on the BSP */
    mov OFF(tramp_efer)(%ebx), %eax
    xor %edx, %edx
    wrmsr
    mov OFF(tramp_cr0)(%ebx), %eax      /* PG | PE | WP ...: long mode is active */
    mov %eax, %cr0
    ljmpl *OFF(tramp_lm_ptr)(%ebx)      /* to tramp_lm64 through selector 0x08 */

    .code64
tramp_lm64:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    xor %eax, %eax
    mov %ax, %fs
    mov %ax, %gs
    mov %ebx, %ebx                      /* zero-extend P */
    mov OFF(tramp_stack)(%rbx), %rsp
    mov OFF(tramp_entry)(%rbx), %rax
    xor %ebp, %ebp                      /* ends backtraces */
    call *%rax                          /* smp_ap_entry: never returns */
1:  cli
    hlt
    jmp 1b

    .balign 16
tramp_gdt:
    .quad 0
    .quad 0x00209A0000000000            /* 0x08: 64-bit code */
    .quad 0x00CF92000000FFFF            /* 0x10: flat data */
    .quad 0x00CF9A000000FFFF            /* 0x18: flat 32-bit code */
tramp_gdt_end:
    .balign 8
    .globl tramp_gdtr
tramp_gdtr:
    .word tramp_gdt_end - tramp_gdt - 1
    .long 0                             /* P + OFF(tramp_gdt) */
    .balign 8
    .globl tramp_pm_ptr, tramp_lm_ptr
tramp_pm_ptr:
    .long 0                             /* P + OFF(tramp_pm32) */
    .word 0x18
    .balign 8
tramp_lm_ptr:
    .long 0                             /* P + OFF(tramp_lm64) */
    .word 0x08
    .balign 8
    .globl tramp_cr0, tramp_cr3, tramp_cr4, tramp_efer, tramp_stack, tramp_entry
    .globl tramp_gdt, tramp_pm32, tramp_lm64
tramp_cr0:   .long 0
tramp_cr3:   .long 0
tramp_cr4:   .long 0
tramp_efer:  .long 0
tramp_stack: .quad 0
tramp_entry: .quad 0
    .globl trampoline_end
trampoline_end:
