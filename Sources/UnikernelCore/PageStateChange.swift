/// SNP page state change through the GHCB (GHCB specification section 4.1.6, "SNP Page State Change"):
/// the guest writes a descriptor into the GHCB shared buffer, a header {u16 current entry, u16 end entry,
/// u32 reserved} and up to 253 entries, and exits with SW_EXITCODE 0x8000_0010. Each entry is one
/// quadword: bits 11:0 the current 4 KiB page within a 2 MiB entry (the hypervisor's progress), 51:12 the
/// guest frame number, 55:52 the operation, 56 the page size (1 = 2 MiB). The hypervisor advances the
/// header's current entry; the guest exits again until it passes the end entry.
public enum PageStateChange {
    public static let headerSize = 8
    public static let entrySize = 8
    /// (2032-byte shared buffer - header) / entry.
    public static let maximumEntries = (GHCB.sharedBufferSize - headerSize) / entrySize
    public static let smallPage: UInt64 = 4096
    public static let largePage: UInt64 = 2 << 20

    public enum Operation: UInt64, Sendable {
        case `private` = 1
        case shared = 2
        case psmash = 3
        case unsmash = 4
    }

    public struct Entry: Equatable, Sendable {
        public var frame: UInt64
        public var operation: Operation
        public var isLarge: Bool
        public var currentPage: UInt16

        public init(frame: UInt64, operation: Operation, isLarge: Bool, currentPage: UInt16 = 0) {
            self.frame = frame
            self.operation = operation
            self.isLarge = isLarge
            self.currentPage = currentPage
        }

        public var encoded: UInt64 {
            UInt64(currentPage & 0xfff) | (frame & 0xff_ffff_ffff) << 12 | operation.rawValue << 52 | (isLarge ? 1 << 56 : 0)
        }

        public var address: UInt64 { frame << 12 }
        public var byteCount: UInt64 { isLarge ? largePage : smallPage }
    }

    public enum PlanError: Error, Equatable, Sendable {
        case unaligned(PhysicalRange)
        case frameOutOfRange(UInt64)
    }

    /// Entries covering `range` (4 KiB aligned): 2 MiB entries where a 2 MiB-aligned 2 MiB piece fits and
    /// `largePages` allows, 4 KiB entries elsewhere.
    public static func entries(for range: PhysicalRange, to operation: Operation, largePages: Bool) throws(PlanError) -> [Entry] {
        guard range.start % smallPage == 0, range.end % smallPage == 0 else { throw .unaligned(range) }
        var result: [Entry] = []
        var address = range.start
        while address < range.end {
            guard address >> 12 <= 0xff_ffff_ffff else { throw .frameOutOfRange(address >> 12) }
            let large = largePages && address % largePage == 0 && range.end - address >= largePage
            result.append(Entry(frame: address >> 12, operation: operation, isLarge: large))
            address += large ? largePage : smallPage
        }
        return result
    }

    /// Writes a descriptor for `entries` (at most `maximumEntries`) into `buffer`: current entry 0,
    /// end entry count - 1.
    public static func write(_ entries: ArraySlice<Entry>, to buffer: UnsafeMutableRawPointer) {
        precondition(!entries.isEmpty && entries.count <= maximumEntries)
        buffer.storeBytes(of: UInt16(0).littleEndian, toByteOffset: 0, as: UInt16.self)
        buffer.storeBytes(of: UInt16(entries.count - 1).littleEndian, toByteOffset: 2, as: UInt16.self)
        buffer.storeBytes(of: UInt32(0), toByteOffset: 4, as: UInt32.self)
        var offset = headerSize
        for entry in entries {
            buffer.storeBytes(of: entry.encoded.littleEndian, toByteOffset: offset, as: UInt64.self)
            offset += entrySize
        }
    }

    /// The header the hypervisor left: (current entry, end entry). Done when current > end.
    public static func progress(in buffer: UnsafeRawPointer) -> (current: UInt16, end: UInt16) {
        (UInt16(littleEndian: buffer.loadUnaligned(fromByteOffset: 0, as: UInt16.self)),
         UInt16(littleEndian: buffer.loadUnaligned(fromByteOffset: 2, as: UInt16.self)))
    }

    public static func decode(_ value: UInt64) -> Entry? {
        guard let operation = Operation(rawValue: value >> 52 & 0xf) else { return nil }
        return Entry(frame: value >> 12 & 0xff_ffff_ffff, operation: operation, isLarge: value >> 56 & 1 == 1,
                     currentPage: UInt16(value & 0xfff))
    }
}
