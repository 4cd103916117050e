/// Memory latency by a dependent random walk: one pointer per 64-byte line, linked into a single cycle
/// by Sattolo's algorithm so every load waits for the previous one and the walk visits every line.
public enum PointerChase {
    public static let lineSize = 64

    /// Links the lines of `buffer` into one random cycle; returns the number of lines.
    public static func prepare(_ buffer: UnsafeMutableRawBufferPointer, seed: UInt64) -> Int {
        let lines = buffer.count / lineSize
        guard lines >= 2, let base = buffer.baseAddress else { return 0 }
        let slots = base.bindMemory(to: UInt.self, capacity: lines * lineSize / 8)
        let stride = lineSize / 8
        for line in 0..<lines { slots[line * stride + 1] = UInt(line) }
        var random = seed == 0 ? 0x9e37_79b9_7f4a_7c15 : seed
        var index = lines - 1
        while index > 0 {
            // xorshift64* (Vigna): cheap, good enough to defeat prefetchers.
            random ^= random >> 12
            random ^= random << 25
            random ^= random >> 27
            let pick = Int((random &* 0x2545_f491_4f6c_dd1d) % UInt64(index))
            let swapped = slots[index * stride + 1]
            slots[index * stride + 1] = slots[pick * stride + 1]
            slots[pick * stride + 1] = swapped
            index -= 1
        }
        let start = UInt(bitPattern: base)
        for line in 0..<lines {
            slots[line * stride] = start + slots[line * stride + 1] * UInt(lineSize)
        }
        return lines
    }

    /// Follows `steps` links from the start of `buffer`; returns where it ended (keeps the loads live).
    public static func chase(_ buffer: UnsafeMutableRawBufferPointer, steps: Int) -> UInt {
        guard let base = buffer.baseAddress else { return 0 }
        var pointer = UInt(bitPattern: base)
        for _ in 0..<steps {
            pointer = UnsafePointer<UInt>(bitPattern: pointer)?.pointee ?? 0
        }
        return pointer
    }

    /// Number of distinct lines one full cycle visits (equals the line count when prepared correctly).
    public static func cycleLength(_ buffer: UnsafeMutableRawBufferPointer) -> Int {
        guard let base = buffer.baseAddress else { return 0 }
        let start = UInt(bitPattern: base)
        var pointer = start
        var length = 0
        repeat {
            pointer = UnsafePointer<UInt>(bitPattern: pointer)?.pointee ?? start
            length += 1
        } while pointer != start && length <= buffer.count / lineSize
        return length
    }
}
