import ArgumentParser
import Attestation
import AttestationPolicy
import Foundation
import SEVABI

struct AttestSEVMeasure: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sev-measure",
        abstract: "Verify a legacy SEV/SEV-ES LAUNCH_MEASURE blob against the expected launch digest.",
        discussion: """
        The blob is what QMP query-sev-launch-measure returns (base64 of MEASURE ‖ MNONCE). The TIK is \
        the transport integrity key from the launch session; the digest comes from `cvm measure`. \
        Example:
          cvm attest sev-measure --blob lswbxWxI... --tik tik.bin \\
              --api 1.40 --build 40 --policy 0x3 \\
              --digest c64bd101fc9a4a2ce0a27c408d9200911f139a895469b04a40a6fa2890830d23
        """
    )

    @Option(help: "The LAUNCH_MEASURE blob: base64 text, or @FILE (base64 or 48 raw bytes).") var blob: String
    @Option(help: "The 16-byte TIK file.") var tik: String
    @Option(help: "Firmware API version MAJOR.MINOR.") var api: String
    @Option(help: "Firmware build.") var build: UInt8
    @Option(help: "The SEV guest policy.") var policy: String
    @Option(help: "The expected launch digest (32 bytes hex).") var digest: String
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let blobBytes = blob.hasPrefix("@") ? try AttestCLI.readFile(String(blob.dropFirst()), what: "blob") : Array(blob.utf8)
        let parts = api.split(separator: ".")
        guard parts.count == 2, let major = UInt8(parts[0]), let minor = UInt8(parts[1]) else {
            throw CLIFailure.badInput("--api: expected MAJOR.MINOR, found '\(api)'")
        }
        guard let policyValue = parseUnsignedInteger(policy, as: UInt32.self) else {
            throw CLIFailure.badInput(PolicyError.notANumber(policy).description)
        }
        let check: Check
        do {
            let measure = try LegacySEVLaunchMeasure(blob: blobBytes)
            check = try measure.verify(tik: AttestCLI.readFile(tik, what: "TIK"), apiMajor: major, apiMinor: minor, build: build,
                                       policy: policyValue, launchDigest: AttestCLI.hex(digest, option: "--digest"))
        } catch let failure as CLIFailure {
            throw failure
        } catch {
            throw CLIFailure.badInput("\(error)")
        }
        let verdict = Verdict(product: nil, signingKey: "TIK", checks: [check])
        if json { try printJSON(verdict) } else {
            print("\(check.passed ? "pass" : "FAIL")  \(check.name)  \(check.detail)")
            print("verdict: \(check.passed ? "PASS" : "FAIL")")
        }
        if !check.passed { throw CLIFailure.no(json ? "" : "launch measurement does not match") }
    }
}
