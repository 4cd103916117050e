/// Bounds-checked little-endian reads from raw boot data (the kernel reads physical memory, the tests
/// read byte arrays).
public struct LittleEndianBytes {
    public let bytes: UnsafeRawBufferPointer

    public init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    public func u32(at offset: Int) throws(BootInfoError) -> UInt32 {
        guard offset >= 0, offset <= bytes.count - 4 else {
            throw .truncated(needed: offset + 4, available: bytes.count)
        }
        return UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    public func u16(at offset: Int) throws(BootInfoError) -> UInt16 {
        guard offset >= 0, offset <= bytes.count - 2 else {
            throw .truncated(needed: offset + 2, available: bytes.count)
        }
        return UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    /// fw_cfg's own structures (the file directory) are big-endian.
    public func u32BigEndian(at offset: Int) throws(BootInfoError) -> UInt32 {
        try u32(at: offset).byteSwapped
    }

    public func u64(at offset: Int) throws(BootInfoError) -> UInt64 {
        guard offset >= 0, offset <= bytes.count - 8 else {
            throw .truncated(needed: offset + 8, available: bytes.count)
        }
        return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
}

/// Why boot data (PVH start info, an E820 or UEFI memory map, the EFI hand-off block, fw_cfg, the
/// firmware image's footer table) was rejected.
public enum BootInfoError: Error, Equatable, CustomStringConvertible {
    case truncated(needed: Int, available: Int)
    case badMagic(found: UInt64)
    case unsupportedVersion(UInt32)
    case descriptorTooSmall(Int)
    case tooManyEntries(Int)
    /// An E820 entry of length zero (its index in the table).
    case zeroLengthRegion(index: Int)
    /// Two E820 entries that share addresses (their indices).
    case overlappingRegions(Int, Int)
    case noUsableMemory
    /// fw_cfg's signature register did not read "QEMU".
    case noFirmwareConfig
    case missingFile(FwCfgFileName)
    case fileTooLarge(FwCfgFileName, size: Int, limit: Int)
    case badFooter(FooterProblem)

    public var description: String {
        switch self {
        case let .truncated(needed, available): "boot data truncated: needed \(needed) bytes, have \(available)"
        case let .badMagic(found): "boot data has the wrong magic value \(found)"
        case let .unsupportedVersion(version): "boot data version \(version) is not supported"
        case let .descriptorTooSmall(size): "memory descriptor size \(size) is smaller than the 40-byte UEFI layout"
        case let .tooManyEntries(count): "memory map claims \(count) entries, more than the 4096 accepted"
        case let .zeroLengthRegion(index): "memory map entry \(index) has length zero"
        case let .overlappingRegions(first, second): "memory map entries \(first) and \(second) overlap"
        case .noUsableMemory: "memory map has no usable RAM"
        case .noFirmwareConfig: "no fw_cfg device at ports 0x510/0x511"
        case let .missingFile(name): "fw_cfg has no file \(name.text)"
        case let .fileTooLarge(name, size, limit): "fw_cfg file \(name.text) is \(size) bytes, more than the \(limit) accepted"
        case let .badFooter(problem): "firmware footer table: \(problem.text)"
        }
    }

    /// The guest exit status for a boot that stopped on this error: each kind of bad boot input has its
    /// own, so a caller sees from QEMU's exit code alone which input was wrong.
    public var exitStatus: GuestExitStatus {
        switch self {
        case .zeroLengthRegion, .overlappingRegions, .noUsableMemory: .badMemoryMap
        case .noFirmwareConfig, .missingFile, .fileTooLarge: .badFirmwareConfig
        case .badFooter: .badFooter
        case .truncated, .badMagic, .unsupportedVersion, .descriptorTooSmall, .tooManyEntries: .panic
        }
    }

    /// The `reason=` of the `cvmuk error` line.
    public var reason: StaticString {
        switch exitStatus {
        case .badMemoryMap: "memory-map"
        case .badFirmwareConfig: "fw-cfg"
        case .badFooter: "footer"
        default: "boot-info"
        }
    }
}

/// Runs a boot-data parser over an array's bytes, keeping the parser's typed error (the standard
/// library's withUnsafeBytes rethrows as `any Error`).
public func parse<T>(_ bytes: [UInt8], _ parser: (UnsafeRawBufferPointer) throws(BootInfoError) -> T) throws(BootInfoError) -> T {
    let result: Result<T, BootInfoError> = bytes.withUnsafeBytes { raw in
        do throws(BootInfoError) { return .success(try parser(raw)) } catch { return .failure(error) }
    }
    return try result.get()
}
