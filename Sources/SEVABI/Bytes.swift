/// Bounds-checked little-endian reading over a byte buffer. Every read checks the remaining length,
/// so parsers built on it fail with `ByteReader.Error.truncated` instead of trapping.
public struct ByteReader: Sendable {
    public enum Error: Swift.Error, Equatable, CustomStringConvertible, Sendable {
        case truncated(offset: Int, wanted: Int, available: Int)

        public var description: String {
            switch self {
            case let .truncated(offset, wanted, available):
                return "truncated input: needed \(wanted) bytes at offset \(offset), \(available) available"
            }
        }
    }

    public let bytes: [UInt8]
    public private(set) var offset: Int

    public init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    public var remaining: Int { max(0, bytes.count - offset) }

    public mutating func seek(to newOffset: Int) throws {
        guard newOffset >= 0, newOffset <= bytes.count else {
            throw Error.truncated(offset: newOffset, wanted: 0, available: bytes.count)
        }
        offset = newOffset
    }

    public mutating func skip(_ count: Int) throws {
        _ = try read(count)
    }

    public mutating func read(_ count: Int) throws -> [UInt8] {
        guard count >= 0, offset >= 0, count <= bytes.count - offset else {
            throw Error.truncated(offset: offset, wanted: count, available: remaining)
        }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    public mutating func readLE<T: FixedWidthInteger & UnsignedInteger>(_: T.Type = T.self) throws -> T {
        let raw = try read(MemoryLayout<T>.size)
        return raw.littleEndianInteger()
    }

    /// Reads at an absolute offset without moving the cursor.
    public func peekLE<T: FixedWidthInteger & UnsignedInteger>(_: T.Type = T.self, at position: Int) throws -> T {
        var copy = self
        try copy.seek(to: position)
        return try copy.readLE(T.self)
    }

    public func slice(at position: Int, count: Int) throws -> [UInt8] {
        var copy = self
        try copy.seek(to: position)
        return try copy.read(count)
    }
}

extension Sequence where Element == UInt8 {
    /// Interprets the bytes as a little-endian unsigned integer (at most the type's width are used).
    public func littleEndianInteger<T: FixedWidthInteger & UnsignedInteger>() -> T {
        var value: T = 0
        var shift = 0
        for byte in self where shift < T.bitWidth {
            value |= T(byte) << shift
            shift += 8
        }
        return value
    }

    /// Lower-case hexadecimal, two digits per byte.
    public var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension FixedWidthInteger {
    /// The value's bytes, least significant first.
    public var littleEndianBytes: [UInt8] {
        (0..<(Self.bitWidth / 8)).map { UInt8(truncatingIfNeeded: self >> ($0 * 8)) }
    }
}

public enum HexError: Error, Equatable, CustomStringConvertible, Sendable {
    case invalidHex(String)
    case wrongLength(expected: Int, found: Int)

    public var description: String {
        switch self {
        case .invalidHex(let text): return "not a hexadecimal string: '\(text.prefix(40))'"
        case let .wrongLength(expected, found): return "expected \(expected) bytes, found \(found)"
        }
    }
}

extension Array where Element == UInt8 {
    /// Parses hexadecimal text (an optional 0x prefix, no separators).
    public init(hex text: String) throws {
        var body = Substring(text.trimmingWhitespace())
        if body.hasPrefix("0x") || body.hasPrefix("0X") { body = body.dropFirst(2) }
        guard body.count % 2 == 0 else { throw HexError.invalidHex(text) }
        var out: [UInt8] = []
        out.reserveCapacity(body.count / 2)
        var index = body.startIndex
        while index < body.endIndex {
            let next = body.index(index, offsetBy: 2)
            guard let byte = UInt8(body[index..<next], radix: 16) else { throw HexError.invalidHex(text) }
            out.append(byte)
            index = next
        }
        self = out
    }

    /// Parses hexadecimal text that must decode to exactly `count` bytes.
    public init(hex text: String, count: Int) throws {
        let bytes = try [UInt8](hex: text)
        guard bytes.count == count else { throw HexError.wrongLength(expected: count, found: bytes.count) }
        self = bytes
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        let last = scalars.lastIndex(where: { !$0.properties.isWhitespace }) ?? first
        return String(String.UnicodeScalarView(scalars[first...last]))
    }
}

/// Parses an unsigned integer written exactly as the help texts promise: decimal digits, or `0x`/`0X`
/// followed by hex digits. Signs, spaces, underscores and other bases are refused, so what a user typed
/// is what was meant (Swift's `Int("+5")` and `radix:` parsing would accept more).
public func parseUnsignedInteger<T: FixedWidthInteger & UnsignedInteger>(_ text: String, as _: T.Type = T.self) -> T? {
    let hex = text.hasPrefix("0x") || text.hasPrefix("0X")
    let digits = hex ? text.dropFirst(2) : Substring(text)
    guard !digits.isEmpty, digits.allSatisfy({ hex ? $0.isHexDigit : ("0"..."9").contains($0) }) else { return nil }
    return T(digits, radix: hex ? 16 : 10)
}
