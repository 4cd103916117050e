import Crypto
import SEVABI

/// A content digest as OCI descriptors write it (`sha256:<64 lower-case hex digits>`).
/// Only SHA-256 is accepted; the hex part is validated strictly because it also names blob files
/// (`blobs/sha256/<hex>`), so a hostile digest can never become a path outside the blob folder.
public struct Digest: Hashable, Sendable, CustomStringConvertible, Codable {
    /// The 32 digest bytes.
    public let bytes: [UInt8]

    public init(sha256 bytes: [UInt8]) {
        precondition(bytes.count == 32, "SHA-256 digests are 32 bytes")
        self.bytes = bytes
    }

    /// Parses `sha256:<hex>`; throws for other algorithms and malformed text.
    public init(parsing text: String) throws {
        guard let colon = text.firstIndex(of: ":") else { throw ImageError.badDigest(text) }
        let algorithm = text[..<colon]
        let hex = text[text.index(after: colon)...]
        guard algorithm == "sha256" else {
            guard !algorithm.isEmpty, algorithm.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2B || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }) else {
                throw ImageError.badDigest(text)
            }
            throw ImageError.unsupportedDigestAlgorithm(text)
        }
        try self.init(hex: String(hex), original: text)
    }

    /// Parses the bare 64-digit lower-case hex form (as used in file names).
    public init(hex: String) throws {
        try self.init(hex: hex, original: hex)
    }

    private init(hex: String, original: String) throws {
        let utf8 = Array(hex.utf8)
        guard utf8.count == 64, utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }),
              let bytes = try? [UInt8](hex: hex) else {
            throw ImageError.badDigest(original)
        }
        self.bytes = bytes
    }

    /// The 64 hex digits without the algorithm.
    public var hex: String { bytes.hexString }
    public var description: String { "sha256:\(hex)" }
    /// The first 12 hex digits, as container tools show image IDs.
    public var short: String { String(hex.prefix(12)) }

    /// The SHA-256 digest of `data`.
    public static func of<D: Sequence>(_ data: D) -> Digest where D.Element == UInt8 {
        var hasher = SHA256()
        hasher.update(data: Array(data))
        return Digest(sha256: Array(hasher.finalize()))
    }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        try self.init(parsing: text)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
