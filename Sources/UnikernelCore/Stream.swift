/// McCalpin's STREAM kernels over three arrays: copy c = a, scale b = 3c, add c = a + b,
/// triad a = b + 3c, each timed on every repetition; the best time counts, as in STREAM.
public enum Stream {
    public static let scalar = 3.0

    public enum Kernel: Int, CaseIterable, Sendable {
        case copy, scale, add, triad

        public var name: StaticString {
            switch self {
            case .copy: "copy"
            case .scale: "scale"
            case .add: "add"
            case .triad: "triad"
            }
        }

        /// Arrays touched per element: copy and scale read one and write one, add and triad read two.
        public var arraysTouched: Int { self == .copy || self == .scale ? 2 : 3 }
    }

    public struct Result: Sendable {
        /// Fewest timestamp ticks per kernel, indexed by `Kernel.rawValue`.
        public var bestTicks: [UInt64]
        /// Every element holds the value the recurrences predict.
        public var valid: Bool
    }

    public static func run(
        a: UnsafeMutableBufferPointer<Double>, b: UnsafeMutableBufferPointer<Double>,
        c: UnsafeMutableBufferPointer<Double>, repetitions: Int, clock: () -> UInt64
    ) -> Result {
        let count = min(a.count, b.count, c.count)
        for index in 0..<count {
            a[index] = 1
            b[index] = 2
            c[index] = 0
        }
        var best = [UInt64](repeating: UInt64.max, count: 4)
        var expectA = 1.0, expectB = 2.0, expectC = 0.0
        for _ in 0..<repetitions {
            var start = clock()
            for index in 0..<count { c[index] = a[index] }
            var end = clock()
            best[0] = min(best[0], end &- start)
            start = end
            for index in 0..<count { b[index] = scalar * c[index] }
            end = clock()
            best[1] = min(best[1], end &- start)
            start = end
            for index in 0..<count { c[index] = a[index] + b[index] }
            end = clock()
            best[2] = min(best[2], end &- start)
            start = end
            for index in 0..<count { a[index] = b[index] + scalar * c[index] }
            end = clock()
            best[3] = min(best[3], end &- start)
            expectC = expectA
            expectB = scalar * expectC
            expectC = expectA + expectB
            expectA = expectB + scalar * expectC
        }
        var valid = true
        for index in 0..<count where a[index] != expectA || b[index] != expectB || c[index] != expectC {
            valid = false
        }
        return Result(bestTicks: best, valid: valid)
    }
}
