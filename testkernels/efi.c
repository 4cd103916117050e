/* EFI application test kernel: OVMF's -kernel loader starts efi_main; it prints MESSAGE on COM1 and
 * leaves QEMU through isa-debug-exit with EXIT_CODE. */
#ifndef EXIT_CODE
#define EXIT_CODE 5
#endif
#ifndef MESSAGE
#define MESSAGE "cvm test kernel"
#endif

static void outb(unsigned short port, unsigned char value) {
    __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port));
}

/* QEMU's -kernel reads a setup size from offset 0x1F1 of any file it is given, (n + 1) * 512 bytes
 * with n = 0 read as 4: a file shorter than 2560 bytes is "invalid kernel header". */
__attribute__((used)) static const unsigned char padding[4096] = {1};

unsigned long long efi_main(void *image, void *system_table) {
    (void)image;
    (void)system_table;
    static const char message[] = MESSAGE "\n";
    for (const char *p = message; *p; p++) outb(0x3f8, (unsigned char)*p);
    outb(0xf4, EXIT_CODE);
    for (;;) __asm__ volatile("hlt");
}
