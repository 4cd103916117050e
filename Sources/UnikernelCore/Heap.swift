/// First-fit heap over raw arenas with an address-ordered free list and coalescing; the kernel's
/// posix_memalign and free sit on it. It never allocates itself, so it can back Swift's own allocations.
///
/// Every block starts with a 16-byte header: its total size, then for a free block the address of the
/// next free block (0 ends the list) and for a used block `usedTag ^ size`, which lets `free` reject
/// pointers it never handed out.
public struct Heap {
    public static let headerSize = 16
    public static let minimumBlock = 32
    static let usedTag: UInt = 0xa11c_a7ed_5eed_f00d

    private var head: UInt = 0
    public private(set) var freeBytes = 0
    public private(set) var totalBytes = 0

    public init() {}

    /// Adds memory to the heap; its start is aligned up and its size down to 16 bytes.
    public mutating func addArena(_ start: UnsafeMutableRawPointer, bytes: Int) {
        let address = UInt(bitPattern: start)
        let alignedStart = (address + 15) & ~UInt(15)
        let slack = Int(alignedStart - address)
        guard bytes > slack else { return }
        let size = (bytes - slack) & ~15
        guard size >= Self.minimumBlock else { return }
        totalBytes += size
        insertFree(alignedStart, size: size)
    }

    /// `bytes` bytes aligned to `alignment` (a power of two); nil when no block fits.
    public mutating func allocate(bytes: Int, alignment: Int = 16) -> UnsafeMutableRawPointer? {
        guard bytes >= 0, bytes <= Int.max / 2, alignment > 0, alignment & (alignment - 1) == 0 else { return nil }
        let align = UInt(max(alignment, 16))
        let need = UInt((max(bytes, 1) + 15) & ~15) + UInt(Self.headerSize)
        var previous: UInt = 0
        var current = head
        while current != 0 {
            let size = Self.word(current, 0)
            let next = Self.word(current, 1)
            var payload = (current + UInt(Self.headerSize) + align - 1) & ~(align - 1)
            var gap = payload - UInt(Self.headerSize) - current
            while gap != 0 && gap < UInt(Self.minimumBlock) {
                payload += align
                gap += align
            }
            if gap + need <= size {
                var used = need
                var remaining = size - gap - need
                if remaining < UInt(Self.minimumBlock) {
                    used += remaining
                    remaining = 0
                }
                let usedStart = current + gap
                let tail = usedStart + used
                if remaining > 0 {
                    Self.setWord(tail, 0, remaining)
                    Self.setWord(tail, 1, next)
                }
                let after = remaining > 0 ? tail : next
                if gap > 0 {
                    Self.setWord(current, 0, gap)
                    Self.setWord(current, 1, after)
                } else if previous == 0 {
                    head = after
                } else {
                    Self.setWord(previous, 1, after)
                }
                Self.setWord(usedStart, 0, used)
                Self.setWord(usedStart, 1, Self.usedTag ^ used)
                freeBytes -= Int(used)
                return UnsafeMutableRawPointer(bitPattern: payload)
            }
            previous = current
            current = next
        }
        return nil
    }

    /// `allocate`, and when nothing fits, one more arena of a whole number of pages (at least
    /// `growth` bytes) from `grow` and a second try: posix_memalign in the kernel and in cvm-workloads.
    public mutating func allocate(bytes: Int, alignment: Int, growth: Int,
                                  grow: (Int) -> UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
        if let pointer = allocate(bytes: bytes, alignment: alignment) { return pointer }
        guard bytes >= 0, bytes <= Int.max / 4, alignment >= 0, alignment <= Int.max / 4 else { return nil }
        let arenaBytes = (max(growth, bytes + alignment + 4 * Self.headerSize) + 4095) & ~4095
        guard let arena = grow(arenaBytes) else { return nil }
        addArena(arena, bytes: arenaBytes)
        return allocate(bytes: bytes, alignment: alignment)
    }

    /// Returns a block; false (and no change) for a pointer this heap did not hand out or already freed.
    @discardableResult
    public mutating func free(_ pointer: UnsafeMutableRawPointer) -> Bool {
        let address = UInt(bitPattern: pointer)
        guard address % 16 == 0, address >= UInt(Self.headerSize) else { return false }
        let block = address - UInt(Self.headerSize)
        let size = Self.word(block, 0)
        guard Self.word(block, 1) == Self.usedTag ^ size, size >= UInt(Self.minimumBlock) else { return false }
        Self.setWord(block, 1, 0)
        insertFree(block, size: Int(size))
        return true
    }

    /// Size of the usable payload behind a pointer from `allocate`.
    public func usableSize(_ pointer: UnsafeMutableRawPointer) -> Int? {
        let block = UInt(bitPattern: pointer) - UInt(Self.headerSize)
        let size = Self.word(block, 0)
        guard Self.word(block, 1) == Self.usedTag ^ size else { return nil }
        return Int(size) - Int(UInt(bitPattern: pointer) - block)
    }

    /// The free list is sorted, its blocks are 16-byte aligned, at least `minimumBlock` long, neither
    /// overlap nor touch (touching blocks would have been coalesced), and add up to `freeBytes`.
    public func checkInvariants() -> Bool {
        var sum = 0
        var previousEnd: UInt = 0
        var current = head
        var first = true
        while current != 0 {
            let size = Self.word(current, 0)
            if current % 16 != 0 || size % 16 != 0 || size < UInt(Self.minimumBlock) { return false }
            if !first && current <= previousEnd { return false }
            first = false
            previousEnd = current + size
            sum += Int(size)
            current = Self.word(current, 1)
        }
        return sum == freeBytes
    }

    private mutating func insertFree(_ block: UInt, size: Int) {
        var previous: UInt = 0
        var current = head
        while current != 0 && current < block {
            previous = current
            current = Self.word(current, 1)
        }
        Self.setWord(block, 0, UInt(size))
        Self.setWord(block, 1, current)
        if previous == 0 { head = block } else { Self.setWord(previous, 1, block) }
        freeBytes += size
        if current != 0 && block + UInt(size) == current {
            Self.setWord(block, 0, UInt(size) + Self.word(current, 0))
            Self.setWord(block, 1, Self.word(current, 1))
        }
        if previous != 0 && previous + Self.word(previous, 0) == block {
            Self.setWord(previous, 0, Self.word(previous, 0) + Self.word(block, 0))
            Self.setWord(previous, 1, Self.word(block, 1))
        }
    }

    private static func word(_ block: UInt, _ index: Int) -> UInt {
        UnsafePointer<UInt>(bitPattern: block).map { $0[index] } ?? 0
    }

    private static func setWord(_ block: UInt, _ index: Int, _ value: UInt) {
        UnsafeMutablePointer<UInt>(bitPattern: block)?[index] = value
    }
}
