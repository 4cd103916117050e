import SEVABI

/// The messages of Intel's TDX Quote Generation Service (QGS), as libtdx_attest sends them over vsock
/// (intel/SGXDataCenterAttestationPrimitives: QuoteGeneration/quote_wrapper/qgs_msg_lib/inc/qgs_msg_lib.h,
/// packed, little-endian; the framing from tdx_attest/tdx_attest.c and qgs/qgs_server.cpp):
///
/// - on the stream, every message is preceded by its length as a 4-byte big-endian integer;
/// - qgs_msg_header_t (16 bytes): major_version u16 (1), minor_version u16 (1 since DCAP 1.21; the
///   service checks only the major), type u32 (GET_QUOTE_REQ 0, GET_QUOTE_RESP 1), size u32 (the whole
///   message, header included), error_code u32 (responses only);
/// - qgs_msg_get_quote_req_t: the header, report_size u32 (1024), id_list_size u32 (0), the TDREPORT;
/// - qgs_msg_get_quote_resp_t: the header, selected_id_size u32, quote_size u32, the selected id, the
///   quote. An error response has error_code ≠ 0 and both sizes 0.
///
/// Checked against a service played by the tests, not against a real QGS on TDX hardware.
enum QGSMessage {
    static let majorVersion: UInt16 = 1
    static let minorVersion: UInt16 = 1
    static let getQuoteRequestType: UInt32 = 0
    static let getQuoteResponseType: UInt32 = 1
    static let lengthPrefixSize = 4
    static let headerSize = 16
    /// qgs_msg_get_quote_resp_t without its variable part.
    static let quoteResponseFixedSize = 24
    /// The largest response libtdx_attest accepts: its 16 KiB buffer less its 24-byte tdx_quote_hdr and
    /// the 4-byte length prefix (REQ_BUF_SIZE - sizeof(struct tdx_quote_hdr) - HEADER_SIZE).
    static let maximumResponse = 16 * 1024 - 24 - 4

    /// qgs_msg_error_t: QGS_MSG_MK_ERROR(x) = 0x00012000 | x.
    static let errorNames: [UInt32: String] = [
        0x0001_2001: "QGS_MSG_ERROR_UNEXPECTED", 0x0001_2002: "QGS_MSG_ERROR_OUT_OF_MEMORY",
        0x0001_2003: "QGS_MSG_ERROR_INVALID_PARAMETER", 0x0001_2004: "QGS_MSG_ERROR_INVALID_VERSION",
        0x0001_2005: "QGS_MSG_ERROR_INVALID_TYPE", 0x0001_2006: "QGS_MSG_ERROR_INVALID_SIZE",
        0x0001_2007: "QGS_MSG_ERROR_INVALID_CODE",
    ]

    /// GET_QUOTE_REQ for a TDREPORT with an empty id list, length prefix included.
    static func getQuoteRequest(tdReport: [UInt8]) -> [UInt8] {
        let size = UInt32(headerSize + 8 + tdReport.count)
        var message = [UInt8]()
        message.reserveCapacity(lengthPrefixSize + Int(size))
        message += [UInt8(size >> 24), UInt8(truncatingIfNeeded: size >> 16), UInt8(truncatingIfNeeded: size >> 8), UInt8(truncatingIfNeeded: size)]
        message += majorVersion.littleEndianBytes + minorVersion.littleEndianBytes
        message += getQuoteRequestType.littleEndianBytes + size.littleEndianBytes + UInt32(0).littleEndianBytes
        message += UInt32(tdReport.count).littleEndianBytes + UInt32(0).littleEndianBytes
        message += tdReport
        return message
    }

    /// The message length a 4-byte big-endian prefix announces, refused when no response can have it.
    static func responseLength(prefix: [UInt8]) throws -> Int {
        let length = prefix.reduce(0) { $0 << 8 | Int($1) }
        guard length >= quoteResponseFixedSize, length <= maximumResponse else {
            throw GuestReportError.quoteGeneration(
                "the length prefix announces \(length) bytes (a quote response is \(quoteResponseFixedSize) to \(maximumResponse))")
        }
        return length
    }

    /// The quote of a GET_QUOTE_RESP (without its length prefix), every size checked against the others.
    static func quote(fromResponse message: [UInt8]) throws -> [UInt8] {
        func fail(_ why: String) -> GuestReportError { .quoteGeneration(why) }
        guard message.count >= quoteResponseFixedSize else {
            throw fail("a \(message.count)-byte response is shorter than the \(quoteResponseFixedSize)-byte quote response header")
        }
        let major: UInt16 = message[0..<2].littleEndianInteger()
        let type: UInt32 = message[4..<8].littleEndianInteger()
        let size: UInt32 = message[8..<12].littleEndianInteger()
        let errorCode: UInt32 = message[12..<16].littleEndianInteger()
        let idSize: UInt32 = message[16..<20].littleEndianInteger()
        let quoteSize: UInt32 = message[20..<24].littleEndianInteger()
        guard major == majorVersion else { throw fail("response version \(major).x, expected \(majorVersion).x") }
        guard type == getQuoteResponseType else { throw fail("response type \(type), expected GET_QUOTE_RESP (\(getQuoteResponseType))") }
        guard Int(size) == message.count else { throw fail("the header says \(size) bytes, the message has \(message.count)") }
        let announced = UInt64(quoteResponseFixedSize) + UInt64(idSize) + UInt64(quoteSize)
        guard announced == UInt64(size) else {
            throw fail("selected id (\(idSize)) and quote (\(quoteSize)) sizes do not add up to the \(size)-byte message")
        }
        guard errorCode == 0 else {
            let name = errorNames[errorCode].map { "\($0), " } ?? ""
            throw fail("error code \(name)0x\(String(errorCode, radix: 16))")
        }
        guard quoteSize > 0 else { throw fail("success with an empty quote") }
        let start = quoteResponseFixedSize + Int(idSize)
        return Array(message[start..<(start + Int(quoteSize))])
    }
}
