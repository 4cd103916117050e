/// The Guest-Hypervisor Communication Block (GHCB specification, AMD pub. 56421, section 2.2 and
/// "GHCB Layout"): one shared 4 KiB page through which an SEV-ES or SNP guest hands the hypervisor the state of
/// a non-automatic exit. The first 1032 bytes are a save area laid out like the VMSA's; a field counts
/// only when its bit in the valid bitmap (one bit per quadword of the save area, at 0x3F0) is set. The
/// guest clears the page, fills the fields the exit needs, sets the exit code and information, does
/// VMGEXIT, and reads back the fields the hypervisor marked valid.
public struct GHCB {
    public static let size = 4096
    public static let saveAreaSize = 1032
    public static let validBitmapOffset = 0x3f0
    public static let validBitmapSize = 16
    public static let sharedBufferOffset = 0x800
    public static let sharedBufferSize = 2032
    public static let protocolVersionOffset = 0xffa
    public static let usageOffset = 0xffc
    /// GHCB usage 0: the standard layout above.
    public static let defaultUsage: UInt32 = 0

    /// Save-area fields, by their byte offset (GHCB specification, "GHCB Save Area").
    public enum Field: Int, Sendable, CaseIterable {
        case cpl = 0x0cb
        case xss = 0x140
        case dr7 = 0x160
        case rip = 0x178
        case rsp = 0x1d8
        case rax = 0x1f8
        case rcx = 0x308
        case rdx = 0x310
        case rbx = 0x318
        case rbp = 0x328
        case rsi = 0x330
        case rdi = 0x338
        case r8 = 0x340
        case r9 = 0x348
        case r10 = 0x350
        case r11 = 0x358
        case r12 = 0x360
        case r13 = 0x368
        case r14 = 0x370
        case r15 = 0x378
        case exitCode = 0x390
        case exitInfo1 = 0x398
        case exitInfo2 = 0x3a0
        case scratch = 0x3a8
        case xcr0 = 0x3e8

        /// The field's bit in the valid bitmap: its quadword index in the save area.
        public var validBit: Int { rawValue / 8 }
        /// CPL is the one byte-wide field; the rest are quadwords.
        public var width: Int { self == .cpl ? 1 : 8 }
    }

    public let page: UnsafeMutableRawPointer

    /// `page` must be 4096 writable bytes (in the kernel: the page mapped shared for this vCPU).
    public init(page: UnsafeMutableRawPointer) { self.page = page }

    /// Zeroes the page and stamps protocol version and usage, before each exit is filled in.
    public func clear(protocolVersion: UInt16) {
        page.initializeMemory(as: UInt8.self, repeating: 0, count: Self.size)
        page.storeBytes(of: protocolVersion.littleEndian, toByteOffset: Self.protocolVersionOffset, as: UInt16.self)
        page.storeBytes(of: Self.defaultUsage.littleEndian, toByteOffset: Self.usageOffset, as: UInt32.self)
    }

    public func set(_ field: Field, _ value: UInt64) {
        if field == .cpl {
            page.storeBytes(of: UInt8(truncatingIfNeeded: value), toByteOffset: field.rawValue, as: UInt8.self)
        } else {
            page.storeBytes(of: value.littleEndian, toByteOffset: field.rawValue, as: UInt64.self)
        }
        let byte = Self.validBitmapOffset + field.validBit / 8
        let bits = page.load(fromByteOffset: byte, as: UInt8.self)
        page.storeBytes(of: bits | 1 << UInt8(field.validBit % 8), toByteOffset: byte, as: UInt8.self)
    }

    public func isValid(_ field: Field) -> Bool {
        let bits = page.load(fromByteOffset: Self.validBitmapOffset + field.validBit / 8, as: UInt8.self)
        return bits & 1 << UInt8(field.validBit % 8) != 0
    }

    /// The field's value, whether or not it is marked valid.
    public func get(_ field: Field) -> UInt64 {
        if field == .cpl { return UInt64(page.load(fromByteOffset: field.rawValue, as: UInt8.self)) }
        return UInt64(littleEndian: page.loadUnaligned(fromByteOffset: field.rawValue, as: UInt64.self))
    }

    /// The field's value when the hypervisor marked it valid, else nil.
    public func valid(_ field: Field) -> UInt64? { isValid(field) ? get(field) : nil }

    public var sharedBuffer: UnsafeMutableRawPointer { page + Self.sharedBufferOffset }

    /// Why an exit's answer is not usable.
    public enum ExitError: Error, Equatable, Sendable {
        /// SW_EXITINFO1[31:0] = 1: the hypervisor injects the exception in SW_EXITINFO2 (vector, type, error code).
        case exceptionInjected(UInt64)
        /// SW_EXITINFO1[31:0] = 2: the GHCB input was wrong; SW_EXITINFO2 names why (GHCB specification, "GHCB input errors").
        case invalidInput(UInt64)
        /// SW_EXITINFO1[31:0] outside 0...2.
        case unknownResult(UInt64)
        /// The hypervisor did not mark a field the exit must return as valid.
        case missingOutput(Field)
    }

    /// Checks the result the hypervisor left in SW_EXITINFO1 after VMGEXIT (GHCB spec section 4.1.6):
    /// 0 success, 1 an exception to take, 2 bad input.
    public func checkResult() throws(ExitError) {
        let result = get(.exitInfo1) & 0xffff_ffff
        switch result {
        case 0: return
        case 1: throw .exceptionInjected(get(.exitInfo2))
        case 2: throw .invalidInput(get(.exitInfo2))
        default: throw .unknownResult(result)
        }
    }

    /// The fields an exit must have returned, each marked valid by the hypervisor.
    public func require(_ fields: [Field]) throws(ExitError) {
        for field in fields where !isValid(field) { throw .missingOutput(field) }
    }
}
