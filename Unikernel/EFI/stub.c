/*
 * EFI application that carries the kernel: OVMF starts it from `-kernel` (LoadImage/StartImage, the
 * path OvmfPkg/AmdSev's measured boot takes). It reserves the kernel's physical home at 1 MiB with
 * AllocatePages(AllocateAddress), copies the flat kernel image there, turns LoadOptions (UCS-2) into
 * an ASCII command line, fetches the memory map, leaves boot services and jumps to the kernel's
 * 64-bit entry with the handoff block. Types and table offsets follow the UEFI specification 2.10.
 */
#include <stdint.h>
#include "../Boot/layout.h"
#include "handoff.h"

typedef uint64_t UINTN;
typedef uint64_t EFI_STATUS;
typedef void *EFI_HANDLE;
typedef uint16_t CHAR16;
typedef struct { uint32_t a; uint16_t b, c; uint8_t d[8]; } EFI_GUID;

typedef struct {
    uint64_t Signature;
    uint32_t Revision, HeaderSize, CRC32, Reserved;
} EFI_TABLE_HEADER;

typedef struct EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL {
    void *Reset;
    EFI_STATUS (*OutputString)(struct EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *, CHAR16 *);
} EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL;

typedef struct {
    EFI_TABLE_HEADER Hdr;
    void *RaiseTPL, *RestoreTPL;
    EFI_STATUS (*AllocatePages)(UINTN type, UINTN memoryType, UINTN pages, uint64_t *address);
    void *FreePages;
    EFI_STATUS (*GetMemoryMap)(UINTN *size, void *map, UINTN *key, UINTN *descriptorSize, uint32_t *version);
    void *AllocatePool, *FreePool;
    void *CreateEvent, *SetTimer, *WaitForEvent, *SignalEvent, *CloseEvent, *CheckEvent;
    void *InstallProtocolInterface, *ReinstallProtocolInterface, *UninstallProtocolInterface;
    EFI_STATUS (*HandleProtocol)(EFI_HANDLE, EFI_GUID *, void **);
    void *Reserved, *RegisterProtocolNotify, *LocateHandle, *LocateDevicePath, *InstallConfigurationTable;
    void *LoadImage, *StartImage, *Exit, *UnloadImage;
    EFI_STATUS (*ExitBootServices)(EFI_HANDLE, UINTN key);
} EFI_BOOT_SERVICES;

typedef struct {
    EFI_TABLE_HEADER Hdr;
    CHAR16 *FirmwareVendor;
    uint32_t FirmwareRevision;
    EFI_HANDLE ConsoleInHandle;
    void *ConIn;
    EFI_HANDLE ConsoleOutHandle;
    EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *ConOut;
    EFI_HANDLE StandardErrorHandle;
    void *StdErr;
    void *RuntimeServices;
    EFI_BOOT_SERVICES *BootServices;
    UINTN NumberOfTableEntries;
    struct { EFI_GUID VendorGuid; void *VendorTable; } *ConfigurationTable;
} EFI_SYSTEM_TABLE;

typedef struct {
    uint32_t Revision;
    EFI_HANDLE ParentHandle;
    EFI_SYSTEM_TABLE *SystemTable;
    EFI_HANDLE DeviceHandle;
    void *FilePath;
    void *Reserved;
    uint32_t LoadOptionsSize;
    void *LoadOptions;
    void *ImageBase;
    uint64_t ImageSize;
} EFI_LOADED_IMAGE_PROTOCOL;

#define EFI_SUCCESS 0
#define EFI_BUFFER_TOO_SMALL (0x8000000000000000ull | 5)
#define ALLOCATE_ADDRESS 2
#define EFI_LOADER_DATA 2

typedef void (__attribute__((sysv_abi)) *uk_kernel_entry)(struct uk_efi_handoff *, uint64_t);

extern const uint8_t uk_kernel_blob[], uk_kernel_blob_end[];

static uint8_t memory_map[64 * 1024] __attribute__((aligned(16)));
static char command_line[4096];
static struct uk_efi_handoff handoff;

/* The compiler may emit calls to these for struct copies and loops. */
void *memset(void *d, int c, UINTN n) { volatile uint8_t *p = d; while (n--) *p++ = (uint8_t)c; return d; }
void *memcpy(void *d, const void *s, UINTN n) { volatile uint8_t *p = d; const uint8_t *q = s; while (n--) *p++ = *q++; return d; }

static inline uint64_t rdtsc(void) {
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static inline void cpuid(uint32_t leaf, uint32_t *eax, uint32_t *ebx) {
    uint32_t ecx = 0, edx;
    __asm__ volatile("cpuid" : "=a"(*eax), "=b"(*ebx), "+c"(ecx), "=d"(edx) : "a"(leaf));
}

/* The SEV C-bit as a mask on a page-table entry (AMD APM vol. 2, 15.34: CPUID Fn8000_001F EAX bit 1,
 * EBX[5:0]; SEV_STATUS bit 0), read here because under SEV-ES the firmware's #VC handler still serves
 * CPUID; the kernel's own early handler does not exist yet when it builds its page tables. */
static uint64_t encryption_mask(void) {
    uint32_t eax, ebx;
    cpuid(0x80000000, &eax, &ebx);
    if (eax < 0x8000001f) return 0;
    cpuid(0x8000001f, &eax, &ebx);
    if (!(eax & 2)) return 0;
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(0xc0010131));
    return (lo & 1) ? (uint64_t)1 << (ebx & 0x3f) : 0;
}

/* The SNP confidential-computing blob OVMF installs (GUID 067b1f5f-cf26-44c5-8554-93d777912d42). */
static uint64_t cc_blob(EFI_SYSTEM_TABLE *st) {
    static const uint8_t guid[16] = { 0x5f, 0x1f, 0x7b, 0x06, 0x26, 0xcf, 0xc5, 0x44,
                                      0x85, 0x54, 0x93, 0xd7, 0x77, 0x91, 0x2d, 0x42 };
    for (UINTN i = 0; i < st->NumberOfTableEntries; i++) {
        const uint8_t *entry = (const uint8_t *)&st->ConfigurationTable[i].VendorGuid;
        int same = 1;
        for (int b = 0; b < 16; b++) same &= entry[b] == guid[b];
        if (same) return (uint64_t)st->ConfigurationTable[i].VendorTable;
    }
    return 0;
}

static void say(EFI_SYSTEM_TABLE *st, CHAR16 *text) {
    if (st->ConOut) st->ConOut->OutputString(st->ConOut, text);
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *st) {
    uint64_t entry_tsc = rdtsc();
    EFI_BOOT_SERVICES *bs = st->BootServices;
    const uint64_t *header = (const uint64_t *)uk_kernel_blob;
    if (header[0] != UK_HEADER_MAGIC || header[3] <= UK_LOAD_ADDRESS) {
        say(st, (CHAR16 *)u"cvmuk: embedded kernel image is damaged\r\n");
        return 1;
    }

    EFI_GUID loaded_image_guid = { 0x5b1b31a1, 0x9562, 0x11d2, { 0x8e, 0x3f, 0x00, 0xa0, 0xc9, 0x69, 0x72, 0x3b } };
    EFI_LOADED_IMAGE_PROTOCOL *loaded = 0;
    UINTN length = 0;
    if (bs->HandleProtocol(image, &loaded_image_guid, (void **)&loaded) == EFI_SUCCESS && loaded) {
        const CHAR16 *options = loaded->LoadOptions;
        UINTN count = options ? loaded->LoadOptionsSize / 2 : 0;
        for (UINTN i = 0; i < count && length < sizeof command_line - 1 && options[i]; i++)
            command_line[length++] = options[i] < 0x80 ? (char)options[i] : '?';
        handoff.stub_base = (uint64_t)loaded->ImageBase;
        handoff.stub_size = loaded->ImageSize;
    }
    command_line[length] = 0;
    handoff.encryption_mask = encryption_mask();
    handoff.cc_blob = cc_blob(st);

    uint64_t home = UK_LOAD_ADDRESS;
    UINTN pages = (header[3] - UK_LOAD_ADDRESS + 4095) / 4096;
    if (bs->AllocatePages(ALLOCATE_ADDRESS, EFI_LOADER_DATA, pages, &home) != EFI_SUCCESS) {
        say(st, (CHAR16 *)u"cvmuk: physical memory at 1 MiB is not free\r\n");
        return 1;
    }
    UINTN image_bytes = (UINTN)(uk_kernel_blob_end - uk_kernel_blob);
    memcpy((void *)home, uk_kernel_blob, image_bytes);
    memset((void *)(home + image_bytes), 0, pages * 4096 - image_bytes);

    UINTN map_size, key, descriptor_size;
    uint32_t version;
    for (int attempt = 0; attempt < 4; attempt++) {
        map_size = sizeof memory_map;
        if (bs->GetMemoryMap(&map_size, memory_map, &key, &descriptor_size, &version) != EFI_SUCCESS) continue;
        if (bs->ExitBootServices(image, key) == EFI_SUCCESS) {
            handoff.magic = UK_EFI_HANDOFF_MAGIC;
            handoff.memory_map = (uint64_t)memory_map;
            handoff.memory_map_size = map_size;
            handoff.descriptor_size = descriptor_size;
            handoff.command_line = (uint64_t)command_line;
            handoff.command_line_length = length;
            ((uk_kernel_entry)header[1])(&handoff, entry_tsc);
            for (;;) __asm__ volatile("cli; hlt");
        }
    }
    say(st, (CHAR16 *)u"cvmuk: ExitBootServices failed\r\n");
    return 1;
}
