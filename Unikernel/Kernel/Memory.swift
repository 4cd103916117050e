import CPU

/// Kernel memory: the heap behind Swift's allocations, the physical page allocator, the page tables.
enum Memory {
    nonisolated(unsafe) static var heap = Heap()
    nonisolated(unsafe) static var frames = PageFrameAllocator(ranges: [])
    nonisolated(unsafe) static var usableBytes: UInt64 = 0
    /// Bytes the heap asks the page allocator for at a time once its boot arena runs out.
    static let heapGrowth = 1 << 20

    /// The static arena in .bss: enough for the memory map and command line before pages exist.
    static func bootstrapHeap() {
        if let arena = uk_heap_arena_base() { heap.addArena(UnsafeMutableRawPointer(arena), bytes: Int(UK_HEAP_ARENA_BYTES)) }
    }

    static func initializeFrames(regions: [MemoryRegion], reserved: [PhysicalRange]) {
        let ranges = UsableMemory.ranges(from: regions, excluding: reserved)
        frames = PageFrameAllocator(ranges: ranges)
        usableBytes = frames.freePages * PageFrameAllocator.pageSize
    }

    static func allocatePages(_ count: Int) -> UnsafeMutableRawPointer? {
        guard let address = frames.allocate(pages: count) else { return nil }
        SEV.willUse(PhysicalRange(start: address, end: address + UInt64(count) * 4096))
        return UnsafeMutableRawPointer(bitPattern: UInt(address))
    }

    /// Identity map of all RAM and the 32-bit MMIO hole, 2 MiB pages where the ranges allow; page 0
    /// stays unmapped so null dereferences fault. `encryptionBit` is the SEV C-bit position (nil without
    /// SEV): RAM and `privateRanges` are then mapped private, MMIO and holes shared (EncryptionPlan).
    static func installPageTables(regions: [MemoryRegion], privateRanges: [PhysicalRange], sharedRanges: [PhysicalRange],
                                  encryptionBit: Int?) -> Bool {
        let addressBits = Int(uk_cpuid(0x8000_0008, 0).eax & 0xff)
        guard let format = try? PageTableFormat(physicalAddressBits: min(max(addressBits, 36), 52), encryptionBit: encryptionBit) else {
            return false
        }
        var top: UInt64 = 4 << 30
        for region in regions where region.kind == .usable || region.kind == .loader { top = max(top, region.end) }
        let largePage = IdentityMapper<FrameTableMemory>.largePageSize
        top = alignUp(top, largePage) ?? top
        do {
            var mapper = try IdentityMapper(format: format, memory: FrameTableMemory())
            for piece in EncryptionPlan.pieces(regions: regions, privateRanges: privateRanges, sharedRanges: sharedRanges,
                                                          start: 4096, top: top) {
                try mapper.identityMap(piece.range, flags: [.writable], encrypted: piece.encrypted)
            }
            uk_write_cr3(mapper.root)
            return true
        } catch {
            return false
        }
    }
}

/// Page tables in pages from the frame allocator, reached through the boot identity map.
struct FrameTableMemory: PageTableMemory {
    mutating func allocateTable() -> UInt64? {
        guard let page = Memory.allocatePages(1) else { return nil }
        let address = UInt64(UInt(bitPattern: page))
        page.initializeMemory(as: UInt8.self, repeating: 0, count: 4096)
        return address
    }

    func load(table: UInt64, index: Int) -> UInt64 {
        UnsafePointer<UInt64>(bitPattern: UInt(table))?[index] ?? 0
    }

    mutating func store(table: UInt64, index: Int, value: UInt64) {
        UnsafeMutablePointer<UInt64>(bitPattern: UInt(table))?[index] = value
    }
}

/// posix_memalign and free reach these through jumps in Boot/runtime.S.
@_cdecl("uk_posix_memalign")
public func posixMemalign(_ result: UnsafeMutablePointer<UnsafeMutableRawPointer?>, _ alignment: Int, _ size: Int) -> CInt {
    let pointer = Memory.heap.allocate(bytes: size, alignment: alignment, growth: Memory.heapGrowth) {
        Memory.allocatePages($0 / 4096)
    }
    guard let pointer else { return 12 }  // ENOMEM
    result.pointee = pointer
    return 0
}

@_cdecl("uk_free")
public func freeMemory(_ pointer: UnsafeMutableRawPointer?) {
    guard let pointer else { return }
    if !Memory.heap.free(pointer) {
        Console.write("cvmuk panic reason=bad-free\n")
        Machine.exit(.panic)
    }
}
