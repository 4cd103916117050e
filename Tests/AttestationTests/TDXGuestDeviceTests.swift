import Foundation
import Glibc
import Testing
import SEVABI
@testable import GuestAttestation

/// /dev/tdx_guest and the Quote Generation Service: a simulated kernel behind the ioctl, the service
/// played by FakeQGS (which parses the request on its own), real quotes from Intel hardware as answers.
@Suite struct TDXGuestDeviceTests {
    static let fixtures = ["tdx_quote", "quote_v5_sample.dat"]

    func makeDevice(_ fixture: String = "tdx_quote") throws -> (TDXGuestDevice, SimulatedTDXGuestKernel, FakeQGS) {
        let td = try RecordedTD(fixture)
        let kernel = SimulatedTDXGuestKernel(td: td)
        let qgs = FakeQGS(td: td)
        return (TDXGuestDevice(quoteService: qgs, channel: kernel), kernel, qgs)
    }

    @Test(arguments: fixtures)
    func theTDREPORTGoesToTheServiceAndItsQuoteComesBack(fixture: String) throws {
        let (device, kernel, qgs) = try makeDevice(fixture)
        let result = try device.getReport(reportData: kernel.td.reportData, vmpl: 0)
        #expect(result.report == kernel.td.quote)
        #expect(result.kind == .tdxQuote)
        #expect(result.certificateTable == nil)
        #expect(kernel.calls.count == 1)
        #expect(kernel.calls.first?.request == 0xC440_5401)
        #expect(kernel.calls.first?.reportData == kernel.td.reportData)
        #expect(qgs.requests.count == 1)
        #expect(qgs.problems.isEmpty, "\(qgs.problems)")
    }

    @Test func shortReportDataIsZeroPaddedBeforeTheKernelSeesIt() throws {
        let (device, kernel, qgs) = try makeDevice()
        qgs.behaviour = .replay
        // The recorded quote carries other REPORTDATA, so the device refuses it; the ioctl saw the padding.
        #expect(throws: GuestReportError.quoteGeneration("fake-qgs: the quote does not carry the requested REPORTDATA")) {
            _ = try device.getReport(reportData: [0xAB, 0xCD], vmpl: 0)
        }
        #expect(kernel.calls.first?.reportData == [0xAB, 0xCD] + [UInt8](repeating: 0, count: 62))
    }

    @Test func theServiceRefusingAReportIsNamed() throws {
        let (device, _, qgs) = try makeDevice()
        let other = [UInt8](repeating: 0x5A, count: 64)
        do {
            _ = try device.getReport(reportData: other, vmpl: 0)
            Issue.record("a TDREPORT for other REPORTDATA was turned into the recorded quote")
        } catch let error as GuestReportError {
            #expect(error.description.contains("QGS_MSG_ERROR_INVALID_PARAMETER"), "\(error)")
        }
        #expect(qgs.problems == ["the TDREPORT is not the recorded TD's"])
    }

    @Test func theResponseIsReassembledFromSmallReads() throws {
        let (device, kernel, qgs) = try makeDevice("quote_v5_sample.dat")
        qgs.chunk = 7
        #expect(try device.getReport(reportData: kernel.td.reportData, vmpl: 0).report == kernel.td.quote)
    }

    @Test func aKernelThatChangesTheReportDataIsCaught() throws {
        let (device, kernel, _) = try makeDevice()
        kernel.overwriteReportData = [UInt8](repeating: 1, count: 64)
        #expect(throws: GuestReportError.tdReport("/dev/tdx_guest: the TDREPORT does not carry the requested REPORTDATA")) {
            _ = try device.getReport(reportData: kernel.td.reportData, vmpl: 0)
        }
    }

    @Test(arguments: [(EIO, "TDG.MR.REPORT"), (ENOTTY, "TDX_CMD_GET_REPORT0"), (EINVAL, "refused")])
    func ioctlFailuresSayWhatFailed(code: Int32, words: String) throws {
        let (device, kernel, qgs) = try makeDevice()
        kernel.failure = code
        do {
            _ = try device.getReport(reportData: [], vmpl: 0)
            Issue.record("errno \(code) was not reported")
        } catch let error as GuestReportError {
            guard case .tdReport(let why) = error else { Issue.record("\(error)"); return }
            #expect(why.contains(words) && why.contains("errno \(code)"), "\(why)")
            #expect(!error.description.contains("\n"))
        }
        #expect(qgs.requests.isEmpty, "nothing goes to the service without a TDREPORT")
    }

    @Test func tdxHasNoVMPLs() throws {
        let (device, kernel, _) = try makeDevice()
        #expect(throws: GuestReportError.noVMPL(1)) { _ = try device.getReport(reportData: [], vmpl: 1) }
        #expect(throws: GuestReportError.reportDataTooLong(65)) {
            _ = try device.getReport(reportData: [UInt8](repeating: 0, count: 65), vmpl: 0)
        }
        #expect(kernel.calls.isEmpty)
    }

    /// Each malformed answer is refused with one line and no crash: a length prefix no response can have,
    /// sizes that disagree, another type or version, an error code, an empty success, a stream that stops.
    @Test func malformedResponsesAreRefused() throws {
        let td = try RecordedTD("tdx_quote")
        let good = FakeQGS.response(quote: td.quote)
        func prefixed(_ message: [UInt8]) -> [UInt8] {
            let n = UInt32(message.count)
            return [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + message
        }
        let body = Array(good[4...])
        let cases: [(String, [UInt8], String)] = [
            ("huge prefix", [0x7F, 0xFF, 0xFF, 0xFF] + body, "length prefix announces"),
            ("tiny prefix", [0, 0, 0, 3, 1, 2, 3], "length prefix announces"),
            ("cut short", Array(good[0..<1000]), "closed after"),
            ("nothing", [], "closed after 0 of the 4 bytes"),
            ("version 2", prefixed({ var b = body; b[0] = 2; return b }()), "version 2.x"),
            ("request type", prefixed({ var b = body; b[4] = 0; return b }()), "response type 0"),
            ("size field", prefixed({ var b = body; b[8] &+= 1; return b }()), "the header says"),
            ("quote size", prefixed({ var b = body; b[20] &+= 1; return b }()), "do not add up"),
            ("error", FakeQGS.response(errorCode: 0x0001_2004, quote: []), "QGS_MSG_ERROR_INVALID_VERSION"),
            ("unknown error", FakeQGS.response(errorCode: 0x99, quote: []), "0x99"),
            ("empty success", FakeQGS.response(quote: []), "empty quote"),
            ("not a TDX quote", FakeQGS.response(quote: [UInt8](repeating: 0, count: 700)), "not a TDX quote"),
            ("truncated quote", FakeQGS.response(quote: Array(td.quote[0..<300])), "ends inside its TD report body"),
        ]
        for (name, bytes, words) in cases {
            let (device, kernel, qgs) = try makeDevice()
            qgs.behaviour = .raw(bytes)
            do {
                _ = try device.getReport(reportData: kernel.td.reportData, vmpl: 0)
                Issue.record("\(name): accepted")
            } catch let error as GuestReportError {
                #expect(error.description.contains(words), "\(name): \(error)")
                #expect(!error.description.contains("\n"), "\(name)")
            }
        }
    }

    /// The real socket code (SocketConnection: send with MSG_NOSIGNAL, recv until the length is read) over
    /// a socketpair whose other end a thread serves as the QGS would.
    @Test func theExchangeRunsOverARealStreamSocket() throws {
        let td = try RecordedTD("quote_v5_sample.dat")
        let service = FakeQGS(td: td)
        let transport = SocketPairQGS(service: service)
        let device = TDXGuestDevice(quoteService: transport, channel: SimulatedTDXGuestKernel(td: td))
        #expect(try device.getReport(reportData: td.reportData, vmpl: 0).report == td.quote)
        transport.join()
        #expect(service.problems.isEmpty, "\(service.problems)")
        // A service that hangs up after reading: the device says so instead of waiting forever.
        let closing = SocketPairQGS(service: service, hangUp: true)
        let refused = TDXGuestDevice(quoteService: closing, channel: SimulatedTDXGuestKernel(td: td))
        #expect(throws: GuestReportError.quoteGeneration("socketpair: the connection closed after 0 of the 4 bytes of the length prefix")) {
            _ = try refused.getReport(reportData: td.reportData, vmpl: 0)
        }
        closing.join()
    }

    /// struct sockaddr_vm and AF_VSOCK from linux/vm_sockets.h, compiled by gcc in this run.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/usr/include/linux/vm_sockets.h") && LinuxHeaderProgram.gcc != nil,
                   "needs gcc and linux-libc-dev (scripts/install-deps)"))
    func theVsockAddressIsTheKernels() throws {
        let printed = try LinuxHeaderProgram.run("""
        #include <stdio.h>
        #include <stddef.h>
        #include <string.h>
        #include <sys/socket.h>
        #include <linux/vm_sockets.h>
        int main(void) {
            struct sockaddr_vm a; memset(&a, 0, sizeof a);
            a.svm_family = AF_VSOCK; a.svm_port = 4051; a.svm_cid = VMADDR_CID_HOST;
            unsigned char *p = (unsigned char *)&a;
            for (size_t i = 0; i < sizeof a; i++) printf("%02x", p[i]);
            printf("\\n%d %d\\n", AF_VSOCK, VMADDR_CID_HOST);
            return 0;
        }
        """)
        let lines = printed.split(separator: "\n")
        try #require(lines.count == 2)
        #expect(String(lines[0]) == VsockQGSTransport.socketAddress(cid: VsockQGSTransport.hostCID, port: 4051).hexString)
        #expect(String(lines[1]) == "\(VsockQGSTransport.addressFamily) \(VsockQGSTransport.hostCID)")
    }

    /// TDX_CMD_GET_REPORT0 and struct tdx_report_req from the kernel's uapi linux/tdx-guest.h (Linux ≥ 6.2,
    /// so from the 6.12 common headers scripts/install-deps brings; Debian 12's linux-libc-dev is 6.1).
    @Test(.enabled(if: LinuxHeaderProgram.tdxGuestHeader != nil && LinuxHeaderProgram.gcc != nil,
                   "needs gcc and linux-headers-6.12.*-common (scripts/install-deps)"))
    func theIoctlIsTheKernels() throws {
        let header = try #require(LinuxHeaderProgram.tdxGuestHeader)
        let printed = try LinuxHeaderProgram.run("""
        #include <stdio.h>
        #include <stddef.h>
        #include "\(header)"
        int main(void) {
            printf("%lx %zu %zu %d %d\\n", (unsigned long)TDX_CMD_GET_REPORT0, sizeof(struct tdx_report_req),
                   offsetof(struct tdx_report_req, tdreport), TDX_REPORTDATA_LEN, TDX_REPORT_LEN);
            return 0;
        }
        """)
        let expected = "\(String(TDXGuestDevice.getReport0Request, radix: 16)) \(TDXGuestDevice.requestLength) "
            + "\(TDXLayout.reportDataLength) \(TDXLayout.reportDataLength) \(TDXLayout.tdReportLength)\n"
        #expect(printed == expected)
        #expect(TDXGuestDevice.requestLength == TDXLayout.reportDataLength + TDXLayout.tdReportLength)
    }

    @Test func tdxGuestIsAConfigfsTSMProvider() throws {
        let td = try RecordedTD("quote_v5_sample.dat")
        let (root, entry) = try Self.tsmEntry(provider: "tdx_guest", outblob: td.quote)
        let result = try ConfigfsTSM(root: root, entryName: "entry0").getReport(reportData: td.reportData, vmpl: 0)
        #expect(result.report == td.quote)
        #expect(result.kind == .tdxQuote)
        #expect(result.certificateTable == nil)
        #expect(Array(try Data(contentsOf: entry.appendingPathComponent("inblob"))) == td.reportData)
        #expect(!FileManager.default.fileExists(atPath: entry.appendingPathComponent("privlevel").path), "TDX has no privlevel")
        #expect(throws: GuestReportError.noVMPL(2)) {
            _ = try ConfigfsTSM(root: root, entryName: "entry0").getReport(reportData: td.reportData, vmpl: 2)
        }
        #expect(throws: GuestReportError.raced("the quote does not carry the requested REPORTDATA")) {
            _ = try ConfigfsTSM(root: root, entryName: "entry0").getReport(reportData: [9], vmpl: 0)
        }
    }

    @Test func aTSMOutblobThatIsNoTDXQuoteIsRefused() throws {
        let sgx = [UInt8](repeating: 0, count: 48) + [UInt8](repeating: 0, count: 600)
        let (root, _) = try Self.tsmEntry(provider: "tdx_guest", outblob: sgx)
        do {
            _ = try ConfigfsTSM(root: root, entryName: "entry0").getReport(reportData: [], vmpl: 0)
            Issue.record("a blob that is no quote was accepted")
        } catch let error as GuestReportError {
            #expect(error.description.contains("outblob") && error.description.contains("not a TDX quote"), "\(error)")
        }
        let (other, _) = try Self.tsmEntry(provider: "arm_cca_guest", outblob: sgx)
        #expect(throws: GuestReportError.wrongProvider("arm_cca_guest")) {
            _ = try ConfigfsTSM(root: other, entryName: "entry0").getReport(reportData: [], vmpl: 0)
        }
    }

    /// A report entry as configfs-tsm shows it for the tdx_guest provider (no privlevel attribute), with
    /// `outblob` standing for what the kernel would have fetched.
    static func tsmEntry(provider: String, outblob: [UInt8]) throws -> (URL, URL) {
        let root = try Subprocess.temporaryDirectory()
        let entry = root.appendingPathComponent("entry0")
        try FileManager.default.createDirectory(at: entry, withIntermediateDirectories: true)
        try Data((provider + "\n").utf8).write(to: entry.appendingPathComponent("provider"))
        try Data("0\n".utf8).write(to: entry.appendingPathComponent("generation"))
        try Data().write(to: entry.appendingPathComponent("inblob"))
        try Data(outblob).write(to: entry.appendingPathComponent("outblob"))
        return (root, entry)
    }
}

/// A QGS transport whose connection is one end of a socketpair; a thread serves the other end with
/// FakeQGS's answer (or hangs up after reading the request when `hangUp`).
final class SocketPairQGS: QGSTransport, @unchecked Sendable {
    let service: FakeQGS
    let hangUp: Bool
    private var thread: Thread?
    private let done = DispatchSemaphore(value: 0)
    var address: String { "socketpair" }

    init(service: FakeQGS, hangUp: Bool = false) {
        self.service = service
        self.hangUp = hangUp
    }

    func connect() throws -> any QGSConnection {
        var fds: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0 else {
            throw GuestReportError.quoteGeneration("socketpair: errno \(errno)")
        }
        let (service, hangUp, done, serverEnd) = (self.service, self.hangUp, self.done, fds[1])
        let thread = Thread {
            defer { close(serverEnd); done.signal() }
            // The request: its 4-byte big-endian length, then that many bytes.
            var request: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            func want() -> Int { request.count < 4 ? 4 : 4 + request[0..<4].reduce(0) { $0 << 8 | Int($1) } }
            while request.count < want() {
                let n = buffer.withUnsafeMutableBytes { recv(serverEnd, $0.baseAddress!, min(4096, want() - request.count), 0) }
                guard n > 0 else { return }
                request += buffer[0..<n]
            }
            if hangUp { return }
            let answer = service.answer(request)
            var sent = 0
            while sent < answer.count {
                let n = answer.withUnsafeBytes { send(serverEnd, $0.baseAddress! + sent, answer.count - sent, Int32(MSG_NOSIGNAL)) }
                guard n > 0 else { return }
                sent += n
            }
        }
        self.thread = thread
        thread.start()
        return SocketConnection(adopting: fds[0], peer: address)
    }

    func join() { if thread != nil { done.wait() } }
}

/// A C program built with gcc against the installed kernel headers, run once, its output returned.
enum LinuxHeaderProgram {
    static var gcc: String? { ["/usr/bin/gcc", "/usr/bin/cc"].first { FileManager.default.isExecutableFile(atPath: $0) } }

    /// include/uapi/linux/tdx-guest.h of the newest installed linux-headers-*-common.
    static let tdxGuestHeader: String? = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/src")) ?? []
        return names.filter { $0.hasPrefix("linux-headers-") && $0.hasSuffix("-common") }
            .sorted { $0.compare($1, options: .numeric) == .orderedDescending }
            .map { "/usr/src/\($0)/include/uapi/linux/tdx-guest.h" }
            .first { FileManager.default.fileExists(atPath: $0) }
    }()

    static func run(_ source: String) throws -> String {
        let directory = try Subprocess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (c, binary) = (directory.appendingPathComponent("p.c"), directory.appendingPathComponent("p"))
        try Data(source.utf8).write(to: c)
        for (tool, arguments) in [(gcc ?? "/usr/bin/gcc", ["-o", binary.path, c.path]), (binary.path, [])] {
            let process = Process()
            let pipe = Pipe()
            process.executableURL = URL(fileURLWithPath: tool)
            process.arguments = arguments
            process.standardOutput = pipe
            try process.run()
            let output = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw Subprocess.Failure(description: "\(tool) exited \(process.terminationStatus)") }
            if tool == binary.path { return String(decoding: output, as: UTF8.self) }
        }
        return ""
    }
}
