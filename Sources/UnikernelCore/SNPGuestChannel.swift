/// One VMPCK's message channel to the PSP (SEV-SNP Firmware ABI, "Guest Messages"; the GHCB
/// specification's SNP Guest Request): it seals requests with AES-256-GCM over the header's
/// authenticated bytes, opens the responses, and keeps the sequence numbers. A number is spent when a
/// request is sealed, and again when its response is accepted; a response that fails any check leaves
/// the channel unusable (as Linux does), because the PSP has already advanced its own count and any
/// further message would reuse an IV under the same key.
public struct SNPGuestChannel {
    public let vmpck: UInt8
    let cipher: AES256GCM
    /// The last sequence number used, by either side.
    public private(set) var sequenceNumber: UInt64
    public private(set) var isBroken = false

    /// Linux keeps the count in 32 bits (the secrets page OS area); so do we.
    public static let lastSequenceNumber = UInt64(UInt32.max)

    public init(key: [UInt8], vmpck: UInt8, lastSequenceNumber: UInt64 = 0) throws(AES256GCM.KeyError) {
        self.vmpck = vmpck
        self.cipher = try AES256GCM(key: key)
        self.sequenceNumber = lastSequenceNumber
    }

    /// A request ready to be written to the shared request page: header (with tag) and ciphertext.
    public struct Request {
        public var header: SNPGuestMessageHeader
        public var bytes: [UInt8]
    }

    /// Seals `payload` as a message of `type` with the next sequence number.
    public mutating func seal(_ payload: [UInt8], type: SNPGuestMessageHeader.MessageType, version: UInt8 = 1) throws(GuestMessageError) -> Request {
        guard !isBroken else { throw .authenticationFailed }
        guard payload.count <= SNPGuestMessageHeader.maximumPayload else { throw .badMessageSize(payload.count) }
        guard sequenceNumber < Self.lastSequenceNumber - 1 else { throw .sequenceExhausted }
        sequenceNumber += 1
        var header = SNPGuestMessageHeader(sequenceNumber: sequenceNumber, messageType: type, messageVersion: version,
                                           messageSize: payload.count, vmpck: vmpck)
        let sealed = cipher.seal(payload, iv: header.iv, aad: Self.authenticatedBytes(header.bytes))
        header.authTag = sealed.tag + [UInt8](repeating: 0, count: 16)
        return Request(header: header, bytes: header.bytes + sealed.ciphertext)
    }

    /// Opens the PSP's response to `request` from the shared response page: checks the header against
    /// the request, verifies the tag, and returns the payload.
    public mutating func open(_ response: [UInt8], answering request: Request) throws(GuestMessageError) -> [UInt8] {
        guard !isBroken else { throw .authenticationFailed }
        do throws(GuestMessageError) {
            let parsed: Result<SNPGuestMessageHeader, GuestMessageError> = response.withUnsafeBytes { raw in
                do throws(GuestMessageError) { return .success(try SNPGuestMessageHeader(parsing: raw)) } catch { return .failure(error) }
            }
            let header = try parsed.get()
            try header.checkResponse(to: request.header)
            let end = SNPGuestMessageHeader.size + Int(header.messageSize)
            let ciphertext = Array(response[SNPGuestMessageHeader.size..<end])
            guard let payload = cipher.open(ciphertext, iv: header.iv, aad: Self.authenticatedBytes(Array(response[0..<SNPGuestMessageHeader.size])),
                                            tag: Array(header.authTag.prefix(AES256GCM.tagSize))) else {
                throw GuestMessageError.authenticationFailed
            }
            sequenceNumber = header.sequenceNumber
            return payload
        } catch {
            isBroken = true
            throw error
        }
    }

    static func authenticatedBytes(_ header: [UInt8]) -> [UInt8] { Array(header[SNPGuestMessageHeader.authenticatedRange]) }
}
