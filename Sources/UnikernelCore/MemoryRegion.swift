/// One range of physical memory as the boot firmware described it.
public struct MemoryRegion: Equatable, Sendable {
    /// What the range may be used for, folded from E820 (PVH) and UEFI memory types.
    public enum Kind: UInt8, Sendable {
        /// Free RAM the kernel may allocate.
        case usable
        /// RAM holding the loader and the kernel itself (UEFI LoaderCode/LoaderData): not allocatable.
        case loader
        case reserved
        case acpiReclaimable
        case acpiNVS
        case unusable

        /// The `type=` of the kernel's `cvmuk memory` lines.
        public var name: StaticString {
            switch self {
            case .usable: "usable"
            case .loader: "loader"
            case .reserved: "reserved"
            case .acpiReclaimable: "acpi"
            case .acpiNVS: "acpi-nvs"
            case .unusable: "unusable"
            }
        }
    }

    public var base: UInt64
    public var length: UInt64
    public var kind: Kind

    public init(base: UInt64, length: UInt64, kind: Kind) {
        self.base = base
        self.length = length
        self.kind = kind
    }

    /// End of the region, saturating instead of wrapping.
    public var end: UInt64 {
        let (sum, overflow) = base.addingReportingOverflow(length)
        return overflow ? UInt64.max : sum
    }

    public var range: PhysicalRange { PhysicalRange(start: base, end: end) }
}

/// Turns a firmware memory map into page-aligned free ranges.
public enum UsableMemory {
    /// Usable regions, shrunk to `pageSize`, minus every non-usable region (firmware maps can overlap and
    /// the stricter kind wins) and minus `excluded` (kernel image, boot data), sorted and merged.
    public static func ranges(
        from regions: [MemoryRegion], excluding excluded: [PhysicalRange], pageSize: UInt64 = 4096
    ) -> [PhysicalRange] {
        var holes = excluded
        for region in regions where region.kind != .usable { holes.append(region.range) }
        var result: [PhysicalRange] = []
        for region in regions where region.kind == .usable {
            var pieces = [region.range]
            for hole in holes { pieces = subtract(hole, from: pieces) }
            for piece in pieces {
                let aligned = piece.alignedInward(to: pageSize)
                if !aligned.isEmpty { result.append(aligned) }
            }
        }
        return merged(result)
    }

    static func subtract(_ hole: PhysicalRange, from pieces: [PhysicalRange]) -> [PhysicalRange] {
        var out: [PhysicalRange] = []
        for piece in pieces {
            guard piece.overlaps(hole) else {
                out.append(piece)
                continue
            }
            if piece.start < hole.start { out.append(PhysicalRange(start: piece.start, end: hole.start)) }
            if hole.end < piece.end { out.append(PhysicalRange(start: hole.end, end: piece.end)) }
        }
        return out
    }

    /// Sorts by start and joins overlapping or touching ranges.
    public static func merged(_ ranges: [PhysicalRange]) -> [PhysicalRange] {
        var sorted = ranges.filter { !$0.isEmpty }
        insertionSort(&sorted)
        var out: [PhysicalRange] = []
        for range in sorted {
            if let last = out.last, range.start <= last.end {
                out[out.count - 1].end = max(last.end, range.end)
            } else {
                out.append(range)
            }
        }
        return out
    }

    /// Firmware maps hold tens of entries; an insertion sort keeps the kernel free of the generic sort.
    static func insertionSort(_ ranges: inout [PhysicalRange]) {
        guard ranges.count > 1 else { return }
        for index in 1..<ranges.count {
            let item = ranges[index]
            var position = index
            while position > 0 && ranges[position - 1].start > item.start {
                ranges[position] = ranges[position - 1]
                position -= 1
            }
            ranges[position] = item
        }
    }
}
