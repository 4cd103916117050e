import Certificates
import Foundation
import SEVABI

/// A PCS answer of the form {"tcbInfo": {...}, "signature": "hex"} (or "enclaveIdentity"): the signed
/// object as the exact bytes served, because Intel's ECDSA signature is over those bytes and a
/// re-serialised copy (other key order, spacing or number spelling) would no longer verify.
public struct SignedAnswer: Sendable {
    /// The raw bytes of the signed member's value.
    public let signedJSON: [UInt8]
    /// ECDSA P-256, r ‖ s.
    public let signature: [UInt8]
    public let nextUpdate: Date

    public init(_ answer: [UInt8], member: String) throws {
        let object: [String: Any]
        do {
            guard let parsed = try JSONSerialization.jsonObject(with: Data(answer)) as? [String: Any] else {
                throw PCS.Failure.unusable("not a JSON object")
            }
            object = parsed
        } catch let failure as PCS.Failure { throw failure } catch {
            throw PCS.Failure.unusable("not JSON")
        }
        guard let signed = object[member] as? [String: Any], let raw = Self.rawMember(member, of: answer) else {
            throw PCS.Failure.unusable("no \"\(member)\" object")
        }
        guard let next = signed["nextUpdate"] as? String, let date = parseRFC3339(next) else {
            throw PCS.Failure.unusable("\(member) has no RFC 3339 nextUpdate")
        }
        guard let hex = object["signature"] as? String, let signature = try? [UInt8](hex: hex, count: 64) else {
            throw PCS.Failure.unusable("the signature is not 64 bytes of hex")
        }
        signedJSON = Array(raw)
        self.signature = signature
        nextUpdate = date
    }

    /// The bytes of the value of top-level key `name` in a JSON object already known to parse, found by
    /// walking the text: strings (with their escapes) are skipped whole, brackets are counted.
    static func rawMember(_ name: String, of bytes: [UInt8]) -> ArraySlice<UInt8>? {
        let quote: UInt8 = 0x22, backslash: UInt8 = 0x5C
        let space: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0D]
        var index = 0
        func skipSpace() { while index < bytes.count, space.contains(bytes[index]) { index += 1 } }
        func skipString() -> Bool {
            guard index < bytes.count, bytes[index] == quote else { return false }
            index += 1
            while index < bytes.count {
                switch bytes[index] {
                case backslash: index += 2
                case quote: index += 1; return true
                default: index += 1
                }
            }
            return false
        }
        func skipValue() -> Bool {
            guard index < bytes.count else { return false }
            let opening = bytes[index]
            if opening == quote { return skipString() }
            guard opening == UInt8(ascii: "{") || opening == UInt8(ascii: "[") else {
                let ends: Set<UInt8> = space.union([UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]")])
                while index < bytes.count, !ends.contains(bytes[index]) { index += 1 }
                return true
            }
            var depth = 0
            while index < bytes.count {
                switch bytes[index] {
                case quote: guard skipString() else { return false }; continue
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
                default: break
                }
                index += 1
                if depth == 0 { return true }
            }
            return false
        }
        let wanted = Array(name.utf8)
        skipSpace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "{") else { return nil }
        index += 1
        while true {
            skipSpace()
            let keyStart = index + 1
            guard skipString() else { return nil }
            let key = bytes[keyStart..<index - 1]
            skipSpace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return nil }
            index += 1
            skipSpace()
            let valueStart = index
            guard skipValue() else { return nil }
            if key.elementsEqual(wanted) { return bytes[valueStart..<index] }
            skipSpace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ",") else { return nil }
            index += 1
        }
    }
}
