/// Bits of an x86-64 paging-structure entry (AMD APM Vol. 2, 5.3 "Long-Mode Page Translation";
/// Intel SDM Vol. 3A, 4.5).
public struct PageFlags: OptionSet, Equatable, Sendable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public static let present = PageFlags(rawValue: 1 << 0)
    public static let writable = PageFlags(rawValue: 1 << 1)
    public static let user = PageFlags(rawValue: 1 << 2)
    public static let writeThrough = PageFlags(rawValue: 1 << 3)
    public static let cacheDisable = PageFlags(rawValue: 1 << 4)
    public static let accessed = PageFlags(rawValue: 1 << 5)
    public static let dirty = PageFlags(rawValue: 1 << 6)
    /// PS: the entry maps a 2 MiB (PD) or 1 GiB (PDPT) page instead of pointing at a table.
    public static let largePage = PageFlags(rawValue: 1 << 7)
    public static let global = PageFlags(rawValue: 1 << 8)
    public static let noExecute = PageFlags(rawValue: 1 << 63)

    /// Every bit that is a flag rather than address in the entries built here.
    public static let all = PageFlags(rawValue: 0x1ff | 1 << 63)
}

public enum PageTableError: Error, Equatable, CustomStringConvertible {
    case badAddressWidth(Int)
    case badEncryptionBit(Int)
    case misaligned(UInt64)
    case addressTooWide(UInt64)
    case outOfTables
    case alreadyMappedLarge(UInt64)

    public var description: String {
        switch self {
        case let .badAddressWidth(bits): "physical address width \(bits) is outside 32...52"
        case let .badEncryptionBit(bit): "encryption bit \(bit) must lie in 32...51 and within the address width"
        case let .misaligned(address): "address \(address) is not aligned to its page size"
        case let .addressTooWide(address): "address \(address) does not fit the physical address bits"
        case .outOfTables: "no memory left for page tables"
        case let .alreadyMappedLarge(address): "address \(address) is already covered by a large page"
        }
    }
}

/// How entries are encoded for one guest: its physical address width and, for SEV guests, the position
/// of the memory encryption (C) bit from CPUID Fn8000_001F EBX[5:0] (AMD APM Vol. 2, 15.34.1). The C-bit
/// is taken out of the address field; setting it marks the page private (encrypted).
public struct PageTableFormat: Equatable, Sendable {
    public let physicalAddressBits: Int
    public let encryptionBit: Int?

    public init(physicalAddressBits: Int = 52, encryptionBit: Int? = nil) throws(PageTableError) {
        guard (32...52).contains(physicalAddressBits) else { throw .badAddressWidth(physicalAddressBits) }
        if let bit = encryptionBit {
            guard (32...51).contains(bit), bit < physicalAddressBits else { throw .badEncryptionBit(bit) }
        }
        self.physicalAddressBits = physicalAddressBits
        self.encryptionBit = encryptionBit
    }

    public var encryptionMask: UInt64 { encryptionBit.map { 1 << UInt64($0) } ?? 0 }

    /// Address bits for an entry pointing at a frame of `pageSize` bytes (4 KiB tables and pages, or 2 MiB).
    public func addressMask(pageSize: UInt64 = 4096) -> UInt64 {
        let top: UInt64 = physicalAddressBits == 64 ? UInt64.max : (1 << UInt64(physicalAddressBits)) - 1
        return top & ~(pageSize - 1) & ~encryptionMask
    }

    public func entry(address: UInt64, flags: PageFlags, encrypted: Bool, pageSize: UInt64 = 4096) throws(PageTableError) -> UInt64 {
        guard address & (pageSize - 1) == 0 else { throw .misaligned(address) }
        guard address & ~addressMask(pageSize: pageSize) == 0 else { throw .addressTooWide(address) }
        return address | (flags.rawValue & PageFlags.all.rawValue) | (encrypted ? encryptionMask : 0)
    }

    public func address(of entry: UInt64, pageSize: UInt64 = 4096) -> UInt64 { entry & addressMask(pageSize: pageSize) }

    public func isEncrypted(_ entry: UInt64) -> Bool { encryptionMask != 0 && entry & encryptionMask != 0 }
}

/// Storage for paging structures: the kernel hands out physical pages, tests a dictionary.
public protocol PageTableMemory {
    /// A zeroed, page-aligned 4 KiB table, by physical address.
    mutating func allocateTable() -> UInt64?
    func load(table: UInt64, index: Int) -> UInt64
    mutating func store(table: UInt64, index: Int, value: UInt64)
}

/// Result of walking the tables for one virtual address.
public struct Translation: Equatable, Sendable {
    public var physical: UInt64
    public var flags: PageFlags
    public var encrypted: Bool
    public var pageSize: UInt64
}

/// Builds 4-level identity mappings: 2 MiB pages where a range allows, 4 KiB pages elsewhere. With an
/// encryption bit every table entry is marked private, as SEV requires for the tables themselves.
public struct IdentityMapper<Memory: PageTableMemory> {
    public static var largePageSize: UInt64 { 2 << 20 }

    public private(set) var memory: Memory
    public let format: PageTableFormat
    public let root: UInt64

    public init(format: PageTableFormat, memory: Memory) throws(PageTableError) {
        var memory = memory
        guard let root = memory.allocateTable() else { throw .outOfTables }
        self.memory = memory
        self.format = format
        self.root = root
    }

    public mutating func identityMap(_ range: PhysicalRange, flags: PageFlags, encrypted: Bool) throws(PageTableError) {
        guard range.start % 4096 == 0 else { throw .misaligned(range.start) }
        guard range.end % 4096 == 0 else { throw .misaligned(range.end) }
        var address = range.start
        while address < range.end {
            let large = address % Self.largePageSize == 0 && range.end - address >= Self.largePageSize
            let pd = try table(for: address, depth: 3)
            let pdIndex = Self.index(address, level: 2)
            if large {
                let value = try format.entry(address: address, flags: flags.union([.present, .largePage]),
                                             encrypted: encrypted, pageSize: Self.largePageSize)
                memory.store(table: pd, index: pdIndex, value: value)
                address += Self.largePageSize
            } else {
                let pt = try child(of: pd, index: pdIndex, address: address)
                let value = try format.entry(address: address, flags: flags.union(.present).subtracting(.largePage),
                                             encrypted: encrypted)
                memory.store(table: pt, index: Self.index(address, level: 1), value: value)
                address += 4096
            }
        }
    }

    public func translate(_ virtual: UInt64) -> Translation? {
        var table = root
        for level in stride(from: 4, through: 1, by: -1) {
            let entry = memory.load(table: table, index: Self.index(virtual, level: level))
            guard entry & PageFlags.present.rawValue != 0 else { return nil }
            let isLeaf = level == 1 || (level == 2 && entry & PageFlags.largePage.rawValue != 0)
            if isLeaf {
                let size: UInt64 = level == 1 ? 4096 : Self.largePageSize
                let base = format.address(of: entry, pageSize: size)
                return Translation(physical: base | (virtual & (size - 1)),
                                   flags: PageFlags(rawValue: entry & PageFlags.all.rawValue),
                                   encrypted: format.isEncrypted(entry), pageSize: size)
            }
            table = format.address(of: entry)
        }
        return nil
    }

    /// Index into the table at `level` (4 = PML4, 1 = PT) for a virtual address.
    public static func index(_ virtual: UInt64, level: Int) -> Int {
        Int((virtual >> UInt64(12 + 9 * (level - 1))) & 511)
    }

    /// The table reached after `depth` levels (1 = PML4 itself, 3 = the page directory).
    private mutating func table(for address: UInt64, depth: Int) throws(PageTableError) -> UInt64 {
        var table = root
        var level = 4
        while level > 5 - depth {
            table = try child(of: table, index: Self.index(address, level: level), address: address)
            level -= 1
        }
        return table
    }

    private mutating func child(of table: UInt64, index: Int, address: UInt64) throws(PageTableError) -> UInt64 {
        let entry = memory.load(table: table, index: index)
        if entry & PageFlags.present.rawValue != 0 {
            guard entry & PageFlags.largePage.rawValue == 0 else { throw .alreadyMappedLarge(address) }
            return format.address(of: entry)
        }
        guard let fresh = memory.allocateTable() else { throw .outOfTables }
        let value = try format.entry(address: fresh, flags: [.present, .writable], encrypted: format.encryptionBit != nil)
        memory.store(table: table, index: index, value: value)
        return fresh
    }
}
