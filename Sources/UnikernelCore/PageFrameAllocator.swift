/// Physical page allocator over the free ranges of the memory map: first fit, lowest address first,
/// with coalescing frees. Free ranges stay sorted, disjoint, non-touching and page aligned.
public struct PageFrameAllocator: Sendable {
    public static let pageSize: UInt64 = 4096

    public private(set) var freeRanges: [PhysicalRange]

    public init(ranges: [PhysicalRange]) {
        var aligned: [PhysicalRange] = []
        for range in ranges {
            let inner = range.alignedInward(to: Self.pageSize)
            if !inner.isEmpty { aligned.append(inner) }
        }
        freeRanges = UsableMemory.merged(aligned)
    }

    public var freePages: UInt64 {
        var total: UInt64 = 0
        for range in freeRanges { total += range.length / Self.pageSize }
        return total
    }

    /// `pages` contiguous pages whose start is a multiple of `alignment` (a power of two, at least a page).
    public mutating func allocate(pages: Int, alignment: UInt64 = pageSize) -> UInt64? {
        guard pages > 0, alignment >= Self.pageSize, alignment & (alignment - 1) == 0 else { return nil }
        let (bytes, overflow) = UInt64(pages).multipliedReportingOverflow(by: Self.pageSize)
        guard !overflow else { return nil }
        for index in freeRanges.indices {
            let range = freeRanges[index]
            guard let start = alignUp(range.start, alignment), start < range.end, range.end - start >= bytes else { continue }
            let end = start + bytes
            var replacement: [PhysicalRange] = []
            if range.start < start { replacement.append(PhysicalRange(start: range.start, end: start)) }
            if end < range.end { replacement.append(PhysicalRange(start: end, end: range.end)) }
            freeRanges.replaceSubrange(index...index, with: replacement)
            return start
        }
        return nil
    }

    /// Returns pages to the pool. Refuses (false) unaligned addresses and any overlap with free memory,
    /// which is how double frees show up.
    @discardableResult
    public mutating func free(_ address: UInt64, pages: Int) -> Bool {
        guard pages > 0, address % Self.pageSize == 0 else { return false }
        let (bytes, overflow) = UInt64(pages).multipliedReportingOverflow(by: Self.pageSize)
        guard !overflow, address <= UInt64.max - bytes else { return false }
        let freed = PhysicalRange(start: address, end: address + bytes)
        var insertAt = freeRanges.count
        for (index, range) in freeRanges.enumerated() {
            if range.overlaps(freed) { return false }
            if range.start > address {
                insertAt = index
                break
            }
        }
        freeRanges.insert(freed, at: insertAt)
        if insertAt + 1 < freeRanges.count, freeRanges[insertAt].end == freeRanges[insertAt + 1].start {
            freeRanges[insertAt].end = freeRanges[insertAt + 1].end
            freeRanges.remove(at: insertAt + 1)
        }
        if insertAt > 0, freeRanges[insertAt - 1].end == freeRanges[insertAt].start {
            freeRanges[insertAt - 1].end = freeRanges[insertAt].end
            freeRanges.remove(at: insertAt)
        }
        return true
    }
}
