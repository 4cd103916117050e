import AttestationPolicy
import Certificates
import Foundation
import SEVABI
import SNPReport
import SignatureVerification

public enum VerificationError: Error, Equatable, CustomStringConvertible, Sendable {
    case unknownProduct
    case noEndorsementKey(SigningKey)

    public var description: String {
        switch self {
        case .unknownProduct:
            return "cannot tell the product (v2 report, no productName in the certificate): give --product Milan|Genoa|Turin"
        case .noEndorsementKey(let key):
            return "the report is signed by \(key) but no certificate was given (use --vcek FILE or --certs DIR)"
        }
    }
}

/// Verifies SNP reports: the chain (once, then reusable), the report signature and the TCB/chip binding
/// to the endorsement key, then the validation policy. Every step yields a named `Check`.
public enum ReportVerifier {
    /// Decides the product: forced by the caller, else the report's CPUID fields, else the certificate's
    /// productName, else the product whose intermediate signed the certificate.
    public static func resolveProduct(report: AttestationReport, certificate: Certificate, forced: SNPProduct?) throws -> SNPProduct {
        if let forced { return forced }
        if let product = report.product { return product }
        if let product = (try? VCEKExtensions(certificate))?.product { return product }
        let kind = report.signerInfo.signingKey
        for product in SNPProduct.allCases {
            if let roots = try? AMDRoots.roots(for: product), certificate.isSigned(by: roots.intermediate(for: kind)) {
                return product
            }
        }
        throw VerificationError.unknownProduct
    }

    /// Full verification: chain at `time`, then the report against it and the policy.
    public static func verify(report: AttestationReport, certificates: CertificateSet, product forced: SNPProduct? = nil,
                              at time: Date = Date(), policy: ValidationPolicy = ValidationPolicy(),
                              revocations: RevocationList? = nil) throws -> Verdict {
        let product = try resolveProduct(report: report, certificate: certificates.endorsementKey, forced: forced)
        let kind: SigningKey = report.signerInfo.signingKey == .vlek ? .vlek : .vcek
        let chain = try VerifiedChain(certificates: certificates, product: product, kind: kind, at: time, revocations: revocations)
        return verify(report: report, chain: chain, policy: policy)
    }

    /// Verifies a report against an already checked chain; the chain's own checks are included.
    public static func verify(report: AttestationReport, chain: VerifiedChain, policy: ValidationPolicy = ValidationPolicy()) -> Verdict {
        var checks = chain.checks
        checks += bindingChecks(report: report, chain: chain, policy: policy)
        checks += PolicyChecks.run(report: report, product: chain.product, policy: policy)
        return Verdict(product: chain.product.rawValue, signingKey: report.signerInfo.signingKey.description, checks: checks)
    }

    /// Checks that tie the report to the endorsement key: signer, report product, format, signature,
    /// SPLs and hwID.
    static func bindingChecks(report: AttestationReport, chain: VerifiedChain, policy: ValidationPolicy) -> [Check] {
        var checks: [Check] = []
        let signer = report.signerInfo.signingKey
        let leafIsVLEK = chain.extensions?.cspID != nil || chain.endorsementKey.subjectCommonName == "SEV-VLEK"
        switch signer {
        case .vcek where !leafIsVLEK:
            checks.append(policy.requireVLEK ? .fail("signer", "signed by a VCEK, the policy requires a VLEK")
                                             : .pass("signer", "signed by the VCEK"))
        case .vlek where leafIsVLEK:
            if !policy.allowVLEK {
                checks.append(.fail("signer", "signed by a VLEK, the policy refuses VLEKs"))
            } else if let trusted = policy.trustedCSPs, !trusted.contains(chain.extensions?.cspID ?? "") {
                checks.append(.fail("signer", "VLEK of CSP '\(chain.extensions?.cspID ?? "?")' is not in trustedCSPs"))
            } else {
                checks.append(.pass("signer", "signed by the VLEK of \(chain.extensions?.cspID ?? "an unnamed CSP")"))
            }
        case .vcek, .vlek:
            checks.append(.fail("signer", "report says SIGNING_KEY=\(signer) but the certificate is a \(leafIsVLEK ? "VLEK" : "VCEK")"))
        case .none:
            checks.append(.fail("signer", "SIGNING_KEY=none: the report is unsigned"))
        case .reserved(let bits):
            checks.append(.fail("signer", "SIGNING_KEY=\(bits) is a reserved value"))
        }
        if let reportProduct = report.product, reportProduct != chain.product {
            checks.append(.fail("report-product", "report CPUID says \(reportProduct), verifying as \(chain.product)"))
        }
        checks.append(formatCheck(report))
        checks.append(signatureCheck(report: report, chain: chain))
        checks.append(tcbCheck(report: report, chain: chain))
        if chain.kind == .vcek {
            checks.append(hwIDCheck(report: report, chain: chain))
        }
        return checks
    }

    static func formatCheck(_ report: AttestationReport) -> Check {
        var problems: [String] = []
        if report.signatureAlgorithm != 1 {
            problems.append("SIGNATURE_ALGO \(report.signatureAlgorithm) is not 1 (ECDSA P-384 with SHA-384)")
        }
        if report.signerInfo.reservedBits != 0 {
            problems.append("signer info reserved bits 0x\(String(report.signerInfo.reservedBits, radix: 16)) set")
        }
        let offsets = report.nonZeroReservedOffsets
        if let first = offsets.first {
            problems.append("\(offsets.count) reserved byte(s) non-zero, first at 0x\(String(first, radix: 16))")
        }
        do { _ = try SNPPolicy(rawValue: report.policyRaw) } catch { problems.append("guest policy: \(error)") }
        if report.vmpl > 3 { problems.append("VMPL \(report.vmpl) is out of range 0-3") }
        return problems.isEmpty
            ? .pass("report-format", "version \(report.version), reserved fields zero")
            : .fail("report-format", problems.joined(separator: "; "))
    }

    static func signatureCheck(report: AttestationReport, chain: VerifiedChain) -> Check {
        let key = chain.endorsementKey
        guard case .p384 = key.publicKey else {
            return .fail("report-signature", "the endorsement key is not an EC P-384 key")
        }
        let raw = report.signatureRawBigEndian
        guard raw.count == 96 else {
            return .fail("report-signature", "signature R/S are not valid P-384 scalars")
        }
        return chain.reportSignatures.isValid(r: Array(raw[0..<48]), s: Array(raw[48..<96]), signed: Array(report.signedBytes))
            ? .pass("report-signature", "ECDSA P-384 signature over bytes 0x000-0x29F is valid")
            : .fail("report-signature", "ECDSA P-384 signature does not match the signed bytes and the \(key.subjectCommonName ?? "certificate") key")
    }

    static func tcbCheck(report: AttestationReport, chain: VerifiedChain) -> Check {
        guard let ext = chain.extensions else { return .fail("tcb", "certificate SPL extensions unreadable") }
        let tcb = report.reportedTCB(for: chain.product)
        var mismatches: [String] = []
        let pairs: [(String, UInt8?, UInt8)] = [
            ("blSPL", ext.bootloaderSPL, tcb.bootloader), ("teeSPL", ext.teeSPL, tcb.tee),
            ("snpSPL", ext.snpSPL, tcb.snp), ("ucodeSPL", ext.microcodeSPL, tcb.microcode),
        ]
        for (name, certificate, reported) in pairs where certificate != reported {
            mismatches.append("\(name) \(certificate.map(String.init) ?? "absent") ≠ \(reported)")
        }
        if let fmc = tcb.fmc, ext.fmcSPL != fmc {
            mismatches.append("fmcSPL \(ext.fmcSPL.map(String.init) ?? "absent") ≠ \(fmc)")
        }
        return mismatches.isEmpty
            ? .pass("tcb", "certificate SPLs equal REPORTED_TCB \(tcb)")
            : .fail("tcb", "certificate SPLs differ from REPORTED_TCB \(tcb): " + mismatches.joined(separator: ", "))
    }

    static func hwIDCheck(report: AttestationReport, chain: VerifiedChain) -> Check {
        if report.signerInfo.maskChipKey {
            return .pass("hwid", "MASK_CHIP_KEY is set: CHIP_ID is masked, hwID not compared")
        }
        guard let hwID = chain.extensions?.hwID else { return .fail("hwid", "the VCEK has no hwID extension") }
        let chip = report.chipIDPrefix(for: chain.product)
        return hwID == chip
            ? .pass("hwid", "VCEK hwID equals CHIP_ID \(chip.hexString.prefix(16))…")
            : .fail("hwid", "VCEK hwID \(hwID.hexString.prefix(16))… ≠ CHIP_ID \(chip.hexString.prefix(16))… (VCEK of another chip)")
    }
}
