/// QEMU's firmware configuration device (docs/specs/fw_cfg.rst), read over its I/O ports only: a
/// 16-bit selector write to 0x510, then byte reads from 0x511. The DMA interface is not used, because
/// under SEV a DMA buffer would have to be shared memory.
public enum FwCfg {
    public static let selectorPort: UInt16 = 0x510
    public static let dataPort: UInt16 = 0x511
    /// Selector 0x0000 reads "QEMU".
    public static let signatureSelector: UInt16 = 0x0000
    public static let signature: [UInt8] = [0x51, 0x45, 0x4d, 0x55]
    /// Selector 0x0019 reads the file directory.
    public static let directorySelector: UInt16 = 0x0019
    /// FW_CFG_NB_CPUS: the number of vCPUs present at boot, 16-bit little-endian (docs/specs/fw_cfg.rst).
    public static let cpuCountSelector: UInt16 = 0x0005
    /// Each directory entry: u32 size, u16 select, u16 reserved (all big-endian), char name[56].
    public static let directoryEntrySize = 64
    public static let nameLength = 56
    /// QEMU registers a few dozen files; more than this is not a fw_cfg directory.
    public static let maximumFiles = 1024
}

/// The fw_cfg files the firmware boot reads.
public enum FwCfgFileName: Equatable, Sendable {
    /// QEMU's memory map, struct e820_entry[] (hw/i386/e820_memory_layout.h).
    case e820
    /// The kernel command line, from `-fw_cfg name=opt/org.cvmkit/cmdline,string=...`.
    case commandLine

    public var text: StaticString {
        switch self {
        case .e820: "etc/e820"
        case .commandLine: "opt/org.cvmkit/cmdline"
        }
    }

    /// Most bytes the kernel accepts from the file.
    public var limit: Int {
        switch self {
        case .e820: 4096 * E820Table.entrySize
        case .commandLine: 4096
        }
    }
}

/// One directory entry: where a named file is and how long it is.
public struct FwCfgFile: Equatable, Sendable {
    public var name: [UInt8]
    public var selector: UInt16
    public var size: Int
}

/// The fw_cfg file directory: a big-endian u32 count followed by that many 64-byte entries.
public struct FwCfgDirectory: Equatable, Sendable {
    public var files: [FwCfgFile]

    /// Bytes of the directory holding `count` entries.
    public static func byteCount(entries count: Int) -> Int { 4 + count * FwCfg.directoryEntrySize }

    /// The entry count from the directory's first four bytes.
    public static func count(header: UnsafeRawBufferPointer) throws(BootInfoError) -> Int {
        let count = Int(try LittleEndianBytes(header).u32BigEndian(at: 0))
        guard count <= FwCfg.maximumFiles else { throw .tooManyEntries(count) }
        return count
    }

    public init(bytes: UnsafeRawBufferPointer) throws(BootInfoError) {
        let reader = LittleEndianBytes(bytes)
        let count = try Self.count(header: bytes)
        guard bytes.count >= Self.byteCount(entries: count) else {
            throw .truncated(needed: Self.byteCount(entries: count), available: bytes.count)
        }
        var files: [FwCfgFile] = []
        for index in 0..<count {
            let offset = 4 + index * FwCfg.directoryEntrySize
            let size = Int(try reader.u32BigEndian(at: offset))
            let selector = (try reader.u16(at: offset + 4)).byteSwapped
            var name: [UInt8] = []
            for position in 0..<FwCfg.nameLength {
                let byte = bytes[offset + 8 + position]
                if byte == 0 { break }
                name.append(byte)
            }
            files.append(FwCfgFile(name: name, selector: selector, size: size))
        }
        self.files = files
    }

    /// The entry for `name`, checked against the file's size limit.
    public func file(_ name: FwCfgFileName) throws(BootInfoError) -> FwCfgFile {
        var wanted: [UInt8] = []
        name.text.withUTF8Buffer { wanted.append(contentsOf: $0) }
        for file in files where file.name == wanted {
            guard file.size <= name.limit else { throw .fileTooLarge(name, size: file.size, limit: name.limit) }
            return file
        }
        throw .missingFile(name)
    }
}

/// The command line as the fw_cfg file holds it: QEMU's `string=` stores the characters without a NUL,
/// a `file=` may carry a trailing NUL or newline, which are not part of the line.
public enum FirmwareCommandLine {
    public static func text(_ bytes: [UInt8]) -> [UInt8] {
        var line = bytes
        while let last = line.last, last == 0 || last == 0x0a { line.removeLast() }
        return line
    }
}
