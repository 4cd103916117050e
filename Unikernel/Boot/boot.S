/*
 * Entry paths into the kernel.
 *
 * PVH: QEMU (or any PVH loader) finds the XEN_ELFNOTE_PHYS32_ENTRY note, loads the ELF at 1 MiB and
 * jumps to pvh_start32 in 32-bit protected mode, paging off, %ebx = physical address of
 * struct hvm_start_info (Xen public/arch-x86/hvm/start_info.h).
 *
 * EFI: the loader stub (Unikernel/EFI/stub.c) copies this image to 1 MiB, leaves boot services and
 * calls efi_entry64 in long mode with %rdi = handoff block, %rsi = TSC at the stub's entry.
 *
 * Firmware: Boot/reset.S runs from the ROM QEMU maps below 4 GiB (-bios), copies .data into RAM,
 * zeroes .bss and enters start32 like the PVH path, with no start info (fw_cfg carries it).
 *
 * All build the same boot page tables (identity map of the low 4 GiB, 2 MiB pages, with the SEV C-bit
 * when SEV is active, since data reads through an entry without it see ciphertext), load the kernel
 * GDT with a TSS whose IST1 stack every exception uses, enable SSE (and AVX when the CPU has it), seed
 * the stack-protector guard and call kmain(boot kind, info address, entry TSC).
 */
#include "layout.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define CR0_PE   (1 << 0)
#define CR0_MP   (1 << 1)
#define CR0_EM   (1 << 2)
#define CR0_WP   (1 << 16)
#define CR0_PG   (1 << 31)
#define CR4_PAE  (1 << 5)
#define CR4_OSFXSR (1 << 9)
#define CR4_OSXMMEXCPT (1 << 10)
#define CR4_OSXSAVE (1 << 18)
#define MSR_EFER 0xc0000080
#define EFER_LME (1 << 8)
#define EFER_NXE (1 << 11)
#define MSR_SEV_STATUS 0xc0010131

/*
 * %edx = the C-bit as a mask on the high half of a page-table entry, 0 without SEV (AMD APM Vol. 2,
 * 15.34: CPUID Fn8000_001F EAX bit 1 SEV, EBX[5:0] C-bit position; MSR SEV_STATUS bit 0 SEV active).
 * SEV_STATUS is read only when CPUID reports SEV: elsewhere the read raises #GP. The same bytes work
 * in 32-bit and 64-bit code. Clobbers eax, ebx, ecx.
 */
.macro SEV_CBIT_MASK
        movl $0x80000000, %eax
        cpuid
        cmpl $0x8000001f, %eax
        jb 90f
        movl $0x8000001f, %eax
        cpuid
        testl $2, %eax
        jz 90f
        movl $MSR_SEV_STATUS, %ecx
        rdmsr
        testl $1, %eax
        jz 90f
        movl %ebx, %ecx
        andl $0x3f, %ecx
        subl $32, %ecx
        movl $1, %edx
        shll %cl, %edx
        jmp 91f
90:     xorl %edx, %edx
91:
.endm

/* Image header at the first byte, read by the EFI stub from the flat copy. */
        .section .head, "ax"
        .globl uk_image_header
uk_image_header:
        .quad UK_HEADER_MAGIC
        .quad efi_entry64               /* absolute address of the 64-bit entry */
        .quad __image_end               /* end of initialised data */
        .quad __bss_end                 /* end of memory the kernel occupies */

        .section .note.Xen, "a"
        .p2align 2
        .long 4                         /* namesz: "Xen\0" */
        .long 8                         /* descsz */
        .long XEN_ELFNOTE_PHYS32_ENTRY
        .asciz "Xen"
        .p2align 2
        .quad pvh_start32

        .section .text.boot32, "ax"
        .code32
        .globl pvh_start32
pvh_start32:
        cli
        cld
        rdtsc
        movl $UK_BOOT_PVH, %esi
        /* fall through */

/* Shared 32-bit path, paging off: %ebx boot info, %edx:%eax entry TSC, %esi boot kind. */
        .globl uk_start32
uk_start32:
        movl %ebx, uk_boot_info
        movl %eax, uk_entry_tsc
        movl %edx, uk_entry_tsc + 4
        movl %esi, uk_boot_kind
        /* A stack, and an IDT whose only gate is #VC: under SEV-ES and SNP the CPUIDs below raise #VC,
         * answered by uk_vc32 before any other handler exists. Without SEV nothing reaches it. */
        movl $uk_stack_top, %esp
        movl $uk_vc32, %eax
        movw %ax, uk_idt32 + 29 * 8
        movw %cs, uk_idt32 + 29 * 8 + 2
        movw $0x8e00, uk_idt32 + 29 * 8 + 4     /* present, DPL 0, 32-bit interrupt gate */
        shrl $16, %eax
        movw %ax, uk_idt32 + 29 * 8 + 6
        movw $(30 * 8 - 1), uk_idt32_pointer
        movl $uk_idt32, uk_idt32_pointer + 2
        lidt uk_idt32_pointer
        SEV_CBIT_MASK

        /* PML4[0] -> PDPT, PDPT[0..3] -> four page directories, 2048 x 2 MiB identity pages. */
        movl $uk_boot_pdpt + 3, %eax
        movl %eax, uk_boot_pml4
        movl %edx, uk_boot_pml4 + 4
        movl $uk_boot_pd, %eax
        orl  $3, %eax
        xorl %ecx, %ecx
1:      movl %eax, uk_boot_pdpt(,%ecx,8)
        movl %edx, uk_boot_pdpt + 4(,%ecx,8)
        addl $4096, %eax
        incl %ecx
        cmpl $4, %ecx
        jne 1b
        xorl %ecx, %ecx
2:      movl %ecx, %eax
        shll $21, %eax
        orl  $0x83, %eax                /* present, writable, 2 MiB page */
        movl %eax, uk_boot_pd(,%ecx,8)
        movl %edx, uk_boot_pd + 4(,%ecx,8)
        incl %ecx
        cmpl $2048, %ecx
        jne 2b

        movl %cr4, %eax
        orl  $CR4_PAE, %eax
        movl %eax, %cr4
        movl $uk_boot_pml4, %eax
        movl %eax, %cr3
        movl $MSR_EFER, %ecx
        rdmsr
        orl  $(EFER_LME | EFER_NXE), %eax
        wrmsr
        movl %cr0, %eax
        orl  $(CR0_PG | CR0_PE | CR0_WP), %eax
        movl %eax, %cr0
        lgdt uk_gdt_pointer
        ljmp $UK_GDT_CODE, $pvh_long_mode

        .code64
pvh_long_mode:
        movl uk_boot_kind, %r12d
        movl uk_boot_info, %r13d
        movq uk_entry_tsc, %r14
        jmp common64

        /* Own section: the firmware link discards it (its RIP-relative operands assume the 1 MiB link). */
        .section .text.efi64, "ax"
        .globl efi_entry64
efi_entry64:
        cli
        cld
        movl $UK_BOOT_EFI, %r12d
        movq %rdi, %r13
        movq %rsi, %r14
        /* Same identity map as the PVH path, built with 64-bit stores. The C-bit mask comes from the stub
         * (handoff offset 72), which read it while the firmware's #VC handler could still serve CPUID. */
        movq 72(%rdi), %r8
        leaq uk_boot_pdpt + 3(%rip), %rax
        orq  %r8, %rax
        movq %rax, uk_boot_pml4(%rip)
        leaq uk_boot_pd + 3(%rip), %rax
        orq  %r8, %rax
        xorl %ecx, %ecx
        leaq uk_boot_pdpt(%rip), %rdx
1:      movq %rax, (%rdx,%rcx,8)
        addq $4096, %rax
        incl %ecx
        cmpl $4, %ecx
        jne 1b
        xorl %ecx, %ecx
        leaq uk_boot_pd(%rip), %rdx
2:      movq %rcx, %rax
        shlq $21, %rax
        orq  $0x83, %rax
        orq  %r8, %rax
        movq %rax, (%rdx,%rcx,8)
        incl %ecx
        cmpl $2048, %ecx
        jne 2b
        leaq uk_boot_pml4(%rip), %rax
        movq %rax, %cr3
        movl $MSR_EFER, %ecx
        rdmsr
        orl  $EFER_NXE, %eax
        wrmsr
        lgdt uk_gdt_pointer(%rip)
        leaq common64(%rip), %rax
        pushq $UK_GDT_CODE
        pushq %rax
        lretq

        .section .text.boot64, "ax"
/* From here on only absolute addresses of data: on the firmware boot this code runs from the ROM
 * near 4 GiB, too far from the RAM at 1 MiB for RIP-relative operands. */
common64:
        movw $UK_GDT_DATA, %ax
        movw %ax, %ds
        movw %ax, %es
        movw %ax, %ss
        xorw %ax, %ax
        movw %ax, %fs
        movw %ax, %gs
        movq $uk_stack_top, %rsp
        xorl %ebp, %ebp

        /* TSS descriptor base (16-byte system descriptor at UK_GDT_TSS), then IST1 for exceptions. */
        movq $uk_tss, %rax
        movq $uk_gdt, %rdx
        movw %ax, UK_GDT_TSS + 2(%rdx)
        shrq $16, %rax
        movb %al, UK_GDT_TSS + 4(%rdx)
        movb %ah, UK_GDT_TSS + 7(%rdx)
        shrq $16, %rax
        movl %eax, UK_GDT_TSS + 8(%rdx)
        movq $uk_ist_top, %rax
        movq %rax, uk_tss + 36     /* IST1 */
        movq $uk_vc_ist_top, %rax
        movq %rax, uk_tss + 44     /* IST2: #VC, which returns, so it never shares a stack with a fault */
        movw $UK_GDT_TSS, %ax
        ltr %ax

        /* SSE: CR0.EM off, CR0.MP on, CR4.OSFXSR and OSXMMEXCPT on (Intel SDM Vol. 3A, 13.1.3). */
        movq %cr0, %rax
        andq $~CR0_EM, %rax
        orq  $CR0_MP, %rax
        movq %rax, %cr0
        movq %cr4, %rax
        orq  $(CR4_OSFXSR | CR4_OSXMMEXCPT), %rax
        movq %rax, %cr4
        fninit

        /* Stack-protector guard from the TSC; the low byte stays zero so string copies stop on it. */
        rdtsc
        shlq $32, %rdx
        orq  %rdx, %rax
        movabsq $0x9e3779b97f4a7c15, %rdx
        imulq %rdx, %rax
        xorb %al, %al
        movq %rax, __stack_chk_guard

        movl %r12d, %edi
        movq %r13, %rsi
        movq %r14, %rdx
        call kmain
4:      cli
        hlt
        jmp 4b

/* AVX: with XSAVE and AVX present, CR4.OSXSAVE and XCR0 = x87 | SSE | AVX. kmain calls it once its IDT
 * is up, since the CPUID here raises #VC under SEV-ES and SNP. */
        .globl uk_enable_avx
uk_enable_avx:
        pushq %rbx
        movl $1, %eax
        xorl %ecx, %ecx
        cpuid
        movl %ecx, %eax
        andl $((1 << 26) | (1 << 28)), %eax
        cmpl $((1 << 26) | (1 << 28)), %eax
        jne 5f
        movq %cr4, %rax
        orq  $CR4_OSXSAVE, %rax
        movq %rax, %cr4
        xorl %ecx, %ecx
        movl $7, %eax
        xorl %edx, %edx
        xsetbv
        movb $1, uk_avx_enabled
5:      popq %rbx
        ret

/*
 * The early #VC handler, 32-bit protected mode, paging off: the only exits before kmain installs the
 * kernel's IDT are the CPUIDs of SEV_CBIT_MASK. A #VC itself proves SEV-ES or SNP, so SEV_STATUS is safe
 * to read here. Under SNP the answer comes from the CPUID page the launch validated (the PSP checked
 * it; a leaf the table lacks reads as zeros, as in Linux); under SEV-ES from the hypervisor over the GHCB
 * MSR protocol, one register per request (GHCBInfo 0x004, register in bits 31:30, leaf in 63:32;
 * answer 0x005 with the value in 63:32). Any other exit, a malformed table or a wrong answer ends the
 * guest with a termination request (reason set 1, code 4 cpuid or 16 unsupported instruction).
 */
#define GHCB_MSR 0xc0010130
#define VMGEXIT .byte 0xf3, 0x0f, 0x01, 0xd9
        .code32
uk_vc32:
        cmpl $0x72, (%esp)              /* SW_EXITCODE CPUID */
        jne 8f
        pushl %esi
        pushl %edi
        pushl %ebp
        movl %eax, %esi                 /* the leaf */
        movl $MSR_SEV_STATUS, %ecx
        rdmsr
        testl $4, %eax                  /* SNP active */
        jz 5f
        movl $UK_SNP_CPUID_PAGE, %edi
        movl (%edi), %ecx               /* COUNT, at most 64 */
        cmpl $64, %ecx
        ja 7f
        addl $16, %edi
1:      testl %ecx, %ecx
        jz 3f
        cmpl %esi, (%edi)               /* EAX_IN; these leaves have no subleaf */
        je 2f
        addl $48, %edi
        decl %ecx
        jmp 1b
2:      movl 24(%edi), %eax
        movl 28(%edi), %ebx
        movl 32(%edi), %ecx
        movl 36(%edi), %edx
        jmp 6f
3:      xorl %eax, %eax
        xorl %ebx, %ebx
        xorl %ecx, %ecx
        xorl %edx, %edx
        jmp 6f
5:
.irp reg, 0, 1, 2, 3
        movl $GHCB_MSR, %ecx
        movl $((\reg << 30) | 0x004), %eax
        movl %esi, %edx
        wrmsr
        VMGEXIT
        rdmsr
        andl $0xfff, %eax
        cmpl $0x005, %eax
        jne 7f
        pushl %edx
.endr
        popl %edx
        popl %ecx
        popl %ebx
        popl %eax
6:      popl %ebp
        popl %edi
        popl %esi
        addl $4, %esp                   /* error code */
        addl $2, (%esp)                 /* past the two-byte CPUID */
        iretl
7:      movl $((4 << 16) | (1 << 12) | 0x100), %eax
        jmp 9f
8:      movl $((16 << 16) | (1 << 12) | 0x100), %eax
9:      movl $GHCB_MSR, %ecx
        xorl %edx, %edx
        wrmsr
        VMGEXIT
10:     hlt
        jmp 10b
        .code64

        .section .data.boot, "aw"
        .p2align 4
        .globl uk_gdt
uk_gdt:
        .quad 0
        .quad 0x00af9a000000ffff        /* 0x08: 64-bit code, DPL 0 */
        .quad 0x00cf92000000ffff        /* 0x10: data, DPL 0 */
        .quad 0x0000890000000067        /* 0x18: 64-bit TSS, limit 0x67; base filled in at boot */
        .quad 0
uk_gdt_end:
uk_gdt_pointer:
        .word uk_gdt_end - uk_gdt - 1
        .quad uk_gdt
        .globl __stack_chk_guard
        .p2align 3
__stack_chk_guard:
        .quad 0x595e9fbd94fda766
        .globl uk_boot_info, uk_entry_tsc, uk_avx_enabled, uk_boot_kind
uk_boot_info:
        .quad 0
uk_boot_kind:
        .quad 0
uk_entry_tsc:
        .quad 0
uk_avx_enabled:
        .byte 0

        .section .bss, "aw", @nobits
        .p2align 12
        .globl uk_boot_pml4
uk_boot_pml4:
        .skip 4096
uk_boot_pdpt:
        .skip 4096
        .globl uk_boot_pd
uk_boot_pd:
        .skip 4 * 4096
        .p2align 4
uk_tss:
        .skip 104
        .p2align 4
        .globl uk_idt
uk_idt:
        .skip 32 * 16
uk_idt32:
        .skip 30 * 8
uk_idt32_pointer:
        .skip 8
        /* Pages the kernel gives the host under SEV-ES and SNP (mapped without the C-bit; under SNP
         * rescinded and changed to shared first): the GHCB, then the guest request's request and response
         * pages and four pages for the host's certificate table. Inside SNP_SEC_MEM, so validated at launch. */
        .p2align 12
        .globl uk_sev_shared
uk_sev_shared:
        .skip 8 * 4096
        /* The boot map's first 2 MiB as 4 KiB pages, so that the shared pages above can lose the C-bit. */
        .globl uk_boot_pt
uk_boot_pt:
        .skip 4096
        .p2align 12
        .globl uk_heap_arena
uk_heap_arena:
        .skip 256 * 1024
        .p2align 12
        .skip 64 * 1024
uk_stack_top:
        .skip 16 * 1024
uk_ist_top:
        .skip 16 * 1024
uk_vc_ist_top:
