/// QEMU's fw_cfg `etc/e820`: packed `struct e820_entry { u64 address; u64 length; u32 type; }`,
/// little-endian, 20 bytes each (hw/i386/e820_memory_layout.h). Unlike the PVH map it is the raw
/// table QEMU builds, so it is checked strictly: a zero-length or overlapping entry means the table
/// cannot be trusted to keep the kernel off MMIO and reserved memory.
public enum E820Table {
    public static let entrySize = 20

    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(BootInfoError) -> [MemoryRegion] {
        guard bytes.count % entrySize == 0 else {
            throw .truncated(needed: (bytes.count / entrySize + 1) * entrySize, available: bytes.count)
        }
        let count = bytes.count / entrySize
        guard count <= 4096 else { throw .tooManyEntries(count) }
        let reader = LittleEndianBytes(bytes)
        var regions: [MemoryRegion] = []
        for index in 0..<count {
            let offset = index * entrySize
            let region = MemoryRegion(base: try reader.u64(at: offset), length: try reader.u64(at: offset + 8),
                                      kind: PVHMemoryMap.kind(e820Type: try reader.u32(at: offset + 16)))
            guard region.length > 0 else { throw .zeroLengthRegion(index: index) }
            for (earlier, other) in regions.enumerated() where other.range.overlaps(region.range) {
                throw .overlappingRegions(earlier, index)
            }
            regions.append(region)
        }
        guard regions.contains(where: { $0.kind == .usable }) else { throw .noUsableMemory }
        return regions
    }
}
