/* The block the EFI stub passes the kernel; parsed by Sources/UnikernelCore/EFIHandoff.swift. */
#ifndef UK_HANDOFF_H
#define UK_HANDOFF_H
#include <stdint.h>
#define UK_EFI_HANDOFF_MAGIC 0x4946454b554d5643ull  /* "CVMUKEFI" */
struct uk_efi_handoff {
    uint64_t magic;
    uint64_t memory_map;
    uint64_t memory_map_size;
    uint64_t descriptor_size;
    uint64_t command_line;
    uint64_t command_line_length;
    uint64_t stub_base;
    uint64_t stub_size;
    uint64_t cc_blob;          /* SNP confidential-computing blob from the configuration table, or 0 */
    uint64_t encryption_mask;  /* the SEV C-bit as a page-table entry mask, 0 without SEV */
};
#endif
