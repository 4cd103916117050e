/// Which parts of the identity map are private (C-bit set) and which shared under SEV. RAM the
/// firmware map lists (usable, ACPI, the loader's) and the ranges the caller names (the kernel, the
/// firmware image the CPU runs from) are private; everything else up to `top` is MMIO or a hole,
/// which the host emulates and must be able to read, so it is shared. Without SEV the split has no
/// effect on the entries.
public enum EncryptionPlan {
    public struct Piece: Equatable, Sendable {
        public var range: PhysicalRange
        public var encrypted: Bool
    }

    /// Pieces covering `start..<top` in order, 4 KiB aligned (private ranges rounded outward).
    public static func pieces(regions: [MemoryRegion], privateRanges: [PhysicalRange],
                              start: UInt64, top: UInt64) -> [Piece] {
        var ram = privateRanges
        for region in regions where region.kind != .reserved && region.kind != .unusable { ram.append(region.range) }
        var rounded: [PhysicalRange] = []
        for range in ram {
            let low = range.start & ~4095
            rounded.append(PhysicalRange(start: low, end: alignUp(range.end, 4096) ?? range.end))
        }
        var pieces: [Piece] = []
        var cursor = start
        for range in UsableMemory.merged(rounded) where range.end > cursor && range.start < top {
            let privateStart = max(range.start, cursor)
            if privateStart > cursor { pieces.append(Piece(range: PhysicalRange(start: cursor, end: privateStart), encrypted: false)) }
            let privateEnd = min(range.end, top)
            pieces.append(Piece(range: PhysicalRange(start: privateStart, end: privateEnd), encrypted: true))
            cursor = privateEnd
        }
        if cursor < top { pieces.append(Piece(range: PhysicalRange(start: cursor, end: top), encrypted: false)) }
        return pieces
    }
}
