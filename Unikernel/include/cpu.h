/* Single x86 instructions for the Swift kernel; static inline so they inline into Swift code. */
#ifndef UK_CPU_H
#define UK_CPU_H
#include <stdint.h>
#include "../Boot/layout.h"

static inline void uk_outb(uint16_t port, uint8_t value) { __asm__ volatile("outb %0, %1" :: "a"(value), "Nd"(port)); }
static inline void uk_outw(uint16_t port, uint16_t value) { __asm__ volatile("outw %0, %1" :: "a"(value), "Nd"(port)); }
static inline void uk_outl(uint16_t port, uint32_t value) { __asm__ volatile("outl %0, %1" :: "a"(value), "Nd"(port)); }
static inline uint8_t uk_inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static inline uint64_t uk_rdtsc(void) {
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

typedef struct { uint32_t eax, ebx, ecx, edx; } uk_cpuid_result;
static inline uk_cpuid_result uk_cpuid(uint32_t leaf, uint32_t subleaf) {
    uk_cpuid_result r;
    __asm__ volatile("cpuid" : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx) : "a"(leaf), "c"(subleaf));
    return r;
}

static inline uint64_t uk_rdmsr(uint32_t msr) {
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((uint64_t)hi << 32) | lo;
}

static inline void uk_wrmsr(uint32_t msr, uint64_t value) {
    __asm__ volatile("wrmsr" :: "c"(msr), "a"((uint32_t)value), "d"((uint32_t)(value >> 32)) : "memory");
}

/* VMGEXIT (rep vmmcall, F3 0F 01 D9): hands the GHCB, or the GHCB MSR's request, to the hypervisor. */
static inline void uk_vmgexit(void) { __asm__ volatile(".byte 0xf3, 0x0f, 0x01, 0xd9" ::: "memory"); }

/* PVALIDATE (F2 0F 01 FF): RAX = virtual address, ECX = page size (0 4 KiB, 1 2 MiB), EDX = 1 validate,
 * 0 rescind. Returns RAX; *carry = CF (the RMP entry already had that state). */
static inline uint64_t uk_pvalidate(uint64_t address, int large, int validate, int *carry) {
    uint64_t result;
    uint8_t cf;
    __asm__ volatile(".byte 0xf2, 0x0f, 0x01, 0xff\n\tsetc %1"
                     : "=a"(result), "=r"(cf) : "0"(address), "c"(large), "d"(validate) : "memory", "cc");
    *carry = cf;
    return result;
}

static inline void uk_invlpg(uint64_t address) { __asm__ volatile("invlpg (%0)" :: "r"(address) : "memory"); }

static inline uint64_t uk_read_cr2(void) { uint64_t v; __asm__ volatile("mov %%cr2, %0" : "=r"(v)); return v; }
static inline uint64_t uk_read_cr3(void) { uint64_t v; __asm__ volatile("mov %%cr3, %0" : "=r"(v)); return v; }
static inline void uk_write_cr3(uint64_t v) { __asm__ volatile("mov %0, %%cr3" :: "r"(v) : "memory"); }

struct __attribute__((packed)) uk_descriptor_pointer { uint16_t limit; uint64_t base; };
static inline void uk_lidt(uint64_t base, uint16_t limit) {
    struct uk_descriptor_pointer p = { limit, base };
    __asm__ volatile("lidt %0" :: "m"(p));
}

/* A load the compiler may not drop or move: the fault workload's null dereference. */
static inline uint64_t uk_load64(uint64_t address) {
    uint64_t v;
    __asm__ volatile("movq (%1), %0" : "=r"(v) : "r"(address) : "memory");
    return v;
}

static inline void uk_halt(void) { __asm__ volatile("cli; hlt"); }
static inline void uk_pause(void) { __asm__ volatile("pause"); }

/* Linker and boot.S symbols. */
extern char __image_start[], __image_end[], __bss_end[];
/* First byte of the ROM on the firmware boot; 0 in the PVH/EFI link (Boot/kernel.ld). */
extern char __rom_start[];
extern uint64_t uk_isr_table[32];
extern uint8_t uk_avx_enabled;
extern uint64_t uk_idt[64];
extern uint8_t uk_heap_arena[];
extern uint8_t uk_sev_shared[];
extern uint64_t uk_boot_pt[512], uk_boot_pd[2048];
void uk_enable_avx(void);
#define UK_SEV_SHARED_PAGES 8
static inline uint64_t uk_sev_shared_base(void) { return (uint64_t)uk_sev_shared; }
static inline uint64_t *uk_boot_pt_base(void) { return uk_boot_pt; }
static inline uint64_t *uk_boot_pd_base(void) { return uk_boot_pd; }
#define UK_HEAP_ARENA_BYTES (256 * 1024)
static inline int uk_avx(void) { return uk_avx_enabled; }
static inline uint64_t *uk_idt_base(void) { return uk_idt; }
static inline uint64_t uk_isr_address(int vector) { return uk_isr_table[vector]; }
static inline uint8_t *uk_heap_arena_base(void) { return uk_heap_arena; }
static inline uint64_t uk_image_start(void) { return (uint64_t)__image_start; }
static inline uint64_t uk_image_end(void) { return (uint64_t)__image_end; }
static inline uint64_t uk_bss_end(void) { return (uint64_t)__bss_end; }
static inline uint64_t uk_rom_start(void) { return (uint64_t)__rom_start; }

#endif
