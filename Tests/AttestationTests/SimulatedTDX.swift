import Foundation
import Glibc
@testable import GuestAttestation
import SEVABI

/// A TD as a recorded quote describes it: the TD report body (TD 1.0 or 1.5) and its REPORTDATA offset.
struct RecordedTD {
    let quote: [UInt8]
    let body: [UInt8]

    /// tdx/tdx_quote (v4, dcap-qvl) or tdx/quote_v5_sample.dat (v5 with a TD 1.5 body, go-tdx-guest).
    init(_ fixture: String) throws {
        quote = try Fixture.bytes("tdx/\(fixture)")
        let version = Int(quote[0]) | Int(quote[1]) << 8
        let start = version == 4 ? 48 : 54
        body = Array(quote[start..<(start + 584)])
    }

    /// The REPORTDATA the quote was made for (body offset 520).
    var reportData: [UInt8] { Array(body[520..<584]) }
    /// TEE_TCB_INFO without VALID: TEE_TCB_SVN, MRSEAM, MRSIGNERSEAM, ATTRIBUTES (body 0..<120).
    var teeTCB: [UInt8] { Array(body[0..<120]) }
    /// TDINFO's first 400 bytes: ATTRIBUTES, XFAM, MRTD, MRCONFIGID, MROWNER, MROWNERCONFIG, RTMR0-3
    /// (body 120..<520, the same fields in the same order).
    var tdInfo: [UInt8] { Array(body[120..<520]) }
}

/// Plays the kernel's side of /dev/tdx_guest as include/uapi/linux/tdx-guest.h and the driver define it:
/// reads struct tdx_report_req's reportdata and writes a TDREPORT_STRUCT for the recorded TD into its
/// tdreport (REPORTMACSTRUCT with REPORTTYPE TDX and the REPORTDATA at 128, TEE_TCB_INFO at 256, TDINFO
/// at 512; the MAC is left zero, only the TDX module could compute it).
final class SimulatedTDXGuestKernel: TDXGuestIoctlChannel, @unchecked Sendable {
    let td: RecordedTD
    private(set) var calls: [(request: UInt, reportData: [UInt8])] = []
    /// The errno to fail with, 0 for success.
    var failure: Int32 = 0
    /// A kernel that puts other REPORTDATA into the TDREPORT than it was asked for.
    var overwriteReportData: [UInt8]?

    init(td: RecordedTD) { self.td = td }

    func ioctl(_ request: UInt, _ argument: UnsafeMutableRawPointer) -> (result: Int32, errno: Int32) {
        let reportData = Array(UnsafeRawBufferPointer(start: argument, count: 64))
        calls.append((request, reportData))
        guard request == TDXGuestDevice.getReport0Request else { return (-1, ENOTTY) }
        if failure != 0 { return (-1, failure) }
        var report = [UInt8](repeating: 0, count: 1024)
        report[0] = 0x81  // REPORTTYPE.TYPE: TDX
        report[2] = 1     // REPORTTYPE.VERSION: TDX module 1.5 (the TDINFO has SERVTD_HASH)
        report.replaceSubrange(128..<192, with: overwriteReportData ?? reportData)
        report[256] = 0xFF  // TEE_TCB_INFO.VALID
        report.replaceSubrange(264..<384, with: td.teeTCB)
        report.replaceSubrange(512..<912, with: td.tdInfo)
        report.withUnsafeBytes { (argument + 64).copyMemory(from: $0.baseAddress!, byteCount: 1024) }
        return (0, 0)
    }
}

/// Plays Intel's Quote Generation Service over one connection, byte for byte: the request is parsed
/// here independently of QGSMessage (qgs_msg_lib.h: 4-byte big-endian length, then the 16-byte header
/// and report_size, id_list_size, report), and the answer is a recorded quote.
final class FakeQGS: QGSTransport, @unchecked Sendable {
    enum Behaviour {
        /// Checks that the TDREPORT is the recorded TD's with the quote's REPORTDATA, then returns the quote
        /// (an error response QGS_MSG_ERROR_INVALID_PARAMETER when it is not).
        case honest
        /// Returns the recorded quote whatever report it got.
        case replay
        /// An error response with this error_code.
        case error(UInt32)
        /// These bytes instead of a response, length prefix included.
        case raw([UInt8])
    }

    let td: RecordedTD
    var behaviour: Behaviour = .honest
    /// At most this many bytes per receive.
    var chunk = Int.max
    private(set) var requests: [[UInt8]] = []
    private(set) var problems: [String] = []
    var address: String { "fake-qgs" }

    init(td: RecordedTD) { self.td = td }

    func connect() throws -> any QGSConnection { Connection(self) }

    /// A GET_QUOTE_RESP (qgs_msg_get_quote_resp_t) with its length prefix.
    static func response(errorCode: UInt32 = 0, selectedID: [UInt8] = [], quote: [UInt8]) -> [UInt8] {
        let size = UInt32(24 + selectedID.count + quote.count)
        return [UInt8(size >> 24), UInt8(size >> 16 & 0xFF), UInt8(size >> 8 & 0xFF), UInt8(size & 0xFF)]
            + UInt16(1).littleEndianBytes + UInt16(1).littleEndianBytes + UInt32(1).littleEndianBytes
            + size.littleEndianBytes + errorCode.littleEndianBytes
            + UInt32(selectedID.count).littleEndianBytes + UInt32(quote.count).littleEndianBytes + selectedID + quote
    }

    /// What the service answers to one request.
    func answer(_ request: [UInt8]) -> [UInt8] {
        requests.append(request)
        func u32(_ at: Int) -> UInt32 { request[at..<(at + 4)].littleEndianInteger() }
        var report: [UInt8] = []
        if request.count == 4 + 24 + 1024,
           request[0..<4].reduce(0, { $0 << 8 | Int($1) }) == request.count - 4,
           request[4..<6].littleEndianInteger() as UInt16 == 1, request[6..<8].littleEndianInteger() as UInt16 == 1,
           u32(8) == 0, u32(12) == UInt32(request.count - 4), u32(16) == 0, u32(20) == 1024, u32(24) == 0 {
            report = Array(request[28...])
        } else {
            problems.append("malformed GET_QUOTE_REQ of \(request.count) bytes")
        }
        switch behaviour {
        case .honest:
            guard !report.isEmpty, Array(report[128..<192]) == td.reportData, Array(report[264..<384]) == td.teeTCB,
                  Array(report[512..<912]) == td.tdInfo
            else {
                problems.append("the TDREPORT is not the recorded TD's")
                return Self.response(errorCode: 0x0001_2003, quote: [])
            }
            return Self.response(quote: td.quote)
        case .replay: return Self.response(quote: td.quote)
        case .error(let code): return Self.response(errorCode: code, quote: [])
        case .raw(let bytes): return bytes
        }
    }

    /// The service's end: everything sent is the request; the answer is read back in `chunk`-sized pieces.
    final class Connection: QGSConnection {
        let service: FakeQGS
        var sent: [UInt8] = []
        var pending: [UInt8]?

        init(_ service: FakeQGS) { self.service = service }

        func send(_ bytes: [UInt8]) throws { sent += bytes }

        func receive(upTo count: Int) throws -> [UInt8] {
            if pending == nil { pending = service.answer(sent) }
            let n = min(count, service.chunk, pending!.count)
            defer { pending!.removeFirst(n) }
            return Array(pending![0..<n])
        }
    }
}
