/*
 * switch.S — stack switching for tasks, and GCC's split-stack entry point.
 *
 * switch_stack(save, new): push the callee-saved registers, store rsp in
 * *save, load `new`, pop, return: the other context continues where it
 * called switch_stack (or, for a new task, in task_trampoline).
 *
 * __morestack: called by the prologue of a -fsplit-stack function whose
 * frame does not fit above the guard:
 *     mov $frame,%r10 ; mov $args,%r11 ; call __morestack ; ret ; <body>
 * On entry [rsp] = address of that `ret`, [rsp+8] = the function's return
 * address, [rsp+16..] = its stack arguments (r11 bytes).  We save every
 * register that may hold an argument or be live, and let morestack_c ask
 * the scheduler (on its own stack) to grow.  morestack_c returns
 *   0       contiguous: the stack may have moved (all saved words adjusted);
 *           restore registers and jump to the body (ret + 1) with rsp where
 *           the function was entered — as if the check had passed;
 *   new rsp segmented: a new segment holds a copy of the stack arguments
 *           and, below them, the address of __morestack_return; run the
 *           body there.  When it returns, __morestack_return goes back to
 *           the old stack (task->seg_return_rsp), asks the scheduler to
 *           release the segment, and returns to the function's caller.
 */
#define TASK_SEG_RETURN_RSP 8   /* offsetof(struct task, seg_return_rsp) */
#define PERCPU_CURRENT_TASK 24  /* offsetof(struct percpu, current_task) */

    .text
    .globl switch_stack
switch_stack:
    push %rbp
    push %rbx
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, (%rdi)
    mov %rsi, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbx
    pop %rbp
    ret

/* First code of every task: r12 = fn, r13 = arg (set up by task_spawn). */
    .globl task_trampoline
task_trampoline:
    mov %r13, %rdi
    call *%r12
    call task_exit
    ud2

    .globl __morestack
__morestack:
    push %rax
    push %rdi
    push %rsi
    push %rdx
    push %rcx
    push %r8
    push %r9
    push %rbp
    push %rbx
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, %rdi          /* saved registers; entry rsp = rdi + 13*8 */
    mov %r10, %rsi          /* frame size */
    mov %r11, %rdx          /* stack-argument bytes */
    sub $8, %rsp            /* 16-byte alignment for the call */
    call morestack_c
    add $8, %rsp
    mov %rax, %r10          /* 0, or the segment's rsp */
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbx
    pop %rbp
    pop %r9
    pop %r8
    pop %rcx
    pop %rdx
    pop %rsi
    pop %rdi
    pop %rax
    /* [rsp] = address of the prologue's `ret`; the body starts right after */
    incq (%rsp)
    mov (%rsp), %r11
    /* A varargs function's split path begins with `lea 0x18(%rbp),%r11`:
     * libgcc's __morestack leaves rbp at its own frame so that this yields
     * the address of the stack arguments on the old stack.  We keep the
     * caller's rbp instead, so do what the lea means ourselves and skip it:
     * r11 = first stack argument (on the old stack for a segment; on the
     * moved stack when contiguous). */
    cmpl $0x185d8d4c, (%r11)
    jne 2f
    addq $4, (%rsp)
    lea 16(%rsp), %r11
2:  test %r10, %r10
    jnz 3f
    ret                     /* contiguous: to the body, rsp = entry rsp */
3:  push (%rsp)             /* segmented: move the body address below the */
    pop -8(%r10)            /* segment's return slot and switch stacks */
    lea -8(%r10), %rsp
    ret

    .globl __morestack_return
__morestack_return:
    /* the body returned (rax:rdx = its result) on the segment */
    mov %gs:PERCPU_CURRENT_TASK, %r10
    mov TASK_SEG_RETURN_RSP(%r10), %rsp   /* old stack: [rsp] = caller's return */
    push %rax
    push %rdx
    sub $8, %rsp
    call morestack_pop_c    /* scheduler releases the segment */
    add $8, %rsp
    pop %rdx
    pop %rax
    ret

/* gc_spill_call(fn, arg): push the callee-saved registers, then call
 * fn(rsp, arg): everything from rsp up — this frame's spilled registers
 * and every caller's frame — is what the collector scans for this CPU
 * (a pointer held only in a callee-saved register is on the stack now).
 * The caller-saved registers are dead across the call by the ABI. */
    .globl gc_spill_call
gc_spill_call:
    push %rbp
    mov %rsp, %rbp
    push %rbx
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rdi, %rax
    mov %rsp, %rdi
    sub $8, %rsp            /* 16-byte alignment for the call */
    call *%rax
    add $8, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbx
    pop %rbp
    ret

/* call_on_stack(fn, arg, sp): fn(arg) with rsp = sp (16-byte aligned),
 * then back on the caller's stack (kernel_systemstack, task.c). */
    .globl call_on_stack
call_on_stack:
    push %rbp
    mov %rsp, %rbp
    mov %rdx, %rsp
    mov %rdi, %rax
    mov %rsi, %rdi
    call *%rax
    mov %rbp, %rsp
    pop %rbp
    ret
