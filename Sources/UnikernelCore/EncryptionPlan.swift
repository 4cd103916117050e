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
    /// `sharedRanges` (4 KiB aligned) are cut out of private memory: pages the guest gave the host, such as
    /// the GHCB and the guest-request pages under SEV-ES and SNP.
    public static func pieces(regions: [MemoryRegion], privateRanges: [PhysicalRange], sharedRanges: [PhysicalRange] = [],
                              start: UInt64, top: UInt64) -> [Piece] {
        let whole = privatePieces(regions: regions, privateRanges: privateRanges, start: start, top: top)
        guard !sharedRanges.isEmpty else { return whole }
        var result: [Piece] = []
        func append(_ piece: Piece) {
            guard piece.range.end > piece.range.start else { return }
            if let last = result.last, last.encrypted == piece.encrypted, last.range.end == piece.range.start {
                result[result.count - 1].range = PhysicalRange(start: last.range.start, end: piece.range.end)
            } else {
                result.append(piece)
            }
        }
        let shared = UsableMemory.merged(sharedRanges)
        for piece in whole {
            guard piece.encrypted else { append(piece); continue }
            var cursor = piece.range.start
            for hole in shared where hole.end > cursor && hole.start < piece.range.end {
                let holeStart = max(hole.start, cursor), holeEnd = min(hole.end, piece.range.end)
                append(Piece(range: PhysicalRange(start: cursor, end: holeStart), encrypted: true))
                append(Piece(range: PhysicalRange(start: holeStart, end: holeEnd), encrypted: false))
                cursor = holeEnd
            }
            append(Piece(range: PhysicalRange(start: cursor, end: piece.range.end), encrypted: true))
        }
        return result
    }

    static func privatePieces(regions: [MemoryRegion], privateRanges: [PhysicalRange], start: UInt64, top: UInt64) -> [Piece] {
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
