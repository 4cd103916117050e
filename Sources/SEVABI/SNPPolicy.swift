/// Guest policy of SEV-SNP launches (64 bits; SEV-SNP ABI 56860, Table "Guest Policy Structure").
/// Bits 0-7 ABI minor, 8-15 ABI major, 16-25 flags, bit 17 reserved and must be 1, bits 26-63 must be zero.
public struct SNPPolicy: Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt64

    public static let bits: [PolicyBit] = [
        PolicyBit(name: "SMT", bit: 16, meaning: "SMT (hyper-threading) may be enabled on the host"),
        PolicyBit(name: "RESERVED_17", bit: 17, meaning: "reserved, must be 1"),
        PolicyBit(name: "MIGRATE_MA", bit: 18, meaning: "a migration agent may be associated with the guest"),
        PolicyBit(name: "DEBUG", bit: 19, meaning: "debugging is allowed (the hypervisor can read guest memory)"),
        PolicyBit(name: "SINGLE_SOCKET", bit: 20, meaning: "the guest may run on one socket only"),
        PolicyBit(name: "CXL_ALLOW", bit: 21, meaning: "CXL memory may back guest memory"),
        PolicyBit(name: "MEM_AES_256_XTS", bit: 22, meaning: "AES-256-XTS memory encryption is required"),
        PolicyBit(name: "RAPL_DIS", bit: 23, meaning: "Running Average Power Limit must be disabled"),
        PolicyBit(name: "CIPHERTEXT_HIDING_DRAM", bit: 24, meaning: "ciphertext hiding for DRAM is required"),
        PolicyBit(name: "PAGE_SWAP_DISABLE", bit: 25, meaning: "guest page swapping (SNP_PAGE_MOVE/SWAP) is disabled"),
    ]

    public static let mustBeOneBit: UInt64 = 1 << 17
    /// Bits 26-63 must be zero.
    public static let reservedMask: UInt64 = ~UInt64(0) << 26
    /// The default QEMU and libvirt use: SMT allowed plus the must-be-one bit.
    public static let `default` = try! SNPPolicy(rawValue: 0x30000)

    public init(rawValue: UInt64) throws {
        let reserved = rawValue & Self.reservedMask
        guard reserved == 0 else { throw PolicyError.reservedBitsSet(kind: "SNP", mask: reserved) }
        guard rawValue & Self.mustBeOneBit != 0 else { throw PolicyError.mustBeOneClear(bit: 17) }
        self.rawValue = rawValue
    }

    /// Builds a policy from flag names; the must-be-one bit is always added.
    public init(flags: [String], abiMajor: UInt8 = 0, abiMinor: UInt8 = 0) throws {
        var value = Self.mustBeOneBit | UInt64(abiMajor) << 8 | UInt64(abiMinor)
        for name in flags {
            guard let bit = Self.bits.first(where: { $0.name.caseInsensitiveEquals(name) }) else {
                throw PolicyError.unknownFlag(name, known: Self.bits.map(\.name).filter { $0 != "RESERVED_17" })
            }
            value |= 1 << UInt64(bit.bit)
        }
        try self.init(rawValue: value)
    }

    public func isSet(_ name: String) -> Bool {
        guard let bit = Self.bits.first(where: { $0.name == name }) else { return false }
        return rawValue & (1 << UInt64(bit.bit)) != 0
    }

    public var setBits: [PolicyBit] { Self.bits.filter { rawValue & (1 << UInt64($0.bit)) != 0 } }
    public var abiMinor: UInt8 { UInt8(truncatingIfNeeded: rawValue) }
    public var abiMajor: UInt8 { UInt8(truncatingIfNeeded: rawValue >> 8) }
    public var smtAllowed: Bool { isSet("SMT") }
    public var debugAllowed: Bool { isSet("DEBUG") }
    public var migrationAgentAllowed: Bool { isSet("MIGRATE_MA") }

    public var warnings: [String] {
        var out: [String] = []
        if debugAllowed {
            out.append("DEBUG is set: the hypervisor can decrypt guest memory; never use in production")
        }
        if migrationAgentAllowed {
            out.append("MIGRATE_MA is set: a migration agent can export the guest's memory")
        }
        return out
    }

    public var description: String { "0x" + String(rawValue, radix: 16) }
}
