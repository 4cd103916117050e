/// The block the EFI loader stub hands the kernel after ExitBootServices (Unikernel/EFI/handoff.h,
/// `struct uk_efi_handoff`): magic u64 at 0 ("CVMUKEFI"), memory map address at 8, its size in bytes at
/// 16, the firmware's descriptor size at 24, command line address at 32 (ASCII), its length at 40, the
/// stub image base at 48 and size at 56, the SEV-SNP confidential-computing blob's address at 64 (0 when
/// the firmware installed none: not SNP) and the SEV C-bit as a mask on a page-table entry at 72 (0
/// without SEV; the stub reads it while the firmware's #VC handler still serves its CPUID).
public struct EFIHandoff: Equatable, Sendable {
    /// "CVMUKEFI" read as a little-endian u64.
    public static let magic: UInt64 = 0x4946_454b_554d_5643
    public static let size = 80

    public var memoryMapAddress: UInt64
    public var memoryMapSize: UInt64
    public var descriptorSize: UInt64
    public var commandLineAddress: UInt64
    public var commandLineLength: UInt64
    public var stubBase: UInt64
    public var stubSize: UInt64
    public var ccBlobAddress: UInt64
    public var encryptionMask: UInt64

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
        ccBlobAddress = try reader.u64(at: 64)
        encryptionMask = try reader.u64(at: 72)
        guard descriptorSize >= UInt64(UEFIMemoryMap.minimumDescriptorSize) else {
            throw .descriptorTooSmall(Int(truncatingIfNeeded: descriptorSize))
        }
        guard memoryMapSize / descriptorSize <= 4096 else {
            throw .tooManyEntries(Int(truncatingIfNeeded: memoryMapSize / descriptorSize))
        }
    }
}

/// The SEV-SNP confidential-computing blob OVMF installs as an EFI configuration table (GUID
/// 067b1f5f-cf26-44c5-8554-93d777912d42; edk2 ConfidentialComputingSevSnpBlob.h, Linux `struct
/// cc_blob_sev_info`): magic u32 "AMDE" at 0, version u16 at 4, secrets page address u64 at 8 and length
/// u32 at 16, CPUID page address u64 at 24 and length u32 at 32. Through it an EFI-booted SNP guest finds
/// the two pages the firmware boot names in its own metadata.
public struct ConfidentialComputingBlob: Equatable, Sendable {
    public static let magic: UInt32 = 0x4544_4d41
    public static let size = 40

    public var version: UInt16
    public var secretsAddress: UInt64
    public var secretsLength: UInt32
    public var cpuidAddress: UInt64
    public var cpuidLength: UInt32

    public enum ParseError: Error, Equatable, Sendable {
        case truncated
        case badMagic(UInt32)
        /// A page shorter than 4 KiB, or one not page-aligned.
        case badPage(address: UInt64, length: UInt32)
    }

    public init(bytes: UnsafeRawBufferPointer) throws(ParseError) {
        guard bytes.count >= Self.size else { throw .truncated }
        func u32(_ offset: Int) -> UInt32 { UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
        func u64(_ offset: Int) -> UInt64 { UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
        guard u32(0) == Self.magic else { throw .badMagic(u32(0)) }
        version = UInt16(truncatingIfNeeded: u32(4))
        secretsAddress = u64(8)
        secretsLength = u32(16)
        cpuidAddress = u64(24)
        cpuidLength = u32(32)
        for (address, length) in [(secretsAddress, secretsLength), (cpuidAddress, cpuidLength)] where address % 4096 != 0 || length < 4096 || address == 0 {
            throw .badPage(address: address, length: length)
        }
    }
}
