import Certificates
import Foundation
import KDS
import SNPReport
import Launch
import SEVABI
import Testing
@testable import CVMCommands

/// `cvm run BUNDLE --attest` as a user runs it, on the unikernel built in this run under TCG: the guest
/// binds the nonce and the command line it received into REPORT_DATA and says it has no report (no
/// SEV-SNP here); cvm checks the binding against its own computation and exits 1 for the missing report.
@Suite(.serialized) struct RunAttestCLITests {
    static let bundle: Result<String, CLIRunError> = {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-cli-attest-unikernel-\(getpid())").path
        do {
            let build = try CLIRun.cvm("image", "build", "unikernel", "--out", out)
            guard build.status == 0 else { return .failure(CLIRunError(message: "unikernel build failed: \(build.stderr)")) }
            return .success(out)
        } catch {
            return .failure(CLIRunError(message: "\(error)"))
        }
    }()

    @Test(arguments: ["pvh", "firmware"])
    func theGuestBindsTheNonceAndItsCommandLineAndHasNoReportWithoutSNP(boot: String) throws {
        let bundle = try Self.bundle.get()
        let run = try CLIRun.cvm("run", bundle, "--boot", boot, "--attest", "--nonce", "c0ffee00", "--accel", "tcg", "--timeout", "60", "--json")
        #expect(run.status == 1, "\(run.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let lines = try #require(object["attestation"] as? [String])
        #expect(object["attestationPassed"] as? Bool == false)
        #expect(lines.contains { $0.contains("REPORT_DATA binds this nonce and the command line it received") }, "\(lines)")
        #expect(lines.contains { $0.contains("no report: the guest ran with sev=none") }, "\(lines)")
        let console = try #require((object["result"] as? [String: Any])?["console"] as? [[String: Any]]).compactMap { $0["text"] as? String }
        #expect(console.contains { $0.contains("cvmuk attestation status=unavailable sev=none") && $0.contains("c0ffee00") })
        #expect(console.contains { $0.hasPrefix("cvmuk exit status=0") }, "the workloads still run")
    }

    @Test func badUsesAreRefusedWithExitTwo() throws {
        let bundle = try Self.bundle.get()
        let loose = try CLIRun.cvm("run", bundle, "--nonce", "00", "--accel", "tcg")
        #expect(loose.status == 2 && loose.stderr.contains("--nonce goes with --attest"), "\(loose.stderr)")
        for bad in ["zz", "0", String(repeating: "ab", count: 33)] {
            let run = try CLIRun.cvm("run", bundle, "--attest", "--nonce", bad, "--accel", "tcg")
            #expect(run.status == 2 && run.stderr.contains("--nonce: expected 1 to 32 bytes of hex"), "\(bad): \(run.stderr)")
        }
        let kernel = try CLIRun.cvm("run", "--kernel", "/nonexistent/vmlinuz", "--attest")
        #expect(kernel.status == 2 && kernel.stderr.contains("only the CVMKit unikernel answers attest=1"), "\(kernel.stderr)")
    }

    @Test func aDryRunShowsTheAttestWordsInTheMeasuredBootsCommandLine() throws {
        let bundle = try Self.bundle.get()
        let run = try CLIRun.cvm("run", bundle, "--mode", "sev-snp", "--attest", "--nonce", "0a0b", "--dry-run", "--cbitpos", "51")
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("name=opt/org.cvmkit/cmdline,string=") && run.stdout.contains("attest=1 attest.nonce=0a0b"), "\(run.stdout)")
    }

    /// A real AMD-signed report (the Milan vector) in the guest's line, with its VCEK in a certificate
    /// table: chain and signature pass, and the binding fails, because that report's REPORT_DATA is not
    /// this nonce and command line. A report changed in transit fails its signature.
    @Test func aReportInTheLineGoesThroughTheVerifierAndMustCarryTheBinding() throws {
        let milan = AttestCLITests.fixtures.appendingPathComponent("milan-v2")
        let report = Array(try Data(contentsOf: milan.appendingPathComponent("report.bin")))
        let vcek = Array(try Data(contentsOf: milan.appendingPathComponent("vcek.der")))
        let table = CertificateTable(entries: [.init(guid: CertificateTable.vcek, data: vcek)]).bytes
        let attestation = RunAttestation(nonce: [1, 2, 3])
        let spec = LaunchSpec(name: "t", boot: .ownFirmware(cmdline: "run=noop " + attestation.kernelArgument), mode: .sevSNP,
                              firmware: .ownImage(path: "/b/firmware.fd"))
        func line(_ bytes: [UInt8]) -> String { "cvmuk attestation status=ok sev=sev-snp report=\(bytes.hexString) certs=\(table.hexString)" }

        let outcome = attestation.evaluate(console: [line(report)], spec: spec, bundle: nil)
        #expect(!outcome.passed)
        #expect(outcome.lines.contains { $0.contains("pass  report-signature") }, "\(outcome.lines)")
        #expect(outcome.lines.contains { $0.contains("FAIL  report-data") }, "\(outcome.lines)")
        var tampered = report
        tampered[0x50] ^= 1
        let forged = attestation.evaluate(console: [line(tampered)], spec: spec, bundle: nil)
        #expect(forged.lines.contains { $0.contains("FAIL  report-signature") }, "\(forged.lines)")
        let none = attestation.evaluate(console: ["cvmuk exit status=0"], spec: spec, bundle: nil)
        #expect(!none.passed && none.lines.first?.contains("printed no 'cvmuk attestation' line") == true)
    }

    /// A guest on a host that keeps no certificate table returns the report alone: the VCEK comes from
    /// KDS through its cache (here a cache holding the Milan vector's VCEK, read offline), and without
    /// one the verdict says KDS could not give it.
    @Test func withoutACertificateTableTheVCEKComesFromTheKDSCache() throws {
        let milan = AttestCLITests.fixtures.appendingPathComponent("milan-v2")
        let bytes = Array(try Data(contentsOf: milan.appendingPathComponent("report.bin")))
        let report = try AttestationReport(bytes: bytes)
        let cache = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-kds-cache-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: cache) }
        let client = KDSClient(cacheDirectory: cache, offline: true)
        let file = try #require(client.cacheFile(for: KDS.vcekPath(for: report, product: .milan)))
        try Data(contentsOf: milan.appendingPathComponent("vcek.der")).write(to: file)
        let spec = LaunchSpec(name: "t", boot: .ownFirmware(cmdline: "run=noop"), mode: .sevSNP, firmware: .ownImage(path: "/b/firmware.fd"))
        let line = "cvmuk attestation status=ok sev=sev-snp report=\(bytes.hexString)"

        let cached = RunAttestation(nonce: [1], endorsementKey: { try RunAttestation.kdsEndorsementKey($0, client: client) })
        let outcome = cached.evaluate(console: [line], spec: spec, bundle: nil)
        #expect(outcome.lines.contains { $0.contains("VCEK comes from AMD KDS") }, "\(outcome.lines)")
        #expect(outcome.lines.contains { $0.contains("pass  report-signature") }, "\(outcome.lines)")

        let empty = KDSClient(cacheDirectory: cache.appendingPathComponent("none"), offline: true)
        let missing = RunAttestation(nonce: [1], endorsementKey: { try RunAttestation.kdsEndorsementKey($0, client: empty) })
        let refused = missing.evaluate(console: [line], spec: spec, bundle: nil)
        #expect(!refused.passed && refused.lines.contains { $0.contains("KDS could not give one") }, "\(refused.lines)")
    }

    @Test func theExpectedReportDataIsTheCommandLinesDigestThenTheNonce() {
        let data = RunAttestation.expectedReportData(nonce: [0xaa, 0xbb], commandLine: "abc")
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        #expect(Array(data[0..<32]).hexString == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Array(data[32..<34]) == [0xaa, 0xbb] && data[34...].allSatisfy { $0 == 0 } && data.count == 64)
    }
}
