import AttestationPolicy
import Attestation
import Certificates
import Foundation
import GuestImage
import SEVABI
import SNPReport

/// The CVMKit unikernel's `cvmuk attestation` line judged, for `cvm run --attest` and for the bench's
/// SNP runs of the `attest` workload: the guest's REPORT_DATA against the binding computed here
/// (swift-crypto's SHA-256 of the command line the guest was given, then the nonce), and a report, when
/// there is one, through `ReportVerifier` with the expected measurement of this launch and the
/// certificates the guest returned (or, without a table, the VCEK `endorsementKey` finds).
public enum UnikernelAttestation {
    public struct Outcome: Equatable, Sendable {
        public var lines: [String]
        public var passed: Bool
        /// true when the guest returned a report (verified or not), false when it had none to give.
        public var hadReport: Bool

        public init(lines: [String], passed: Bool, hadReport: Bool = false) {
            self.lines = lines
            self.passed = passed
            self.hadReport = hadReport
        }
    }

    /// `attest=1 attest.nonce=HEX`, the words that ask the unikernel for a report.
    public static func kernelArguments(nonce: [UInt8]) -> String { "attest=1 attest.nonce=" + nonce.hexString }

    public static func randomNonce() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// REPORT_DATA as the guest must have bound it: SHA-256 of `commandLine`, then the nonce, zero-padded to 64.
    public static func expectedReportData(nonce: [UInt8], commandLine: String) -> [UInt8] {
        var data: [UInt8] = (try? [UInt8](hex: PartDigest.sha256Hex(of: commandLine))) ?? []
        data += nonce.prefix(32)
        return data + [UInt8](repeating: 0, count: 64 - data.count)
    }

    public static func judge(console: [String], nonce: [UInt8], commandLine: String, measurement: String?, at time: Date = Date(),
                             endorsementKey: (@Sendable (AttestationReport) throws -> Certificate)? = nil) -> Outcome {
        let expected = expectedReportData(nonce: nonce, commandLine: commandLine)
        guard let line = console.compactMap(GuestResultLine.parse).last(where: { $0.kind == "attestation" }) else {
            return Outcome(lines: ["attestation: FAIL: the guest printed no 'cvmuk attestation' line (is it the CVMKit unikernel?)"], passed: false)
        }
        var lines: [String] = []
        var passed = true
        if let reported = line.fields["report_data"] {
            if reported == expected.hexString {
                lines.append("attestation: the guest's REPORT_DATA binds this nonce and the command line it received (sha256 of the cmdline, then the nonce)")
            } else {
                lines.append("attestation: FAIL: the guest's REPORT_DATA \(reported) is not the expected \(expected.hexString)")
                passed = false
            }
        }
        guard line.fields["status"] == "ok", let reportHex = line.fields["report"], let reportBytes = try? [UInt8](hex: reportHex) else {
            let mode = line.fields["sev"] ?? "unknown"
            let reason = line.fields["reason"] == "not-sev-snp"
                ? "the guest ran with sev=\(mode); only SEV-SNP gives an attestation report"
                : "the guest ran with sev=\(mode) but its SNP guest request failed (\(line.fields["reason"] ?? "no reason given"))"
            lines.append("attestation: no report: \(reason)")
            return Outcome(lines: lines, passed: false)
        }
        if let microseconds = line.fields["us"] { lines.append("attestation: the guest request took \(microseconds) µs") }
        do {
            let report = try AttestationReport(bytes: reportBytes)
            var policy = ValidationPolicy()
            policy.reportData = try Expected(expected)
            if let measurement {
                policy.measurement = try Expected(hex: measurement)
            } else {
                lines.append("attestation: the bundle lists no expected measurement for this launch; the measurement is not checked")
            }
            var directory = CertificateDirectory()
            if let certs = line.fields["certs"].flatMap({ try? [UInt8](hex: $0) }) { directory = try CertificateTable(bytes: certs).certificates() }
            let key: SigningKey = report.signerInfo.signingKey == .vlek ? .vlek : .vcek
            var chosen = directory.certificateSet(for: key)
            if chosen == nil, key == .vcek, let endorsementKey {
                do {
                    chosen = CertificateSet(endorsementKey: try endorsementKey(report))
                    lines.append("attestation: the guest returned no certificate table; the VCEK comes from AMD KDS (or its cache)")
                } catch {
                    lines.append("attestation: FAIL: the guest returned no VCEK and KDS could not give one: \(error)")
                    return Outcome(lines: lines, passed: false, hadReport: true)
                }
            }
            guard let set = chosen else {
                lines.append("attestation: FAIL: the guest returned no \(key) certificate to check the report against")
                return Outcome(lines: lines, passed: false, hadReport: true)
            }
            let verdict = try ReportVerifier.verify(report: report, certificates: set, at: time, policy: policy)
            for check in verdict.checks {
                lines.append("attestation: \(check.passed ? "pass" : "FAIL")  \(check.name) \(check.detail)")
            }
            lines.append("attestation: verdict \(verdict.passed ? "PASS" : "FAIL")")
            return Outcome(lines: lines, passed: passed && verdict.passed, hadReport: true)
        } catch {
            lines.append("attestation: FAIL: \(error)")
            return Outcome(lines: lines, passed: false, hadReport: true)
        }
    }
}
