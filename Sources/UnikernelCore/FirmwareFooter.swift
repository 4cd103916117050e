/// Why the footer table at the end of a firmware image did not parse.
public enum FooterProblem: Equatable, Sendable {
    case imageTooSmall
    case noFooterGUID
    case badTableSize(Int)
    case badEntrySize(offset: Int, size: Int)
    case missingResetBlock
    case missingMetadata
    case badMetadataOffset(UInt32)
    case badMetadataSignature
    case badMetadataVersion(UInt32)
    case badSectionCount(Int)

    public var text: StaticString {
        switch self {
        case .imageTooSmall: "image smaller than the footer"
        case .noFooterGUID: "no footer GUID 32 bytes before the end"
        case .badTableSize: "table size does not fit the image"
        case .badEntrySize: "an entry size does not fit the table"
        case .missingResetBlock: "no SEV-ES reset block entry"
        case .missingMetadata: "no SEV metadata entry"
        case .badMetadataOffset: "SEV metadata offset outside the image"
        case .badMetadataSignature: "SEV metadata signature is not ASEV"
        case .badMetadataVersion: "SEV metadata version is not 1"
        case .badSectionCount: "SEV metadata sections do not fit its size"
        }
    }
}

/// The OVMF-style GUIDed table at the end of a firmware image, as the firmware-booted kernel reads its
/// own: the table ends 32 bytes before the end of the image with a footer entry {u16 total size, GUID
/// 96b582de-1fb2-45f7-baea-a366c55a082d}; the entries before it are read backwards, each laid out as
/// data, u16 size (data + 18), GUID (edk2 OvmfPkg/ResetVector). The SEV metadata entry gives the offset
/// from the image's end of the "ASEV" header {"ASEV", u32 size, u32 version 1, u32 count} and its
/// 12-byte sections {u32 GPA, u32 size, u32 type}.
public struct FirmwareFooter: Equatable, Sendable {
    /// GUIDs in the on-disk (EFI, mixed-endian) byte order.
    public static let footerGUID: [UInt8] = efiBytes(0x96b5_82de, 0x1fb2, 0x45f7, [0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d])
    public static let sevMetadataGUID: [UInt8] = efiBytes(0xdc88_6566, 0x984a, 0x4798, [0xa7, 0x5e, 0x55, 0x85, 0xa7, 0xbf, 0x67, 0xcc])
    public static let sevESResetBlockGUID: [UInt8] = efiBytes(0x00f7_71de, 0x1a7e, 0x4fcb, [0x89, 0x0e, 0x68, 0xc7, 0x7e, 0x2f, 0xb4, 0x4e])

    public static let entryHeaderSize = 18
    public static let trailerSize = 32

    public struct Section: Equatable, Sendable {
        public var gpa: UInt32
        public var size: UInt32
        public var type: UInt32
    }

    /// ASEV section types (OvmfPkg/ResetVector/X64/OvmfSevMetadata.asm).
    public static let secMem: UInt32 = 1
    public static let secrets: UInt32 = 2
    public static let cpuid: UInt32 = 3

    /// EIP at which SEV-ES and SNP application processors start.
    public var resetEIP: UInt32
    public var sections: [Section]

    public init(image bytes: UnsafeRawBufferPointer) throws(BootInfoError) {
        let reader = LittleEndianBytes(bytes)
        let footerStart = bytes.count - Self.trailerSize - Self.entryHeaderSize
        guard footerStart >= 0 else { throw .badFooter(.imageTooSmall) }
        guard Self.matches(bytes, at: footerStart + 2, Self.footerGUID) else { throw .badFooter(.noFooterGUID) }
        let tableSize = Int(try reader.u16(at: footerStart)) - Self.entryHeaderSize
        guard tableSize >= 0, tableSize <= footerStart else { throw .badFooter(.badTableSize(tableSize)) }
        var metadataOffset: UInt32?
        var resetEIP: UInt32?
        var end = footerStart
        let start = footerStart - tableSize
        while end - start >= Self.entryHeaderSize {
            let header = end - Self.entryHeaderSize
            let size = Int(try reader.u16(at: header))
            guard size >= Self.entryHeaderSize + 4, size <= end - start else {
                throw .badFooter(.badEntrySize(offset: header, size: size))
            }
            let data = end - size
            if Self.matches(bytes, at: header + 2, Self.sevMetadataGUID) { metadataOffset = try reader.u32(at: data) }
            if Self.matches(bytes, at: header + 2, Self.sevESResetBlockGUID) { resetEIP = try reader.u32(at: data) }
            end -= size
        }
        guard let resetEIP else { throw .badFooter(.missingResetBlock) }
        guard let metadataOffset else { throw .badFooter(.missingMetadata) }
        self.resetEIP = resetEIP
        sections = try Self.metadata(bytes, offsetFromEnd: metadataOffset)
    }

    /// GPA of the first section of `type`, if the metadata names one.
    public func address(of type: UInt32) -> UInt32? {
        for section in sections where section.type == type { return section.gpa }
        return nil
    }

    static func metadata(_ bytes: UnsafeRawBufferPointer, offsetFromEnd: UInt32) throws(BootInfoError) -> [Section] {
        guard offsetFromEnd >= 16, Int(offsetFromEnd) <= bytes.count else { throw .badFooter(.badMetadataOffset(offsetFromEnd)) }
        let start = bytes.count - Int(offsetFromEnd)
        let reader = LittleEndianBytes(bytes)
        guard Self.matches(bytes, at: start, [0x41, 0x53, 0x45, 0x56]) else { throw .badFooter(.badMetadataSignature) }
        let size = Int(try reader.u32(at: start + 4))
        let version = try reader.u32(at: start + 8)
        guard version == 1 else { throw .badFooter(.badMetadataVersion(version)) }
        let count = Int(try reader.u32(at: start + 12))
        guard size >= 16, size <= Int(offsetFromEnd), count <= (size - 16) / 12 else { throw .badFooter(.badSectionCount(count)) }
        var sections: [Section] = []
        for index in 0..<count {
            let offset = start + 16 + 12 * index
            sections.append(Section(gpa: try reader.u32(at: offset), size: try reader.u32(at: offset + 4),
                                    type: try reader.u32(at: offset + 8)))
        }
        return sections
    }

    static func matches(_ bytes: UnsafeRawBufferPointer, at offset: Int, _ expected: [UInt8]) -> Bool {
        guard offset >= 0, offset + expected.count <= bytes.count else { return false }
        for index in 0..<expected.count where bytes[offset + index] != expected[index] { return false }
        return true
    }

    /// A GUID's 16 bytes as EFI stores them: the first three fields little-endian, the last eight as written.
    static func efiBytes(_ a: UInt32, _ b: UInt16, _ c: UInt16, _ d: [UInt8]) -> [UInt8] {
        [UInt8(a & 0xff), UInt8(a >> 8 & 0xff), UInt8(a >> 16 & 0xff), UInt8(a >> 24),
         UInt8(b & 0xff), UInt8(b >> 8), UInt8(c & 0xff), UInt8(c >> 8)] + d
    }
}
