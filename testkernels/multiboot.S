/* Multiboot v1 test kernel (32-bit ELF): QEMU's -kernel finds the header in the first 8 KiB and
 * enters _start with EAX = 0x2BADB002 and EBX = the multiboot information. */
        .set MB_MAGIC, 0x1BADB002
        .set MB_FLAGS, 0
        .section .multiboot, "a"
        .p2align 2
        .long MB_MAGIC
        .long MB_FLAGS
        .long -(MB_MAGIC + MB_FLAGS)

        .text
        .code32
        .globl _start
_start:
        movl $stack_top, %esp
        cmpl $0x2BADB002, %eax
        jne report_wrong_loader
        jmp report_ok

#include "common.inc"
