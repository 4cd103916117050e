import Foundation
import SignatureVerification
import SwiftASN1

/// An X.509 CRL (RFC 5280 section 5.1) as AMD KDS publishes it per product: signed by the ARK with
/// RSASSA-PSS, listing revoked ASK/ASVK (and possibly VCEK) serial numbers.
public struct RevocationList: Sendable {
    public let der: [UInt8]
    public let tbsBytes: [UInt8]
    public let issuerDER: [UInt8]
    public let thisUpdate: Date
    public let nextUpdate: Date?
    public let revokedSerials: Set<[UInt8]>
    public let signatureAlgorithm: SignatureAlgorithm
    public let signature: [UInt8]

    /// Reads DER, or PEM ("X509 CRL").
    public init(bytes: [UInt8]) throws {
        var der = bytes
        if bytes.first != 0x30 {
            guard let document = try? PEMDocument(pemString: String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
                throw CertificateError.notACertificate("CRL is neither DER nor PEM")
            }
            der = document.derBytes
        }
        do {
            try self.init(parsing: der)
        } catch let error as CertificateError {
            throw error
        } catch {
            throw CertificateError.malformed("CRL: \(describeDERFailure(error))")
        }
    }

    private init(parsing der: [UInt8]) throws {
        self.der = der
        let root = try DER.parse(der)
        let (tbsNode, algorithm, bits): (ASN1Node, SignatureAlgorithm, ASN1BitString) = try DER.sequence(root, identifier: .sequence) { nodes in
            guard let tbs = nodes.next(), let algorithm = nodes.next() else { throw CertificateError.malformed("CRL: missing fields") }
            return (tbs, try SignatureAlgorithm(algorithmIdentifier: algorithm), try ASN1BitString(derEncoded: &nodes))
        }
        tbsBytes = Array(tbsNode.encodedBytes)
        signatureAlgorithm = algorithm
        signature = Array(bits.bytes)
        var parsed: (issuer: [UInt8], this: Date, next: Date?, serials: Set<[UInt8]>)?
        try DER.sequence(tbsNode, identifier: .sequence) { nodes in
            var node = nodes.next()
            if let version = node, version.identifier == .integer { node = nodes.next() }
            guard node != nil, let issuer = nodes.next(), let thisNode = nodes.next() else {
                throw CertificateError.malformed("CRL: short TBSCertList")
            }
            let thisUpdate = try derTime(thisNode)
            var nextUpdate: Date?
            var serials: Set<[UInt8]> = []
            while let item = nodes.next() {
                if item.identifier == UTCTime.defaultIdentifier || item.identifier == GeneralizedTime.defaultIdentifier {
                    nextUpdate = try derTime(item)
                } else if item.identifier == .sequence {
                    try DER.sequence(item, identifier: .sequence) { entries in
                        while let entry = entries.next() {
                            let serial = try DER.sequence(entry, identifier: .sequence) { fields -> [UInt8] in
                                let serial = try ArraySlice<UInt8>(derEncoded: &fields)
                                while fields.next() != nil {}
                                return canonicalSerial(serial)
                            }
                            serials.insert(serial)
                        }
                    }
                }
            }
            parsed = (Array(issuer.encodedBytes), thisUpdate, nextUpdate, serials)
        }
        guard let parsed else { throw CertificateError.malformed("CRL: empty TBSCertList") }
        issuerDER = parsed.issuer
        thisUpdate = parsed.this
        nextUpdate = parsed.next
        revokedSerials = parsed.serials
    }

    public func isSigned(by issuer: Certificate) -> Bool {
        issuerDER == issuer.subjectDER && issuer.publicKey.isValidSignature(signature, for: tbsBytes, algorithm: signatureAlgorithm)
    }

    public func isRevoked(_ certificate: Certificate) -> Bool { revokedSerials.contains(certificate.serialNumber) }
}
