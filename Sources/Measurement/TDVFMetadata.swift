import SEVABI

/// The TDX metadata of a TDVF (OVMF built for TDX): the "TDVF" descriptor that the footer table's
/// e47a6535-984a-4798-865e-4685a7bf8ec2 entry locates (a u32 offset from the end of the image),
/// holding {signature "TDVF", u32 length, u32 version 1, u32 section count} and 32-byte sections
/// {u32 data offset, u32 raw data size, u64 memory address, u64 memory size, u32 type, u32 attributes}.
/// The checks are QEMU's (hw/i386/tdvf.c), so an image QEMU would refuse is refused here with the reason.
public struct TDVFMetadata: Sendable, Equatable {
    public enum SectionType: UInt32, Sendable, CustomStringConvertible {
        /// Boot firmware volume: the code, copied from the image.
        case bfv = 0
        /// Configuration firmware volume: the variable store, copied from the image.
        case cfv = 1
        /// The TD HOB QEMU writes (memory map), not from the image.
        case tdHOB = 2
        /// Zeroed temporary memory (stacks, heap, page tables before DXE).
        case tempMem = 3

        public var description: String {
            switch self {
            case .bfv: return "BFV"
            case .cfv: return "CFV"
            case .tdHOB: return "TD_HOB"
            case .tempMem: return "TempMem"
            }
        }
    }

    public struct Section: Sendable, Equatable {
        public var dataOffset: UInt32
        public var rawDataSize: UInt32
        public var memoryAddress: UInt64
        public var memoryDataSize: UInt64
        public var type: SectionType
        public var attributes: UInt32

        /// Attribute bit 0: the pages' contents are extended into MRTD (TDH.MR.EXTEND), not only added.
        /// Bit 1 (PAGE_AUG) is ignored by QEMU, which adds every section's pages at launch.
        public var extendsMRTD: Bool { attributes & TDVFMetadata.mrExtend != 0 }
    }

    static let signature: [UInt8] = Array("TDVF".utf8)
    static let headerSize = 16
    static let sectionSize = 32
    static let mrExtend: UInt32 = 1 << 0
    /// No TDVF has more than a handful; a count beyond this is a corrupt descriptor.
    static let maxSections = 64

    public let sections: [Section]

    /// Reads the metadata of `image` (the whole -bios file). Throws `MeasurementError.noTDXMetadata`
    /// for an image without the footer entry, `.corruptTDXMetadata` for one QEMU would refuse.
    public init(image: [UInt8]) throws {
        let footer = try OVMFFooterTable(image: image)
        guard footer.entries[OVMFFooterTable.tdxMetadataGUID] != nil else {
            throw footer.isEmpty ? MeasurementError.noFooterTable : MeasurementError.noTDXMetadata
        }
        let fromEnd = Int(try footer.u32(OVMFFooterTable.tdxMetadataGUID, name: "TDX metadata offset"))
        func corrupt(_ what: String) -> MeasurementError { .corruptTDXMetadata(what) }
        guard fromEnd >= Self.headerSize, fromEnd <= image.count else {
            throw corrupt("descriptor offset \(fromEnd) from the end lies outside the \(image.count)-byte image")
        }
        let start = image.count - fromEnd
        let reader = ByteReader(image)
        guard try reader.slice(at: start, count: 4) == Self.signature else {
            throw corrupt("no \"TDVF\" signature at offset \(start)")
        }
        let length = Int(try reader.peekLE(UInt32.self, at: start + 4))
        let version = try reader.peekLE(UInt32.self, at: start + 8)
        let count = Int(try reader.peekLE(UInt32.self, at: start + 12))
        guard version == 1 else { throw corrupt("version \(version); QEMU knows version 1") }
        guard (2...Self.maxSections).contains(count) else {
            throw corrupt("\(count) sections; a TDVF has at least a BFV and one more, at most \(Self.maxSections)")
        }
        guard length == Self.headerSize + count * Self.sectionSize else {
            throw corrupt("length \(length) for \(count) sections; expected \(Self.headerSize + count * Self.sectionSize)")
        }
        guard start + length <= image.count else {
            throw corrupt("the descriptor's \(length) bytes run past the end of the image")
        }
        var sections: [Section] = []
        for index in 0..<count {
            let at = start + Self.headerSize + index * Self.sectionSize
            let rawType = try reader.peekLE(UInt32.self, at: at + 24)
            guard let type = SectionType(rawValue: rawType) else {
                throw corrupt("section \(index) has type \(rawType); QEMU supports BFV, CFV, TD_HOB and TempMem (0-3)")
            }
            let section = Section(dataOffset: try reader.peekLE(UInt32.self, at: at),
                                  rawDataSize: try reader.peekLE(UInt32.self, at: at + 4),
                                  memoryAddress: try reader.peekLE(UInt64.self, at: at + 8),
                                  memoryDataSize: try reader.peekLE(UInt64.self, at: at + 16),
                                  type: type, attributes: try reader.peekLE(UInt32.self, at: at + 28))
            try Self.check(section, index: index, imageSize: image.count)
            sections.append(section)
        }
        self.sections = sections
    }

    private static func check(_ s: Section, index: Int, imageSize: Int) throws {
        func corrupt(_ what: String) -> MeasurementError { .corruptTDXMetadata("section \(index) (\(s.type)): \(what)") }
        guard s.memoryDataSize >= UInt64(s.rawDataSize) else {
            throw corrupt("raw data size 0x\(String(s.rawDataSize, radix: 16)) exceeds memory size 0x\(String(s.memoryDataSize, radix: 16))")
        }
        guard s.memoryAddress % 4096 == 0 else { throw corrupt("memory address 0x\(String(s.memoryAddress, radix: 16)) is not page aligned") }
        guard s.memoryDataSize % 4096 == 0 else { throw corrupt("memory size 0x\(String(s.memoryDataSize, radix: 16)) is not page aligned") }
        guard s.memoryAddress.addingReportingOverflow(s.memoryDataSize).overflow == false else {
            throw corrupt("memory range overflows 64 bits")
        }
        switch s.type {
        case .bfv, .cfv:
            guard s.rawDataSize != 0 else { throw corrupt("raw data size is 0; a firmware volume is copied from the image") }
            // QEMU copies the whole memory size from the image at the data offset.
            guard UInt64(s.dataOffset) + s.memoryDataSize <= UInt64(imageSize) else {
                throw corrupt("bytes 0x\(String(s.dataOffset, radix: 16))+0x\(String(s.memoryDataSize, radix: 16)) lie outside the \(imageSize)-byte image")
            }
        case .tdHOB, .tempMem:
            guard s.rawDataSize == 0 else { throw corrupt("raw data size 0x\(String(s.rawDataSize, radix: 16)); this section is not copied from the image") }
        }
    }
}
