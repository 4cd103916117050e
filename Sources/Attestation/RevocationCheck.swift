import AttestationPolicy
import Certificates
import Foundation
import SEVABI

extension RevocationList {
    /// One check: the CRL is the ARK's, current at `time`, and revokes neither the intermediate nor the leaf.
    public func check(intermediate: Certificate, leaf: Certificate, ark: Certificate, at time: Date) -> Check {
        guard isSigned(by: ark) else { return .fail("revocation", "the CRL is not signed by \(ark.subjectCommonName ?? "the ARK")") }
        if time < thisUpdate { return .fail("revocation", "the CRL is issued after the verification time (\(formatRFC3339(thisUpdate)))") }
        var revoked: [String] = []
        for cert in [intermediate, leaf] where isRevoked(cert) {
            revoked.append("\(cert.subjectCommonName ?? "certificate") (serial \(cert.serialNumber.hexString))")
        }
        if !revoked.isEmpty { return .fail("revocation", "revoked: " + revoked.joined(separator: ", ")) }
        var detail = "not revoked (CRL of \(formatRFC3339(thisUpdate)), \(revokedSerials.count) entries)"
        if let nextUpdate, time > nextUpdate { detail += "; note: the CRL's nextUpdate \(formatRFC3339(nextUpdate)) has passed" }
        return .pass("revocation", detail)
    }
}
