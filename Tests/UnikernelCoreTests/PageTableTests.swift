import Testing
@testable import UnikernelCore

/// Paging structures in a dictionary: table address -> 512 entries.
struct DictionaryTableMemory: PageTableMemory {
    var tables: [UInt64: [UInt64]] = [:]
    var next: UInt64 = 0x10_0000

    mutating func allocateTable() -> UInt64? {
        let address = next
        next += 4096
        tables[address] = [UInt64](repeating: 0, count: 512)
        return address
    }

    func load(table: UInt64, index: Int) -> UInt64 { tables[table]?[index] ?? 0 }

    mutating func store(table: UInt64, index: Int, value: UInt64) { tables[table]?[index] = value }
}

@Suite struct PageTableTests {
    @Test func encryptionBitIsSetInEntriesAndLeftOutOfTheAddress() throws {
        let format = try PageTableFormat(physicalAddressBits: 52, encryptionBit: 51)
        let entry = try format.entry(address: 0x20_0000, flags: [.present, .writable], encrypted: true)
        #expect(entry == 0x20_0000 | 0b11 | 1 << 51)
        #expect(format.address(of: entry) == 0x20_0000)
        #expect(format.isEncrypted(entry))
        #expect(format.addressMask() & (1 << 51) == 0)
        let shared = try format.entry(address: 0x20_0000, flags: [.present], encrypted: false)
        #expect(!format.isEncrypted(shared))
    }

    @Test func encryptionBit47WithA48BitWidthIsAllowedAndNarrowsTheAddress() throws {
        let format = try PageTableFormat(physicalAddressBits: 48, encryptionBit: 47)
        #expect(format.addressMask() == 0x0000_7fff_ffff_f000)
        #expect(throws: PageTableError.addressTooWide(1 << 47)) {
            try format.entry(address: 1 << 47, flags: [.present], encrypted: false)
        }
    }

    @Test(arguments: [11, 31, 52, 60])
    func encryptionBitOutsideTheAddressFieldIsRejected(bit: Int) {
        #expect(throws: PageTableError.badEncryptionBit(bit)) { try PageTableFormat(physicalAddressBits: 52, encryptionBit: bit) }
    }

    @Test func encryptionBitAboveTheAddressWidthIsRejected() {
        #expect(throws: PageTableError.badEncryptionBit(47)) { try PageTableFormat(physicalAddressBits: 46, encryptionBit: 47) }
    }

    @Test func identityMapLeavesPageZeroUnmappedAndUsesLargePagesWhereAligned() throws {
        var mapper = try IdentityMapper(format: PageTableFormat(), memory: DictionaryTableMemory())
        try mapper.identityMap(PhysicalRange(start: 4096, end: 2 << 20), flags: [.writable], encrypted: false)
        try mapper.identityMap(PhysicalRange(start: 2 << 20, end: 8 << 30), flags: [.writable], encrypted: false)
        #expect(mapper.translate(0) == nil)
        #expect(mapper.translate(8) == nil)
        let small = try #require(mapper.translate(0x1234))
        #expect(small.physical == 0x1234 && small.pageSize == 4096)
        #expect(small.flags.contains([.present, .writable]))
        let large = try #require(mapper.translate(0x1_2345_6789))
        #expect(large.physical == 0x1_2345_6789 && large.pageSize == 2 << 20)
        #expect(large.flags.contains(.largePage))
        #expect(mapper.translate(8 << 30) == nil)
        // 1 PML4 + 1 PDPT + 8 page directories + 1 page table for the first 2 MiB.
        #expect(mapper.memory.tables.count == 11)
    }

    @Test func encryptedMappingMarksLeavesAndTablesPrivate() throws {
        let format = try PageTableFormat(physicalAddressBits: 52, encryptionBit: 51)
        var mapper = try IdentityMapper(format: format, memory: DictionaryTableMemory())
        try mapper.identityMap(PhysicalRange(start: 0x1000, end: 0x40_0000), flags: [.writable], encrypted: true)
        let translation = try #require(mapper.translate(0x30_0010))
        #expect(translation.encrypted)
        #expect(translation.physical == 0x30_0010)
        for (_, entries) in mapper.memory.tables {
            for entry in entries where entry & 1 != 0 { #expect(entry & (1 << 51) != 0) }
        }
    }

    @Test func misalignedRangesAreRejected() throws {
        var mapper = try IdentityMapper(format: PageTableFormat(), memory: DictionaryTableMemory())
        #expect(throws: PageTableError.misaligned(0x1001)) {
            try mapper.identityMap(PhysicalRange(start: 0x1001, end: 0x3000), flags: [], encrypted: false)
        }
    }

    @Test func tableIndicesFollowTheFourLevelSplit() {
        let address: UInt64 = 0x0000_7f12_3456_7000
        #expect(IdentityMapper<DictionaryTableMemory>.index(address, level: 4) == Int((address >> 39) & 511))
        #expect(IdentityMapper<DictionaryTableMemory>.index(address, level: 1) == 0x167)
    }
}
