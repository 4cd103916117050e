/* A disk's boot sector (MBR) for --disk tests: SeaBIOS loads it at 0x7C00 in real mode from any disk
 * it can boot (virtio-blk, virtio-scsi); it prints MESSAGE on COM1 and exits through isa-debug-exit.
 * Nanos' exit port 0x501 is written as well, so the nanos preset's exit device ends QEMU too. */
#ifndef EXIT_CODE
#define EXIT_CODE 5
#endif
#ifndef MESSAGE
#define MESSAGE "cvm test disk"
#endif
        .code16
        .text
        .globl _start
_start:
        cli
        xorw %ax, %ax
        movw %ax, %ds
        movw %ax, %ss
        movw $0x7C00, %sp
        movw $message, %si
        movw $0x3f8, %dx
1:      lodsb
        testb %al, %al
        jz 2f
        outb %al, %dx
        jmp 1b
2:      movb $EXIT_CODE, %al
        movw $0xf4, %dx
        outb %al, %dx
        movw $0x501, %dx
        outb %al, %dx
3:      hlt
        jmp 3b
message:
        .ascii MESSAGE
        .asciz "\n"
        .org 510
        .byte 0x55, 0xAA
