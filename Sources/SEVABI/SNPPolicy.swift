/// Guest policy of SEV-SNP launches (64 bits; SEV-SNP ABI 56860, Table "Guest Policy Structure").
/// Bits 0-7 ABI minor, 8-15 ABI major, 16-25 flags, bit 17 reserved and must be 1, bits 26-63 must be zero.
public struct SNPPolicy: Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt64

    /// Bits 16-25 of the SNP guest policy.
    public struct Flags: PolicyFlags {
        public let rawValue: UInt64
        public init(rawValue: UInt64) { self.rawValue = rawValue }

        public static let smt = Flags(rawValue: 1 << 16)
        public static let mustBeOne = Flags(rawValue: 1 << 17)
        public static let migrateMA = Flags(rawValue: 1 << 18)
        public static let debug = Flags(rawValue: 1 << 19)
        public static let singleSocket = Flags(rawValue: 1 << 20)
        public static let cxlAllow = Flags(rawValue: 1 << 21)
        public static let memAES256XTS = Flags(rawValue: 1 << 22)
        public static let raplDisabled = Flags(rawValue: 1 << 23)
        public static let ciphertextHidingDRAM = Flags(rawValue: 1 << 24)
        public static let pageSwapDisable = Flags(rawValue: 1 << 25)

        public static let table: [(flag: Flags, bit: PolicyBit)] = [
            named(.smt, "SMT", "SMT (hyper-threading) may be enabled on the host"),
            named(.mustBeOne, "RESERVED_17", "reserved, must be 1"),
            named(.migrateMA, "MIGRATE_MA", "a migration agent may be associated with the guest"),
            named(.debug, "DEBUG", "debugging is allowed (the hypervisor can read guest memory)"),
            named(.singleSocket, "SINGLE_SOCKET", "the guest may run on one socket only"),
            named(.cxlAllow, "CXL_ALLOW", "CXL memory may back guest memory"),
            named(.memAES256XTS, "MEM_AES_256_XTS", "AES-256-XTS memory encryption is required"),
            named(.raplDisabled, "RAPL_DIS", "Running Average Power Limit must be disabled"),
            named(.ciphertextHidingDRAM, "CIPHERTEXT_HIDING_DRAM", "ciphertext hiding for DRAM is required"),
            named(.pageSwapDisable, "PAGE_SWAP_DISABLE", "guest page swapping (SNP_PAGE_MOVE/SWAP) is disabled"),
        ]

        /// The names of the set flags a user chooses (the must-be-one bit left out).
        public var chosenNames: [String] { subtracting(.mustBeOne).setBits.map(\.name) }
    }

    public static var bits: [PolicyBit] { Flags.bits }

    public static let mustBeOneBit: UInt64 = Flags.mustBeOne.rawValue
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

    /// Builds a policy from flags and a minimum ABI; the must-be-one bit is always added.
    public init(flags: Flags, abiMajor: UInt8 = 0, abiMinor: UInt8 = 0) throws {
        try self.init(rawValue: flags.union(.mustBeOne).rawValue | UInt64(abiMajor) << 8 | UInt64(abiMinor))
    }

    /// Builds a policy from flag names as a user writes them.
    public init(flags names: [String], abiMajor: UInt8 = 0, abiMinor: UInt8 = 0) throws {
        var flags = Flags()
        for name in names {
            guard let flag = Flags(name: name) else {
                throw PolicyError.unknownFlag(name, known: Flags.bits.map(\.name).filter { $0 != "RESERVED_17" })
            }
            flags.insert(flag)
        }
        try self.init(flags: flags, abiMajor: abiMajor, abiMinor: abiMinor)
    }

    public var flags: Flags { Flags(rawValue: rawValue).intersection(.all) }
    public var setBits: [PolicyBit] { flags.setBits }
    public var abiMinor: UInt8 { UInt8(truncatingIfNeeded: rawValue) }
    public var abiMajor: UInt8 { UInt8(truncatingIfNeeded: rawValue >> 8) }
    public var smtAllowed: Bool { flags.contains(.smt) }
    public var debugAllowed: Bool { flags.contains(.debug) }
    public var migrationAgentAllowed: Bool { flags.contains(.migrateMA) }

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
