/// One named bit of a guest policy, as the AMD specifications name it.
public struct PolicyBit: Sendable, Hashable {
    public let name: String
    public let bit: Int
    /// What the bit means when it is set.
    public let meaning: String

    public init(name: String, bit: Int, meaning: String) {
        self.name = name
        self.bit = bit
        self.meaning = meaning
    }
}

/// A policy that fails the specification's rules.
public enum PolicyError: Error, Equatable, CustomStringConvertible, Sendable {
    case reservedBitsSet(kind: String, mask: UInt64)
    case mustBeOneClear(bit: Int)
    case unknownFlag(String, known: [String])
    case fieldOutOfRange(field: String, value: UInt64, max: UInt64)
    case notANumber(String)

    public var description: String {
        switch self {
        case let .reservedBitsSet(kind, mask):
            return "\(kind) policy has reserved bits set (must be zero): 0x\(String(mask, radix: 16))"
        case let .mustBeOneClear(bit):
            return "SNP policy bit \(bit) is reserved and must be 1 (add 0x\(String(UInt64(1) << UInt64(bit), radix: 16)))"
        case let .unknownFlag(name, known):
            return "unknown policy flag '\(name)'; known flags: \(known.joined(separator: ", "))"
        case let .fieldOutOfRange(field, value, max):
            return "\(field) \(value) is out of range (0...\(max))"
        case let .notANumber(text):
            return "not a policy value: '\(text)' (use decimal or 0x-prefixed hex)"
        }
    }
}
