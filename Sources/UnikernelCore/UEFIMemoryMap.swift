/// EFI_MEMORY_DESCRIPTOR (UEFI specification, GetMemoryMap()): Type u32 at 0, PhysicalStart u64 at 8,
/// VirtualStart u64 at 16, NumberOfPages u64 at 24, Attribute u64 at 32. The firmware's DescriptorSize
/// may exceed these 40 bytes, so entries are walked by that stride.
public enum UEFIMemoryMap {
    public static let minimumDescriptorSize = 40
    public static let pageSize: UInt64 = 4096

    public static func parse(_ bytes: UnsafeRawBufferPointer, descriptorSize: Int) throws(BootInfoError) -> [MemoryRegion] {
        guard descriptorSize >= minimumDescriptorSize else { throw .descriptorTooSmall(descriptorSize) }
        let count = bytes.count / descriptorSize
        guard count <= 4096 else { throw .tooManyEntries(count) }
        let reader = LittleEndianBytes(bytes)
        var regions: [MemoryRegion] = []
        for index in 0..<count {
            let offset = index * descriptorSize
            let type = try reader.u32(at: offset)
            let start = try reader.u64(at: offset + 8)
            let pages = try reader.u64(at: offset + 24)
            let (length, overflow) = pages.multipliedReportingOverflow(by: pageSize)
            regions.append(MemoryRegion(base: start, length: overflow ? UInt64.max - start : length, kind: kind(uefiType: type)))
        }
        return regions
    }

    /// After ExitBootServices boot-services code and data are free RAM (UEFI specification,
    /// "Memory Type Usage after ExitBootServices()"); loader code and data hold this kernel.
    public static func kind(uefiType: UInt32) -> MemoryRegion.Kind {
        switch uefiType {
        case 3, 4, 7: .usable               // EfiBootServicesCode, EfiBootServicesData, EfiConventionalMemory
        case 1, 2: .loader                  // EfiLoaderCode, EfiLoaderData
        case 8: .unusable                   // EfiUnusableMemory
        case 9: .acpiReclaimable            // EfiACPIReclaimMemory
        case 10: .acpiNVS                   // EfiACPIMemoryNVS
        default: .reserved                  // runtime services, MMIO, PAL code, persistent, unknown
        }
    }
}
