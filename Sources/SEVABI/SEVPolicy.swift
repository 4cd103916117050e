/// Guest policy of SEV and SEV-ES launches (32 bits; SEV API 55766, "Guest Policy" table).
/// Bits 0-5 are flags, 6-15 reserved (must be zero), 16-23 the minimum API major, 24-31 the minimum
/// API minor version the firmware must have.
public struct SEVPolicy: Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt32

    public static let bits: [PolicyBit] = [
        PolicyBit(name: "NODBG", bit: 0, meaning: "debugging of the guest is disallowed"),
        PolicyBit(name: "NOKS", bit: 1, meaning: "sharing keys with other guests is disallowed"),
        PolicyBit(name: "ES", bit: 2, meaning: "SEV-ES is required (register state encrypted)"),
        PolicyBit(name: "NOSEND", bit: 3, meaning: "sending the guest to another platform is disallowed"),
        PolicyBit(name: "DOMAIN", bit: 4, meaning: "the guest may only be migrated within its domain"),
        PolicyBit(name: "SEV", bit: 5, meaning: "the guest may only be migrated to SEV-capable platforms"),
    ]

    /// Bits 6-15 must be zero.
    public static let reservedMask: UInt32 = 0x0000_FFC0

    /// Accepts any 32-bit value that keeps the reserved bits clear.
    public init(rawValue: UInt32) throws {
        let reserved = rawValue & Self.reservedMask
        guard reserved == 0 else { throw PolicyError.reservedBitsSet(kind: "SEV", mask: UInt64(reserved)) }
        self.rawValue = rawValue
    }

    public init(flags: [String], apiMajor: UInt8 = 0, apiMinor: UInt8 = 0) throws {
        var value = UInt32(apiMajor) << 16 | UInt32(apiMinor) << 24
        for name in flags {
            guard let bit = Self.bits.first(where: { $0.name.caseInsensitiveEquals(name) }) else {
                throw PolicyError.unknownFlag(name, known: Self.bits.map(\.name))
            }
            value |= 1 << UInt32(bit.bit)
        }
        try self.init(rawValue: value)
    }

    public func isSet(_ name: String) -> Bool {
        guard let bit = Self.bits.first(where: { $0.name == name }) else { return false }
        return rawValue & (1 << UInt32(bit.bit)) != 0
    }

    public var setBits: [PolicyBit] { Self.bits.filter { rawValue & (1 << UInt32($0.bit)) != 0 } }
    public var apiMajor: UInt8 { UInt8(truncatingIfNeeded: rawValue >> 16) }
    public var apiMinor: UInt8 { UInt8(truncatingIfNeeded: rawValue >> 24) }
    public var requiresES: Bool { isSet("ES") }

    /// Things a user should know before launching with this policy.
    public var warnings: [String] {
        var out: [String] = []
        if !isSet("NODBG") { out.append("NODBG is clear: the hypervisor may debug (decrypt) this guest") }
        if !isSet("NOKS") { out.append("NOKS is clear: the guest key may be shared with other guests") }
        return out
    }

    public var description: String { "0x" + String(rawValue, radix: 16) }
}

extension String {
    func caseInsensitiveEquals(_ other: String) -> Bool {
        lowercased().replacingDashes() == other.lowercased().replacingDashes()
    }

    fileprivate func replacingDashes() -> String { String(map { $0 == "-" ? "_" : $0 }) }
}
