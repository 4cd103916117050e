/// `struct hvm_start_info` (Xen public/arch-x86/hvm/start_info.h), the block a PVH loader such as QEMU
/// passes in %ebx. Offsets: magic 0, version 4, flags 8, nr_modules 12, modlist_paddr 16,
/// cmdline_paddr 24, rsdp_paddr 32, memmap_paddr 40 and memmap_entries 48 (both version 1 and later).
public struct PVHStartInfo: Equatable, Sendable {
    public static let magic: UInt32 = 0x336e_c578
    public static let size = 56

    public var version: UInt32
    public var flags: UInt32
    public var moduleCount: UInt32
    public var commandLineAddress: UInt64
    public var rsdpAddress: UInt64
    /// Zero when the loader gave a version 0 block, which carries no memory map.
    public var memoryMapAddress: UInt64
    public var memoryMapEntries: UInt32

    public init(bytes: UnsafeRawBufferPointer) throws(BootInfoError) {
        let reader = LittleEndianBytes(bytes)
        let magic = try reader.u32(at: 0)
        guard magic == Self.magic else { throw .badMagic(found: UInt64(magic)) }
        version = try reader.u32(at: 4)
        flags = try reader.u32(at: 8)
        moduleCount = try reader.u32(at: 12)
        commandLineAddress = try reader.u64(at: 24)
        rsdpAddress = try reader.u64(at: 32)
        if version >= 1 {
            memoryMapAddress = try reader.u64(at: 40)
            memoryMapEntries = try reader.u32(at: 48)
        } else {
            memoryMapAddress = 0
            memoryMapEntries = 0
        }
        guard memoryMapEntries <= 4096 else { throw .tooManyEntries(Int(memoryMapEntries)) }
    }
}

/// `struct hvm_memmap_table_entry`: addr 0, size 8, type 16 (E820 numbering), reserved 20; 24 bytes.
public enum PVHMemoryMap {
    public static let entrySize = 24

    public static func parse(_ bytes: UnsafeRawBufferPointer, entries: Int) throws(BootInfoError) -> [MemoryRegion] {
        guard entries <= 4096 else { throw .tooManyEntries(entries) }
        let reader = LittleEndianBytes(bytes)
        var regions: [MemoryRegion] = []
        for index in 0..<entries {
            let offset = index * entrySize
            let base = try reader.u64(at: offset)
            let length = try reader.u64(at: offset + 8)
            let type = try reader.u32(at: offset + 16)
            regions.append(MemoryRegion(base: base, length: length, kind: kind(e820Type: type)))
        }
        return regions
    }

    /// E820 types (ACPI specification, "Address Range Types"): 1 memory, 2 reserved, 3 ACPI reclaim,
    /// 4 ACPI NVS, 5 unusable; anything else is treated as reserved.
    public static func kind(e820Type: UInt32) -> MemoryRegion.Kind {
        switch e820Type {
        case 1: .usable
        case 3: .acpiReclaimable
        case 4: .acpiNVS
        case 5: .unusable
        default: .reserved
        }
    }
}
