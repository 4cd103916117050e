import Foundation

/// Student's t distribution with a real number of degrees of freedom (Welch's test needs non-integer df).
///
/// The CDF goes through the regularized incomplete beta function: for t ≥ 0,
/// P(T > t) = ½·I_x(ν/2, ½) with x = ν/(ν + t²). I_x is evaluated by its continued fraction (modified
/// Lentz), switched to the symmetric form I_x(a, b) = 1 − I_{1−x}(b, a) where the fraction converges
/// slowly. The quantile inverts the CDF by bracketing and bisection: slower than a series, but its
/// accuracy is the CDF's (about 1e-13 relative), which the tests check against an independent integration.
public enum StudentT {
    /// P(T ≤ t) for ν = `degreesOfFreedom` > 0.
    public static func cdf(_ t: Double, degreesOfFreedom df: Double) -> Double {
        guard t.isFinite else { return t > 0 ? 1 : 0 }
        let tail = 0.5 * IncompleteBeta.regularized(x: df / (df + t * t), a: df / 2, b: 0.5)
        return t >= 0 ? 1 - tail : tail
    }

    /// P(|T| ≥ |t|): the two-sided p-value of a t statistic, computed from the tail directly so that
    /// tiny p-values keep their precision.
    public static func twoSidedPValue(_ t: Double, degreesOfFreedom df: Double) -> Double {
        guard t.isFinite else { return t.isNaN ? 1 : 0 }
        return min(1, IncompleteBeta.regularized(x: df / (df + t * t), a: df / 2, b: 0.5))
    }

    /// The t with P(T ≤ t) = p, for 0 < p < 1.
    public static func quantile(_ p: Double, degreesOfFreedom df: Double) -> Double {
        precondition(p > 0 && p < 1 && df > 0, "quantile needs 0 < p < 1 and df > 0")
        if p == 0.5 { return 0 }
        if p < 0.5 { return -quantile(1 - p, degreesOfFreedom: df) }
        var low = 0.0
        var high = 1.0
        while cdf(high, degreesOfFreedom: df) < p {
            low = high
            high *= 2
        }
        for _ in 0..<200 {
            let middle = (low + high) / 2
            if middle == low || middle == high { break }
            if cdf(middle, degreesOfFreedom: df) < p { low = middle } else { high = middle }
        }
        return (low + high) / 2
    }

    /// The multiplier of the standard error for a two-sided interval at `level` (e.g. 0.95) with ν df.
    public static func criticalValue(level: Double, degreesOfFreedom df: Double) -> Double {
        quantile(1 - (1 - level) / 2, degreesOfFreedom: df)
    }
}

/// The standard normal distribution, for the large-sample Mann-Whitney approximation.
public enum StandardNormal {
    /// P(|Z| ≥ |z|).
    public static func twoSidedPValue(_ z: Double) -> Double { min(1, erfc(abs(z) / 2.0.squareRoot())) }
}

/// The regularized incomplete beta function I_x(a, b).
enum IncompleteBeta {
    static func regularized(x: Double, a: Double, b: Double) -> Double {
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let logFront = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x)
        let front = exp(logFront)
        // The continued fraction converges fast for x < (a+1)/(a+b+2); use the mirror otherwise.
        if x < (a + 1) / (a + b + 2) {
            return front * continuedFraction(x: x, a: a, b: b) / a
        }
        return 1 - front * continuedFraction(x: 1 - x, a: b, b: a) / b
    }

    /// The continued fraction 1/(1+ d1/(1+ d2/(1+ …))) of I_x(a, b), by the modified Lentz method, with
    /// d(2m+1) = −(a+m)(a+b+m)x / ((a+2m)(a+2m+1)) and d(2m) = m(b−m)x / ((a+2m−1)(a+2m)).
    private static func continuedFraction(x: Double, a: Double, b: Double) -> Double {
        let tiny = 1e-300
        func guarded(_ value: Double) -> Double { abs(value) < tiny ? tiny : value }
        var c = 1.0
        var d = 1 / guarded(1 - (a + b) * x / (a + 1))
        var result = d
        for step in 1...10_000 {
            let m = Double(step)
            let even = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
            d = 1 / guarded(1 + even * d)
            c = guarded(1 + even / c)
            result *= d * c
            let odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
            d = 1 / guarded(1 + odd * d)
            c = guarded(1 + odd / c)
            let delta = d * c
            result *= delta
            if abs(delta - 1) < 1e-16 { break }
        }
        return result
    }
}
