import ArgumentParser
import Attestation
import AttestationPolicy
import Certificates
import DCAPQuote
import KDS
import SNPReport
import Foundation
import SEVABI

struct AttestVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify an SNP report against AMD's roots and a validation policy, or an Intel DCAP quote (TDX, SGX) against Intel's root and a quote policy.",
        discussion: """
        Checks, in order: the pinned ARK, ASK/ASVK signed by the ARK, VCEK/VLEK signed by the ASK/ASVK, \
        validity of every certificate at --at (default now), revocation (with --crl), the signer and the \
        report format, the ECDSA P-384 report signature, certificate SPLs equal to REPORTED_TCB, hwID \
        equal to CHIP_ID, then the policy. By default DEBUG and MIGRATE_MA are refused and SMT allowed. \
        Flags override the values of a --policy file (YAML or JSON, keys as in `--json` output of \
        `cvm attest verify --print-policy`). \
        An Intel DCAP quote (TDX v4/v5, SGX v3) is recognised by its header and verified instead: the PCK \
        chain to the pinned Intel SGX Root CA, the QE report and its binding, the quote signature, DEBUG \
        refused unless --allow-debug, then --expect-mrtd, --expect-rtmr N=HEX and --expect-report-data \
        (with --collateral: TCB info and QE identity signed by Intel and current, the CRLs, revocation, the \
        FMSPC, and the TCB level of the platform, TDX module and QE, UpToDate unless --accept-tcb-status). \
        Exit status: 0 every check passed, 1 a check failed, 2 bad input. \
        Examples:
          cvm attest verify report.bin --vcek vcek.der --expect-measurement 7a1e5c...
          cvm attest verify report.bin --certs certs/ --json \\
              --min-tcb bl=3,tee=0,snp=8,ucode=115
          cvm attest verify vlek-report.bin --vcek vlek.der --vmpl 1 \\
              --at 2025-06-01T00:00:00Z
        """
    )

    @Argument(help: "The 1184-byte report (binary).") var report: String
    @Option(help: "The VCEK or VLEK certificate (DER or PEM).") var vcek: String?
    @Option(help: "A directory with vcek/vlek/ask/asvk/ark (.pem/.der), cert_chain.pem or certs.bin.") var certs: String?
    @Option(help: "Force the product: Milan, Genoa or Turin (default: from the report or the certificate).") var product: String?
    @Option(help: "Check validity at this RFC 3339 time instead of now.") var at: String?
    @Option(help: "A CRL (DER or PEM) from KDS: fail when the ASK/ASVK or VCEK is revoked.") var crl: String?
    @Option(help: "A YAML or JSON validation policy file.") var policy: String?

    @Option(help: "Expected MEASUREMENT (48 bytes hex).") var expectMeasurement: String?
    @Option(help: "Expected REPORT_DATA (up to 64 bytes hex, zero-padded).") var expectReportData: String?
    @Option(help: "Expected HOST_DATA (32 bytes hex).") var expectHostData: String?
    @Option(help: "Expected ID_KEY_DIGEST (48 bytes hex).") var expectIdKeyDigest: String?
    @Option(help: "Expected AUTHOR_KEY_DIGEST (48 bytes hex).") var expectAuthorKeyDigest: String?
    @Option(help: "Expected FAMILY_ID (16 bytes hex).") var expectFamilyId: String?
    @Option(help: "Expected IMAGE_ID (16 bytes hex).") var expectImageId: String?
    @Option(help: "Expected CHIP_ID (hex).") var expectChipId: String?
    @Option(help: "Expected guest POLICY value.") var expectPolicy: String?
    @Option(help: "Minimum TCB for reported, current and committed TCB: bl=N,tee=N,snp=N,ucode=N[,fmc=N].") var minTcb: String?
    @Option(help: "Minimum LAUNCH_TCB, same syntax as --min-tcb.") var minLaunchTcb: String?
    @Option(help: "Minimum GUEST_SVN.") var minGuestSvn: UInt32?
    @Option(help: "Minimum firmware build.") var minBuild: UInt8?
    @Option(help: "Minimum firmware version MAJOR.MINOR.") var minVersion: String?
    @Option(help: "Required VMPL (0-3).") var vmpl: UInt32?
    @Flag(help: "Accept a guest policy with DEBUG set.") var allowDebug = false
    @Flag(help: "Accept a guest policy with MIGRATE_MA set.") var allowMigrateMa = false
    @Flag(help: "Refuse a guest policy that allows SMT.") var forbidSmt = false
    @Flag(help: "Require SINGLE_SOCKET in the guest policy.") var requireSingleSocket = false
    @Flag(help: "Require AUTHOR_KEY_EN.") var requireAuthorKey = false
    @Flag(help: "Require a launch with an ID block (non-zero ID_KEY_DIGEST).") var requireIdBlock = false
    @Flag(help: "Refuse VLEK-signed reports.") var noVlek = false
    @Flag(help: "Require a VLEK-signed report.") var requireVlek = false
    @Flag(help: "Print the effective policy as JSON and exit.") var printPolicy = false
    @Flag(help: "Print JSON.") var json = false
    @Option(help: .hidden) var benchIterations: Int?
    @Option(help: "Expected MRTD of a TDX quote (48 bytes hex).") var expectMrtd: String?
    @Option(help: "Expected RTMR of a TDX quote: N=HEX (N 0-3; repeatable).") var expectRtmr: [String] = []
    @Option(help: "Lowest TEE_TCB_SVN of a TDX quote (16 bytes hex), compared component by component.") var minTeeTcbSvn: String?
    @Option(help: "Collateral for a DCAP quote (dcap-qvl's QuoteCollateralV3 JSON: TCB info, QE identity, CRLs, issuer chains).") var collateral: String?
    @Option(help: "Trust this root CA (DER or PEM) for a DCAP quote instead of the pinned Intel SGX Root CA (test PKIs only).") var rootCa: String?
    @Option(help: "TCB statuses of a DCAP quote to accept besides UpToDate, comma separated (e.g. SWHardeningNeeded,OutOfDate).") var acceptTcbStatus: [String] = []

    func effectivePolicy() throws -> ValidationPolicy {
        var result = ValidationPolicy()
        if let policy {
            let text = String(decoding: try AttestCLI.readFile(policy, what: "policy"), as: UTF8.self)
            do { result = try ValidationPolicy.load(contentsOf: text) } catch { throw CLIFailure.badInput("\(policy): \(error)") }
        }
        do {
            result.measurement = try expectMeasurement.map { try Expected(hex: $0) } ?? result.measurement
            result.reportData = try expectReportData.map { try Expected(hex: $0) } ?? result.reportData
            result.hostData = try expectHostData.map { try Expected(hex: $0) } ?? result.hostData
            result.idKeyDigest = try expectIdKeyDigest.map { try Expected(hex: $0) } ?? result.idKeyDigest
            result.authorKeyDigest = try expectAuthorKeyDigest.map { try Expected(hex: $0) } ?? result.authorKeyDigest
            result.familyID = try expectFamilyId.map { try Expected(hex: $0) } ?? result.familyID
            result.imageID = try expectImageId.map { try Expected(hex: $0) } ?? result.imageID
            result.chipID = try expectChipId.map { try Expected(hex: $0) } ?? result.chipID
            result.guestPolicy = try expectPolicy.map(ValidationPolicy.parseGuestPolicy) ?? result.guestPolicy
            result.minimumVersion = try minVersion.map(ValidationPolicy.parseVersion) ?? result.minimumVersion
        } catch { throw CLIFailure.badInput("\(error)") }
        do {
            if let minTcb { result.minimumTCB = try TCBRequirement(parsing: minTcb) }
            if let minLaunchTcb { result.minimumLaunchTCB = try TCBRequirement(parsing: minLaunchTcb) }
        } catch { throw CLIFailure.badInput("\(error)") }
        result.minimumGuestSVN = minGuestSvn ?? result.minimumGuestSVN
        result.minimumBuild = minBuild ?? result.minimumBuild
        if let vmpl {
            guard vmpl <= 3 else { throw CLIFailure.badInput("--vmpl must be 0-3, found \(vmpl)") }
            result.vmpl = vmpl
        }
        if allowDebug { result.allowDebug = true }
        if allowMigrateMa { result.allowMigrateMA = true }
        if forbidSmt { result.allowSMT = false }
        if requireSingleSocket { result.requireSingleSocket = true }
        if requireAuthorKey { result.requireAuthorKey = true }
        if requireIdBlock { result.requireIDBlock = true }
        if noVlek { result.allowVLEK = false }
        if requireVlek { result.requireVLEK = true }
        return result
    }

    func run() throws {
        if !printPolicy, let bytes = FileManager.default.contents(atPath: report).map(Array.init), DCAPQuote.looksLikeQuote(bytes) {
            try runQuote(bytes)
            return
        }
        if expectMrtd != nil || !expectRtmr.isEmpty || collateral != nil || minTeeTcbSvn != nil || rootCa != nil {
            throw CLIFailure.badInput("--expect-mrtd, --expect-rtmr, --min-tee-tcb-svn, --collateral and --root-ca apply to DCAP quotes; \(report) is not one")
        }
        let policy = try effectivePolicy()
        if printPolicy { try printJSON(policy); return }
        let parsed = try AttestCLI.loadReport(report)
        let forced = try AttestCLI.product(product)
        var time = Date()
        if let at {
            guard let parsedTime = parseRFC3339(at) else {
                throw CLIFailure.badInput("--at: not an RFC 3339 time: '\(at)' (example 2025-06-01T00:00:00Z)")
            }
            time = parsedTime
        }
        let certificates = try certificateSet(for: parsed.signerInfo.signingKey)
        let revocations = try crl.map { path -> RevocationList in
            do { return try RevocationList(bytes: AttestCLI.readFile(path, what: "CRL")) } catch let failure as CLIFailure {
                throw failure
            } catch { throw CLIFailure.badInput("\(path): \(error)") }
        }
        let verdict: Verdict
        do {
            if let benchIterations {
                try runBench(report: parsed, certificates: certificates, product: forced, time: time, policy: policy, iterations: benchIterations)
                return
            }
            verdict = try ReportVerifier.verify(report: parsed, certificates: certificates, product: forced, at: time,
                                                policy: policy, revocations: revocations)
        } catch let failure as CLIFailure {
            throw failure
        } catch {
            throw CLIFailure.badInput("\(error)")
        }
        if policy.measurement == nil && policy.reportData == nil {
            // Not an error: a chain-and-signature check alone is a legitimate question. But a PASS then
            // says only that some genuine SNP guest made the report.
            printError("warning: no expected measurement and no expected report data: a pass proves a genuine SEV-SNP guest, "
                       + "not which one (give --expect-measurement and --expect-report-data, or a --policy with both)")
        }
        if json {
            try printJSON(verdict)
        } else {
            for check in verdict.checks {
                print("\(check.passed ? "pass" : "FAIL")  \(check.name.padding(toLength: 18, withPad: " ", startingAt: 0)) \(check.detail)")
            }
            let failed = verdict.failures.count
            print(verdict.passed
                ? "verdict: PASS (\(verdict.checks.count) checks, \(verdict.product ?? "?") \(verdict.signingKey))"
                : "verdict: FAIL (\(failed) of \(verdict.checks.count) checks failed)")
        }
        if !verdict.passed {
            throw CLIFailure.no(json ? "" : "verification failed: " + verdict.failures.map(\.name).joined(separator: ", "))
        }
    }

    func certificateSet(for key: SigningKey) throws -> CertificateSet {
        var directory = CertificateDirectory()
        if let certs {
            do { directory = try CertificateDirectory(directory: URL(fileURLWithPath: certs)) } catch {
                throw CLIFailure.badInput("--certs: \(error)")
            }
        }
        if let vcek {
            let cert = try AttestCLI.loadCertificate(vcek)
            if key == .vlek { directory.vlek = cert } else { directory.vcek = cert }
        }
        guard let set = directory.certificateSet(for: key) else {
            throw CLIFailure.badInput(VerificationError.noEndorsementKey(key).description)
        }
        return set
    }

    /// In-process throughput with the chain checked once: the benchmark harness in bench/attest calls this.
    /// User + system CPU time of this process.
    static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    func runBench(report: AttestationReport, certificates: CertificateSet, product: SNPProduct?, time: Date,
                  policy: ValidationPolicy, iterations: Int) throws {
        let resolved = try ReportVerifier.resolveProduct(report: report, certificate: certificates.endorsementKey, forced: product)
        let kind: SigningKey = report.signerInfo.signingKey == .vlek ? .vlek : .vcek
        let chain = try VerifiedChain(certificates: certificates, product: resolved, kind: kind, at: time)
        let raw = report.raw
        let start = DispatchTime.now().uptimeNanoseconds
        let cpuStart = Self.processCPUSeconds()
        var passed = 0
        let count = max(1, iterations)
        for _ in 0..<count {
            let fresh = try AttestationReport(bytes: raw)
            if ReportVerifier.verify(report: fresh, chain: chain, policy: policy).passed { passed += 1 }
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let cpu = Self.processCPUSeconds() - cpuStart
        // Per CPU-second is the per-core figure: it does not depend on what else the machine runs.
        print("iterations=\(count) passed=\(passed) seconds=\(seconds) per_second=\(Double(count) / seconds) cpu_seconds=\(cpu) per_cpu_second=\(Double(count) / cpu)")
    }
}
