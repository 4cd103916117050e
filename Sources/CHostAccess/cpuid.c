#include "chostaccess.h"

int chost_cpuid(uint32_t leaf, uint32_t subleaf, chost_cpuid_regs *out) {
#if defined(__x86_64__) || defined(__i386__)
    uint32_t a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(leaf), "c"(subleaf));
    out->eax = a; out->ebx = b; out->ecx = c; out->edx = d;
    return 0;
#else
    out->eax = out->ebx = out->ecx = out->edx = 0;
    (void)leaf; (void)subleaf;
    return -1;
#endif
}
