import Certificates
import SwiftASN1

/// The SGX extension of a PCK certificate (OID 1.2.840.113741.1.13.1): a SEQUENCE of (OID, value)
/// pairs, of which the verifier needs the PPID, the TCB (16 CPUSVN components and the PCESVN), the
/// PCE ID and the FMSPC that selects the platform's TCB info.
public struct PCKExtensions: Sendable, Equatable {
    public static let oid = "1.2.840.113741.1.13.1"
    public var ppid: [UInt8]
    public var cpuSVN: [UInt8]
    public var pceSVN: Int
    public var pceID: [UInt8]
    public var fmspc: [UInt8]

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case missing
        case malformed(String)
        public var description: String {
            switch self {
            case .missing: return "the PCK certificate has no SGX extension (1.2.840.113741.1.13.1)"
            case .malformed(let what): return "the PCK certificate's SGX extension is malformed: \(what)"
            }
        }
    }

    public init(_ certificate: Certificate) throws {
        guard let value = certificate.extensions[Self.oid] else { throw Failure.missing }
        var found: [String: ASN1Node] = [:]
        do {
            let root = try DER.parse(value)
            try DER.sequence(root, identifier: .sequence) { nodes in
                while let pair = nodes.next() {
                    try DER.sequence(pair, identifier: .sequence) { inner in
                        let oid = try ASN1ObjectIdentifier(derEncoded: &inner)
                        if let node = inner.next() { found[oid.description] = node }
                    }
                }
            }
        } catch { throw Failure.malformed("\(error)") }
        func octets(_ suffix: String) throws -> [UInt8] {
            guard let node = found[Self.oid + suffix] else { throw Failure.malformed("no \(Self.oid + suffix)") }
            do { return Array(try ASN1OctetString(derEncoded: node).bytes) } catch { throw Failure.malformed("\(Self.oid + suffix): \(error)") }
        }
        ppid = try octets(".1")
        pceID = try octets(".3")
        fmspc = try octets(".4")
        guard let tcb = found[Self.oid + ".2"] else { throw Failure.malformed("no TCB (\(Self.oid).2)") }
        var components = [UInt8](repeating: 0, count: 16)
        var pce: Int?
        do {
            try DER.sequence(tcb, identifier: .sequence) { nodes in
                while let pair = nodes.next() {
                    try DER.sequence(pair, identifier: .sequence) { inner in
                        let oid = try ASN1ObjectIdentifier(derEncoded: &inner).description
                        guard let valueNode = inner.next() else { return }
                        let prefix = Self.oid + ".2."
                        guard oid.hasPrefix(prefix), let index = Int(oid.dropFirst(prefix.count)) else { return }
                        if (1...16).contains(index) {
                            components[index - 1] = UInt8(truncatingIfNeeded: try Int(derEncoded: valueNode))
                        } else if index == 17 {
                            pce = try Int(derEncoded: valueNode)
                        } else if index == 18 {
                            components = Array(try ASN1OctetString(derEncoded: valueNode).bytes)
                        }
                    }
                }
            }
        } catch { throw Failure.malformed("TCB: \(error)") }
        guard let pce, components.count == 16 else { throw Failure.malformed("TCB without PCESVN or a 16-byte CPUSVN") }
        cpuSVN = components
        pceSVN = pce
    }
}
