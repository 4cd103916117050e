import Crypto
import SignatureVerification
import SwiftASN1
import _CryptoExtras

/// Object identifiers this module reads.
enum OID {
    static let rsaEncryption: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 1, 1]
    static let rsassaPSS: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 1, 10]
    static let mgf1: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 1, 8]
    static let sha384: ASN1ObjectIdentifier = [2, 16, 840, 1, 101, 3, 4, 2, 2]
    static let ecPublicKey: ASN1ObjectIdentifier = [1, 2, 840, 10045, 2, 1]
    static let secp384r1: ASN1ObjectIdentifier = [1, 3, 132, 0, 34]
    static let ecdsaWithSHA384: ASN1ObjectIdentifier = [1, 2, 840, 10045, 4, 3, 3]
    static let ecdsaWithSHA256: ASN1ObjectIdentifier = [1, 2, 840, 10045, 4, 3, 2]
    static let prime256v1: ASN1ObjectIdentifier = [1, 2, 840, 10045, 3, 1, 7]
    static let commonName: ASN1ObjectIdentifier = [2, 5, 4, 3]
    static let amdVCEK: ASN1ObjectIdentifier = [1, 3, 6, 1, 4, 1, 3704, 1]
}

extension SignatureAlgorithm {
    /// AlgorithmIdentifier ::= SEQUENCE { algorithm OID, parameters ANY }. RSASSA-PSS parameters are parsed
    /// rather than matched byte for byte, because AMD encodes them both with and without the explicit
    /// trailerField (RFC 4055 section 3.1).
    init(algorithmIdentifier node: ASN1Node) throws {
        let (oid, parameters): (ASN1ObjectIdentifier, ASN1Node?) = try DER.sequence(node, identifier: .sequence) { nodes in
            let oid = try ASN1ObjectIdentifier(derEncoded: &nodes)
            return (oid, nodes.next())
        }
        switch oid {
        case OID.rsassaPSS:
            guard let parameters else { throw CertificateError.unsupportedAlgorithm("RSASSA-PSS without parameters") }
            try Self.checkPSSParameters(parameters)
            self = .rsaPSSSHA384
        case OID.ecdsaWithSHA384:
            self = .ecdsaSHA384
        case OID.ecdsaWithSHA256:
            self = .ecdsaSHA256
        default:
            throw CertificateError.unsupportedAlgorithm("signature algorithm \(oid)")
        }
    }

    /// RSASSA-PSS-params ::= SEQUENCE { [0] hashAlgorithm, [1] maskGenAlgorithm, [2] saltLength,
    /// [3] trailerField DEFAULT 1 }. Every field must say SHA-384 / MGF1-SHA-384 / 48 / 1.
    private static func checkPSSParameters(_ node: ASN1Node) throws {
        try DER.sequence(node, identifier: .sequence) { nodes in
            let hash = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific) { try digestOID($0) }
            let mask = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 1, tagClass: .contextSpecific) { node in
                try DER.sequence(node, identifier: .sequence) { inner -> (ASN1ObjectIdentifier, ASN1ObjectIdentifier) in
                    let mgf = try ASN1ObjectIdentifier(derEncoded: &inner)
                    guard let hashNode = inner.next() else { throw CertificateError.malformed("MGF1 without a hash") }
                    return (mgf, try digestOID(hashNode))
                }
            }
            let salt = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 2, tagClass: .contextSpecific) { try Int(derEncoded: $0) }
            let trailer = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 3, tagClass: .contextSpecific) { try Int(derEncoded: $0) }
            guard hash == OID.sha384 else {
                throw CertificateError.unsupportedAlgorithm("RSASSA-PSS hash \(hash.map { "\($0)" } ?? "SHA-1 (default)"), expected SHA-384")
            }
            guard let mask, mask.0 == OID.mgf1, mask.1 == OID.sha384 else {
                throw CertificateError.unsupportedAlgorithm("RSASSA-PSS mask generation is not MGF1 with SHA-384")
            }
            guard salt == 48 else {
                throw CertificateError.unsupportedAlgorithm("RSASSA-PSS salt length \(salt ?? 20), expected 48")
            }
            guard (trailer ?? 1) == 1 else {
                throw CertificateError.unsupportedAlgorithm("RSASSA-PSS trailer field \(trailer ?? 1), expected 1")
            }
        }
    }

    private static func digestOID(_ node: ASN1Node) throws -> ASN1ObjectIdentifier {
        try DER.sequence(node, identifier: .sequence) { nodes in
            let oid = try ASN1ObjectIdentifier(derEncoded: &nodes)
            _ = nodes.next()  // NULL or absent parameters
            return oid
        }
    }
}

extension PublicKey {
    /// SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }
    init(spki node: ASN1Node) throws {
        let (oid, curve, bits): (ASN1ObjectIdentifier, ASN1ObjectIdentifier?, ASN1BitString) = try DER.sequence(node, identifier: .sequence) { nodes in
            guard let algorithm = nodes.next() else { throw CertificateError.malformed("empty SubjectPublicKeyInfo") }
            let (oid, curve) = try DER.sequence(algorithm, identifier: .sequence) { inner -> (ASN1ObjectIdentifier, ASN1ObjectIdentifier?) in
                let oid = try ASN1ObjectIdentifier(derEncoded: &inner)
                let curve = inner.next().flatMap { try? ASN1ObjectIdentifier(derEncoded: $0) }
                return (oid, curve)
            }
            return (oid, curve, try ASN1BitString(derEncoded: &nodes))
        }
        switch oid {
        case OID.rsaEncryption, OID.rsassaPSS:
            let (modulus, exponent) = try DER.sequence(try DER.parse(bits.bytes), identifier: .sequence) { nodes in
                (try ArraySlice<UInt8>(derEncoded: &nodes), try ArraySlice<UInt8>(derEncoded: &nodes))
            }
            do {
                self = .rsa(try _RSA.Signing.PublicKey(n: modulus, e: exponent))
            } catch {
                throw CertificateError.malformed("RSA public key rejected: \(error)")
            }
        case OID.ecPublicKey where curve == OID.prime256v1:
            do {
                self = .p256(try P256.Signing.PublicKey(x963Representation: bits.bytes))
            } catch {
                throw CertificateError.malformed("P-256 public key is not a valid point")
            }
        case OID.ecPublicKey:
            guard curve == OID.secp384r1 else {
                throw CertificateError.unsupportedAlgorithm("EC curve \(curve.map { "\($0)" } ?? "absent"), expected P-384 or P-256")
            }
            do {
                self = .p384(try P384.Signing.PublicKey(x963Representation: bits.bytes))
            } catch {
                throw CertificateError.malformed("P-384 public key is not a valid point")
            }
        default:
            throw CertificateError.unsupportedAlgorithm("public key algorithm \(oid)")
        }
    }
}
