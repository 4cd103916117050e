/// The SNP guest message header (SEV-SNP Firmware ABI, AMD pub. 56860, chapter "Guest Messages", table
/// "Message Header Format"): 96 bytes in front of every encrypted request the guest sends the PSP through
/// SNP_GUEST_REQUEST and every response it gets back.
///
///     0x00 AUTHTAG[32]  0x20 MSG_SEQNO u64  0x28 reserved[8]  0x30 ALGO u8  0x31 HDR_VERSION u8
///     0x32 HDR_SIZE u16  0x34 MSG_TYPE u8  0x35 MSG_VERSION u8  0x36 MSG_SIZE u16  0x38 reserved u32
///     0x3C MSG_VMPCK u8  0x3D reserved[35]  0x60 payload
///
/// With AES-256-GCM the additional authenticated data is bytes 0x30..<0x60 of the header, the 96-bit IV
/// is MSG_SEQNO little-endian followed by four zero bytes, and the tag is the first 16 bytes of AUTHTAG.
/// Sequence numbers count the messages sent with one VMPCK: a request carries the last number plus one,
/// its response the request's plus one, and a number is never used twice.
public struct SNPGuestMessageHeader: Equatable, Sendable {
    public static let size = 0x60
    public static let authenticatedRange = 0x30..<0x60
    public static let tagSize = 16
    public static let ivSize = 12
    public static let algorithmAES256GCM: UInt8 = 1
    public static let headerVersion: UInt8 = 1
    /// A message fills one 4 KiB page at most.
    public static let maximumPayload = 4096 - size

    /// Message types (SEV-SNP Firmware ABI, table "Message Type Encodings").
    public enum MessageType: UInt8, Sendable {
        case cpuidRequest = 1, cpuidResponse, keyRequest, keyResponse, reportRequest, reportResponse
        case exportRequest, exportResponse, importRequest, importResponse, absorbRequest, absorbResponse
        case vmrkRequest, vmrkResponse
    }

    public var authTag: [UInt8]
    public var sequenceNumber: UInt64
    public var algorithm: UInt8
    public var version: UInt8
    public var headerSize: UInt16
    public var messageType: UInt8
    public var messageVersion: UInt8
    public var messageSize: UInt16
    public var vmpck: UInt8

    public init(sequenceNumber: UInt64, messageType: MessageType, messageVersion: UInt8 = 1, messageSize: Int, vmpck: UInt8,
                authTag: [UInt8] = [UInt8](repeating: 0, count: 32)) {
        self.authTag = authTag
        self.sequenceNumber = sequenceNumber
        self.algorithm = Self.algorithmAES256GCM
        self.version = Self.headerVersion
        self.headerSize = UInt16(Self.size)
        self.messageType = messageType.rawValue
        self.messageVersion = messageVersion
        self.messageSize = UInt16(truncatingIfNeeded: messageSize)
        self.vmpck = vmpck
    }

    public func write(to buffer: UnsafeMutableRawPointer) {
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: Self.size)
        for (index, byte) in authTag.prefix(32).enumerated() { buffer.storeBytes(of: byte, toByteOffset: index, as: UInt8.self) }
        buffer.storeBytes(of: sequenceNumber.littleEndian, toByteOffset: 0x20, as: UInt64.self)
        buffer.storeBytes(of: algorithm, toByteOffset: 0x30, as: UInt8.self)
        buffer.storeBytes(of: version, toByteOffset: 0x31, as: UInt8.self)
        buffer.storeBytes(of: headerSize.littleEndian, toByteOffset: 0x32, as: UInt16.self)
        buffer.storeBytes(of: messageType, toByteOffset: 0x34, as: UInt8.self)
        buffer.storeBytes(of: messageVersion, toByteOffset: 0x35, as: UInt8.self)
        buffer.storeBytes(of: messageSize.littleEndian, toByteOffset: 0x36, as: UInt16.self)
        buffer.storeBytes(of: vmpck, toByteOffset: 0x3c, as: UInt8.self)
    }

    public var bytes: [UInt8] {
        var result = [UInt8](repeating: 0, count: Self.size)
        result.withUnsafeMutableBytes { write(to: $0.baseAddress!) }
        return result
    }

    public init(parsing raw: UnsafeRawBufferPointer) throws(GuestMessageError) {
        guard raw.count >= Self.size else { throw .truncated(raw.count) }
        authTag = Array(raw[0..<32])
        sequenceNumber = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 0x20, as: UInt64.self))
        algorithm = raw[0x30]
        version = raw[0x31]
        headerSize = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 0x32, as: UInt16.self))
        messageType = raw[0x34]
        messageVersion = raw[0x35]
        messageSize = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 0x36, as: UInt16.self))
        vmpck = raw[0x3c]
        guard algorithm == Self.algorithmAES256GCM else { throw .badAlgorithm(algorithm) }
        guard version == Self.headerVersion, headerSize == UInt16(Self.size) else { throw .badHeader(version: version, size: headerSize) }
        guard Int(messageSize) <= Self.maximumPayload, Int(messageSize) <= raw.count - Self.size else {
            throw .badMessageSize(Int(messageSize))
        }
    }

    /// The AES-GCM nonce for this message's sequence number.
    public var iv: [UInt8] {
        var iv = [UInt8](repeating: 0, count: Self.ivSize)
        for index in 0..<8 { iv[index] = UInt8(truncatingIfNeeded: sequenceNumber >> (8 * UInt64(index))) }
        return iv
    }

    /// Checks a response against the request it answers: the next sequence number, the response type of
    /// the request's type, the same message version and VMPCK.
    public func checkResponse(to request: SNPGuestMessageHeader) throws(GuestMessageError) {
        guard request.sequenceNumber < UInt64.max, sequenceNumber == request.sequenceNumber + 1 else {
            throw .badSequenceNumber(expected: request.sequenceNumber &+ 1, found: sequenceNumber)
        }
        guard messageType == request.messageType + 1 else { throw .badMessageType(expected: request.messageType + 1, found: messageType) }
        guard messageVersion == request.messageVersion else { throw .badMessageVersion(messageVersion) }
        guard vmpck == request.vmpck else { throw .badVMPCK(vmpck) }
    }
}

/// Why a guest message was refused.
public enum GuestMessageError: Error, Equatable, Sendable {
    case truncated(Int)
    case badAlgorithm(UInt8)
    case badHeader(version: UInt8, size: UInt16)
    case badMessageSize(Int)
    case badSequenceNumber(expected: UInt64, found: UInt64)
    case badMessageType(expected: UInt8, found: UInt8)
    case badMessageVersion(UInt8)
    case badVMPCK(UInt8)
    /// The AES-GCM tag did not verify: the wrong key, or a changed header or payload.
    case authenticationFailed
    /// The sequence numbers of this VMPCK are used up: no further message may be sent with it.
    case sequenceExhausted
    /// MSG_REPORT_RSP's status was not 0 (0x16 invalid parameters, 0x27 invalid key selection).
    case reportStatus(UInt32)
    case badReportSize(UInt32)

    public var text: StaticString {
        switch self {
        case .truncated: "guest message shorter than its header"
        case .badAlgorithm: "guest message algorithm is not AES-256-GCM"
        case .badHeader: "guest message header version or size is not 1 / 0x60"
        case .badMessageSize: "guest message size does not fit the page"
        case .badSequenceNumber: "guest message sequence number is not the request's plus one"
        case .badMessageType: "guest message type does not answer the request"
        case .badMessageVersion: "guest message version differs from the request's"
        case .badVMPCK: "guest message VMPCK differs from the request's"
        case .authenticationFailed: "guest message tag does not verify"
        case .sequenceExhausted: "guest message sequence numbers of this VMPCK are used up"
        case .reportStatus: "attestation report response status is not success"
        case .badReportSize: "attestation report response size is not the report's"
        }
    }
}

/// MSG_REPORT_REQ (SEV-SNP Firmware ABI, "MSG_REPORT_REQ Message Structure"): REPORT_DATA[64] at 0x00, VMPL u32 at 0x40, KEY_SEL in
/// bits 1:0 of 0x44 (0 the VCEK, unless the platform says otherwise), reserved up to 0x60.
public struct SNPReportRequest: Equatable, Sendable {
    public static let size = 0x60
    public var reportData: [UInt8]
    public var vmpl: UInt32
    public var keySelect: UInt32

    public init(reportData: [UInt8], vmpl: UInt32 = 0, keySelect: UInt32 = 0) {
        self.reportData = reportData
        self.vmpl = vmpl
        self.keySelect = keySelect
    }

    public var bytes: [UInt8] {
        var result = [UInt8](repeating: 0, count: Self.size)
        for (index, byte) in reportData.prefix(64).enumerated() { result[index] = byte }
        for index in 0..<4 {
            result[0x40 + index] = UInt8(truncatingIfNeeded: vmpl >> (8 * UInt32(index)))
            result[0x44 + index] = UInt8(truncatingIfNeeded: (keySelect & 3) >> (8 * UInt32(index)))
        }
        return result
    }
}

/// MSG_REPORT_RSP (SEV-SNP Firmware ABI, "MSG_REPORT_RSP Message Structure"): STATUS u32 at 0x00, REPORT_SIZE u32 at 0x04,
/// reserved up to 0x20, then the 1184-byte attestation report.
public enum SNPReportResponse {
    public static let reportOffset = 0x20
    public static let reportSize = 1184

    /// The report's bytes in a decrypted response payload.
    public static func report(in payload: UnsafeRawBufferPointer) throws(GuestMessageError) -> UnsafeRawBufferPointer {
        guard payload.count >= reportOffset else { throw .truncated(payload.count) }
        let status = UInt32(littleEndian: payload.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        guard status == 0 else { throw .reportStatus(status) }
        let size = UInt32(littleEndian: payload.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        guard size == UInt32(reportSize), payload.count >= reportOffset + reportSize else { throw .badReportSize(size) }
        return UnsafeRawBufferPointer(rebasing: payload[reportOffset..<(reportOffset + reportSize)])
    }
}
