/// A 128-bit GUID. `description` is the canonical text form; `efiBytes` is the mixed-endian layout used
/// by UEFI and AMD tables (first three fields little-endian), which is how GUIDs appear in OVMF and in
/// SNP certificate tables.
public struct GUID: Hashable, Sendable, CustomStringConvertible {
    /// Bytes in text order (big-endian fields).
    public let bytes: [UInt8]

    public enum ParseError: Error, Equatable, CustomStringConvertible, Sendable {
        case invalid(String)
        public var description: String {
            switch self { case .invalid(let text): return "not a GUID: '\(text.prefix(60))'" }
        }
    }

    public init(_ text: String) throws {
        let groups = text.split(separator: "-", omittingEmptySubsequences: false)
        guard groups.map(\.count) == [8, 4, 4, 4, 12],
              let bytes = try? [UInt8](hex: groups.joined()) else {
            throw ParseError.invalid(text)
        }
        self.bytes = bytes
    }

    /// A GUID literal known at compile time to be valid.
    public init(static text: StaticString) {
        // swiftlint:disable:next force_try
        self = try! GUID(text.description)
    }

    /// Decodes the 16-byte UEFI mixed-endian form.
    public init(efiBytes raw: [UInt8]) throws {
        guard raw.count == 16 else { throw ParseError.invalid(raw.hexString) }
        var b = raw
        b[0...3].reverse()
        b[4...5].reverse()
        b[6...7].reverse()
        bytes = b
    }

    public var efiBytes: [UInt8] {
        var b = bytes
        b[0...3].reverse()
        b[4...5].reverse()
        b[6...7].reverse()
        return b
    }

    public var description: String {
        let h = bytes.hexString
        let i = Array(h)
        return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(i[$0]) }.joined(separator: "-")
    }
}
