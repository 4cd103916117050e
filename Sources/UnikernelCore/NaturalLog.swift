/// Natural logarithm for a kernel without libm: x = 2^e * m with m in [sqrt(1/2), sqrt(2)),
/// ln m = 2 atanh(s) with s = (m - 1)/(m + 1), |s| < 0.1716, summed to double precision; ln 2 is split
/// into a high and low part so e * ln 2 stays exact.
public enum NaturalLog {
    static let ln2High = 6.93147180369123816490e-01
    static let ln2Low = 1.90821492927058770002e-10

    public static func log(_ x: Double) -> Double {
        guard x > 0 else { return x == 0 ? -Double.infinity : Double.nan }
        guard x.isFinite else { return x }
        var bits = x.bitPattern
        var exponent = Int((bits >> 52) & 0x7ff)
        if exponent == 0 {
            // Subnormal: scale into the normal range first.
            bits = (x * 18014398509481984.0).bitPattern  // 2^54
            exponent = Int((bits >> 52) & 0x7ff) - 54
        }
        exponent -= 1023
        var mantissa = Double(bitPattern: (bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000)
        if mantissa > 1.4142135623730951 {
            mantissa *= 0.5
            exponent += 1
        }
        let s = (mantissa - 1) / (mantissa + 1)
        let s2 = s * s
        var series = 1.0 / 25.0
        var denominator = 23.0
        while denominator >= 1 {
            series = 1.0 / denominator + s2 * series
            denominator -= 2
        }
        let e = Double(exponent)
        return e * ln2High + (e * ln2Low + 2 * s * series)
    }
}
