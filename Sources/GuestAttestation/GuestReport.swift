import Foundation
import SEVABI
#if canImport(Glibc)
import Glibc
#endif

public enum GuestReportError: Error, Equatable, CustomStringConvertible, Sendable {
    case reportDataTooLong(Int)
    case vmplOutOfRange(UInt32)
    case unavailable(String)
    case io(path: String, reason: String)
    case wrongProvider(String)
    case raced(String)
    case firmware(String)
    /// /dev/sev-guest: the certificate buffer was too small (the kernel said how much it needs).
    case certificateBufferTooSmall
    /// TDX has no VMPLs: a request at another level than 0 cannot be honoured.
    case noVMPL(UInt32)
    /// /dev/tdx_guest: TDX_CMD_GET_REPORT0 (TDG.MR.REPORT) failed.
    case tdReport(String)
    /// The host's Quote Generation Service did not turn the TDREPORT into a quote.
    case quoteGeneration(String)

    public var description: String {
        switch self {
        case .reportDataTooLong(let count): return "report data is at most 64 bytes, found \(count)"
        case .vmplOutOfRange(let vmpl): return "VMPL must be 0-3, found \(vmpl)"
        case .unavailable(let why): return "no SNP or TDX guest interface: \(why)"
        case let .io(path, reason): return "\(path): \(reason)"
        case .wrongProvider(let provider):
            return "configfs-tsm provider is '\(provider)', neither sev_guest (SNP) nor tdx_guest (TDX)"
        case .raced(let why): return "report request raced with another user of the interface: \(why)"
        case .firmware(let why): return "the SNP firmware refused the request: \(why)"
        case .certificateBufferTooSmall: return "the certificate buffer is too small for the host's certificate table"
        case .noVMPL(let vmpl): return "TDX has no VMPL: request at level 0, not \(vmpl)"
        case .tdReport(let why): return "TDX_CMD_GET_REPORT0 failed: \(why)"
        case .quoteGeneration(let why): return "the Quote Generation Service gave no quote: \(why)"
        }
    }
}

/// What a provider returned: an SNP ATTESTATION_REPORT or an Intel DCAP quote of a TD.
public enum GuestEvidenceKind: String, Sendable {
    case snpReport = "SNP report"
    case tdxQuote = "TDX quote"
}

/// A report fetched inside the guest, with the host's certificate table when the interface provides it
/// (SNP only: a TDX quote carries its PCK certificate chain inside).
public struct GuestReportResult: Sendable {
    public let report: [UInt8]
    public let certificateTable: [UInt8]?
    public let kind: GuestEvidenceKind

    init(report: [UInt8], certificateTable: [UInt8]?, kind: GuestEvidenceKind = .snpReport) {
        self.report = report
        self.certificateTable = certificateTable
        self.kind = kind
    }
}

/// The kernel interface that produces evidence: configfs-tsm on Linux ≥ 6.7 (SNP or TDX), /dev/sev-guest
/// or /dev/tdx_guest with the host's Quote Generation Service before.
public protocol GuestReportProvider: Sendable {
    var name: String { get }
    func getReport(reportData: [UInt8], vmpl: UInt32) throws -> GuestReportResult
}

/// The 64-byte REPORT_DATA (zero-padded) and the VMPL range checks shared by every provider.
func normalizedRequest(_ data: [UInt8], vmpl: UInt32) throws -> [UInt8] {
    guard data.count <= 64 else { throw GuestReportError.reportDataTooLong(data.count) }
    guard vmpl <= 3 else { throw GuestReportError.vmplOutOfRange(vmpl) }
    return data + [UInt8](repeating: 0, count: 64 - data.count)
}

/// configfs-tsm (Documentation/ABI/testing/configfs-tsm): create an entry under the report root, write
/// privlevel and inblob, read outblob and auxblob; `generation` counts writes and must advance by
/// exactly the writes made here, otherwise another process used the same entry meanwhile.
/// Provider sev_guest gives an SNP report (REPORT_DATA at 0x50) and the host's certificate table;
/// tdx_guest gives a DCAP quote (v4 or v5, REPORTDATA checked at the body's offset 520) that the kernel
/// had the host's Quote Generation Service make, and has no privlevel (TDX has no VMPLs). The tdx_guest
/// path is tested against a directory laid out like the kernel's, not on TDX hardware.
public struct ConfigfsTSM: GuestReportProvider {
    public static let defaultRoot = URL(fileURLWithPath: "/sys/kernel/config/tsm/report")
    public let root: URL
    /// An existing entry to use instead of creating (and removing) a fresh one.
    public let entryName: String?
    public var name: String { "configfs-tsm" }

    public init(root: URL = ConfigfsTSM.defaultRoot, entryName: String? = nil) {
        self.root = root
        self.entryName = entryName
    }

    public static var isAvailable: Bool { FileManager.default.fileExists(atPath: defaultRoot.path) }

    public func getReport(reportData: [UInt8], vmpl: UInt32) throws -> GuestReportResult {
        let data = try normalizedRequest(reportData, vmpl: vmpl)
        let fm = FileManager.default
        let name = entryName ?? "cvm-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))"
        let entry = root.appendingPathComponent(name)
        let created = !fm.fileExists(atPath: entry.path)
        if created {
            do { try fm.createDirectory(at: entry, withIntermediateDirectories: false) } catch {
                throw GuestReportError.io(path: entry.path, reason: error.localizedDescription)
            }
        }
        defer { if created { try? fm.removeItem(at: entry) } }
        let provider = try readText(entry, "provider")
        let tdx: Bool
        switch provider {
        case "sev_guest": tdx = false
        case "tdx_guest": tdx = true
        default: throw GuestReportError.wrongProvider(provider)
        }
        if tdx, vmpl != 0 { throw GuestReportError.noVMPL(vmpl) }
        let before = try readText(entry, "generation")
        // TDX has no privlevel (kernels ≥ 6.10 do not even show the attribute for tdx_guest).
        if !tdx, fm.fileExists(atPath: entry.appendingPathComponent("privlevel").path) || vmpl != 0 {
            try write(Array("\(vmpl)\n".utf8), entry, "privlevel")
        }
        try write(data, entry, "inblob")
        let report = try read(entry, "outblob")
        let after = try readText(entry, "generation")
        if let b = Int(before), let a = Int(after), a - b > 2 {
            throw GuestReportError.raced("generation went from \(b) to \(a)")
        }
        if tdx {
            let carried = try TDXLayout.reportData(ofQuote: report) { GuestReportError.io(path: entry.appendingPathComponent("outblob").path, reason: $0) }
            guard carried == data else { throw GuestReportError.raced("the quote does not carry the requested REPORTDATA") }
            return GuestReportResult(report: report, certificateTable: nil, kind: .tdxQuote)
        }
        if report.count >= 0x90, Array(report[0x50..<0x90]) != data {
            throw GuestReportError.raced("the report does not carry the requested REPORT_DATA")
        }
        let aux = fm.fileExists(atPath: entry.appendingPathComponent("auxblob").path) ? try read(entry, "auxblob") : []
        return GuestReportResult(report: report, certificateTable: aux.isEmpty ? nil : aux)
    }

    private func read(_ entry: URL, _ file: String) throws -> [UInt8] {
        let url = entry.appendingPathComponent(file)
        do { return Array(try Data(contentsOf: url)) } catch {
            throw GuestReportError.io(path: url.path, reason: error.localizedDescription)
        }
    }

    private func readText(_ entry: URL, _ file: String) throws -> String {
        String(decoding: try read(entry, file), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func write(_ bytes: [UInt8], _ entry: URL, _ file: String) throws {
        let url = entry.appendingPathComponent(file)
        // configfs attributes take one write(2); FileHandle writes in place without truncating via rename.
        guard let handle = FileHandle(forWritingAtPath: url.path) ?? createAndOpen(url) else {
            throw GuestReportError.io(path: url.path, reason: "cannot open for writing")
        }
        defer { try? handle.close() }
        do { try handle.write(contentsOf: Data(bytes)) } catch {
            throw GuestReportError.io(path: url.path, reason: error.localizedDescription)
        }
    }

    private func createAndOpen(_ url: URL) -> FileHandle? {
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else { return nil }
        return FileHandle(forWritingAtPath: url.path)
    }
}

/// The ioctl boundary of a guest device node (/dev/sev-guest, /dev/tdx_guest). `argument` points at the
/// request structure the driver defines, whose buffers are live for the call. Tests put a simulated
/// kernel here; `DeviceIoctlChannel` issues the real ioctl.
public protocol GuestIoctlChannel: Sendable {
    /// Returns the ioctl's result (0 or -1) and errno.
    func ioctl(_ request: UInt, _ argument: UnsafeMutableRawPointer) -> (result: Int32, errno: Int32)
}

/// /dev/sev-guest's argument is a `struct snp_guest_request_ioctl` (u8 msg_version; u64 req_data;
/// u64 resp_data; u64 exitinfo2): the kernel reads the request through its pointers and writes the
/// response and exitinfo2 back.
public typealias SEVGuestIoctlChannel = GuestIoctlChannel

/// The real device node: opened, one ioctl issued, closed.
public struct DeviceIoctlChannel: GuestIoctlChannel {
    public let path: String
    public init(path: String) { self.path = path }

    public func ioctl(_ request: UInt, _ argument: UnsafeMutableRawPointer) -> (result: Int32, errno: Int32) {
        deviceIoctl(path: path, request, argument)
    }
}

/// Opens a device node, issues one ioctl, closes it: the real side of every guest ioctl channel.
func deviceIoctl(path: String, _ request: UInt, _ argument: UnsafeMutableRawPointer) -> (result: Int32, errno: Int32) {
    #if canImport(Glibc)
    let fd = open(path, O_RDWR | O_CLOEXEC)
    guard fd >= 0 else { return (-1, errno) }
    defer { close(fd) }
    let result = Glibc.ioctl(fd, request, argument)
    return (result, result == 0 ? 0 : errno)
    #else
    return (-1, 38 /* ENOSYS */)
    #endif
}

/// strerror for an errno, for one-line errors.
func errorText(_ code: Int32) -> String {
    #if canImport(Glibc)
    return String(cString: strerror(code))
    #else
    return "errno \(code)"
    #endif
}

/// /dev/sev-guest (Linux include/uapi/linux/sev-guest.h), for kernels without configfs-tsm:
/// SNP_GET_EXT_REPORT when the host's certificates are wanted (the buffer grows once if the kernel
/// asks for more), SNP_GET_REPORT otherwise.
public struct SEVGuestDevice: GuestReportProvider {
    public static let defaultPath = "/dev/sev-guest"
    public let path: String
    public let channel: any SEVGuestIoctlChannel
    /// Ask for the host's certificate table too (SNP_GET_EXT_REPORT).
    public let requestCertificates: Bool
    public var name: String { path }

    public init(path: String = SEVGuestDevice.defaultPath, requestCertificates: Bool = true, channel: (any SEVGuestIoctlChannel)? = nil) {
        self.path = path
        self.requestCertificates = requestCertificates
        self.channel = channel ?? DeviceIoctlChannel(path: path)
    }

    public static var isAvailable: Bool { FileManager.default.fileExists(atPath: defaultPath) }

    /// _IOWR('S', nr, struct snp_guest_request_ioctl), a 32-byte argument.
    public static let getReportRequest: UInt = 0xC020_5300
    public static let getExtendedReportRequest: UInt = 0xC020_5302
    /// exitinfo2's upper half (the VMM's error): the certificate buffer is too small.
    static let vmmErrorInvalidLength: UInt64 = 1
    static let page = 4096
    /// SEV_FW_BLOB_MAX_SIZE: the kernel refuses larger certificate buffers.
    static let maximumCertificateBuffer = 16 * 4096

    public func getReport(reportData: [UInt8], vmpl: UInt32) throws -> GuestReportResult {
        let data = try normalizedRequest(reportData, vmpl: vmpl)
        // struct snp_report_req { u8 user_data[64]; u32 vmpl; u8 rsvd[28]; }
        let reportRequest = data + vmpl.littleEndianBytes + [UInt8](repeating: 0, count: 28)
        guard requestCertificates else {
            var request = reportRequest
            let response = try issue(Self.getReportRequest, request: &request)
            return GuestReportResult(report: try Self.report(fromResponse: response), certificateTable: nil)
        }
        var length = 4 * Self.page
        for _ in 0..<2 {
            // struct snp_ext_report_req { struct snp_report_req data; u64 certs_address; u32 certs_len; } (112 bytes)
            var certificates = [UInt8](repeating: 0, count: length)
            var outcome: Result<[UInt8], GuestReportError> = .failure(.firmware("no response"))
            var requested = 0
            certificates.withUnsafeMutableBytes { buffer in
                var request = reportRequest + UInt64(UInt(bitPattern: buffer.baseAddress)).littleEndianBytes
                    + UInt32(length).littleEndianBytes + [0, 0, 0, 0]
                outcome = Result { try issue(Self.getExtendedReportRequest, request: &request) }.mapError {
                    $0 as? GuestReportError ?? .firmware("\($0)")
                }
                requested = Int(request[104..<108].littleEndianInteger() as UInt32)
            }
            switch outcome {
            case .success(let response):
                return GuestReportResult(report: try Self.report(fromResponse: response), certificateTable: certificates)
            case .failure(.certificateBufferTooSmall):
                guard requested > length, requested <= Self.maximumCertificateBuffer else {
                    throw GuestReportError.firmware("the host's certificate table needs \(requested) bytes (at most \(Self.maximumCertificateBuffer))")
                }
                length = (requested + Self.page - 1) / Self.page * Self.page
            case .failure(let error):
                throw error
            }
        }
        throw GuestReportError.firmware("the host's certificate table kept growing between requests")
    }

    /// Issues one request with a 4000-byte response buffer; returns the response.
    func issue(_ command: UInt, request: inout [UInt8]) throws -> [UInt8] {
        var response = [UInt8](repeating: 0, count: 4000)
        var exitInfo: UInt64 = 0
        let (rc, error) = request.withUnsafeMutableBytes { requestBuffer in
            response.withUnsafeMutableBytes { responseBuffer in
                var argument = [UInt8](repeating: 0, count: 32)
                argument[0] = 1  // msg_version
                argument.replaceSubrange(8..<16, with: UInt64(UInt(bitPattern: requestBuffer.baseAddress)).littleEndianBytes)
                argument.replaceSubrange(16..<24, with: UInt64(UInt(bitPattern: responseBuffer.baseAddress)).littleEndianBytes)
                let outcome = argument.withUnsafeMutableBytes { pointer -> (Int32, Int32) in
                    guard let base = pointer.baseAddress else { return (-1, 22) }
                    return channel.ioctl(command, base)
                }
                exitInfo = argument[24..<32].littleEndianInteger()
                return outcome
            }
        }
        guard rc == 0 else {
            if exitInfo >> 32 == Self.vmmErrorInvalidLength { throw GuestReportError.certificateBufferTooSmall }
            #if canImport(Glibc)
            let reason = String(cString: strerror(error))
            #else
            let reason = "errno \(error)"
            #endif
            throw GuestReportError.firmware("\(command == Self.getReportRequest ? "SNP_GET_REPORT" : "SNP_GET_EXT_REPORT") failed: \(reason) (firmware error 0x\(String(exitInfo & 0xFFFF_FFFF, radix: 16)), VMM error 0x\(String(exitInfo >> 32, radix: 16)))")
        }
        return response
    }

    /// MSG_REPORT_RSP: status u32, report size u32, 24 reserved bytes, then the report.
    static func report(fromResponse response: [UInt8]) throws -> [UInt8] {
        let status: UInt32 = response[0..<4].littleEndianInteger()
        let size: UInt32 = response[4..<8].littleEndianInteger()
        guard status == 0 else { throw GuestReportError.firmware("MSG_REPORT_RSP status 0x\(String(status, radix: 16))") }
        guard size >= 1184, 32 + Int(size) <= response.count else { throw GuestReportError.firmware("report size \(size)") }
        return Array(response[32..<(32 + Int(size))])
    }
}

/// The preferred provider on this machine: configfs-tsm (either provider), then /dev/sev-guest, then
/// /dev/tdx_guest with the Quote Generation Service at `quoteService`.
/// `certificates`: whether /dev/sev-guest should ask for the host's certificate table too.
public func defaultGuestReportProvider(certificates: Bool = true,
                                       quoteService: any QGSTransport = VsockQGSTransport()) throws -> any GuestReportProvider {
    if ConfigfsTSM.isAvailable { return ConfigfsTSM() }
    if SEVGuestDevice.isAvailable { return SEVGuestDevice(requestCertificates: certificates) }
    if TDXGuestDevice.isAvailable { return TDXGuestDevice(quoteService: quoteService) }
    throw GuestReportError.unavailable(
        "none of /sys/kernel/config/tsm/report, /dev/sev-guest, /dev/tdx_guest exists (not inside an SNP or TDX guest?)")
}
