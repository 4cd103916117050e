import SEVABI

/// Where TDX evidence keeps REPORTDATA, so a guest can check that what came back answers its request.
/// Only the shape needed for that is read here; the relying party parses and verifies quotes in full
/// (DCAPQuote, TDXAttestation).
enum TDXLayout {
    /// TDREPORT_STRUCT (TDX module ABI, TDG.MR.REPORT): REPORTMACSTRUCT (256 bytes: REPORTTYPE 4,
    /// reserved 12, CPUSVN 16, TEE_TCB_INFO_HASH 48, TEE_INFO_HASH 48, REPORTDATA 64 at 128, reserved 32,
    /// MAC 32), TEE_TCB_INFO (239 bytes at 256), reserved 17, TDINFO (512 bytes at 512).
    static let tdReportLength = 1024
    static let tdReportDataOffset = 128
    static let reportDataLength = 64

    /// The quote header (48 bytes: version u16, attestation key type u16, TEE type u32, ...).
    static let quoteHeaderLength = 48
    /// REPORTDATA within a TD report body (TD 1.0 and TD 1.5 alike): after TEE_TCB_SVN 16, MRSEAM 48,
    /// MRSIGNERSEAM 48, SEAMATTRIBUTES 8, TDATTRIBUTES 8, XFAM 8, MRTD 48, MRCONFIGID 48, MROWNER 48,
    /// MROWNERCONFIG 48 and RTMR0-3 4 × 48.
    static let bodyReportDataOffset = 520
    static let tdxTEEType: UInt32 = 0x81
    static let ecdsaP256KeyType: UInt16 = 2

    /// REPORTDATA of a TDX quote: v4 at 48 + 520 = 568; v5 after its body descriptor (type u16, size u32)
    /// at 48 + 6 + 520 = 574, for body type 2 (TD 1.0, 584 bytes) or 3 (TD 1.5, 648 bytes).
    /// `failure` turns the reason a blob is no TDX quote into the caller's error.
    static func reportData(ofQuote quote: [UInt8], failure: (String) -> GuestReportError) throws -> [UInt8] {
        guard quote.count >= quoteHeaderLength else {
            throw failure("\(quote.count) bytes is too short for a DCAP quote (its header is \(quoteHeaderLength))")
        }
        let version: UInt16 = quote[0..<2].littleEndianInteger()
        let keyType: UInt16 = quote[2..<4].littleEndianInteger()
        let tee: UInt32 = quote[4..<8].littleEndianInteger()
        guard version == 4 || version == 5, keyType == ecdsaP256KeyType, tee == tdxTEEType else {
            throw failure("not a TDX quote (version \(version), attestation key type \(keyType), TEE type 0x\(String(tee, radix: 16)); expected 4 or 5, 2, 0x81)")
        }
        var body = quoteHeaderLength
        var bodyLength = 584
        if version == 5 {
            guard quote.count >= quoteHeaderLength + 6 else { throw failure("the v5 quote ends inside its body descriptor") }
            let type: UInt16 = quote[48..<50].littleEndianInteger()
            let size: UInt32 = quote[50..<54].littleEndianInteger()
            guard (type == 2 && size == 584) || (type == 3 && size == 648) else {
                throw failure("the v5 quote's body is type \(type) of \(size) bytes, not a TD report (2: 584, 3: 648)")
            }
            body += 6
            bodyLength = Int(size)
        }
        guard quote.count >= body + bodyLength else {
            throw failure("the quote ends inside its TD report body (\(quote.count) bytes, the body needs \(body + bodyLength))")
        }
        let start = body + bodyReportDataOffset
        return Array(quote[start..<(start + reportDataLength)])
    }
}
