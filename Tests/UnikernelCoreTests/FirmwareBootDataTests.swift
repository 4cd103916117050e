import Testing
@testable import UnikernelCore

/// Boot data of the firmware path built here byte by byte from the layouts in QEMU's
/// docs/specs/fw_cfg.rst and hw/i386/e820_memory_layout.h, and edk2's footer table.
enum FirmwareBytes {
    static func bigEndian32(_ value: UInt32) -> [UInt8] { [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)] }
    static func little32(_ value: UInt32) -> [UInt8] { [UInt8(value & 0xff), UInt8(value >> 8 & 0xff), UInt8(value >> 16 & 0xff), UInt8(value >> 24)] }
    static func little64(_ value: UInt64) -> [UInt8] { little32(UInt32(value & 0xffff_ffff)) + little32(UInt32(value >> 32)) }

    static func directory(_ files: [(String, UInt16, UInt32)]) -> [UInt8] {
        var bytes = bigEndian32(UInt32(files.count))
        for (name, selector, size) in files {
            bytes += bigEndian32(size) + [UInt8(selector >> 8), UInt8(selector & 0xff), 0, 0]
            bytes += Array(name.utf8) + [UInt8](repeating: 0, count: 56 - name.utf8.count)
        }
        return bytes
    }

    static func e820(_ entries: [(UInt64, UInt64, UInt32)]) -> [UInt8] {
        entries.flatMap { little64($0.0) + little64($0.1) + little32($0.2) }
    }

    /// GUID text to EFI byte order.
    static func guid(_ text: String) -> [UInt8] {
        let hex = text.replacingOccurrences(of: "-", with: "")
        var raw: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            raw.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return [raw[3], raw[2], raw[1], raw[0], raw[5], raw[4], raw[7], raw[6]] + raw[8...]
    }

    /// An image of `size` bytes whose footer table holds a reset block and SEV metadata.
    static func image(size: Int = 0x10000, resetEIP: UInt32 = 0xffff_f000,
                      sections: [(UInt32, UInt32, UInt32)] = [(0x10_0000, 0x8_0000, 1), (0x8_0000, 0x1000, 2), (0x8_1000, 0x1000, 3)]) -> [UInt8] {
        var image = [UInt8](repeating: 0, count: size)
        let metadataAt = size - 0x800
        var metadata = Array("ASEV".utf8) + little32(UInt32(16 + 12 * sections.count)) + little32(1) + little32(UInt32(sections.count))
        for (gpa, length, type) in sections { metadata += little32(gpa) + little32(length) + little32(type) }
        image.replaceSubrange(metadataAt..<metadataAt + metadata.count, with: metadata)
        let table = little32(UInt32(size - metadataAt)) + [22, 0] + guid("dc886566-984a-4798-a75e-5585a7bf67cc")
            + little32(resetEIP) + [22, 0] + guid("00f771de-1a7e-4fcb-890e-68c77e2fb44e")
            + [62, 0] + guid("96b582de-1fb2-45f7-baea-a366c55a082d")
        image.replaceSubrange(size - 32 - table.count..<size - 32, with: table)
        return image
    }
}

@Suite struct FwCfgTests {
    @Test func directoryFindsTheCommandLineAndTheMemoryMap() throws {
        let bytes = FirmwareBytes.directory([("bootorder", 0x20, 0), ("etc/e820", 0x21, 40), ("opt/org.cvmkit/cmdline", 0x2a, 8)])
        let directory = try parse(bytes) { (raw) throws(BootInfoError) in try FwCfgDirectory(bytes: raw) }
        #expect(try directory.file(.commandLine) == FwCfgFile(name: Array("opt/org.cvmkit/cmdline".utf8), selector: 0x2a, size: 8))
        #expect(try directory.file(.e820).selector == 0x21)
    }

    @Test func missingCommandLineIsItsOwnErrorWithTheFwCfgStatus() throws {
        let bytes = FirmwareBytes.directory([("etc/e820", 0x21, 40)])
        let directory = try parse(bytes) { (raw) throws(BootInfoError) in try FwCfgDirectory(bytes: raw) }
        #expect(throws: BootInfoError.missingFile(.commandLine)) { try directory.file(.commandLine) }
        #expect(BootInfoError.missingFile(.commandLine).exitStatus == .badFirmwareConfig)
        #expect(BootInfoError.missingFile(.commandLine).description == "fw_cfg has no file opt/org.cvmkit/cmdline")
    }

    @Test func overLongCommandLineIsRejectedBeforeItIsRead() throws {
        let bytes = FirmwareBytes.directory([("opt/org.cvmkit/cmdline", 0x2a, 4097)])
        let directory = try parse(bytes) { (raw) throws(BootInfoError) in try FwCfgDirectory(bytes: raw) }
        #expect(throws: BootInfoError.fileTooLarge(.commandLine, size: 4097, limit: 4096)) { try directory.file(.commandLine) }
        let fits = try parse(FirmwareBytes.directory([("opt/org.cvmkit/cmdline", 0x2a, 4096)])) { (raw) throws(BootInfoError) in try FwCfgDirectory(bytes: raw) }
        #expect(try fits.file(.commandLine).size == 4096)
    }

    @Test func truncatedOrHugeDirectoryIsRejected() {
        var bytes = FirmwareBytes.directory([("etc/e820", 0x21, 40)])
        bytes.removeLast()
        #expect(throws: BootInfoError.truncated(needed: 68, available: 67)) {
            try parse(bytes) { (raw) throws(BootInfoError) in try FwCfgDirectory(bytes: raw) }
        }
        #expect(throws: BootInfoError.tooManyEntries(0x0100_0000)) {
            try parse([1, 0, 0, 0]) { (raw) throws(BootInfoError) in try FwCfgDirectory(bytes: raw) }
        }
    }

    @Test func trailingNulAndNewlineAreNotPartOfTheCommandLine() {
        #expect(FirmwareCommandLine.text(Array("run=noop\n\0".utf8)) == Array("run=noop".utf8))
        #expect(FirmwareCommandLine.text(Array("run=noop".utf8)) == Array("run=noop".utf8))
    }
}

@Suite struct E820TableTests {
    @Test func q35MapWithRAMAbove4GiBParses() throws {
        let bytes = FirmwareBytes.e820([(0, 0x8000_0000, 1), (0x1_0000_0000, 0x1_4000_0000, 1), (0xfd_0000_0000, 0x3_0000_0000, 2)])
        let regions = try parse(bytes) { (raw) throws(BootInfoError) in try E820Table.parse(raw) }
        #expect(regions == [MemoryRegion(base: 0, length: 0x8000_0000, kind: .usable),
                            MemoryRegion(base: 0x1_0000_0000, length: 0x1_4000_0000, kind: .usable),
                            MemoryRegion(base: 0xfd_0000_0000, length: 0x3_0000_0000, kind: .reserved)])
    }

    @Test func zeroLengthEntryIsRejectedWithTheMemoryMapStatus() {
        let bytes = FirmwareBytes.e820([(0, 0x1000_0000, 1), (0x2000_0000, 0, 1)])
        #expect(throws: BootInfoError.zeroLengthRegion(index: 1)) {
            try parse(bytes) { (raw) throws(BootInfoError) in try E820Table.parse(raw) }
        }
        #expect(BootInfoError.zeroLengthRegion(index: 1).exitStatus == .badMemoryMap)
    }

    @Test func overlappingEntriesAreRejected() {
        let bytes = FirmwareBytes.e820([(0, 0x1000_0000, 1), (0x2000_0000, 0x1000, 2), (0x0fff_f000, 0x2000, 2)])
        #expect(throws: BootInfoError.overlappingRegions(0, 2)) {
            try parse(bytes) { (raw) throws(BootInfoError) in try E820Table.parse(raw) }
        }
    }

    @Test func touchingEntriesDoNotOverlap() throws {
        let bytes = FirmwareBytes.e820([(0, 0x1000_0000, 1), (0x1000_0000, 0x1000, 2)])
        #expect(try parse(bytes) { (raw) throws(BootInfoError) in try E820Table.parse(raw) }.count == 2)
    }

    @Test func partialEntryAndNoRAMAreRejected() {
        #expect(throws: BootInfoError.truncated(needed: 40, available: 30)) {
            try parse([UInt8](repeating: 1, count: 30)) { (raw) throws(BootInfoError) in try E820Table.parse(raw) }
        }
        #expect(throws: BootInfoError.noUsableMemory) {
            try parse(FirmwareBytes.e820([(0xfeff_c000, 0x4000, 2)])) { (raw) throws(BootInfoError) in try E820Table.parse(raw) }
        }
    }
}

@Suite struct FirmwareFooterTests {
    @Test func footerGivesResetBlockAndMetadataSections() throws {
        let footer = try parse(FirmwareBytes.image()) { (raw) throws(BootInfoError) in try FirmwareFooter(image: raw) }
        #expect(footer.resetEIP == 0xffff_f000)
        #expect(footer.sections == [.init(gpa: 0x10_0000, size: 0x8_0000, type: 1), .init(gpa: 0x8_0000, size: 0x1000, type: 2),
                                    .init(gpa: 0x8_1000, size: 0x1000, type: 3)])
        #expect(footer.address(of: FirmwareFooter.secrets) == 0x8_0000)
        #expect(footer.address(of: FirmwareFooter.cpuid) == 0x8_1000)
    }

    @Test func imageWithoutTheFooterGUIDIsRejectedWithTheFooterStatus() {
        var image = FirmwareBytes.image()
        image[image.count - 33] ^= 0xff
        #expect(throws: BootInfoError.badFooter(.noFooterGUID)) {
            try parse(image) { (raw) throws(BootInfoError) in try FirmwareFooter(image: raw) }
        }
        #expect(BootInfoError.badFooter(.noFooterGUID).exitStatus == .badFooter)
    }

    @Test func corruptSizesAndMetadataAreRejected() {
        var tooBig = FirmwareBytes.image(size: 0x1000)
        tooBig[0x1000 - 32 - 18] = 0xff
        tooBig[0x1000 - 32 - 17] = 0xff
        #expect(throws: BootInfoError.badFooter(.badTableSize(0xffff - 18))) {
            try parse(tooBig) { (raw) throws(BootInfoError) in try FirmwareFooter(image: raw) }
        }
        var badEntry = FirmwareBytes.image()
        badEntry[badEntry.count - 32 - 18 - 18] = 5   // reset block entry size 5 < 18
        #expect(throws: BootInfoError.badFooter(.badEntrySize(offset: badEntry.count - 32 - 36, size: 5))) {
            try parse(badEntry) { (raw) throws(BootInfoError) in try FirmwareFooter(image: raw) }
        }
        var badSignature = FirmwareBytes.image()
        badSignature[badSignature.count - 0x800] = 0x42
        #expect(throws: BootInfoError.badFooter(.badMetadataSignature)) {
            try parse(badSignature) { (raw) throws(BootInfoError) in try FirmwareFooter(image: raw) }
        }
        #expect(throws: BootInfoError.badFooter(.imageTooSmall)) {
            try parse([UInt8](repeating: 0, count: 40)) { (raw) throws(BootInfoError) in try FirmwareFooter(image: raw) }
        }
    }
}

@Suite struct SEVDetectionTests {
    /// CPUID as a table of (eax, ebx) per leaf; absent leaves read zero.
    static func cpuid(_ leaves: [UInt32: (UInt32, UInt32)]) -> (UInt32) -> (eax: UInt32, ebx: UInt32) {
        { leaf in leaves[leaf].map { (eax: $0.0, ebx: $0.1) } ?? (eax: 0, ebx: 0) }
    }

    @Test func withoutTheSEVLeafTheMSRIsNeverRead() {
        var reads = 0
        let detected = SEVDetection.detect(cpuid: Self.cpuid([0x8000_0000: (0x8000_000a, 0)]), readMSR: { _ in reads += 1; return 7 })
        #expect(detected == SEVDetection(mode: .none, encryptionBit: nil))
        #expect(reads == 0)
        let noSEVBit = SEVDetection.detect(cpuid: Self.cpuid([0x8000_0000: (0x8000_0020, 0), 0x8000_001f: (0x1, 51)]),
                                           readMSR: { _ in reads += 1; return 7 })
        #expect(noSEVBit.mode == .none && reads == 0, "SME alone (EAX bit 0) is not SEV")
    }

    @Test func statusBitsGiveTheModeAndCPUIDTheCBit() {
        let leaves = Self.cpuid([0x8000_0000: (0x8000_0020, 0), 0x8000_001f: (0x1b, 0x40 | 47)])
        #expect(SEVDetection.detect(cpuid: leaves, readMSR: { _ in 0 }).mode == .none)
        #expect(SEVDetection.detect(cpuid: leaves, readMSR: { _ in 1 }) == SEVDetection(mode: .sev, encryptionBit: 47))
        #expect(SEVDetection.detect(cpuid: leaves, readMSR: { _ in 3 }).mode == .sevES)
        #expect(SEVDetection.detect(cpuid: leaves, readMSR: { msr in msr == 0xc001_0131 ? 7 : 0 }).mode == .sevSNP)
    }
}

@Suite struct EncryptedPageTableTests {
    /// QEMU's q35 layout for -m 5G: RAM below 2 GiB and from 4 GiB, the 32-bit MMIO hole between.
    static let regions = [MemoryRegion(base: 0, length: 0x8000_0000, kind: .usable),
                          MemoryRegion(base: 0x1_0000_0000, length: 0xC000_0000, kind: .usable),
                          MemoryRegion(base: 0xb000_0000, length: 0x1000_0000, kind: .reserved)]
    static let rom = PhysicalRange(start: 0xfffe_0000, end: 0x1_0000_0000)
    static let top: UInt64 = 0x1_c000_0000

    @Test(arguments: [47, 51]) func everyTableAndPrivateLeafCarriesTheCBitAndSharedLeavesDoNot(bit: Int) throws {
        let format = try PageTableFormat(physicalAddressBits: bit + 1, encryptionBit: bit)
        var mapper = try IdentityMapper(format: format, memory: DictionaryTableMemory())
        let pieces = EncryptionPlan.pieces(regions: Self.regions, privateRanges: [Self.rom], start: 4096, top: Self.top)
        for piece in pieces { try mapper.identityMap(piece.range, flags: [.writable], encrypted: piece.encrypted) }
        let cBit: UInt64 = 1 << UInt64(bit)

        var tablesSeen = 0, privateLeaves = 0, sharedLeaves = 0
        func walk(_ table: UInt64, level: Int, base: UInt64) {
            tablesSeen += 1
            for index in 0..<512 {
                let entry = mapper.memory.load(table: table, index: index)
                guard entry & 1 != 0 else { continue }
                let address = base + UInt64(index) << UInt64(12 + 9 * (level - 1))
                let leaf = level == 1 || (level == 2 && entry & PageFlags.largePage.rawValue != 0)
                if leaf {
                    let shouldBePrivate = address < 0x8000_0000 || Self.rom.contains(address) || address >= 0x1_0000_0000
                    #expect((entry & cBit != 0) == shouldBePrivate, "leaf at \(String(address, radix: 16))")
                    if shouldBePrivate { privateLeaves += 1 } else { sharedLeaves += 1 }
                } else {
                    #expect(entry & cBit != 0, "table entry for \(String(address, radix: 16)) at level \(level)")
                    walk(format.address(of: entry), level: level - 1, base: address)
                }
            }
        }
        walk(mapper.root, level: 4, base: 0)
        #expect(tablesSeen >= 1 + 1 + 7 && privateLeaves > 0 && sharedLeaves > 0)
        #expect(mapper.translate(0xfee0_0000)?.encrypted == false, "the local APIC is MMIO: shared")
        #expect(mapper.translate(0xb000_0000)?.encrypted == false, "PCIe ECAM (reserved in E820) is shared")
        #expect(mapper.translate(0xffff_fff0)?.encrypted == true, "the ROM the CPU runs from is private")
        #expect(mapper.translate(0x1_8000_0000)?.encrypted == true)
        #expect(mapper.translate(0)?.physical == nil, "page 0 stays unmapped")
    }

    @Test func withoutSEVThePlanLeavesEntriesUnchanged() throws {
        var mapper = try IdentityMapper(format: try PageTableFormat(physicalAddressBits: 48), memory: DictionaryTableMemory())
        for piece in EncryptionPlan.pieces(regions: Self.regions, privateRanges: [Self.rom], start: 4096, top: Self.top) {
            try mapper.identityMap(piece.range, flags: [.writable], encrypted: piece.encrypted)
        }
        #expect(mapper.translate(0xfee0_0000)?.encrypted == false && mapper.translate(0x1000)?.encrypted == false)
    }

    @Test func planCoversTheRangeInOrderWithoutGaps() {
        let pieces = EncryptionPlan.pieces(regions: [MemoryRegion(base: 0, length: 0x9fc00, kind: .usable)],
                                           privateRanges: [], start: 4096, top: 0x20_0000)
        #expect(pieces == [.init(range: PhysicalRange(start: 4096, end: 0xa0000), encrypted: true),
                           .init(range: PhysicalRange(start: 0xa0000, end: 0x20_0000), encrypted: false)])
    }
}
