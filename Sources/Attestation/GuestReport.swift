import Foundation
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

    public var description: String {
        switch self {
        case .reportDataTooLong(let count): return "report data is at most 64 bytes, found \(count)"
        case .vmplOutOfRange(let vmpl): return "VMPL must be 0-3, found \(vmpl)"
        case .unavailable(let why): return "no SNP guest interface: \(why)"
        case let .io(path, reason): return "\(path): \(reason)"
        case .wrongProvider(let provider): return "configfs-tsm provider is '\(provider)', not sev_guest (not an SNP guest?)"
        case .raced(let why): return "report request raced with another user of the interface: \(why)"
        case .firmware(let why): return "the SNP firmware refused the request: \(why)"
        }
    }
}

/// A report fetched inside the guest, with the host's certificate table when the interface provides it.
public struct GuestReportResult: Sendable {
    public let report: [UInt8]
    public let certificateTable: [UInt8]?
}

/// The kernel interface that produces reports: configfs-tsm on Linux ≥ 6.7, /dev/sev-guest before.
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
        guard provider == "sev_guest" else { throw GuestReportError.wrongProvider(provider) }
        let before = try readText(entry, "generation")
        if fm.fileExists(atPath: entry.appendingPathComponent("privlevel").path) || vmpl != 0 {
            try write(Array("\(vmpl)\n".utf8), entry, "privlevel")
        }
        try write(data, entry, "inblob")
        let report = try read(entry, "outblob")
        let after = try readText(entry, "generation")
        if let b = Int(before), let a = Int(after), a - b > 2 {
            throw GuestReportError.raced("generation went from \(b) to \(a)")
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

/// /dev/sev-guest SNP_GET_REPORT (Linux include/uapi/linux/sev-guest.h), for kernels without
/// configfs-tsm. Host certificates are not requested on this path (use configfs-tsm's auxblob).
public struct SEVGuestDevice: GuestReportProvider {
    public static let defaultPath = "/dev/sev-guest"
    public let path: String
    public var name: String { "/dev/sev-guest" }

    public init(path: String = SEVGuestDevice.defaultPath) { self.path = path }

    public static var isAvailable: Bool { FileManager.default.fileExists(atPath: defaultPath) }

    /// _IOWR('S', 0x0, struct snp_guest_request_ioctl) with a 32-byte argument.
    static let getReportRequest: UInt = 0xC020_5300

    public func getReport(reportData: [UInt8], vmpl: UInt32) throws -> GuestReportResult {
        let data = try normalizedRequest(reportData, vmpl: vmpl)
        #if canImport(Glibc)
        let fd = open(path, O_RDWR)
        guard fd >= 0 else { throw GuestReportError.unavailable("\(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        // struct snp_report_req { u8 user_data[64]; u32 vmpl; u8 rsvd[28]; }
        var request = data + vmpl.littleEndianBytes + [UInt8](repeating: 0, count: 28)
        // struct snp_report_resp { u8 data[4000]; }: MSG_REPORT_RSP status u32, size u32, 24 reserved, report.
        var response = [UInt8](repeating: 0, count: 4000)
        var exitInfo: UInt64 = 0
        let rc: Int32 = request.withUnsafeMutableBytes { requestBuffer in
            response.withUnsafeMutableBytes { responseBuffer in
                // struct snp_guest_request_ioctl { u8 msg_version; u64 req_data; u64 resp_data; u64 exitinfo2; }
                var argument = [UInt8](repeating: 0, count: 32)
                argument[0] = 1
                argument.replaceSubrange(8..<16, with: UInt64(UInt(bitPattern: requestBuffer.baseAddress)).littleEndianBytes)
                argument.replaceSubrange(16..<24, with: UInt64(UInt(bitPattern: responseBuffer.baseAddress)).littleEndianBytes)
                let result = argument.withUnsafeMutableBytes { pointer -> Int32 in
                    guard let base = pointer.baseAddress else { return -1 }
                    return ioctl(fd, Self.getReportRequest, base)
                }
                exitInfo = argument[24..<32].littleEndianInteger()
                return result
            }
        }
        guard rc == 0 else {
            throw GuestReportError.firmware("SNP_GET_REPORT failed: \(String(cString: strerror(errno))) (exitinfo2 0x\(String(exitInfo, radix: 16)))")
        }
        let status: UInt32 = response[0..<4].littleEndianInteger()
        let size: UInt32 = response[4..<8].littleEndianInteger()
        guard status == 0 else { throw GuestReportError.firmware("MSG_REPORT_RSP status 0x\(String(status, radix: 16))") }
        guard size >= 1184, 32 + Int(size) <= response.count else { throw GuestReportError.firmware("report size \(size)") }
        return GuestReportResult(report: Array(response[32..<(32 + Int(size))]), certificateTable: nil)
        #else
        throw GuestReportError.unavailable("/dev/sev-guest needs Linux")
        #endif
    }
}

/// The preferred provider on this machine: configfs-tsm, then /dev/sev-guest.
public func defaultGuestReportProvider() throws -> any GuestReportProvider {
    if ConfigfsTSM.isAvailable { return ConfigfsTSM() }
    if SEVGuestDevice.isAvailable { return SEVGuestDevice() }
    throw GuestReportError.unavailable("neither /sys/kernel/config/tsm/report nor /dev/sev-guest exists (not inside an SNP guest?)")
}
