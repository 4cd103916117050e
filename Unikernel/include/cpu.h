/* Single x86 instructions for the Swift kernel; static inline so they inline into Swift code. */
#ifndef UK_CPU_H
#define UK_CPU_H
#include <stdint.h>

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
