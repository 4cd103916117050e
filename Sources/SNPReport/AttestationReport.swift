import SEVABI

/// Which key signed a report: SIGNING_KEY, bits 4:2 of the signer info at 0x048.
public enum SigningKey: Sendable, Hashable, Codable, CustomStringConvertible {
    case vcek
    case vlek
    case none
    case reserved(UInt8)

    init(bits: UInt8) {
        switch bits {
        case 0: self = .vcek
        case 1: self = .vlek
        case 7: self = .none
        default: self = .reserved(bits)
        }
    }

    public var description: String {
        switch self {
        case .vcek: return "VCEK"
        case .vlek: return "VLEK"
        case .none: return "none"
        case .reserved(let bits): return "reserved(\(bits))"
        }
    }
}

/// The signer info word at 0x048 (SEV-SNP ABI 56860, ATTESTATION_REPORT, offset 48h).
public struct SignerInfo: Sendable, Hashable {
    public let raw: UInt32
    public var authorKeyEnabled: Bool { raw & 1 != 0 }
    public var maskChipKey: Bool { raw & 2 != 0 }
    public var signingKey: SigningKey { SigningKey(bits: UInt8(truncatingIfNeeded: (raw >> 2) & 7)) }
    /// Bits 5-31 are reserved.
    public var reservedBits: UInt32 { raw & ~0x1F }
}

/// SNP PLATFORM_INFO (offset 040h). Unknown bits are kept and reported, never rejected.
public struct PlatformInfo: Sendable, Hashable {
    public let raw: UInt64

    public static let bits: [(name: String, bit: Int)] = [
        ("SMT_EN", 0), ("TSME_EN", 1), ("ECC_EN", 2), ("RAPL_DIS", 3),
        ("CIPHERTEXT_HIDING_DRAM_EN", 4), ("ALIAS_CHECK_COMPLETE", 5), ("TIO_EN", 7),
    ]

    public var setNames: [String] { Self.bits.filter { raw & (1 << UInt64($0.bit)) != 0 }.map(\.name) }
    public var unknownBits: UInt64 { Self.bits.reduce(raw) { $0 & ~(1 << UInt64($1.bit)) } }
    public var smtEnabled: Bool { raw & 1 != 0 }
    public var tsmeEnabled: Bool { raw & 2 != 0 }
}

public enum ReportError: Error, Equatable, CustomStringConvertible, Sendable {
    case wrongSize(found: Int)
    case unsupportedVersion(UInt32)

    public var description: String {
        switch self {
        case .wrongSize(let found):
            return "an SNP attestation report is \(AttestationReport.size) bytes, found \(found)"
        case .unsupportedVersion(let version):
            return "unsupported attestation report version \(version) (known: \(AttestationReport.knownVersions.map(String.init).joined(separator: ", ")))"
        }
    }
}

/// An SEV-SNP ATTESTATION_REPORT (SEV-SNP ABI 56860, Table "ATTESTATION_REPORT Structure"); 1184 bytes,
/// little-endian. Versions 2, 3 (4 shares the v3 layout) and 5 are read; every other version is refused,
/// since reading an unknown layout as a known one would check fields at guessed offsets (and random
/// bytes would pass as a report). The raw bytes are kept: the signature covers 0x000..<0x2A0.
public struct AttestationReport: Sendable {
    public static let size = 0x4A0
    public static let signedLength = 0x2A0
    /// The versions whose layout this parser knows.
    public static let knownVersions: ClosedRange<UInt32> = 2...5

    public let raw: [UInt8]
    public let version: UInt32            // 0x000
    public let guestSVN: UInt32           // 0x004
    public let policyRaw: UInt64          // 0x008
    public let familyID: [UInt8]          // 0x010, 16
    public let imageID: [UInt8]           // 0x020, 16
    public let vmpl: UInt32               // 0x030
    public let signatureAlgorithm: UInt32 // 0x034, 1 = ECDSA P-384 with SHA-384
    public let currentTCBRaw: UInt64      // 0x038
    public let platformInfo: PlatformInfo // 0x040
    public let signerInfo: SignerInfo     // 0x048
    public let reportData: [UInt8]        // 0x050, 64
    public let measurement: [UInt8]       // 0x090, 48
    public let hostData: [UInt8]          // 0x0C0, 32
    public let idKeyDigest: [UInt8]       // 0x0E0, 48
    public let authorKeyDigest: [UInt8]   // 0x110, 48
    public let reportID: [UInt8]          // 0x140, 32
    public let reportIDMA: [UInt8]        // 0x160, 32
    public let reportedTCBRaw: UInt64     // 0x180
    public let cpuidFamily: UInt8?        // 0x188 (v3+)
    public let cpuidModel: UInt8?         // 0x189 (v3+)
    public let cpuidStepping: UInt8?      // 0x18A (v3+)
    public let chipID: [UInt8]            // 0x1A0, 64
    public let committedTCBRaw: UInt64    // 0x1E0
    public let currentVersion: FirmwareVersion   // 0x1E8
    public let committedVersion: FirmwareVersion // 0x1EC
    public let launchTCBRaw: UInt64       // 0x1F0
    public let launchMitigationVector: UInt64?  // 0x1F8 (v5)
    public let currentMitigationVector: UInt64? // 0x200 (v5)
    public let signatureR: [UInt8]        // 0x2A0, 72 little-endian
    public let signatureS: [UInt8]        // 0x2E8, 72 little-endian
    /// Things a reader should know (for example an unknown CPUID product).
    public let warnings: [String]

    /// The layout actually used to read the report: 2, 3 or 5.
    public var layoutVersion: Int { version >= 5 ? 5 : (version >= 3 ? 3 : 2) }

    public init(bytes: [UInt8]) throws {
        guard bytes.count == Self.size else { throw ReportError.wrongSize(found: bytes.count) }
        let reader = ByteReader(bytes)
        raw = bytes
        version = try reader.peekLE(at: 0x000)
        guard Self.knownVersions.contains(version) else { throw ReportError.unsupportedVersion(version) }
        var notes: [String] = []
        guestSVN = try reader.peekLE(at: 0x004)
        policyRaw = try reader.peekLE(at: 0x008)
        familyID = try reader.slice(at: 0x010, count: 16)
        imageID = try reader.slice(at: 0x020, count: 16)
        vmpl = try reader.peekLE(at: 0x030)
        signatureAlgorithm = try reader.peekLE(at: 0x034)
        currentTCBRaw = try reader.peekLE(at: 0x038)
        platformInfo = PlatformInfo(raw: try reader.peekLE(at: 0x040))
        signerInfo = SignerInfo(raw: try reader.peekLE(at: 0x048))
        reportData = try reader.slice(at: 0x050, count: 64)
        measurement = try reader.slice(at: 0x090, count: 48)
        hostData = try reader.slice(at: 0x0C0, count: 32)
        idKeyDigest = try reader.slice(at: 0x0E0, count: 48)
        authorKeyDigest = try reader.slice(at: 0x110, count: 48)
        reportID = try reader.slice(at: 0x140, count: 32)
        reportIDMA = try reader.slice(at: 0x160, count: 32)
        reportedTCBRaw = try reader.peekLE(at: 0x180)
        if version >= 3 {
            cpuidFamily = bytes[0x188]
            cpuidModel = bytes[0x189]
            cpuidStepping = bytes[0x18A]
        } else {
            cpuidFamily = nil
            cpuidModel = nil
            cpuidStepping = nil
        }
        chipID = try reader.slice(at: 0x1A0, count: 64)
        committedTCBRaw = try reader.peekLE(at: 0x1E0)
        // Firmware version triples at 0x1E8 / 0x1EC: build, minor, major, reserved.
        currentVersion = FirmwareVersion(major: bytes[0x1EA], minor: bytes[0x1E9], build: UInt32(bytes[0x1E8]))
        committedVersion = FirmwareVersion(major: bytes[0x1EE], minor: bytes[0x1ED], build: UInt32(bytes[0x1EC]))
        launchTCBRaw = try reader.peekLE(at: 0x1F0)
        if version >= 5 {
            launchMitigationVector = try reader.peekLE(at: 0x1F8)
            currentMitigationVector = try reader.peekLE(at: 0x200)
        } else {
            launchMitigationVector = nil
            currentMitigationVector = nil
        }
        signatureR = try reader.slice(at: 0x2A0, count: 72)
        signatureS = try reader.slice(at: 0x2E8, count: 72)
        if let family = cpuidFamily, let model = cpuidModel, SNPProduct(cpuidFamily: family, model: model) == nil {
            notes.append("CPUID family/model 0x\(String(family, radix: 16))/0x\(String(model, radix: 16)) is not a known SNP product")
        }
        warnings = notes
    }

    /// The bytes the signature covers.
    public var signedBytes: ArraySlice<UInt8> { raw[0..<Self.signedLength] }

    /// The generation from the CPUID fields (v3+); nil for v2 reports, whose caller must name or try it.
    public var product: SNPProduct? {
        guard let family = cpuidFamily, let model = cpuidModel else { return nil }
        return SNPProduct(cpuidFamily: family, model: model)
    }

    /// The policy, if it obeys the SNP rules (bit 17 set, bits 26-63 clear).
    public var policy: SNPPolicy? { try? SNPPolicy(rawValue: policyRaw) }

    public func tcb(_ raw: UInt64, product: SNPProduct?) -> TCBVersion {
        TCBVersion(raw: raw, turinLayout: (product ?? self.product)?.usesTurinLayout ?? false)
    }

    public func reportedTCB(for product: SNPProduct? = nil) -> TCBVersion { tcb(reportedTCBRaw, product: product) }
    public func currentTCB(for product: SNPProduct? = nil) -> TCBVersion { tcb(currentTCBRaw, product: product) }
    public func committedTCB(for product: SNPProduct? = nil) -> TCBVersion { tcb(committedTCBRaw, product: product) }
    public func launchTCB(for product: SNPProduct? = nil) -> TCBVersion { tcb(launchTCBRaw, product: product) }

    /// CHIP_ID bytes that identify the chip: 8 on Turin, 64 otherwise.
    public func chipIDPrefix(for product: SNPProduct?) -> [UInt8] {
        Array(chipID.prefix((product ?? self.product)?.chipIDLength ?? 64))
    }

    /// Byte ranges the specification reserves (must be zero) for this report's layout.
    public var reservedRanges: [Range<Int>] {
        var ranges = [0x04C..<0x050, 0x1EB..<0x1EC, 0x1EF..<0x1F0]
        ranges.append(layoutVersion >= 3 ? 0x18B..<0x1A0 : 0x188..<0x1A0)
        ranges.append(layoutVersion >= 5 ? 0x208..<0x2A0 : 0x1F8..<0x2A0)
        // The ECDSA R and S fields are 72 bytes but a P-384 value fills only the low 48.
        ranges += [0x2D0..<0x2E8, 0x318..<0x330, 0x330..<0x4A0]
        return ranges
    }

    /// Offsets of non-zero bytes inside reserved areas (empty for a well-formed report).
    public var nonZeroReservedOffsets: [Int] {
        reservedRanges.flatMap { range in range.filter { raw[$0] != 0 } }
    }

    /// The signature as big-endian R ‖ S (48 bytes each), the form ECDSA libraries take.
    public var signatureRawBigEndian: [UInt8] {
        Array(signatureR.prefix(48).reversed()) + Array(signatureS.prefix(48).reversed())
    }
}
