import SEVABI

/// An Intel DCAP ECDSA quote: version 3 (SGX), 4 (TDX, TD 1.0 body) or 5 (a typed body: SGX, TD 1.0 or
/// TD 1.5), with ECDSA-P256 attestation keys and the QE report certification data (type 6) around the
/// PEM PCK chain (type 5). Offsets follow Intel's quote format (SGX DCAP Quote Library API, appendix A,
/// and the TDX DCAP quote format); every length is checked, so truncated or lying input is refused with
/// one line, never a trap.
public struct DCAPQuote: Sendable {
    public enum Failure: Error, Equatable, CustomStringConvertible, Sendable {
        case truncated(String)
        case unsupportedVersion(UInt16)
        case unsupportedAttestationKey(UInt16)
        case unsupportedTEE(UInt32, version: UInt16)
        case unsupportedBodyType(UInt16)
        case badBodySize(type: UInt16, size: UInt32)
        case unsupportedCertificationData(UInt16)
        case lengthPastEnd(field: String, length: Int, available: Int)
        case notPEM

        public var description: String {
            switch self {
            case .truncated(let what): return "truncated quote: \(what)"
            case .unsupportedVersion(let v): return "quote version \(v) is not supported (known: 3, 4, 5)"
            case .unsupportedAttestationKey(let k): return "attestation key type \(k) is not ECDSA-P256 (2)"
            case let .unsupportedTEE(t, v): return "TEE type 0x\(String(t, radix: 16)) is not valid for a version \(v) quote (0x00 SGX, 0x81 TDX)"
            case .unsupportedBodyType(let t): return "quote body type \(t) is unknown (1 SGX, 2 TD 1.0, 3 TD 1.5)"
            case let .badBodySize(t, s): return "quote body type \(t) has size \(s), expected \(t == 1 ? 384 : t == 2 ? 584 : 648)"
            case .unsupportedCertificationData(let t): return "certification data type \(t) is not supported (6 QE report with a type 5 PCK chain inside)"
            case let .lengthPastEnd(field, length, available): return "\(field) length \(length) points past the end (\(available) bytes left)"
            case .notPEM: return "certification data type 5 is not a PEM certificate chain"
            }
        }
    }

    public enum TEE: UInt32, Sendable {
        case sgx = 0x00
        case tdx = 0x81
    }

    public struct Header: Sendable, Equatable {
        public var version: UInt16
        public var attestationKeyType: UInt16
        public var tee: TEE
        public var qeSVN: UInt16
        public var pceSVN: UInt16
        public var qeVendorID: [UInt8]
        public var userData: [UInt8]
    }

    /// An SGX enclave report body (384 bytes): the v3 quote's body, and every QE report.
    public struct EnclaveReport: Sendable, Equatable {
        public static let size = 384
        public var cpuSVN: [UInt8]
        public var miscSelect: UInt32
        public var attributes: [UInt8]
        public var mrEnclave: [UInt8]
        public var mrSigner: [UInt8]
        public var isvProdID: UInt16
        public var isvSVN: UInt16
        public var reportData: [UInt8]
        public var raw: [UInt8]

        init(_ raw: [UInt8]) throws {
            var r = ByteReader(raw)
            cpuSVN = try r.read(16)
            miscSelect = try r.readLE(UInt32.self)
            try r.skip(28)
            attributes = try r.read(16)
            mrEnclave = try r.read(32)
            try r.skip(32)
            mrSigner = try r.read(32)
            try r.skip(96)
            isvProdID = try r.readLE(UInt16.self)
            isvSVN = try r.readLE(UInt16.self)
            try r.skip(60)
            reportData = try r.read(64)
            self.raw = raw
        }
    }

    /// A TD report body: TD 1.0 (584 bytes) or TD 1.5 (648, with TEE_TCB_SVN2 and MRSERVICETD).
    public struct TDReport: Sendable, Equatable {
        public var teeTCBSVN: [UInt8]
        public var mrSeam: [UInt8]
        public var mrSignerSeam: [UInt8]
        public var seamAttributes: [UInt8]
        public var tdAttributes: [UInt8]
        public var xfam: [UInt8]
        public var mrTD: [UInt8]
        public var mrConfigID: [UInt8]
        public var mrOwner: [UInt8]
        public var mrOwnerConfig: [UInt8]
        public var rtmrs: [[UInt8]]
        public var reportData: [UInt8]
        public var teeTCBSVN2: [UInt8]?
        public var mrServiceTD: [UInt8]?

        /// TDATTRIBUTES bit 0: the TD is debuggable (its memory is readable by the host).
        public var debug: Bool { (tdAttributes.first ?? 0) & 1 != 0 }

        init(_ raw: [UInt8], v15: Bool) throws {
            var r = ByteReader(raw)
            teeTCBSVN = try r.read(16)
            mrSeam = try r.read(48)
            mrSignerSeam = try r.read(48)
            seamAttributes = try r.read(8)
            tdAttributes = try r.read(8)
            xfam = try r.read(8)
            mrTD = try r.read(48)
            mrConfigID = try r.read(48)
            mrOwner = try r.read(48)
            mrOwnerConfig = try r.read(48)
            rtmrs = try (0..<4).map { _ in try r.read(48) }
            reportData = try r.read(64)
            if v15 {
                teeTCBSVN2 = try r.read(16)
                mrServiceTD = try r.read(48)
            }
        }
    }

    public enum Body: Sendable, Equatable {
        case sgx(EnclaveReport)
        case td10(TDReport)
        case td15(TDReport)

        public var name: String {
            switch self {
            case .sgx: return "SGX enclave report"
            case .td10: return "TD 1.0 report"
            case .td15: return "TD 1.5 report"
            }
        }
    }

    public let header: Header
    public let body: Body
    /// Header and body as signed by the attestation key (for v5 with the body type and size).
    public let signedBytes: [UInt8]
    /// ECDSA P-256 signature over `signedBytes`: r ‖ s, big-endian.
    public let signature: [UInt8]
    /// The attestation key: x ‖ y, big-endian (64 bytes).
    public let attestationKey: [UInt8]
    public let qeReport: EnclaveReport
    /// ECDSA P-256 signature of the QE report by the PCK key: r ‖ s.
    public let qeReportSignature: [UInt8]
    public let qeAuthenticationData: [UInt8]
    /// The PCK chain, PEM (leaf first).
    public let pckChainPEM: [UInt8]
    public let raw: [UInt8]
    /// Bytes after the signature data (ignored, as dcap-qvl and Intel's QVL ignore them).
    public let trailingByteCount: Int

    public static let headerSize = 48

    public init(bytes: [UInt8]) throws {
        func need<T>(_ what: String, _ body: () throws -> T) throws -> T {
            do { return try body() } catch is ByteReader.Error { throw Failure.truncated(what) }
        }
        var r = ByteReader(bytes)
        let version = try need("header") { try r.readLE(UInt16.self) }
        guard (3...5).contains(version) else { throw Failure.unsupportedVersion(version) }
        let keyType = try need("header") { try r.readLE(UInt16.self) }
        guard keyType == 2 else { throw Failure.unsupportedAttestationKey(keyType) }
        let teeRaw = try need("header") { try r.readLE(UInt32.self) }
        let qeSVN = try need("header") { try r.readLE(UInt16.self) }
        let pceSVN = try need("header") { try r.readLE(UInt16.self) }
        let vendor = try need("header") { try r.read(16) }
        let user = try need("header") { try r.read(20) }
        // v3 has no TEE type (the field is reserved, zero: SGX); v4 is TDX; v5 says which.
        let tee: TEE
        switch (version, teeRaw) {
        case (3, 0): tee = .sgx
        case (4, 0x81): tee = .tdx
        case (5, 0x00): tee = .sgx
        case (5, 0x81): tee = .tdx
        default: throw Failure.unsupportedTEE(teeRaw, version: version)
        }
        header = Header(version: version, attestationKeyType: keyType, tee: tee, qeSVN: qeSVN, pceSVN: pceSVN,
                        qeVendorID: vendor, userData: user)

        switch version {
        case 3:
            body = .sgx(try EnclaveReport(try need("SGX report body") { try r.read(EnclaveReport.size) }))
        case 4:
            body = .td10(try TDReport(try need("TD report body") { try r.read(584) }, v15: false))
        default:
            let type = try need("body descriptor") { try r.readLE(UInt16.self) }
            let size = try need("body descriptor") { try r.readLE(UInt32.self) }
            let expected: UInt32
            switch type {
            case 1: expected = 384
            case 2: expected = 584
            case 3: expected = 648
            default: throw Failure.unsupportedBodyType(type)
            }
            guard size == expected else { throw Failure.badBodySize(type: type, size: size) }
            guard (type == 1) == (tee == .sgx) else { throw Failure.unsupportedTEE(teeRaw, version: version) }
            let raw = try need("quote body") { try r.read(Int(size)) }
            body = type == 1 ? .sgx(try EnclaveReport(raw)) : type == 2 ? .td10(try TDReport(raw, v15: false)) : .td15(try TDReport(raw, v15: true))
        }
        signedBytes = Array(bytes[0..<r.offset])

        let signatureLength = Int(try need("signature data length") { try r.readLE(UInt32.self) })
        guard signatureLength <= r.remaining else {
            throw Failure.lengthPastEnd(field: "signature data", length: signatureLength, available: r.remaining)
        }
        // Quotes read from fixed-size buffers carry zeros after the signature data (real ones do: 39 to
        // 3,065 bytes in the vectors); they are outside every signed or parsed range and are kept as a count.
        trailingByteCount = r.remaining - signatureLength
        var s = ByteReader(try r.read(signatureLength))
        signature = try need("quote signature") { try s.read(64) }
        attestationKey = try need("attestation key") { try s.read(64) }

        // v3 puts the QE report directly here; v4 and v5 wrap it in certification data of type 6.
        var q: ByteReader
        if version == 3 {
            q = s
        } else {
            let type = try need("certification data") { try s.readLE(UInt16.self) }
            guard type == 6 else { throw Failure.unsupportedCertificationData(type) }
            let size = Int(try need("certification data") { try s.readLE(UInt32.self) })
            guard size <= s.remaining else { throw Failure.lengthPastEnd(field: "QE report certification data", length: size, available: s.remaining) }
            q = ByteReader(try s.read(size))
        }
        qeReport = try EnclaveReport(try need("QE report") { try q.read(EnclaveReport.size) })
        qeReportSignature = try need("QE report signature") { try q.read(64) }
        let authLength = Int(try need("QE authentication data") { try q.readLE(UInt16.self) })
        guard authLength <= q.remaining else { throw Failure.lengthPastEnd(field: "QE authentication data", length: authLength, available: q.remaining) }
        qeAuthenticationData = try q.read(authLength)
        let certType = try need("PCK certification data") { try q.readLE(UInt16.self) }
        guard certType == 5 else { throw Failure.unsupportedCertificationData(certType) }
        let certLength = Int(try need("PCK certification data") { try q.readLE(UInt32.self) })
        guard certLength <= q.remaining else { throw Failure.lengthPastEnd(field: "PCK certification data", length: certLength, available: q.remaining) }
        var pem = try q.read(certLength)
        while pem.last == 0 { pem.removeLast() }
        guard pem.starts(with: Array("-----BEGIN CERTIFICATE-----".utf8)) else { throw Failure.notPEM }
        pckChainPEM = pem
        raw = bytes
    }

    /// REPORTDATA of the body (64 bytes).
    public var reportData: [UInt8] {
        switch body {
        case .sgx(let report): return report.reportData
        case .td10(let report), .td15(let report): return report.reportData
        }
    }

    /// Whether bytes look like a DCAP quote rather than an SNP report (which starts with version 2-5 as
    /// a 32-bit value and has no attestation key type 2 at offset 2).
    public static func looksLikeQuote(_ bytes: [UInt8]) -> Bool {
        guard bytes.count >= headerSize else { return false }
        let version = UInt16(bytes[0]) | UInt16(bytes[1]) << 8
        let keyType = UInt16(bytes[2]) | UInt16(bytes[3]) << 8
        return (3...5).contains(version) && keyType == 2
    }
}
