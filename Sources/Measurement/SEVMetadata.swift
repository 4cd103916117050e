import SEVABI

/// The "ASEV" SEV metadata OVMF publishes for SNP launches (edk2 OvmfPkg/ResetVector/X64/OvmfSevMetadata.asm):
/// header {signature "ASEV", u32 size, u32 version = 1, u32 section count}, then 12-byte sections
/// {u32 GPA, u32 size, u32 type}.
public struct SEVMetadata: Sendable, Equatable {
    public enum SectionType: UInt32, Sendable, CaseIterable {
        case snpSecMem = 1
        case snpSecrets = 2
        case cpuid = 3
        case svsmCAA = 4
        case snpKernelHashes = 0x10

        public var name: String {
            switch self {
            case .snpSecMem: return "SNP_SEC_MEM"
            case .snpSecrets: return "SNP_SECRETS"
            case .cpuid: return "CPUID"
            case .svsmCAA: return "SVSM_CAA"
            case .snpKernelHashes: return "SNP_KERNEL_HASHES"
            }
        }
    }

    public struct Section: Sendable, Equatable {
        public let gpa: UInt32
        public let size: UInt32
        public let type: SectionType

        public init(gpa: UInt32, size: UInt32, type: SectionType) {
            self.gpa = gpa
            self.size = size
            self.type = type
        }
    }

    static let headerSize = 16
    static let sectionSize = 12
    static let signature: [UInt8] = Array("ASEV".utf8)

    public let sections: [Section]

    /// Parses the metadata whose header starts `offsetFromEnd` bytes before the end of `image`.
    public init(image: [UInt8], offsetFromEnd: UInt32) throws {
        let offset = Int(offsetFromEnd)
        guard offset >= Self.headerSize, offset <= image.count else {
            throw MeasurementError.corruptSEVMetadata("header offset \(offset) from the end does not fit a \(image.count)-byte image")
        }
        let start = image.count - offset
        var reader = ByteReader(image, offset: start)
        let magic = try reader.read(4)
        guard magic == Self.signature else {
            throw MeasurementError.corruptSEVMetadata("signature is \(magic.hexString), expected \"ASEV\"")
        }
        let size = Int(try reader.readLE(UInt32.self))
        let version = try reader.readLE(UInt32.self)
        guard version == 1 else {
            throw MeasurementError.corruptSEVMetadata("version \(version), expected 1")
        }
        let count = Int(try reader.readLE(UInt32.self))
        guard size >= Self.headerSize, size <= image.count - start,
              count <= (size - Self.headerSize) / Self.sectionSize else {
            throw MeasurementError.corruptSEVMetadata("\(count) sections do not fit the declared size \(size)")
        }
        var sections: [Section] = []
        for _ in 0..<count {
            let gpa = try reader.readLE(UInt32.self)
            let length = try reader.readLE(UInt32.self)
            let rawType = try reader.readLE(UInt32.self)
            guard let type = SectionType(rawValue: rawType) else { throw MeasurementError.unknownSectionType(rawType) }
            guard length % 4096 == 0, gpa % 4096 == 0 else {
                throw MeasurementError.corruptSEVMetadata("\(type.name) section at 0x\(String(gpa, radix: 16)) size 0x\(String(length, radix: 16)) is not page aligned")
            }
            sections.append(Section(gpa: gpa, size: length, type: type))
        }
        self.sections = sections
    }

    public func has(_ type: SectionType) -> Bool { sections.contains { $0.type == type } }
}
