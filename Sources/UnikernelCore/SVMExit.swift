/// Exit codes an SEV-ES/SNP guest writes into the GHCB's SW_EXITCODE (APM vol. 2 appendix C for the
/// automatic ones it forwards, GHCB specification "Non-Automatic Exits" for the VMGEXIT-only ones).
public enum SVMExitCode: UInt64, Sendable {
    case rdtsc = 0x06e
    case cpuid = 0x072
    case hlt = 0x078
    case ioio = 0x07b
    case msr = 0x07c
    case vmmcall = 0x081
    case rdtscp = 0x087
    case wbinvd = 0x089
    case mmioRead = 0x8000_0001
    case mmioWrite = 0x8000_0002
    case pageStateChange = 0x8000_0010
    case guestRequest = 0x8000_0011
    case extendedGuestRequest = 0x8000_0012
    case hypervisorFeatures = 0x8000_fffd
    case terminate = 0x8000_fffe
    case unsupported = 0x8000_ffff
}

/// EXITINFO1 of an IOIO intercept (APM vol. 2, 15.10.2, Figure 15-2): port in bits 31:16, one-hot
/// operand size in 6:4 and address size in 9:7, string and REP in bits 2 and 3, direction in bit 0
/// (1 = IN). The #VC handler builds it from the decoded instruction; the hypervisor reads it.
public struct IOIOExitInfo: Equatable, Sendable {
    public static let inBit: UInt64 = 1 << 0
    public static let stringBit: UInt64 = 1 << 2
    public static let repBit: UInt64 = 1 << 3
    public static let sizeShift: UInt64 = 4
    public static let addressSizeShift: UInt64 = 7

    public var port: UInt16
    /// Operand size in bytes: 1, 2 or 4.
    public var size: Int
    public var isIn: Bool
    public var isString: Bool
    public var isRep: Bool
    /// Address size in bytes for string forms: 2, 4 or 8.
    public var addressSize: Int

    public init(port: UInt16, size: Int, isIn: Bool, isString: Bool = false, isRep: Bool = false, addressSize: Int = 8) {
        self.port = port
        self.size = size
        self.isIn = isIn
        self.isString = isString
        self.isRep = isRep
        self.addressSize = addressSize
    }

    public enum EncodingError: Error, Equatable, Sendable {
        case badOperandSize(Int)
        case badAddressSize(Int)
    }

    static func oneHot(_ bytes: Int, _ allowed: (Int, Int, Int)) -> UInt64? {
        switch bytes {
        case allowed.0: 1
        case allowed.1: 2
        case allowed.2: 4
        default: nil
        }
    }

    public func encoded() throws(EncodingError) -> UInt64 {
        guard let operand = Self.oneHot(size, (1, 2, 4)) else { throw .badOperandSize(size) }
        guard let address = Self.oneHot(addressSize, (2, 4, 8)) else { throw .badAddressSize(addressSize) }
        var value = UInt64(port) << 16 | operand << Self.sizeShift | address << Self.addressSizeShift
        if isIn { value |= Self.inBit }
        if isString { value |= Self.stringBit }
        if isRep { value |= Self.repBit }
        return value
    }

    public init(decoding value: UInt64) throws(EncodingError) {
        let operand = Int(value >> Self.sizeShift & 7)
        let address = Int(value >> Self.addressSizeShift & 7)
        guard operand == 1 || operand == 2 || operand == 4 else { throw .badOperandSize(operand) }
        guard address == 1 || address == 2 || address == 4 else { throw .badAddressSize(address) }
        self.init(port: UInt16(truncatingIfNeeded: value >> 16), size: operand, isIn: value & Self.inBit != 0,
                  isString: value & Self.stringBit != 0, isRep: value & Self.repBit != 0, addressSize: address * 2)
    }
}
