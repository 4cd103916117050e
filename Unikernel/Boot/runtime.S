/*
 * The C runtime Embedded Swift links against, shared by the kernel and the Linux workload binary:
 * memset, memcpy, memmove with the string instructions; sqrt as one sqrtsd; posix_memalign and free
 * jump to the Swift heap (Swift may not define those symbol names itself).
 */
        .text
        .globl memset, memcpy, memmove, sqrt, posix_memalign, free
posix_memalign:
        jmp uk_posix_memalign
free:
        jmp uk_free

memset:
        movq %rdi, %r9
        movl %esi, %eax
        movq %rdx, %rcx
        rep stosb
        movq %r9, %rax
        ret

memcpy:
        movq %rdi, %rax
        movq %rdx, %rcx
        rep movsb
        ret

memmove:
        movq %rdi, %rax
        movq %rdx, %rcx
        cmpq %rsi, %rdi
        jbe 1f
        leaq -1(%rsi,%rdx), %rsi
        leaq -1(%rdi,%rdx), %rdi
        std
        rep movsb
        cld
        ret
1:      rep movsb
        ret

sqrt:
        sqrtsd %xmm0, %xmm0
        ret
