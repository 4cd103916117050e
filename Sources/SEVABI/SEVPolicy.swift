/// Guest policy of SEV and SEV-ES launches (32 bits; SEV API 55766, "Guest Policy" table).
/// Bits 0-5 are flags, 6-15 reserved (must be zero), 16-23 the minimum API major, 24-31 the minimum
/// API minor version the firmware must have.
public struct SEVPolicy: Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt32

    /// Bits 0-5 of the SEV guest policy.
    public struct Flags: PolicyFlags {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }

        public static let noDebug = Flags(rawValue: 1 << 0)
        public static let noKeySharing = Flags(rawValue: 1 << 1)
        public static let encryptedState = Flags(rawValue: 1 << 2)
        public static let noSend = Flags(rawValue: 1 << 3)
        public static let domain = Flags(rawValue: 1 << 4)
        public static let sev = Flags(rawValue: 1 << 5)

        public static let table: [(flag: Flags, bit: PolicyBit)] = [
            named(.noDebug, "NODBG", "debugging of the guest is disallowed"),
            named(.noKeySharing, "NOKS", "sharing keys with other guests is disallowed"),
            named(.encryptedState, "ES", "SEV-ES is required (register state encrypted)"),
            named(.noSend, "NOSEND", "sending the guest to another platform is disallowed"),
            named(.domain, "DOMAIN", "the guest may only be migrated within its domain"),
            named(.sev, "SEV", "the guest may only be migrated to SEV-capable platforms"),
        ]
    }

    public static var bits: [PolicyBit] { Flags.bits }

    /// Bits 6-15 must be zero.
    public static let reservedMask: UInt32 = 0x0000_FFC0

    /// Accepts any 32-bit value that keeps the reserved bits clear.
    public init(rawValue: UInt32) throws {
        let reserved = rawValue & Self.reservedMask
        guard reserved == 0 else { throw PolicyError.reservedBitsSet(kind: "SEV", mask: UInt64(reserved)) }
        self.rawValue = rawValue
    }

    public init(flags: Flags, apiMajor: UInt8 = 0, apiMinor: UInt8 = 0) throws {
        try self.init(rawValue: flags.rawValue | UInt32(apiMajor) << 16 | UInt32(apiMinor) << 24)
    }

    /// Builds a policy from flag names as a user writes them.
    public init(flags names: [String], apiMajor: UInt8 = 0, apiMinor: UInt8 = 0) throws {
        var flags = Flags()
        for name in names {
            guard let flag = Flags(name: name) else { throw PolicyError.unknownFlag(name, known: Flags.bits.map(\.name)) }
            flags.insert(flag)
        }
        try self.init(flags: flags, apiMajor: apiMajor, apiMinor: apiMinor)
    }

    public var flags: Flags { Flags(rawValue: rawValue).intersection(.all) }
    public var setBits: [PolicyBit] { flags.setBits }
    public var apiMajor: UInt8 { UInt8(truncatingIfNeeded: rawValue >> 16) }
    public var apiMinor: UInt8 { UInt8(truncatingIfNeeded: rawValue >> 24) }
    public var requiresES: Bool { flags.contains(.encryptedState) }

    /// Things a user should know before launching with this policy.
    public var warnings: [String] {
        var out: [String] = []
        if !flags.contains(.noDebug) { out.append("NODBG is clear: the hypervisor may debug (decrypt) this guest") }
        if !flags.contains(.noKeySharing) { out.append("NOKS is clear: the guest key may be shared with other guests") }
        return out
    }

    public var description: String { "0x" + String(rawValue, radix: 16) }
}
