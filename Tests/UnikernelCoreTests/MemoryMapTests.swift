import Testing
@testable import UnikernelCore

/// Little-endian bytes laid out as the spec tables say, built independently of the parsers.
struct Bytes {
    var data: [UInt8] = []
    mutating func u32(_ value: UInt32) { for shift in stride(from: 0, to: 32, by: 8) { data.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) } }
    mutating func u64(_ value: UInt64) { for shift in stride(from: 0, to: 64, by: 8) { data.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) } }
}

@Suite struct MemoryMapTests {
    /// hvm_start_info, version 1: magic, version, flags, nr_modules, modlist, cmdline, rsdp, memmap, entries, reserved.
    static func startInfo(magic: UInt32 = 0x336e_c578, version: UInt32 = 1, entries: UInt32 = 3) -> [UInt8] {
        var bytes = Bytes()
        bytes.u32(magic); bytes.u32(version); bytes.u32(0); bytes.u32(0)
        bytes.u64(0); bytes.u64(0x7000); bytes.u64(0xf_0000); bytes.u64(0x8000)
        bytes.u32(entries); bytes.u32(0)
        return bytes.data
    }

    @Test func pvhStartInfoVersion1CarriesTheMemoryMap() throws {
        let info = try Self.startInfo().withUnsafeBytes { try PVHStartInfo(bytes: $0) }
        #expect(info.version == 1)
        #expect(info.commandLineAddress == 0x7000)
        #expect(info.rsdpAddress == 0xf_0000)
        #expect(info.memoryMapAddress == 0x8000)
        #expect(info.memoryMapEntries == 3)
    }

    @Test func pvhStartInfoVersion0HasNoMemoryMap() throws {
        let info = try Self.startInfo(version: 0).withUnsafeBytes { try PVHStartInfo(bytes: $0) }
        #expect(info.memoryMapAddress == 0 && info.memoryMapEntries == 0)
    }

    @Test func pvhStartInfoWithWrongMagicIsRejected() {
        #expect(throws: BootInfoError.badMagic(found: 0x1234)) {
            try Self.startInfo(magic: 0x1234).withUnsafeBytes { try PVHStartInfo(bytes: $0) }
        }
    }

    @Test func truncatedPVHStartInfoIsRejected() {
        let bytes = Array(Self.startInfo().prefix(40))
        #expect(throws: BootInfoError.truncated(needed: 48, available: 40)) {
            try bytes.withUnsafeBytes { try PVHStartInfo(bytes: $0) }
        }
    }

    @Test func pvhStartInfoClaimingTooManyEntriesIsRejected() {
        #expect(throws: BootInfoError.tooManyEntries(100_000)) {
            try Self.startInfo(entries: 100_000).withUnsafeBytes { try PVHStartInfo(bytes: $0) }
        }
    }

    @Test func e820EntriesMapToKinds() throws {
        var bytes = Bytes()
        for (base, length, type) in [(UInt64(0), UInt64(0x9fc00), UInt32(1)), (0xf0000, 0x10000, 2), (0x10_0000, 0x7ee_0000, 1),
                                     (0x7fe_0000, 0x2_0000, 3), (0xfeff_c000, 0x4000, 4), (0x1_0000_0000, 0x1000, 5), (0x2_0000_0000, 0x1000, 99)] {
            bytes.u64(base); bytes.u64(length); bytes.u32(type); bytes.u32(0)
        }
        let regions = try bytes.data.withUnsafeBytes { try PVHMemoryMap.parse($0, entries: 7) }
        #expect(regions.map(\.kind) == [.usable, .reserved, .usable, .acpiReclaimable, .acpiNVS, .unusable, .reserved])
        #expect(regions[2] == MemoryRegion(base: 0x10_0000, length: 0x7ee_0000, kind: .usable))
    }

    @Test func e820MapShorterThanItsEntryCountIsRejected() {
        let bytes = [UInt8](repeating: 0, count: 30)
        #expect(throws: BootInfoError.truncated(needed: 32, available: 30)) {
            try bytes.withUnsafeBytes { try PVHMemoryMap.parse($0, entries: 2) }
        }
    }

    /// EFI_MEMORY_DESCRIPTOR at the 48-byte stride OVMF uses: type, pad, physical, virtual, pages, attribute, 8 spare.
    static func uefiMap(_ entries: [(UInt32, UInt64, UInt64)], stride: Int = 48) -> [UInt8] {
        var bytes = Bytes()
        for (type, start, pages) in entries {
            bytes.u32(type); bytes.u32(0); bytes.u64(start); bytes.u64(0); bytes.u64(pages); bytes.u64(0xf)
            bytes.data.append(contentsOf: [UInt8](repeating: 0, count: stride - 40))
        }
        return bytes.data
    }

    @Test func uefiMapFoldsBootServicesIntoUsableAndKeepsTheLoaderOut() throws {
        let map = Self.uefiMap([(7, 0x0, 0xa0), (2, 0x10_0000, 0x80), (4, 0x18_0000, 0x10), (3, 0x19_0000, 4),
                                (9, 0x7f0_0000, 0x10), (10, 0x7f1_0000, 4), (11, 0xffc0_0000, 0x400), (6, 0x7f8_0000, 8)])
        let regions = try map.withUnsafeBytes { try UEFIMemoryMap.parse($0, descriptorSize: 48) }
        #expect(regions.map(\.kind) == [.usable, .loader, .usable, .usable, .acpiReclaimable, .acpiNVS, .reserved, .reserved])
        #expect(regions[1] == MemoryRegion(base: 0x10_0000, length: 0x80 * 4096, kind: .loader))
    }

    @Test func uefiDescriptorSmallerThanTheSpecLayoutIsRejected() {
        #expect(throws: BootInfoError.descriptorTooSmall(32)) {
            try [UInt8](repeating: 0, count: 64).withUnsafeBytes { try UEFIMemoryMap.parse($0, descriptorSize: 32) }
        }
    }

    @Test func efiHandoffIsParsedAndChecked() throws {
        var bytes = Bytes()
        bytes.data.append(contentsOf: Array("CVMUKEFI".utf8))
        bytes.u64(0x7e00_0000); bytes.u64(48 * 30); bytes.u64(48); bytes.u64(0x7e01_0000); bytes.u64(8); bytes.u64(0x7d00_0000); bytes.u64(0x2_0000)
        bytes.u64(0x7f5e_0000); bytes.u64(1 << 19)
        let handoff = try bytes.data.withUnsafeBytes { try EFIHandoff(bytes: $0) }
        #expect(handoff.memoryMapSize == 1440 && handoff.descriptorSize == 48 && handoff.commandLineLength == 8)
        #expect(handoff.ccBlobAddress == 0x7f5e_0000 && handoff.encryptionMask == 1 << 19)
        #expect(throws: BootInfoError.self) { try bytes.data.prefix(72).withUnsafeBytes { try EFIHandoff(bytes: $0) } }
        var wrong = bytes.data
        wrong[0] = 0x41
        #expect(throws: BootInfoError.self) { try wrong.withUnsafeBytes { try EFIHandoff(bytes: $0) } }
    }

    @Test func usableRangesAreAlignedAndExcludeReservedAndOverlaps() {
        let regions = [
            MemoryRegion(base: 0, length: 0x9fc00, kind: .usable),
            MemoryRegion(base: 0x10_0000, length: 0x100_0000, kind: .usable),
            MemoryRegion(base: 0x80_0000, length: 0x1800, kind: .reserved),       // firmware overlap: reserved wins
            MemoryRegion(base: 0x110_0000, length: 0x10_0800, kind: .usable),     // touches the previous range
        ]
        let kernel = PhysicalRange(start: 0x10_0000, end: 0x13_0000)
        let ranges = UsableMemory.ranges(from: regions, excluding: [PhysicalRange(start: 0, end: 0x1000), kernel])
        #expect(ranges == [
            PhysicalRange(start: 0x1000, end: 0x9f000),
            PhysicalRange(start: 0x13_0000, end: 0x80_0000),
            PhysicalRange(start: 0x80_2000, end: 0x120_0000),
        ])
    }
}
