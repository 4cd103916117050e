/* Shared between the boot assembly and the EFI stub. */
#define UK_LOAD_ADDRESS   0x100000
#define UK_HEADER_MAGIC   0x3436454c4e524b55   /* "UKRNLE64" little-endian */
#define UK_BOOT_PVH       1
#define UK_BOOT_EFI       2
#define UK_BOOT_FIRMWARE  3
#define UK_GDT_CODE       0x08
#define UK_GDT_DATA       0x10
#define UK_GDT_TSS        0x18
/* Firmware boot: the SNP secrets and CPUID pages the SEV metadata names, in the low MiB the kernel
 * never allocates (Boot/reset.S). */
#define UK_SNP_SECRETS_PAGE 0x80000
#define UK_SNP_CPUID_PAGE   0x81000
