import AttestationPolicy
import Attestation
import Bench
import Certificates
import Foundation
import GuestImage
import KDS
import Launch
import SEVABI
import SNPReport

/// `cvm run BUNDLE --attest`: the unikernel is asked for an attestation report bound to a nonce and to
/// its command line (`attest=1 attest.nonce=HEX`, UnikernelCore's AttestationBinding); its
/// `cvmuk attestation` line is read back here and judged: the guest's REPORT_DATA against the one this
/// side computes (swift-crypto's SHA-256 of the command line QEMU was given, then the nonce), and a
/// report, when there is one, through the verifier with the bundle's expected measurement and the
/// certificates the guest returned.
struct RunAttestation {
    let nonce: [UInt8]
    /// The VCEK for a report whose guest returned no certificate table (the host keeps none): AMD KDS
    /// through its cache (KDSClient). nil: no fallback.
    var endorsementKey: (@Sendable (AttestationReport) throws -> Certificate)? = nil

    /// KDS with its default cache, waited for: `cvm run` is synchronous.
    /// A report of version 2 does not name its product: each is asked in turn (KDS keys VCEKs by
    /// product and chip, so only the right one answers).
    static func kdsEndorsementKey(_ report: AttestationReport, client: KDSClient = KDSClient()) throws -> Certificate {
        let products = report.product.map { [$0] } ?? SNPProduct.allCases
        final class Box: @unchecked Sendable { var result: Result<Certificate, any Error>? }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        Task {
            var failures: [String] = []
            for product in products {
                do {
                    box.result = .success(try await client.vcek(for: report, product: product).0)
                    break
                } catch {
                    failures.append("\(product): \(error)")
                }
            }
            if box.result == nil { box.result = .failure(CLIFailure.unsupportedHere(failures.joined(separator: "; "))) }
            done.signal()
        }
        done.wait()
        return try box.result!.get()
    }

    static func randomNonce() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    static func parseNonce(_ text: String) throws -> [UInt8] {
        guard let bytes = try? [UInt8](hex: text), !bytes.isEmpty, bytes.count <= 32 else {
            throw CLIFailure.badInput("--nonce: expected 1 to 32 bytes of hex, got '\(text)'")
        }
        return bytes
    }

    var kernelArgument: String { "attest=1 attest.nonce=" + nonce.hexString }

    /// REPORT_DATA as the guest must have bound it: SHA-256 of `commandLine`, then the nonce, zero-padded to 64.
    static func expectedReportData(nonce: [UInt8], commandLine: String) -> [UInt8] {
        var data: [UInt8] = (try? [UInt8](hex: PartDigest.sha256Hex(of: commandLine))) ?? []
        data += nonce.prefix(32)
        return data + [UInt8](repeating: 0, count: 64 - data.count)
    }

    struct Outcome {
        var lines: [String]
        var passed: Bool
    }

    /// Judges the guest's attestation line from `console`, for a launch with `spec` of `bundle`.
    func evaluate(console: [String], spec: LaunchSpec, bundle: BundleBoot?, at time: Date = Date()) -> Outcome {
        let expected = Self.expectedReportData(nonce: nonce, commandLine: spec.kernelCommandLine ?? "")
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
        do {
            let report = try AttestationReport(bytes: reportBytes)
            var policy = ValidationPolicy()
            policy.reportData = try Expected(expected)
            if let measurement = bundle?.launchMeasurement?.measurement(mode: spec.mode.rawValue, vcpus: spec.vcpus, vcpuType: spec.effectiveCPUModel) {
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
                    return Outcome(lines: lines, passed: false)
                }
            }
            guard let set = chosen else {
                lines.append("attestation: FAIL: the guest returned no \(key) certificate to check the report against")
                return Outcome(lines: lines, passed: false)
            }
            let verdict = try ReportVerifier.verify(report: report, certificates: set, at: time, policy: policy)
            for check in verdict.checks {
                lines.append("attestation: \(check.passed ? "pass" : "FAIL")  \(check.name) \(check.detail)")
            }
            lines.append("attestation: verdict \(verdict.passed ? "PASS" : "FAIL")")
            return Outcome(lines: lines, passed: passed && verdict.passed)
        } catch {
            lines.append("attestation: FAIL: \(error)")
            return Outcome(lines: lines, passed: false)
        }
    }
}
