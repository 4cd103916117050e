import SNPReport
import SwiftASN1

/// The AMD extensions of a VCEK or VLEK certificate, under 1.3.6.1.4.1.3704.1 (VCEK spec 57230,
/// "VCEK Certificate Extensions"). SPLs are INTEGERs; productName and cspID IA5Strings; hwID holds the
/// raw CHIP_ID bytes in AMD's certificates, and an OCTET STRING wrapping them is also accepted.
public struct VCEKExtensions: Sendable, Hashable {
    public let structVersion: Int?
    public let productName: String?
    public let bootloaderSPL: UInt8?
    public let teeSPL: UInt8?
    public let snpSPL: UInt8?
    public let microcodeSPL: UInt8?
    public let fmcSPL: UInt8?
    public let hwID: [UInt8]?
    public let cspID: String?

    public init(_ certificate: Certificate) throws {
        let base = OID.amdVCEK.description
        let ext = certificate.extensions
        func integer(_ suffix: String) throws -> Int? {
            guard let value = ext[base + "." + suffix] else { return nil }
            do { return try Int(derEncoded: value) } catch {
                throw CertificateError.malformed("AMD extension \(suffix) is not an INTEGER")
            }
        }
        func spl(_ suffix: String) throws -> UInt8? {
            guard let value = try integer(suffix) else { return nil }
            guard let byte = UInt8(exactly: value) else {
                throw CertificateError.malformed("AMD SPL extension \(suffix) = \(value) does not fit a byte")
            }
            return byte
        }
        func string(_ suffix: String) throws -> String? {
            guard let value = ext[base + "." + suffix] else { return nil }
            guard let node = try? DER.parse(value), case .primitive(let bytes) = node.content else {
                throw CertificateError.malformed("AMD extension \(suffix) is not a string")
            }
            return String(decoding: bytes, as: UTF8.self)
        }
        structVersion = try integer("1")
        productName = try string("2")
        bootloaderSPL = try spl("3.1")
        teeSPL = try spl("3.2")
        snpSPL = try spl("3.3")
        microcodeSPL = try spl("3.8")
        fmcSPL = try spl("3.9")
        cspID = try string("5")
        if let raw = ext[base + ".4"] {
            if raw.count == 64 || raw.count == 8 {
                hwID = raw
            } else if let node = try? DER.parse(raw), node.identifier == .octetString,
                      case .primitive(let inner) = node.content {
                hwID = Array(inner)
            } else {
                throw CertificateError.malformed("hwID extension has \(raw.count) bytes, expected 8 or 64")
            }
        } else {
            hwID = nil
        }
    }

    /// The product named by productName (`Milan-B0` → Milan).
    public var product: SNPProduct? { productName.flatMap { SNPProduct(name: $0) } }
}
