/// A VM's name: also its directory name, its libvirt domain name and (mapped) its guest host name.
/// Letters, digits, '.', '_' and '-', starting with a letter or digit, at most 48 characters so the
/// console and QMP socket paths stay within the 108 bytes a Unix socket address allows.
public struct VMName: Sendable, Hashable, Codable, CustomStringConvertible, Comparable {
    public static let maximumLength = 48
    public let rawValue: String

    public init(_ raw: String) throws {
        guard !raw.isEmpty else { throw VMError.invalidName(raw, reason: "it is empty") }
        guard raw.count <= Self.maximumLength else {
            throw VMError.invalidName(String(raw.prefix(60)), reason: "longer than \(Self.maximumLength) characters")
        }
        guard !raw.contains("/") else { throw VMError.invalidName(raw, reason: "it contains '/'") }
        guard !raw.contains("..") else { throw VMError.invalidName(raw, reason: "it contains '..'") }
        guard let first = raw.unicodeScalars.first, Self.isAlphanumeric(first) else {
            throw VMError.invalidName(raw, reason: "it must start with a letter or a digit")
        }
        if let bad = raw.unicodeScalars.first(where: { !Self.isAlphanumeric($0) && !"._-".unicodeScalars.contains($0) }) {
            let shown = bad.isASCII && bad.value >= 0x20 && bad.value < 0x7F ? "'\(Character(bad))'" : "U+\(String(bad.value, radix: 16, uppercase: true))"
            throw VMError.invalidName(raw, reason: "\(shown) is not allowed (letters, digits, '.', '_', '-')")
        }
        rawValue = raw
    }

    private static func isAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
    }

    public var description: String { rawValue }
    public static func < (lhs: VMName, rhs: VMName) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        try self.init(try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
