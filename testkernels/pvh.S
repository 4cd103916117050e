/* PVH test kernel (64-bit ELF, 32-bit entry): QEMU's -kernel reads the XEN_ELFNOTE_PHYS32_ENTRY note
 * (type 18) and enters pvh_start in protected mode with EBX = struct hvm_start_info, whose first
 * field is the magic 0x336ec578. */
        .section .note.Xen, "a", @note
        .p2align 2
        .long 4                 /* namesz: "Xen\0" */
        .long 4                 /* descsz */
        .long 18                /* XEN_ELFNOTE_PHYS32_ENTRY */
        .asciz "Xen"
        .p2align 2
        .long pvh_start

        .text
        .code32
        .globl _start
_start:
pvh_start:
        movl $stack_top, %esp
        cmpl $0x336ec578, (%ebx)
        jne report_wrong_loader
        jmp report_ok

#include "common.inc"
