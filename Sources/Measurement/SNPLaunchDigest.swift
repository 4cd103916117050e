import Crypto
import SEVABI

/// The SNP launch digest: for every page added with SNP_LAUNCH_UPDATE the firmware sets
/// LD = SHA-384(PAGE_INFO), where PAGE_INFO (SNP ABI 56860, table "PAGE_INFO Structure", 0x70 bytes) is
/// the current LD (48) ‖ contents digest (48) ‖ u16 length 0x70 ‖ u8 page type ‖ u8 IMI ‖ u8 VMPL3, VMPL2,
/// VMPL1 permissions ‖ u8 reserved ‖ u64 GPA.
public struct SNPLaunchDigest: Sendable, Equatable {
    public enum PageType: UInt8, Sendable {
        case normal = 1, vmsa = 2, zero = 3, unmeasured = 4, secrets = 5, cpuid = 6
    }

    public static let size = 48
    static let pageInfoSize = 0x70
    /// VMSA pages are recorded at GPA -1, page aligned and cut to 52 bits.
    public static let vmsaGPA: UInt64 = 0xFFFF_FFFF_F000

    public private(set) var digest: [UInt8]

    /// Starts at 48 zero bytes, or at a precomputed digest (for example of the firmware pages).
    public init(seed: [UInt8] = [UInt8](repeating: 0, count: SNPLaunchDigest.size)) {
        digest = seed
    }

    private static let zeroContents = [UInt8](repeating: 0, count: size)

    public mutating func update(type: PageType, gpa: UInt64, contents: [UInt8]) {
        var info = [UInt8]()
        info.reserveCapacity(Self.pageInfoSize)
        info += digest
        info += contents
        info += UInt16(Self.pageInfoSize).littleEndianBytes
        info += [type.rawValue, 0, 0, 0, 0, 0]
        info += gpa.littleEndianBytes
        digest = Array(SHA384.hash(data: info))
    }

    /// Adds `bytes` (a whole number of pages) as NORMAL pages starting at `gpa`.
    public mutating func addNormalPages(gpa: UInt64, bytes: [UInt8]) {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let end = min(offset + 4096, buffer.count)
                var hasher = SHA384()
                hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[offset..<end]))
                update(type: .normal, gpa: gpa + UInt64(offset), contents: Array(hasher.finalize()))
                offset += 4096
            }
        }
    }

    /// Adds `length` bytes of pages of a content-less type (ZERO, UNMEASURED, SECRETS, CPUID).
    public mutating func addPages(_ type: PageType, gpa: UInt64, length: UInt64) {
        var offset: UInt64 = 0
        while offset < length {
            update(type: type, gpa: gpa + offset, contents: Self.zeroContents)
            offset += 4096
        }
    }

    public mutating func addVMSA(page: [UInt8]) {
        addVMSA(pageDigest: Array(SHA384.hash(data: page)))
    }

    /// Adds a VMSA page by its SHA-384 digest, so a table hashes each distinct VMSA page once.
    public mutating func addVMSA(pageDigest: [UInt8]) {
        update(type: .vmsa, gpa: Self.vmsaGPA, contents: pageDigest)
    }
}
