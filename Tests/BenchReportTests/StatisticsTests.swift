import Foundation
import Testing
@testable import BenchReport

/// Student t CDF and quantile in Python, by Simpson integration of the density and bisection: an
/// implementation independent of the incomplete-beta route the Swift code takes.
let pythonStudentT = """
import math, sys
def pdf(x, v):
    return math.exp(math.lgamma((v + 1) / 2) - math.lgamma(v / 2)) / math.sqrt(v * math.pi) * (1 + x * x / v) ** (-(v + 1) / 2)
def upper_tail(t, v, n=4000):
    # P(T > t) for t >= 0: 1/2 minus the integral of the density from 0 to t (Simpson).
    h = t / n
    s = pdf(0, v) + pdf(t, v) + sum((4 if i % 2 else 2) * pdf(i * h, v) for i in range(1, n))
    return 0.5 - s * h / 3
def quantile(p, v):
    lo, hi = 0.0, 1.0
    while 1 - upper_tail(hi, v) < p:
        lo, hi = hi, hi * 2
    for _ in range(60):
        mid = (lo + hi) / 2
        if 1 - upper_tail(mid, v) < p: lo = mid
        else: hi = mid
    return (lo + hi) / 2

"""

@Suite struct StudentTTests {
    /// Two-sided 95% critical values from a published table (NIST/SEMATECH e-Handbook of Statistical
    /// Methods, 1.3.6.7.2, "Critical values of the Student's t distribution"), three decimals.
    @Test func criticalValuesMatchThePublishedTable() {
        let table: [(Double, Double)] = [(1, 12.706), (2, 4.303), (3, 3.182), (4, 2.776), (5, 2.571), (9, 2.262),
                                         (10, 2.228), (20, 2.086), (29, 2.045), (30, 2.042), (100, 1.984)]
        for (df, value) in table {
            #expect(abs(StudentT.criticalValue(level: 0.95, degreesOfFreedom: df) - value) < 0.0006, "df \(df)")
        }
    }

    @Test func quantilesMatchAnIndependentIntegrationInPython() throws {
        let cases: [(p: Double, df: Double)] = [(0.975, 1), (0.975, 2), (0.975, 3.5), (0.99, 7), (0.9, 12.25), (0.995, 40), (0.75, 2)]
        let script = pythonStudentT + """
        for line in sys.stdin:
            p, v = map(float, line.split())
            print(repr(quantile(p, v)))
        """
        let reference = numbers(try python(script, input: cases.map { "\($0.p) \($0.df)" }.joined(separator: "\n")))
        #expect(reference.count == cases.count)
        for (index, test) in cases.enumerated() where index < reference.count {
            let mine = StudentT.quantile(test.p, degreesOfFreedom: test.df)
            #expect(abs(mine - reference[index]) <= 1e-7 * abs(reference[index]), "p \(test.p) df \(test.df): \(mine) vs \(reference[index])")
            #expect(abs(StudentT.quantile(1 - test.p, degreesOfFreedom: test.df) + mine) < 1e-12)
        }
    }

    @Test func twoSidedPValuesMatchPython() throws {
        let cases: [(t: Double, df: Double)] = [(2.0, 3), (0.5, 10), (4.2, 7.3), (1.0, 1), (3.3, 17.8)]
        let script = pythonStudentT + """
        for line in sys.stdin:
            t, v = map(float, line.split())
            print(repr(2 * upper_tail(abs(t), v)))
        """
        let reference = numbers(try python(script, input: cases.map { "\($0.t) \($0.df)" }.joined(separator: "\n")))
        #expect(reference.count == cases.count)
        for (index, test) in cases.enumerated() where index < reference.count {
            let mine = StudentT.twoSidedPValue(test.t, degreesOfFreedom: test.df)
            #expect(abs(mine - reference[index]) < 1e-9, "t \(test.t) df \(test.df): \(mine) vs \(reference[index])")
            #expect(abs(StudentT.cdf(-test.t, degreesOfFreedom: test.df) * 2 - mine) < 1e-12)
        }
    }
}

@Suite struct SampleStatisticsTests {
    /// Samples of several sizes and scales, including a large offset that breaks naive variance formulas.
    static func samples() -> [[Double]] {
        var noise = TestNoise(seed: 7)
        let shapes: [(n: Int, center: Double, spread: Double)] = [(2, 1.5, 0.1), (3, 0.42, 0.01), (5, 9000, 150), (6, 1e6, 0.5),
                                                                   (10, 120.5, 3), (11, 0.003, 0.0004), (31, 55, 20)]
        return shapes.map { shape in (0..<shape.n).map { _ in shape.center + shape.spread * noise.normal() } }
    }

    @Test func descriptiveStatisticsMatchPythonsStatisticsModule() throws {
        let samples = Self.samples()
        let script = pythonStudentT + """
        import statistics
        for line in sys.stdin:
            xs = [float(x) for x in line.split()]
            n = len(xs)
            m, s = statistics.mean(xs), statistics.stdev(xs)
            h = quantile(0.975, n - 1) * s / math.sqrt(n)
            print(repr(statistics.median(xs)), repr(m), repr(s), repr(m - h), repr(m + h), min(xs), max(xs))
        """
        let input = samples.map { $0.map { "\($0)" }.joined(separator: " ") }.joined(separator: "\n")
        let lines = try python(script, input: input).split(separator: "\n").map { numbers(String($0)) }
        #expect(lines.count == samples.count)
        for (sample, reference) in zip(samples, lines) {
            let statistics = try #require(SampleStatistics(sample))
            let close = { (a: Double, b: Double, tolerance: Double) in abs(a - b) <= tolerance * Swift.max(abs(b), 1e-300) }
            #expect(statistics.n == sample.count)
            #expect(close(statistics.median, reference[0], 1e-15))
            #expect(close(statistics.mean, reference[1], 1e-14))
            #expect(close(try #require(statistics.standardDeviation), reference[2], 1e-9), "n=\(sample.count)")
            #expect(close(try #require(statistics.meanCI?.low), reference[3], 1e-7))
            #expect(close(try #require(statistics.meanCI?.high), reference[4], 1e-7))
            #expect(statistics.min == reference[5] && statistics.max == reference[6])
            #expect(close(try #require(statistics.coefficientOfVariation), reference[2] / abs(reference[1]), 1e-9))
        }
    }

    @Test func medianIntervalUsesBinomialOrderStatistics() throws {
        let samples = Self.samples()
        let script = """
        import math, sys
        for line in sys.stdin:
            xs = sorted(float(x) for x in line.split())
            n = len(xs)
            best = None
            for k in range(1, n // 2 + 1):
                tail = sum(math.comb(n, i) for i in range(k)) / 2 ** n
                if tail <= 0.025: best = (k, 1 - 2 * tail)
            print("none" if best is None else f"{xs[best[0] - 1]!r} {xs[n - best[0]]!r} {best[1]!r}")
        """
        let input = samples.map { $0.map { "\($0)" }.joined(separator: " ") }.joined(separator: "\n")
        let lines = try python(script, input: input).split(separator: "\n").map(String.init)
        #expect(lines.count == samples.count)
        for (sample, reference) in zip(samples, lines) {
            let statistics = try #require(SampleStatistics(sample))
            if reference == "none" {
                #expect(statistics.medianCI == nil, "n=\(sample.count)")
                continue
            }
            let expected = numbers(reference)
            #expect(statistics.medianCI == ConfidenceInterval(low: expected[0], high: expected[1]), "n=\(sample.count)")
            #expect(abs((statistics.medianCICoverage ?? 0) - expected[2]) < 1e-12)
        }
    }

    @Test func singleValueHasNoSpreadOrInterval() throws {
        let statistics = try #require(SampleStatistics([3.5]))
        #expect(statistics.median == 3.5 && statistics.mean == 3.5 && statistics.n == 1)
        #expect(statistics.standardDeviation == nil && statistics.meanCI == nil && statistics.medianCI == nil)
        #expect(SampleStatistics([]) == nil)
    }

    @Test func resampledMedianByCountingEqualsTheMedianOfTheSortedResample() {
        for n in [3, 4, 7, 10, 21] {
            let values = (0..<n).map { Double($0 * $0) / 7 }
            var counting = SplitMix64(seed: UInt64(n))
            var explicit = counting
            var counts = [Int](repeating: 0, count: n)
            for _ in 0..<50 {
                let resample = (0..<n).map { _ in values[explicit.index(below: n)] }.sorted()
                let expected = n % 2 == 1 ? resample[n / 2] : (resample[n / 2 - 1] + resample[n / 2]) / 2
                #expect(RatioBootstrap.resampledMedian(sorted: values, counts: &counts, generator: &counting) == expected, "n=\(n)")
            }
        }
    }

    @Test func bootstrapRatioIntervalIsReproducibleAndCoversAPlantedRatio() throws {
        var noise = TestNoise(seed: 99)
        let base = (0..<10).map { _ in 100 * (1 + 0.01 * noise.normal()) }
        let slower = (0..<10).map { _ in 130 * (1 + 0.01 * noise.normal()) }
        let ci = try #require(RatioBootstrap.ratioOfMediansCI(numerator: slower, denominator: base, key: "k"))
        #expect(ci == RatioBootstrap.ratioOfMediansCI(numerator: slower, denominator: base, key: "k"))
        #expect(ci.low > 1.25 && ci.high < 1.35 && ci.low < ci.high)
        let point = SampleStatistics.median(sorted: slower.sorted()) / SampleStatistics.median(sorted: base.sorted())
        #expect(ci.low <= point && point <= ci.high)
        #expect(RatioBootstrap.ratioOfMediansCI(numerator: [1, 2], denominator: base, key: "k") == nil)
    }
}

@Suite struct TwoSampleTestTests {
    @Test func welchMatchesPython() throws {
        var noise = TestNoise(seed: 3)
        let a = (0..<8).map { _ in 10 + noise.normal() }
        let b = (0..<12).map { _ in 11 + 2 * noise.normal() }
        let script = pythonStudentT + """
        import statistics
        a, b = ([float(x) for x in line.split()] for line in sys.stdin.read().strip().split("\\n"))
        va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
        t = (statistics.mean(b) - statistics.mean(a)) / math.sqrt(va + vb)
        df = (va + vb) ** 2 / (va * va / (len(a) - 1) + vb * vb / (len(b) - 1))
        print(repr(t), repr(df), repr(2 * upper_tail(abs(t), df)))
        """
        let reference = numbers(try python(script, input: a.map { "\($0)" }.joined(separator: " ") + "\n" + b.map { "\($0)" }.joined(separator: " ")))
        let welch = try #require(TwoSampleTest.welch(a, b))
        #expect(reference.count == 3)
        #expect(abs(welch.t - reference[0]) < 1e-9 * abs(reference[0]))
        #expect(abs(welch.degreesOfFreedom - reference[1]) < 1e-9 * reference[1])
        #expect(abs(welch.pValue - reference[2]) < 1e-9)
    }

    @Test func mannWhitneyExactMatchesBruteForceEnumeration() throws {
        let a = [1.2, 3.4, 2.2, 5.0, 0.7]
        let b = [2.9, 4.4, 6.1, 5.5, 3.9, 7.2]
        let script = """
        import itertools, sys
        a, b = ([float(x) for x in line.split()] for line in sys.stdin.read().strip().split("\\n"))
        def u(xs, ys): return sum(1 for x in xs for y in ys if x > y)
        observed = u(a, b)
        pooled = a + b
        counts = [u([pooled[i] for i in idx], [pooled[j] for j in range(len(pooled)) if j not in idx])
                  for idx in itertools.combinations(range(len(pooled)), len(a))]
        lower = sum(1 for c in counts if c <= observed) / len(counts)
        upper = sum(1 for c in counts if c >= observed) / len(counts)
        print(observed, repr(min(1, 2 * min(lower, upper))))
        """
        let reference = numbers(try python(script, input: a.map { "\($0)" }.joined(separator: " ") + "\n" + b.map { "\($0)" }.joined(separator: " ")))
        let test = try #require(TwoSampleTest.mannWhitney(a, b))
        #expect(test.method == "exact")
        #expect(test.u == reference[0])
        #expect(abs(test.pValue - reference[1]) < 1e-12)
    }

    @Test func mannWhitneyWithTiesUsesTheCorrectedNormalApproximation() throws {
        let a = [1.0, 2, 2, 3, 4, 4, 4, 5]
        let b = [3.0, 4, 5, 5, 6, 6, 7, 8, 9]
        let script = """
        import math, sys
        from statistics import NormalDist
        a, b = ([float(x) for x in line.split()] for line in sys.stdin.read().strip().split("\\n"))
        m, n = len(a), len(b)
        u = sum(1.0 if x > y else 0.5 if x == y else 0.0 for x in a for y in b)
        pooled = a + b
        ties = sum(c ** 3 - c for c in (pooled.count(v) for v in set(pooled)))
        N = m + n
        sigma = math.sqrt(m * n / 12 * ((N + 1) - ties / (N * (N - 1))))
        z = max(abs(u - m * n / 2) - 0.5, 0) / sigma
        print(u, repr(2 * (1 - NormalDist().cdf(z))))
        """
        let reference = numbers(try python(script, input: a.map { "\($0)" }.joined(separator: " ") + "\n" + b.map { "\($0)" }.joined(separator: " ")))
        let test = try #require(TwoSampleTest.mannWhitney(a, b))
        #expect(test.method == "normal")
        #expect(test.u == reference[0])
        #expect(abs(test.pValue - reference[1]) < 1e-12)
    }
}
