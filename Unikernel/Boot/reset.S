/*
 * The firmware boot: the kernel as its own -bios image, mapped by QEMU to end at 4 GiB.
 *
 * The CPU leaves reset in real mode at 0xFFFFFFF0 with CS base 0xFFFF0000, so this whole section
 * (the last 4 KiB of the image) is reachable with 16-bit offsets from CS. uk_reset16 loads a GDT
 * from the ROM, enters 32-bit protected mode and jumps to uk_firmware_start32 in .text, which copies
 * .data from the ROM to its RAM address, zeroes .bss and continues on the PVH path's uk_start32.
 *
 * The section ends with the GUIDed footer table OVMF carries (edk2 OvmfPkg/ResetVector/Ia16/
 * ResetVectorVtf0.asm): QEMU and the AMD PSP read it to launch the image under SEV-ES and SNP. It ends
 * 32 bytes before the end of the image; each entry is data, u16 size (data + 18), GUID, and the
 * footer entry holds the size of the whole table. Entries: the SEV-ES reset block (the EIP at which
 * application processors start) and the SEV metadata ("ASEV", OvmfPkg/ResetVector/X64/
 * OvmfSevMetadata.asm) naming the memory SNP pre-validates, the secrets page and the CPUID page.
 * There is no SEV hashes table entry: nothing is loaded beside the image, which is measured whole.
 */
#include "layout.h"

#define CR0_PE (1 << 0)
#define CR0_NW (1 << 29)
#define CR0_CD (1 << 30)
#define ROM_CODE32 0x08
#define ROM_DATA32 0x10
#define TAIL_SIZE 0x1000
/* Offset of this section from CS base 0xFFFF0000. */
#define TAIL_CS_OFFSET (0x10000 - TAIL_SIZE)
#define FOOTER_TABLE_SIZE (22 + 22 + 18)

/* GUIDs in EFI byte order: u32, u16, u16 little-endian, then eight bytes as written. */
.macro GUID a, b, c, d0, d1, d2, d3, d4, d5, d6, d7
        .long \a
        .word \b, \c
        .byte \d0, \d1, \d2, \d3, \d4, \d5, \d6, \d7
.endm

        .section .text.boot32, "ax"
        .code32
        .globl uk_firmware_start32
uk_firmware_start32:
        movw $ROM_DATA32, %ax
        movw %ax, %ds
        movw %ax, %es
        movw %ax, %ss
        movw %ax, %fs
        movw %ax, %gs
        movl $__data_lma, %esi
        movl $__image_start, %edi
        movl $__image_end, %ecx
        subl %edi, %ecx
        rep movsb
        movl $__bss_start, %edi
        movl $__bss_end, %ecx
        subl %edi, %ecx
        xorl %eax, %eax
        rep stosb
        movl %ebp, %eax                 /* entry TSC from uk_reset16 */
        movl %ebx, %edx
        xorl %ebx, %ebx                 /* no start info: the kernel reads fw_cfg */
        movl $UK_BOOT_FIRMWARE, %esi
        jmp uk_start32

        .section .resetvector, "ax"
        .code16
uk_tail_start:
        .globl uk_reset16
uk_reset16:
        cli
        cld
        rdtsc
        movl %eax, %ebp
        movl %edx, %ebx
        lgdtl %cs:(TAIL_CS_OFFSET + uk_rom_gdtr - uk_tail_start)
        /* Caches on (reset leaves CD and NW set), protected mode on. */
        movl %cr0, %eax
        andl $~(CR0_CD | CR0_NW), %eax
        orl  $CR0_PE, %eax
        movl %eax, %cr0
        ljmpl $ROM_CODE32, $uk_firmware_start32

        .p2align 3
uk_rom_gdt:
        .quad 0
        .quad 0x00cf9a000000ffff        /* 0x08: flat 32-bit code */
        .quad 0x00cf92000000ffff        /* 0x10: flat data */
uk_rom_gdtr:
        .word uk_rom_gdtr - uk_rom_gdt - 1
        .long uk_rom_gdt

        .p2align 4
uk_sev_metadata:
        .ascii "ASEV"
        .long uk_sev_metadata_end - uk_sev_metadata
        .long 1                         /* version */
        .long (uk_sev_metadata_end - uk_sev_sections) / 12
uk_sev_sections:
        /* SNP_SEC_MEM: the kernel's RAM (.data, .bss with its stacks and boot page tables), which it
         * touches before it could validate memory itself. */
        .long UK_LOAD_ADDRESS
        .long __bss_end - UK_LOAD_ADDRESS
        .long 1
        .long UK_SNP_SECRETS_PAGE
        .long 0x1000
        .long 2                         /* SNP_SECRETS */
        .long UK_SNP_CPUID_PAGE
        .long 0x1000
        .long 3                         /* CPUID */
uk_sev_metadata_end:

        .org TAIL_SIZE - 32 - FOOTER_TABLE_SIZE, 0
        .long uk_tail_end - uk_sev_metadata
        .word 22
        GUID 0xdc886566, 0x984a, 0x4798, 0xa7, 0x5e, 0x55, 0x85, 0xa7, 0xbf, 0x67, 0xcc
        .long uk_reset16
        .word 22
        GUID 0x00f771de, 0x1a7e, 0x4fcb, 0x89, 0x0e, 0x68, 0xc7, 0x7e, 0x2f, 0xb4, 0x4e
        .word FOOTER_TABLE_SIZE
        GUID 0x96b582de, 0x1fb2, 0x45f7, 0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d

        .org TAIL_SIZE - 16, 0
        .globl uk_reset_vector
uk_reset_vector:
        jmp uk_reset16
        .org TAIL_SIZE, 0xf4            /* hlt */
uk_tail_end:
