import Crypto
import Foundation
import SEVABI
import SignatureVerification
import SwiftASN1

public enum CertificateError: Error, Equatable, CustomStringConvertible, Sendable {
    case malformed(String)
    case unsupportedAlgorithm(String)
    case notACertificate(String)

    public var description: String {
        switch self {
        case .malformed(let why): return "malformed certificate: \(why)"
        case .unsupportedAlgorithm(let what): return "unsupported \(what)"
        case .notACertificate(let what): return "not a DER or PEM certificate: \(what)"
        }
    }
}

/// An X.509 v3 certificate read with swift-asn1 (RFC 5280 section 4.1). Only what an SNP verifier needs
/// is decoded; the to-be-signed bytes are kept verbatim for signature checks.
public struct Certificate: Sendable {
    public let der: [UInt8]
    public let tbsBytes: [UInt8]
    public let serialNumber: [UInt8]
    public let issuerDER: [UInt8]
    public let subjectDER: [UInt8]
    public let issuerCommonName: String?
    public let subjectCommonName: String?
    public let notBefore: Date
    public let notAfter: Date
    public let publicKey: PublicKey
    public let signatureAlgorithm: SignatureAlgorithm
    public let signature: [UInt8]
    /// Extensions by dotted OID: the DER content of each extnValue OCTET STRING.
    public let extensions: [String: [UInt8]]

    /// Reads DER, or PEM when the bytes look like text.
    public init(bytes: [UInt8]) throws {
        if bytes.first == 0x30 {
            try self.init(der: bytes)
        } else {
            let text = String(decoding: bytes, as: UTF8.self)
            guard let document = try? PEMDocument(pemString: text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                throw CertificateError.notACertificate("\(bytes.count) bytes that are neither DER nor PEM")
            }
            try self.init(der: document.derBytes)
        }
    }

    public init(der: [UInt8]) throws {
        do {
            try self.init(parsing: der)
        } catch let error as CertificateError {
            throw error
        } catch {
            throw CertificateError.malformed(describeDERFailure(error))
        }
    }

    private init(parsing der: [UInt8]) throws {
        self.der = der
        let root = try DER.parse(der)
        let (tbsNode, algorithm, signatureBits): (ASN1Node, SignatureAlgorithm, ASN1BitString) = try DER.sequence(root, identifier: .sequence) { nodes in
            guard let tbs = nodes.next(), let algorithm = nodes.next() else { throw CertificateError.malformed("missing fields") }
            return (tbs, try SignatureAlgorithm(algorithmIdentifier: algorithm), try ASN1BitString(derEncoded: &nodes))
        }
        tbsBytes = Array(tbsNode.encodedBytes)
        signatureAlgorithm = algorithm
        signature = Array(signatureBits.bytes)
        var fields: (serial: [UInt8], issuer: ASN1Node, subject: ASN1Node, notBefore: Date, notAfter: Date,
                     key: PublicKey, extensions: [String: [UInt8]])?
        try DER.sequence(tbsNode, identifier: .sequence) { nodes in
            _ = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific) { try Int(derEncoded: $0) }
            let serial = try ArraySlice<UInt8>(derEncoded: &nodes)
            guard let innerAlgorithm = nodes.next() else { throw CertificateError.malformed("no signature field") }
            guard try SignatureAlgorithm(algorithmIdentifier: innerAlgorithm) == algorithm else {
                throw CertificateError.malformed("inner and outer signature algorithms differ")
            }
            guard let issuer = nodes.next(), let validity = nodes.next(), let subject = nodes.next(),
                  let spki = nodes.next() else { throw CertificateError.malformed("missing TBSCertificate fields") }
            let (notBefore, notAfter) = try DER.sequence(validity, identifier: .sequence) { inner -> (Date, Date) in
                guard let first = inner.next(), let second = inner.next() else { throw CertificateError.malformed("short validity") }
                return (try derTime(first), try derTime(second))
            }
            let key = try PublicKey(spki: spki)
            var extensions: [String: [UInt8]] = [:]
            while let node = nodes.next() {
                // [1] issuerUniqueID and [2] subjectUniqueID are skipped; [3] holds the extensions.
                guard node.identifier == ASN1Identifier(tagWithNumber: 3, tagClass: .contextSpecific) else { continue }
                guard case .constructed(let children) = node.content, let list = children.first(where: { _ in true }) else {
                    throw CertificateError.malformed("empty extensions")
                }
                try DER.sequence(list, identifier: .sequence) { items in
                    while let item = items.next() {
                        let (oid, value) = try DER.sequence(item, identifier: .sequence) { parts -> (ASN1ObjectIdentifier, [UInt8]) in
                            let oid = try ASN1ObjectIdentifier(derEncoded: &parts)
                            var next = parts.next()
                            if let flag = next, flag.identifier == .boolean { next = parts.next() }
                            guard let valueNode = next else { throw CertificateError.malformed("extension without a value") }
                            return (oid, Array(try ASN1OctetString(derEncoded: valueNode).bytes))
                        }
                        extensions[oid.description] = value
                    }
                }
            }
            fields = (canonicalSerial(serial), issuer, subject, notBefore, notAfter, key, extensions)
        }
        guard let fields else { throw CertificateError.malformed("empty TBSCertificate") }
        serialNumber = fields.serial
        issuerDER = Array(fields.issuer.encodedBytes)
        subjectDER = Array(fields.subject.encodedBytes)
        issuerCommonName = Self.commonName(fields.issuer)
        subjectCommonName = Self.commonName(fields.subject)
        notBefore = fields.notBefore
        notAfter = fields.notAfter
        publicKey = fields.key
        extensions = fields.extensions
    }

    /// The CN attribute of a Name, if present and a string type.
    private static func commonName(_ name: ASN1Node) -> String? {
        guard case .constructed(let sets) = name.content else { return nil }
        for set in sets {
            guard case .constructed(let attributes) = set.content else { continue }
            for attribute in attributes {
                guard case .constructed(let pair) = attribute.content else { continue }
                var iterator = pair.makeIterator()
                guard let oidNode = iterator.next(), let oid = try? ASN1ObjectIdentifier(derEncoded: oidNode),
                      oid == OID.commonName, let value = iterator.next(),
                      case .primitive(let bytes) = value.content else { continue }
                return String(decoding: bytes, as: UTF8.self)
            }
        }
        return nil
    }

    /// SHA-256 of the DER encoding, upper-case hex (the form AMD and the vectors README pin).
    public var fingerprintSHA256: String { SHA256.hash(data: der).hexString.uppercased() }

    /// True when `issuer`'s key signed this certificate and the names chain.
    public func isSigned(by issuer: Certificate) -> Bool {
        issuerDER == issuer.subjectDER
            && issuer.publicKey.isValidSignature(signature, for: tbsBytes, algorithm: signatureAlgorithm)
    }

    public func isValid(at date: Date) -> Bool { notBefore <= date && date <= notAfter }

    /// Reads every certificate of a PEM bundle (for example KDS cert_chain: ASK then ARK).
    public static func parseBundle(_ bytes: [UInt8]) throws -> [Certificate] {
        if bytes.first == 0x30 { return [try Certificate(der: bytes)] }
        let documents: [PEMDocument]
        do {
            documents = try PEMDocument.parseMultiple(pemString: String(decoding: bytes, as: UTF8.self))
        } catch {
            throw CertificateError.notACertificate("PEM bundle could not be read")
        }
        guard !documents.isEmpty else { throw CertificateError.notACertificate("no PEM blocks found") }
        return try documents.map { try Certificate(der: $0.derBytes) }
    }

    public var pem: String { PEMDocument(type: "CERTIFICATE", derBytes: der).pemString }
}


/// INTEGER content bytes with the sign-padding removed, and zero as [0] (swift-asn1 yields [] for 0).
func canonicalSerial(_ bytes: ArraySlice<UInt8>) -> [UInt8] { bytes.isEmpty ? [0] : Array(bytes) }
