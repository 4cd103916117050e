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
        return try waitFor {
            var failures: [String] = []
            for product in products {
                do { return try await client.vcek(for: report, product: product).0 } catch { failures.append("\(product): \(error)") }
            }
            throw CLIFailure.unsupportedHere(failures.joined(separator: "; "))
        }
    }

    static func randomNonce() -> [UInt8] { UnikernelAttestation.randomNonce() }

    static func parseNonce(_ text: String) throws -> [UInt8] {
        guard let bytes = try? [UInt8](hex: text), !bytes.isEmpty, bytes.count <= 32 else {
            throw CLIFailure.badInput("--nonce: expected 1 to 32 bytes of hex, got '\(text)'")
        }
        return bytes
    }

    var kernelArgument: String { UnikernelAttestation.kernelArguments(nonce: nonce) }

    /// REPORT_DATA as the guest must have bound it: SHA-256 of `commandLine`, then the nonce, zero-padded to 64.
    static func expectedReportData(nonce: [UInt8], commandLine: String) -> [UInt8] {
        UnikernelAttestation.expectedReportData(nonce: nonce, commandLine: commandLine)
    }

    typealias Outcome = UnikernelAttestation.Outcome

    /// Judges the guest's attestation line from `console`, for a launch with `spec` of `bundle`.
    func evaluate(console: [String], spec: LaunchSpec, bundle: BundleBoot?, at time: Date = Date()) -> Outcome {
        let measurement = bundle?.launchMeasurement?.measurement(mode: spec.mode.rawValue, vcpus: spec.vcpus, vcpuType: spec.effectiveCPUModel)
        return UnikernelAttestation.judge(console: console, nonce: nonce, commandLine: spec.kernelCommandLine ?? "",
                                          measurement: measurement, at: time, endorsementKey: endorsementKey)
    }

}
