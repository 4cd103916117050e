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

/// The flag field of a guest policy as an OptionSet. SEV's and SNP's flags share this one mechanism for
/// names, lookup by name and listing, so each policy type only declares its table.
public protocol PolicyFlags: OptionSet, Sendable, Hashable where RawValue: FixedWidthInteger & UnsignedInteger, Element == Self {
    /// Every flag the specification defines, with its name and meaning, in bit order.
    static var table: [(flag: Self, bit: PolicyBit)] { get }
}

extension PolicyFlags {
    /// A table row: the bit number comes from the flag itself, so it is written once.
    public static func named(_ flag: Self, _ name: String, _ meaning: String) -> (flag: Self, bit: PolicyBit) {
        (flag, PolicyBit(name: name, bit: flag.rawValue.trailingZeroBitCount, meaning: meaning))
    }

    /// Every defined flag's name and bit.
    public static var bits: [PolicyBit] { table.map(\.bit) }

    /// The union of every defined flag.
    public static var all: Self { table.reduce(into: Self()) { $0.formUnion($1.flag) } }

    /// The flag a user named (case-insensitive; `-` and `_` are the same), or nil.
    public init?(name: String) {
        guard let row = Self.table.first(where: { $0.bit.name.caseInsensitiveEquals(name) }) else { return nil }
        self = row.flag
    }

    /// The defined flags that are set, in bit order.
    public var setBits: [PolicyBit] { Self.table.filter { contains($0.flag) }.map(\.bit) }
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

extension String {
    func caseInsensitiveEquals(_ other: String) -> Bool {
        lowercased().replacingDashes() == other.lowercased().replacingDashes()
    }

    fileprivate func replacingDashes() -> String { String(map { $0 == "-" ? "_" : $0 }) }
}
