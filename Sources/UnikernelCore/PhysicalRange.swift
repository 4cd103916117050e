/// A half-open range of physical addresses, `start..<end`.
public struct PhysicalRange: Equatable, Sendable {
    public var start: UInt64
    public var end: UInt64

    public init(start: UInt64, end: UInt64) {
        self.start = start
        self.end = end
    }

    public var length: UInt64 { end > start ? end - start : 0 }
    public var isEmpty: Bool { end <= start }

    public func contains(_ address: UInt64) -> Bool { address >= start && address < end }

    public func overlaps(_ other: PhysicalRange) -> Bool {
        !isEmpty && !other.isEmpty && start < other.end && other.start < end
    }

    /// The range shrunk inward so both ends sit on `alignment` (a power of two).
    public func alignedInward(to alignment: UInt64) -> PhysicalRange {
        let mask = alignment - 1
        let alignedStart = start > UInt64.max - mask ? UInt64.max : (start + mask) & ~mask
        let alignedEnd = end & ~mask
        return PhysicalRange(start: alignedStart, end: max(alignedStart, alignedEnd))
    }
}

/// Rounds `value` up to a power-of-two `alignment`; nil when that would overflow.
@inlinable
public func alignUp(_ value: UInt64, _ alignment: UInt64) -> UInt64? {
    let mask = alignment - 1
    let (sum, overflow) = value.addingReportingOverflow(mask)
    return overflow ? nil : sum & ~mask
}
