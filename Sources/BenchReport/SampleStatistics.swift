import Foundation

/// A two-sided interval, with the level it was built for.
public struct ConfidenceInterval: Codable, Hashable, Sendable {
    public var low: Double
    public var high: Double

    public init(low: Double, high: Double) {
        self.low = low
        self.high = high
    }

    public var halfWidth: Double { (high - low) / 2 }
}

/// Descriptive statistics of one metric in one cell (the non-warm-up ok runs).
///
/// - mean interval: mean ± t(1−α/2, n−1)·s/√n (Student t, needs n ≥ 2);
/// - median interval: the order statistics x(k), x(n−k+1) with the largest k for which the binomial(n, ½)
///   tail P(X ≤ k−1) is at most α/2 — distribution-free, coverage ≥ the level, needs n ≥ 6 at 95%;
///   `medianCICoverage` records the exact coverage;
/// - the median of an even count is the mean of the two middle values; the standard deviation is the
///   sample one (divisor n−1); the coefficient of variation is s/|mean|.
public struct SampleStatistics: Codable, Hashable, Sendable {
    public var n: Int
    public var mean: Double
    public var median: Double
    public var standardDeviation: Double?
    public var standardError: Double?
    public var confidenceLevel: Double
    public var meanCI: ConfidenceInterval?
    public var medianCI: ConfidenceInterval?
    public var medianCICoverage: Double?
    public var coefficientOfVariation: Double?
    public var min: Double
    public var max: Double

    /// Nil for an empty sample.
    public init?(_ values: [Double], confidenceLevel: Double = 0.95) {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        n = values.count
        self.confidenceLevel = confidenceLevel
        mean = Self.mean(values)
        median = Self.median(sorted: sorted)
        min = sorted[0]
        max = sorted[sorted.count - 1]
        if n >= 2 {
            let deviation = Self.standardDeviation(values, mean: mean)
            standardDeviation = deviation
            let error = deviation / Double(n).squareRoot()
            standardError = error
            let half = StudentT.criticalValue(level: confidenceLevel, degreesOfFreedom: Double(n - 1)) * error
            meanCI = ConfidenceInterval(low: mean - half, high: mean + half)
            coefficientOfVariation = mean == 0 ? nil : deviation / abs(mean)
        }
        if let rank = Self.medianRank(n: n, level: confidenceLevel) {
            medianCI = ConfidenceInterval(low: sorted[rank.k - 1], high: sorted[n - rank.k])
            medianCICoverage = rank.coverage
        }
    }

    /// Arithmetic mean; the sum is compensated (Kahan–Babuška) so long runs of similar values stay exact.
    public static func mean(_ values: [Double]) -> Double {
        var sum = 0.0
        var compensation = 0.0
        for value in values {
            let total = sum + value
            compensation += abs(sum) >= abs(value) ? (sum - total) + value : (value - total) + sum
            sum = total
        }
        return (sum + compensation) / Double(values.count)
    }

    public static func median(sorted: [Double]) -> Double {
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    /// Sample standard deviation (n−1), two-pass with the correction term for the rounding of the mean.
    public static func standardDeviation(_ values: [Double], mean: Double) -> Double {
        var squares = 0.0
        var residual = 0.0
        for value in values {
            let deviation = value - mean
            squares += deviation * deviation
            residual += deviation
        }
        let count = Double(values.count)
        return ((squares - residual * residual / count) / (count - 1)).squareRoot()
    }

    /// The 1-based rank k of the distribution-free median interval [x(k), x(n−k+1)], nil when even
    /// [x(1), x(n)] does not reach `level`.
    static func medianRank(n: Int, level: Double) -> (k: Int, coverage: Double)? {
        let alphaHalf = (1 - level) / 2
        var best: (k: Int, coverage: Double)?
        var tail = 0.0
        for k in 1...Swift.max(1, n / 2) {
            tail += binomialHalfProbability(n: n, k: k - 1)
            // P(X ≤ k−1) ≤ α/2 keeps the coverage 1 − 2·P(X ≤ k−1) at or above the level.
            guard tail <= alphaHalf * (1 + 1e-12) else { break }
            best = (k, 1 - 2 * tail)
        }
        return best
    }

    /// P(X = k) for X ~ binomial(n, ½), through logs so large n does not underflow.
    static func binomialHalfProbability(n: Int, k: Int) -> Double {
        exp(lgamma(Double(n + 1)) - lgamma(Double(k + 1)) - lgamma(Double(n - k + 1)) - Double(n) * log(2.0))
    }
}

/// Percentile bootstrap for the ratio of two medians, with a fixed-seed generator so reports are
/// reproducible: each resample draws both groups with replacement (independently), takes the ratio of
/// their medians, and the interval is the α/2 and 1−α/2 percentiles (linear interpolation) of the
/// resampled ratios.
public enum RatioBootstrap {
    public static let resamples = 2000
    public static let seed: UInt64 = 0x5EED_0C0F_FEE0_2025
    /// Fewer values per group than this give no interval: resampling two or three points says little.
    public static let minimumSampleSize = 3

    public static func ratioOfMediansCI(numerator: [Double], denominator: [Double], level: Double = 0.95,
                                        key: String) -> ConfidenceInterval? {
        guard numerator.count >= minimumSampleSize, denominator.count >= minimumSampleSize else { return nil }
        var generator = SplitMix64(seed: seed ^ fnv1a(key))
        let top = numerator.sorted(), bottom = denominator.sorted()
        var topCounts = [Int](repeating: 0, count: top.count), bottomCounts = [Int](repeating: 0, count: bottom.count)
        var ratios: [Double] = []
        ratios.reserveCapacity(resamples)
        for _ in 0..<resamples {
            let base = resampledMedian(sorted: bottom, counts: &bottomCounts, generator: &generator)
            let value = resampledMedian(sorted: top, counts: &topCounts, generator: &generator)
            guard base != 0 else { continue }
            ratios.append(value / base)
        }
        guard ratios.count >= resamples / 2 else { return nil }
        ratios.sort()
        let alpha = 1 - level
        return ConfidenceInterval(low: percentile(sorted: ratios, alpha / 2), high: percentile(sorted: ratios, 1 - alpha / 2))
    }

    /// The median of a resample (n draws with replacement) of `sorted`, without sorting the resample:
    /// the draws are counted per index, and walking the counts in order finds the middle order statistics.
    static func resampledMedian(sorted: [Double], counts: inout [Int], generator: inout SplitMix64) -> Double {
        let n = sorted.count
        return counts.withUnsafeMutableBufferPointer { counts in
            sorted.withUnsafeBufferPointer { values in
                counts.update(repeating: 0)
                for _ in 0..<n { counts[generator.index(below: n)] += 1 }
                let lowRank = (n - 1) / 2, highRank = n / 2
                var seen = 0
                var low: Double?
                for index in 0..<n {
                    seen += counts[index]
                    if low == nil && seen > lowRank { low = values[index] }
                    if seen > highRank { return ((low ?? values[index]) + values[index]) / 2 }
                }
                return values[n - 1]
            }
        }
    }

    static func percentile(sorted: [Double], _ p: Double) -> Double {
        let position = p * Double(sorted.count - 1)
        let lower = Int(position.rounded(.down))
        let upper = Swift.min(lower + 1, sorted.count - 1)
        let weight = position - Double(lower)
        return sorted[lower] * (1 - weight) + sorted[upper] * weight
    }

    /// FNV-1a of the key, so every (cell, metric) has its own stream and the same stream on every run.
    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough for resampling indices.
struct SplitMix64 {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in 0..<bound by the multiply-high method (bias below 2^-53 for the small bounds used here).
    mutating func index(below bound: Int) -> Int {
        Int(next().multipliedFullWidth(by: UInt64(bound)).high)
    }
}
