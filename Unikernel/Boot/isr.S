/*
 * Exception entry: one stub per vector 0..31. Vectors without a CPU-pushed error code push 0 so every
 * frame has the same layout; the common path saves the general registers and calls
 * uk_exception(frame), which prints and never returns. The fault gates use IST1 (see boot.S), so a
 * fault on a broken stack still reports; #VC (vector 29) has its own returning path, isr_vc, on IST2.
 *
 * Frame seen by Swift, in 8-byte words from the pointer: r15 r14 r13 r12 r11 r10 r9 r8 rbp rdi rsi
 * rdx rcx rbx rax, vector, error code, rip, cs, rflags, rsp, ss.
 */
        .text
/* The general registers in the frame's order (r15 at the lowest address). */
.macro PUSH_GENERAL
        .irp reg, rax, rbx, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r13, r14, r15
        pushq %\reg
        .endr
.endm
.macro POP_GENERAL
        .irp reg, r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax
        popq %\reg
        .endr
.endm
.macro ISR_NOERR vector
isr\vector:
        pushq $0
        pushq $\vector
        jmp isr_common
.endm
.macro ISR_ERR vector
isr\vector:
        pushq $\vector
        jmp isr_common
.endm

ISR_NOERR 0
ISR_NOERR 1
ISR_NOERR 2
ISR_NOERR 3
ISR_NOERR 4
ISR_NOERR 5
ISR_NOERR 6
ISR_NOERR 7
ISR_ERR 8
ISR_NOERR 9
ISR_ERR 10
ISR_ERR 11
ISR_ERR 12
ISR_ERR 13
ISR_ERR 14
ISR_NOERR 15
ISR_NOERR 16
ISR_ERR 17
ISR_NOERR 18
ISR_NOERR 19
ISR_NOERR 20
ISR_ERR 21
ISR_NOERR 22
ISR_NOERR 23
ISR_NOERR 24
ISR_NOERR 25
ISR_NOERR 26
ISR_NOERR 27
ISR_NOERR 28
isr29:                                  /* #VC: CPU-pushed error code = SW_EXITCODE; returns */
        pushq $29
        jmp isr_vc
ISR_ERR 30
ISR_NOERR 31

isr_common:
        PUSH_GENERAL
        movq %rsp, %rdi
        cld
        call uk_exception
1:      cli
        hlt
        jmp 1b

/*
 * #VC (vector 29) returns to the instruction after the one that raised it, so, unlike the other
 * vectors, it saves and restores: the general registers in the same frame (the handler reads and
 * writes them there), and the x87/SSE state with FXSAVE, since the Swift handler may use XMM registers
 * the interrupted code holds. Its gate uses IST2, never shared with the fault path's IST1.
 */
isr_vc:
        PUSH_GENERAL
        movq %rsp, %r12
        subq $512, %rsp
        andq $-16, %rsp
        fxsave64 (%rsp)
        movq %r12, %rdi
        cld
        call uk_vc
        fxrstor64 (%rsp)
        movq %r12, %rsp
        POP_GENERAL
        addq $16, %rsp                  /* vector and error code */
        iretq

        .section .rodata
        .p2align 3
        .globl uk_isr_table
uk_isr_table:
.irp vector, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        .quad isr\vector
.endr
