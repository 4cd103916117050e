/* Shared between the boot assembly and the EFI stub. */
#define UK_LOAD_ADDRESS   0x100000
#define UK_HEADER_MAGIC   0x3436454c4e524b55   /* "UKRNLE64" little-endian */
#define UK_BOOT_PVH       1
#define UK_BOOT_EFI       2
#define UK_GDT_CODE       0x08
#define UK_GDT_DATA       0x10
#define UK_GDT_TSS        0x18
