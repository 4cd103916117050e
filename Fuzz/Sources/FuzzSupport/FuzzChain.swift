import Attestation
import Certificates

/// A real chain to verify fuzzed reports and policies against (embedded roots; the ASK as a stand-in leaf
/// is enough to exercise every check's code path without a network or fixture files).
public enum FuzzChain {
    public static let turin: VerifiedChain? = {
        guard let roots = try? AMDRoots.roots(for: .turin) else { return nil }
        return try? VerifiedChain(certificates: CertificateSet(endorsementKey: roots.ask), product: .turin, kind: .vcek,
                                  at: roots.ark.notBefore)
    }()
}
