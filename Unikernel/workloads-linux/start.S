/*
 * Process entry of cvm-workloads, the Linux twin of the unikernel: no libc. Sets a thread pointer
 * whose word at %fs:0x28 is the stack-protector canary (where the x86-64 Linux ABI compilers read
 * it), then calls uk_linux_main(initial stack pointer, TSC at entry) and exits with its result.
 */
        .text
        .globl _start
_start:
        xorl %ebp, %ebp
        movq %rsp, %r12
        rdtsc
        shlq $32, %rdx
        orq  %rdx, %rax
        movq %rax, %r13
        /* Canary from the TSC, low byte zero. */
        movabsq $0x9e3779b97f4a7c15, %rdx
        imulq %rdx, %rax
        xorb %al, %al
        leaq uk_tcb(%rip), %rsi
        movq %rsi, (%rsi)
        movq %rax, 0x28(%rsi)
        movq %rax, __stack_chk_guard(%rip)
        movl $158, %eax                 /* arch_prctl */
        movl $0x1002, %edi              /* ARCH_SET_FS */
        syscall
        andq $-16, %rsp
        movq %r12, %rdi
        movq %r13, %rsi
        call uk_linux_main
        movl %eax, %edi
        movl $231, %eax                 /* exit_group */
        syscall
        hlt

        .bss
        .p2align 6
uk_tcb:
        .skip 256
        .globl __stack_chk_guard
        .p2align 3
__stack_chk_guard:
        .skip 8
