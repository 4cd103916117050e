import Foundation
import SEVABI
#if canImport(Glibc)
import Glibc
#endif

/// /dev/tdx_guest's argument is a `struct tdx_report_req` (include/uapi/linux/tdx-guest.h: u8
/// reportdata[64]; u8 tdreport[1024]) that the kernel reads REPORTDATA from and writes the TDREPORT into.
public typealias TDXGuestIoctlChannel = GuestIoctlChannel

/// /dev/tdx_guest, for TDs whose kernel has no configfs-tsm: TDX_CMD_GET_REPORT0 (TDG.MR.REPORT) turns
/// REPORTDATA into a TDREPORT, which only the platform can check, and the host's Quote Generation Service
/// turns that into a DCAP quote (upstream Linux has no quote ioctl; the kernel's own GetQuote path is
/// configfs-tsm's). The exchange is libtdx_attest's: GET_QUOTE_REQ over vsock (see `QGSMessage`).
/// The TDREPORT and the quote must both carry the requested REPORTDATA.
///
/// Not run on TDX hardware: the tests put a simulated kernel behind the ioctl and play the QGS with a
/// recorded quote.
public struct TDXGuestDevice: GuestReportProvider {
    public static let defaultPath = "/dev/tdx_guest"
    /// TDX_CMD_GET_REPORT0 = _IOWR('T', 1, struct tdx_report_req): direction 3 << 30, size 1088 << 16,
    /// type 'T' << 8, number 1.
    public static let getReport0Request: UInt = 0xC440_5401
    static let requestLength = TDXLayout.reportDataLength + TDXLayout.tdReportLength

    public let path: String
    public let channel: any TDXGuestIoctlChannel
    public let quoteService: any QGSTransport
    public var name: String { "\(path) + QGS \(quoteService.address)" }

    public init(path: String = TDXGuestDevice.defaultPath, quoteService: any QGSTransport = VsockQGSTransport(),
                channel: (any TDXGuestIoctlChannel)? = nil) {
        self.path = path
        self.quoteService = quoteService
        self.channel = channel ?? DeviceIoctlChannel(path: path)
    }

    public static var isAvailable: Bool { FileManager.default.fileExists(atPath: defaultPath) }

    public func getReport(reportData: [UInt8], vmpl: UInt32) throws -> GuestReportResult {
        let data = try normalizedRequest(reportData, vmpl: 0)
        guard vmpl == 0 else { throw GuestReportError.noVMPL(vmpl) }
        let tdReport = try self.tdReport(data)
        let quote = try quoteFromService(tdReport)
        let carried = try TDXLayout.reportData(ofQuote: quote) { GuestReportError.quoteGeneration("\(quoteService.address): \($0)") }
        guard carried == data else {
            throw GuestReportError.quoteGeneration("\(quoteService.address): the quote does not carry the requested REPORTDATA")
        }
        return GuestReportResult(report: quote, certificateTable: nil, kind: .tdxQuote)
    }

    /// TDX_CMD_GET_REPORT0: REPORTDATA in, the 1024-byte TDREPORT out.
    func tdReport(_ data: [UInt8]) throws -> [UInt8] {
        var request = data + [UInt8](repeating: 0, count: TDXLayout.tdReportLength)
        let (rc, code) = request.withUnsafeMutableBytes { buffer -> (Int32, Int32) in
            guard let base = buffer.baseAddress else { return (-1, 22) }
            return channel.ioctl(Self.getReport0Request, base)
        }
        guard rc == 0 else { throw GuestReportError.tdReport("\(path): \(Self.explain(code))") }
        let report = Array(request[TDXLayout.reportDataLength...])
        let start = TDXLayout.tdReportDataOffset
        guard Array(report[start..<(start + TDXLayout.reportDataLength)]) == data else {
            throw GuestReportError.tdReport("\(path): the TDREPORT does not carry the requested REPORTDATA")
        }
        return report
    }

    /// What an errno of TDX_CMD_GET_REPORT0 means (drivers/virt/coco/tdx-guest/tdx-guest.c).
    static func explain(_ code: Int32) -> String {
        let text = "\(errorText(code)) (errno \(code))"
        #if canImport(Glibc)
        switch code {
        case ENOTTY: return "\(text): the driver does not know TDX_CMD_GET_REPORT0 (not the TDX guest driver?)"
        case EINVAL: return "\(text): the driver refused the request"
        case EIO: return "\(text): the TDG.MR.REPORT call failed in the TDX module"
        case ENOENT: return "\(text): no such device (not inside a TDX guest?)"
        default: return text
        }
        #else
        return text
        #endif
    }

    /// One GET_QUOTE_REQ/GET_QUOTE_RESP exchange with the Quote Generation Service.
    func quoteFromService(_ tdReport: [UInt8]) throws -> [UInt8] {
        let connection = try quoteService.connect()
        try connection.send(QGSMessage.getQuoteRequest(tdReport: tdReport))
        let prefix = try readExactly(QGSMessage.lengthPrefixSize, from: connection, what: "the length prefix")
        let length = try QGSMessage.responseLength(prefix: prefix)
        let message = try readExactly(length, from: connection, what: "the \(length)-byte response")
        return try QGSMessage.quote(fromResponse: message)
    }

    private func readExactly(_ count: Int, from connection: any QGSConnection, what: String) throws -> [UInt8] {
        var bytes: [UInt8] = []
        while bytes.count < count {
            let chunk = try connection.receive(upTo: count - bytes.count)
            guard !chunk.isEmpty else {
                throw GuestReportError.quoteGeneration(
                    "\(quoteService.address): the connection closed after \(bytes.count) of the \(count) bytes of \(what)")
            }
            bytes += chunk.prefix(count - bytes.count)
        }
        return bytes
    }
}
