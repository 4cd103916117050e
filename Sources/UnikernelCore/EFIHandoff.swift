/// The block the EFI loader stub hands the kernel after ExitBootServices (Unikernel/EFI/handoff.h,
/// `struct uk_efi_handoff`): magic u64 at 0 ("CVMUKEFI"), memory map address at 8, its size in bytes at
/// 16, the firmware's descriptor size at 24, command line address at 32 (ASCII), its length at 40, the
/// stub image base at 48 and size at 56.
public struct EFIHandoff: Equatable, Sendable {
    /// "CVMUKEFI" read as a little-endian u64.
    public static let magic: UInt64 = 0x4946_454b_554d_5643
    public static let size = 64

    public var memoryMapAddress: UInt64
    public var memoryMapSize: UInt64
    public var descriptorSize: UInt64
    public var commandLineAddress: UInt64
    public var commandLineLength: UInt64
    public var stubBase: UInt64
    public var stubSize: UInt64

    public init(bytes: UnsafeRawBufferPointer) throws(BootInfoError) {
        let reader = LittleEndianBytes(bytes)
        let magic = try reader.u64(at: 0)
        guard magic == Self.magic else { throw .badMagic(found: magic) }
        memoryMapAddress = try reader.u64(at: 8)
        memoryMapSize = try reader.u64(at: 16)
        descriptorSize = try reader.u64(at: 24)
        commandLineAddress = try reader.u64(at: 32)
        commandLineLength = try reader.u64(at: 40)
        stubBase = try reader.u64(at: 48)
        stubSize = try reader.u64(at: 56)
        guard descriptorSize >= UInt64(UEFIMemoryMap.minimumDescriptorSize) else {
            throw .descriptorTooSmall(Int(truncatingIfNeeded: descriptorSize))
        }
        guard memoryMapSize / descriptorSize <= 4096 else {
            throw .tooManyEntries(Int(truncatingIfNeeded: memoryMapSize / descriptorSize))
        }
    }
}
