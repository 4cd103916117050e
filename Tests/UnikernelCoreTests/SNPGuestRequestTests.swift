import Foundation
import Testing
@testable import UnikernelCore

/// The in-guest attestation flow on the host: the unikernel's SNPGuestRequest with its channel, GHCB
/// and shared pages, against a hypervisor that hands the request page to a PSP stood in for by the
/// Python oracle (Oracles/snp_guest_message.py on `cryptography`): it opens our MSG_REPORT_REQ, answers
/// with a real AMD-signed report from the vectors in MSG_REPORT_RSP, and returns a certificate table.
@Suite(.enabled(if: PythonGuestMessage.python != nil, PythonGuestMessage.skipReason))
final class SNPGuestRequestTests {
    static let key: [UInt8] = (0..<32).map { UInt8(($0 * 11 + 5) & 0xff) }
    static let vectors = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("AttestationTests/Fixtures/snp/milan-v2")

    let ghcbPage = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 4096)
    let request = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 4096)
    let response = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 4096)
    let certificates = UnsafeMutableRawPointer.allocate(byteCount: 4 * 4096, alignment: 4096)
    var exits = 0
    /// VMM errors to answer before the PSP is reached, one per exit.
    var vmmErrors: [UInt64] = []
    var firmwareError: UInt64 = 0
    var seenReportData: [UInt8] = []
    /// Flip one ciphertext byte of the response on its way back.
    var tamper = false

    deinit {
        for page in [ghcbPage, request, response, certificates] { page.deallocate() }
    }

    var pages: SNPGuestRequest.Pages {
        .init(request: request, requestAddress: 0x10_0000, response: response, responseAddress: 0x10_1000,
              certificates: certificates, certificatesAddress: 0x10_2000, certificatePages: 2)
    }

    /// A table with one VCEK entry and its terminator, as a host would return it.
    static func table(_ vcek: [UInt8]) -> [UInt8] {
        var guid: [UInt8] = [0x8d, 0x75, 0xda, 0x63, 0x64, 0xe6, 0x64, 0x45, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd]
        func le32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xff) } }
        guid += le32(48) + le32(vcek.count)
        return guid + [UInt8](repeating: 0, count: 24) + vcek
    }

    /// The hypervisor and the PSP behind it.
    func vmgexit(report: [UInt8], table: [UInt8]) {
        exits += 1
        let ghcb = GHCB(page: ghcbPage)
        #expect(ghcb.get(.exitCode) == SVMExitCode.extendedGuestRequest.rawValue)
        #expect(ghcb.get(.exitInfo1) == 0x10_0000 && ghcb.get(.exitInfo2) == 0x10_1000 && ghcb.get(.rax) == 0x10_2000 && ghcb.get(.rbx) == 2)
        if !vmmErrors.isEmpty {
            let error = vmmErrors.removeFirst()
            ghcb.set(.exitInfo1, 0)
            ghcb.set(.exitInfo2, error << 32)
            if error == SNPGuestRequest.vmmErrorInvalidLength { ghcb.set(.rbx, 3) }
            return
        }
        let sealed = (0..<4096).map { request.load(fromByteOffset: $0, as: UInt8.self) }
        guard let opened = try? PythonGuestMessage.open(key: Self.key, message: sealed) else {
            Issue.record("the PSP could not open the request")
            return
        }
        #expect(opened.1 == 5 && opened.3.count == 96, "MSG_REPORT_REQ")
        seenReportData = Array(opened.3.prefix(64))
        var payload = [UInt8](repeating: 0, count: 0x20)
        payload[0] = UInt8(firmwareError == 0 ? 0 : 0x16)
        payload[4] = UInt8(report.count & 0xff)
        payload[5] = UInt8(report.count >> 8)
        payload += report
        guard let answer = try? PythonGuestMessage.seal(key: Self.key, sequence: opened.0 + 1, type: 6, vmpck: opened.2, payload: payload) else {
            Issue.record("the PSP could not seal the response")
            return
        }
        for (offset, byte) in answer.enumerated() { response.storeBytes(of: byte, toByteOffset: offset, as: UInt8.self) }
        if tamper { response.storeBytes(of: response.load(fromByteOffset: 0x70, as: UInt8.self) ^ 1, toByteOffset: 0x70, as: UInt8.self) }
        certificates.initializeMemory(as: UInt8.self, repeating: 0, count: 2 * 4096)
        for (offset, byte) in table.enumerated() { certificates.storeBytes(of: byte, toByteOffset: offset, as: UInt8.self) }
        ghcb.set(.exitInfo1, 0)
        ghcb.set(.exitInfo2, firmwareError)
    }

    func ask(_ channel: inout SNPGuestChannel, reportData: [UInt8], report: [UInt8], table: [UInt8]) throws(SNPGuestRequest.Failure) -> SNPGuestRequest.Result {
        try SNPGuestRequest.report(reportData: reportData, channel: &channel, pages: pages, ghcb: GHCB(page: ghcbPage), protocolVersion: 2) {
            vmgexit(report: report, table: table)
        }
    }

    @Test func aRealReportComesBackThroughTheExtendedGuestRequest() throws {
        let report = Array(try Data(contentsOf: Self.vectors.appendingPathComponent("report.bin")))
        let table = Self.table(Array(try Data(contentsOf: Self.vectors.appendingPathComponent("vcek.der"))))
        var channel = try SNPGuestChannel(key: Self.key, vmpck: 0, lastSequenceNumber: 10)
        let binding = AttestationBinding.reportData(nonce: [9, 9, 9], commandLine: Array("run=noop attest=1".utf8))
        let result = try ask(&channel, reportData: binding, report: report, table: table)
        #expect(result.report == report)
        #expect(result.certificates == table, "the table up to its terminator and the certificate it points at")
        #expect(seenReportData == binding, "the PSP saw the REPORT_DATA the guest bound")
        #expect(channel.sequenceNumber == 12 && exits == 1)
    }

    @Test func busyIsRetriedAndATooSmallCertificateBufferSaysHowManyPages() throws {
        let report = Array(try Data(contentsOf: Self.vectors.appendingPathComponent("report.bin")))
        var channel = try SNPGuestChannel(key: Self.key, vmpck: 0)
        vmmErrors = [SNPGuestRequest.vmmErrorBusy, SNPGuestRequest.vmmErrorBusy]
        #expect(try ask(&channel, reportData: [], report: report, table: []).report == report)
        #expect(exits == 3, "two busy answers, then the PSP")

        var small = try SNPGuestChannel(key: Self.key, vmpck: 0)
        vmmErrors = [SNPGuestRequest.vmmErrorInvalidLength]
        #expect(throws: SNPGuestRequest.Failure.certificateBufferTooSmall(pagesNeeded: 3)) { try ask(&small, reportData: [], report: report, table: []) }
        var stuck = try SNPGuestChannel(key: Self.key, vmpck: 0)
        vmmErrors = [UInt64](repeating: SNPGuestRequest.vmmErrorBusy, count: 20)
        #expect(throws: SNPGuestRequest.Failure.busy) { try ask(&stuck, reportData: [], report: report, table: []) }
    }

    @Test func aFirmwareErrorOrATamperedResponseIsRefused() throws {
        let report = Array(try Data(contentsOf: Self.vectors.appendingPathComponent("report.bin")))
        var channel = try SNPGuestChannel(key: Self.key, vmpck: 0)
        firmwareError = 0x16
        #expect(throws: SNPGuestRequest.Failure.firmware(0x16)) { try ask(&channel, reportData: [], report: report, table: []) }
        var second = try SNPGuestChannel(key: Self.key, vmpck: 0)
        firmwareError = 0
        tamper = true
        #expect(throws: SNPGuestRequest.Failure.message(.authenticationFailed)) { try ask(&second, reportData: [], report: report, table: []) }
        #expect(second.isBroken, "a response that fails its tag ends the channel")
    }
}
