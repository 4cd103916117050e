import AttestationPolicy
import Certificates
import Foundation
import SNPReport
import SignatureVerification

/// A chain checked once at a given time: ARK → ASK/ASVK → VCEK/VLEK. Holding on to it lets many reports
/// from the same chip be verified with only the report signature and the policy checks.
public struct VerifiedChain: Sendable {
    public let product: SNPProduct
    public let kind: SigningKey
    public let endorsementKey: Certificate
    public let extensions: VCEKExtensions?
    public let intermediate: Certificate
    public let ark: Certificate
    public let checks: [Check]
    public var passed: Bool { checks.allSatisfy(\.passed) }
    /// Verifies report signatures with the endorsement key; precomputes for the key from the second report on.
    public let reportSignatures: ReportSignatureVerifier

    /// Checks the chain for `product` at `time`. `kind` says whether a VCEK (ASK) or VLEK (ASVK) is expected.
    public init(certificates: CertificateSet, product: SNPProduct, kind: SigningKey, at time: Date,
                revocations: RevocationList? = nil) throws {
        let roots = try AMDRoots.roots(for: product)
        var checks: [Check] = []
        let arkName = "ARK-\(product)"
        var ark = roots.ark
        if let supplied = certificates.ark {
            if supplied.fingerprintSHA256 == roots.ark.fingerprintSHA256 {
                checks.append(.pass("root", "\(arkName) supplied and equal to the pinned root (SHA-256 \(roots.ark.fingerprintSHA256.prefix(16))…)"))
            } else {
                checks.append(.fail("root", "supplied ARK (\(supplied.subjectCommonName ?? "?"), SHA-256 \(supplied.fingerprintSHA256.prefix(16))…) is not the pinned \(arkName)"))
                ark = supplied
            }
        } else {
            let selfSigned = ark.isSigned(by: ark)
            checks.append(Check("root", selfSigned, selfSigned
                ? "pinned \(arkName) (SHA-256 \(roots.ark.fingerprintSHA256.prefix(16))…) is self-signed"
                : "pinned \(arkName) does not verify its own signature"))
        }
        let intermediate = (kind == .vlek ? certificates.asvk : certificates.ask) ?? roots.intermediate(for: kind)
        let intermediateName = intermediate.subjectCommonName ?? (kind == .vlek ? "ASVK" : "ASK")
        checks.append(intermediate.isSigned(by: ark)
            ? .pass("intermediate", "\(intermediateName) is signed by \(arkName)")
            : .fail("intermediate", "\(intermediateName) is not signed by \(arkName)"))
        let leaf = certificates.endorsementKey
        let leafName = leaf.subjectCommonName ?? "endorsement key"
        checks.append(leaf.isSigned(by: intermediate)
            ? .pass("endorsement-key", "\(leafName) is signed by \(intermediateName)")
            : .fail("endorsement-key", "\(leafName) is not signed by \(intermediateName) (wrong product, or not an AMD certificate)"))
        let when = formatRFC3339(time)
        var outside: [String] = []
        for cert in [ark, intermediate, leaf] where !cert.isValid(at: time) {
            let name = cert.subjectCommonName ?? "certificate"
            outside.append(time < cert.notBefore
                ? "\(name) is not valid before \(formatRFC3339(cert.notBefore))"
                : "\(name) expired at \(formatRFC3339(cert.notAfter))")
        }
        checks.append(outside.isEmpty
            ? .pass("validity", "all certificates valid at \(when)")
            : .fail("validity", outside.joined(separator: "; ") + " (checked at \(when))"))
        if let revocations {
            checks.append(revocations.check(intermediate: intermediate, leaf: leaf, ark: ark, at: time))
        }
        let extensions: VCEKExtensions?
        do {
            let parsed = try VCEKExtensions(leaf)
            extensions = parsed
            if let named = parsed.product, named != product {
                checks.append(.fail("product", "\(leafName) is for \(named) (\(parsed.productName ?? "")), verifying as \(product)"))
            } else {
                checks.append(.pass("product", "\(leafName) productName \(parsed.productName ?? "absent") matches \(product)"))
            }
        } catch {
            extensions = nil
            checks.append(.fail("product", "\(leafName) extensions unreadable: \(describeDERFailure(error))"))
        }
        self.product = product
        self.kind = kind
        self.endorsementKey = leaf
        self.reportSignatures = ReportSignatureVerifier(leaf.publicKey)
        self.extensions = extensions
        self.intermediate = intermediate
        self.ark = ark
        self.checks = checks
    }
}
