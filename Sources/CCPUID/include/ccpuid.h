#ifndef CCPUID_H
#define CCPUID_H
#include <stdint.h>

/// Result registers of one CPUID leaf/subleaf.
typedef struct {
    uint32_t eax, ebx, ecx, edx;
} ccpuid_regs;

/// Executes CPUID on the current CPU. Returns 0 on x86_64, -1 on other architectures (regs zeroed).
int ccpuid_query(uint32_t leaf, uint32_t subleaf, ccpuid_regs *out);

#endif
