import Crypto
import Foundation
import Testing
@testable import Attestation
@testable import AttestationPolicy
@testable import Certificates
@testable import SNPReport
import UnikernelCore

/// End to end with real AMD-signed reports: a test-only PSP, built on swift-crypto's AES-GCM from the
/// SEV-SNP Firmware ABI's message layout (independent of the unikernel's own AES-GCM), answers the
/// unikernel's MSG_REPORT_REQ by wrapping a real report from the vectors into an encrypted
/// MSG_REPORT_RSP. The unikernel's message code (UnikernelCore, compiled for the host) opens it, and
/// cvm's verifier passes the report it yields. Tampered copies fail at the step that must catch them.
enum TestPSP {
    /// Opens a request sealed with `key` and answers it with `report` under the next sequence number.
    static func answer(_ request: [UInt8], key: [UInt8], report: [UInt8], status: UInt32 = 0) throws -> [UInt8] {
        let symmetric = SymmetricKey(data: key)
        let sequence = request[0x20..<0x28].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        let size = Int(request[0x36]) | Int(request[0x37]) << 8
        let box = try AES.GCM.SealedBox(nonce: AES.GCM.Nonce(data: request[0x20..<0x28] + [0, 0, 0, 0]),
                                        ciphertext: request[0x60..<(0x60 + size)], tag: request[0..<16])
        let plain = try AES.GCM.open(box, using: symmetric, authenticating: request[0x30..<0x60])
        try #require(plain.count == 96, "MSG_REPORT_REQ is 96 bytes")

        var payload = [UInt8](repeating: 0, count: 0x20)
        withUnsafeBytes(of: status.littleEndian) { payload.replaceSubrange(0..<4, with: $0) }
        withUnsafeBytes(of: UInt32(report.count).littleEndian) { payload.replaceSubrange(4..<8, with: $0) }
        payload += report
        var header = [UInt8](repeating: 0, count: 0x60)
        withUnsafeBytes(of: (sequence + 1).littleEndian) { header.replaceSubrange(0x20..<0x28, with: $0) }
        header[0x30] = 1 // AES-256-GCM
        header[0x31] = 1
        header[0x32] = 0x60
        header[0x34] = request[0x34] + 1 // MSG_REPORT_RSP
        header[0x35] = request[0x35]
        header[0x36] = UInt8(payload.count & 0xff)
        header[0x37] = UInt8(payload.count >> 8)
        header[0x3c] = request[0x3c]
        var nonce = [UInt8](repeating: 0, count: 12)
        withUnsafeBytes(of: (sequence + 1).littleEndian) { nonce.replaceSubrange(0..<8, with: $0) }
        let sealed = try AES.GCM.seal(payload, using: symmetric, nonce: AES.GCM.Nonce(data: nonce), authenticating: header[0x30..<0x60])
        header.replaceSubrange(0..<16, with: sealed.tag)
        return header + Array(sealed.ciphertext)
    }
}

struct GuestMessageReportTests {
    static let vmpck0: [UInt8] = (0..<32).map { UInt8(255 - $0 * 3) }

    /// The unikernel side: seal MSG_REPORT_REQ, open the response, take the report out of it.
    func retrieve(_ name: String, tamper: (inout [UInt8]) -> Void = { _ in }, report reportEdit: (inout [UInt8]) -> Void = { _ in })
        throws -> Result<[UInt8], GuestMessageError> {
        var channel = try SNPGuestChannel(key: Self.vmpck0, vmpck: 0)
        let request = try channel.seal(SNPReportRequest(reportData: [UInt8](repeating: 0x11, count: 64)).bytes, type: .reportRequest)
        var report = try Fixture.bytes("snp/\(name)/report.bin")
        reportEdit(&report)
        var response = try TestPSP.answer(request.bytes, key: Self.vmpck0, report: report)
        tamper(&response)
        do throws(GuestMessageError) {
            let payload = try channel.open(response, answering: request)
            let inner: Result<[UInt8], GuestMessageError> = payload.withUnsafeBytes { raw in
                do throws(GuestMessageError) { return .success(Array(try SNPReportResponse.report(in: raw))) } catch { return .failure(error) }
            }
            return inner
        } catch {
            return .failure(error)
        }
    }

    func verdict(_ name: String, _ bytes: [UInt8]) throws -> Verdict {
        let expected = try Fixture.report(name)
        var policy = ValidationPolicy()
        policy.measurement = try Expected(expected.measurement)
        return try ReportVerifier.verify(report: try AttestationReport(bytes: bytes),
                                         certificates: CertificateSet(endorsementKey: Fixture.endorsementKey(name)),
                                         at: Fixture.time(for: name), policy: policy)
    }

    @Test(arguments: Fixture.cases)
    func aRealReportThroughTheGuestMessageVerifies(name: String) throws {
        let report = try retrieve(name).get()
        #expect(report == (try Fixture.bytes("snp/\(name)/report.bin")))
        let verdict = try verdict(name, report)
        #expect(verdict.passed, "\(verdict.failures)")
    }

    @Test func aTamperedResponseIsRefusedBeforeTheReportIsRead() throws {
        // A flipped ciphertext byte inside the report: the tag catches it, nothing reaches the verifier.
        #expect(throws: GuestMessageError.authenticationFailed) { try retrieve("genoa-v3") { $0[0x60 + 0x20 + 0x90] ^= 1 }.get() }
        #expect(throws: GuestMessageError.authenticationFailed) { try retrieve("genoa-v3") { $0[5] ^= 1 }.get() }
    }

    @Test func aReportChangedBeforeSealingFailsTheSignature() throws {
        // A PSP (or a forger with the VMPCK) that seals a changed report gets past the tag, not the signature.
        let report = try retrieve("genoa-v3", report: { $0[0x90] ^= 1 }).get()
        let verdict = try verdict("genoa-v3", report)
        #expect(!verdict.passed && verdict.failures.contains { $0.name == "report-signature" })
    }

    @Test func aFailedStatusIsReported() throws {
        var channel = try SNPGuestChannel(key: Self.vmpck0, vmpck: 0)
        let request = try channel.seal(SNPReportRequest(reportData: []).bytes, type: .reportRequest)
        let response = try TestPSP.answer(request.bytes, key: Self.vmpck0, report: [], status: 0x16)
        let payload = try channel.open(response, answering: request)
        #expect(throws: GuestMessageError.reportStatus(0x16)) { try payload.withUnsafeBytes { _ = try SNPReportResponse.report(in: $0) } }
    }
}
