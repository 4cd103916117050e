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

    public func u64(at offset: Int) throws(BootInfoError) -> UInt64 {
        guard offset >= 0, offset <= bytes.count - 8 else {
            throw .truncated(needed: offset + 8, available: bytes.count)
        }
        return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
}

/// Why boot data (PVH start info, an E820 or UEFI memory map, the EFI hand-off block) was rejected.
public enum BootInfoError: Error, Equatable, CustomStringConvertible {
    case truncated(needed: Int, available: Int)
    case badMagic(found: UInt64)
    case unsupportedVersion(UInt32)
    case descriptorTooSmall(Int)
    case tooManyEntries(Int)

    public var description: String {
        switch self {
        case let .truncated(needed, available): "boot data truncated: needed \(needed) bytes, have \(available)"
        case let .badMagic(found): "boot data has the wrong magic value \(found)"
        case let .unsupportedVersion(version): "boot data version \(version) is not supported"
        case let .descriptorTooSmall(size): "memory descriptor size \(size) is smaller than the 40-byte UEFI layout"
        case let .tooManyEntries(count): "memory map claims \(count) entries, more than the 4096 accepted"
        }
    }
}
