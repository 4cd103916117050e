/// The NAS Parallel Benchmarks EP kernel (NPB 3 specification, "EP"): 2^m pairs of uniform numbers from
/// the NPB linear congruential generator (a = 5^13, modulus 2^46, seed 271828183), Gaussian deviates
/// by the Marsaglia polar method, their sums and counts per square annulus.
public enum EmbarrassinglyParallel {
    public static let multiplier: UInt64 = 1_220_703_125
    public static let seed: UInt64 = 271_828_183
    static let modulusMask: UInt64 = (1 << 46) - 1
    static let inverseModulus = 1.0 / 70368744177664.0  // 2^-46
    public static let maximumBatchLog2 = 16
    public static let annuli = 10

    public struct Result: Equatable, Sendable {
        public var sumX: Double
        public var sumY: Double
        public var accepted: UInt64
        public var counts: [UInt64]
    }

    /// Doubles of scratch `run` needs for `log2Pairs`.
    public static func scratchCount(log2Pairs: Int) -> Int { 2 << min(log2Pairs, maximumBatchLog2) }

    /// x * a mod 2^46. Both are below 2^46 and 2^46 divides 2^64, so the low bits of the wrapped
    /// 64-bit product are the exact residue NPB's double-precision randlc computes.
    @inline(__always)
    static func multiply(_ x: UInt64, _ a: UInt64) -> UInt64 { (x &* a) & modulusMask }

    public static func run(log2Pairs: Int, scratch: UnsafeMutableBufferPointer<Double>) -> Result? {
        let batchLog2 = min(log2Pairs, maximumBatchLog2)
        let batch = 1 << batchLog2
        let batches = 1 << (log2Pairs - batchLog2)
        guard log2Pairs >= 1, scratch.count >= 2 * batch else { return nil }
        // a^(2 * batch): the generator's stride from one batch to the next.
        var stride = multiplier
        for _ in 0...batchLog2 { stride = multiply(stride, stride) }
        var sumX = 0.0, sumY = 0.0
        var counts = [UInt64](repeating: 0, count: annuli)
        for k in 0..<batches {
            // Seed for batch k: seed * stride^k, by binary exponentiation.
            var value = seed
            var power = stride
            var exponent = k
            while exponent > 0 {
                if exponent & 1 == 1 { value = multiply(value, power) }
                power = multiply(power, power)
                exponent >>= 1
            }
            for index in 0..<(2 * batch) {
                value = multiply(value, multiplier)
                scratch[index] = Double(value) * inverseModulus
            }
            for index in 0..<batch {
                let x1 = 2 * scratch[2 * index] - 1
                let x2 = 2 * scratch[2 * index + 1] - 1
                let t1 = x1 * x1 + x2 * x2
                if t1 <= 1 {
                    let t2 = (-2 * NaturalLog.log(t1) / t1).squareRoot()
                    let t3 = x1 * t2
                    let t4 = x2 * t2
                    let annulus = Int(max(t3.magnitude, t4.magnitude))
                    if annulus < annuli { counts[annulus] += 1 }
                    sumX += t3
                    sumY += t4
                }
            }
        }
        var accepted: UInt64 = 0
        for count in counts { accepted += count }
        return Result(sumX: sumX, sumY: sumY, accepted: accepted, counts: counts)
    }
}
