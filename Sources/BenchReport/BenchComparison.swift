import Foundation

/// Two-sample tests on raw run values.
public enum TwoSampleTest {
    public struct Welch: Codable, Sendable, Hashable {
        /// (mean B − mean A) / standard error of the difference.
        public var t: Double
        public var degreesOfFreedom: Double
        public var pValue: Double
    }

    public struct MannWhitney: Codable, Sendable, Hashable {
        /// U of the first sample: the number of (a, b) pairs with a > b, ties counting ½.
        public var u: Double
        public var pValue: Double
        /// "exact" (no ties, small samples) or "normal" (tie-corrected, continuity-corrected).
        public var method: String
    }

    /// Welch's unequal-variance t-test, two-sided; nil when a sample has fewer than 2 values.
    public static func welch(_ a: [Double], _ b: [Double]) -> Welch? {
        guard a.count >= 2, b.count >= 2 else { return nil }
        let meanA = SampleStatistics.mean(a), meanB = SampleStatistics.mean(b)
        let sdA = SampleStatistics.standardDeviation(a, mean: meanA), sdB = SampleStatistics.standardDeviation(b, mean: meanB)
        let varA = sdA * sdA / Double(a.count), varB = sdB * sdB / Double(b.count)
        let error = (varA + varB).squareRoot()
        guard error > 0 else {
            // No spread at all: identical means are no evidence of change, different ones are certain.
            return Welch(t: meanA == meanB ? 0 : (meanB > meanA ? .infinity : -.infinity),
                         degreesOfFreedom: Double(a.count + b.count - 2), pValue: meanA == meanB ? 1 : 0)
        }
        let df = (varA + varB) * (varA + varB) / (varA * varA / Double(a.count - 1) + varB * varB / Double(b.count - 1))
        let t = (meanB - meanA) / error
        return Welch(t: t, degreesOfFreedom: df, pValue: StudentT.twoSidedPValue(t, degreesOfFreedom: df))
    }

    /// Mann-Whitney U (Wilcoxon rank-sum), two-sided: exact distribution when there are no ties and
    /// both samples have at most 25 values, else the normal approximation with tie and continuity correction.
    public static func mannWhitney(_ a: [Double], _ b: [Double]) -> MannWhitney? {
        guard !a.isEmpty, !b.isEmpty else { return nil }
        let m = a.count, n = b.count
        let pooled = (a.map { ($0, true) } + b.map { ($0, false) }).sorted { $0.0 < $1.0 }
        var rankSumA = 0.0
        var tieTerm = 0.0
        var index = 0
        while index < pooled.count {
            var end = index
            while end + 1 < pooled.count && pooled[end + 1].0 == pooled[index].0 { end += 1 }
            let rank = Double(index + end + 2) / 2
            let size = Double(end - index + 1)
            tieTerm += size * size * size - size
            for position in index...end where pooled[position].1 { rankSumA += rank }
            index = end + 1
        }
        let u = rankSumA - Double(m * (m + 1)) / 2
        if tieTerm == 0 && m <= 25 && n <= 25 {
            let counts = exactUDistribution(m: m, n: n)
            let total = counts.reduce(0, +)
            let observed = Int(u.rounded())
            let lower = counts[0...observed].reduce(0, +) / total
            let upper = counts[observed...].reduce(0, +) / total
            return MannWhitney(u: u, pValue: Swift.min(1, 2 * Swift.min(lower, upper)), method: "exact")
        }
        let total = Double(m + n)
        let mean = Double(m * n) / 2
        let variance = Double(m * n) / 12 * ((total + 1) - tieTerm / (total * (total - 1)))
        guard variance > 0 else { return MannWhitney(u: u, pValue: 1, method: "normal") }
        let z = Swift.max(abs(u - mean) - 0.5, 0) / variance.squareRoot()
        return MannWhitney(u: u, pValue: StandardNormal.twoSidedPValue(z), method: "normal")
    }

    /// Number of arrangements of m a's and n b's with each U value (index = U), by the recurrence
    /// N(m, n, u) = N(m−1, n, u−n) + N(m, n−1, u).
    static func exactUDistribution(m: Int, n: Int) -> [Double] {
        // previous[j] is the distribution for (i − 1, j); with no a's, U is 0.
        var previous = [[Double]](repeating: [1], count: n + 1)
        for i in stride(from: 1, through: m, by: 1) {
            var current: [[Double]] = []
            for j in 0...n {
                var distribution = [Double](repeating: 0, count: i * j + 1)
                // The largest value is an a: it beats all j b's.
                for (u, count) in previous[j].enumerated() { distribution[u + j] += count }
                // The largest value is a b: U is that of (i, j − 1).
                if j > 0 { for (u, count) in current[j - 1].enumerated() { distribution[u] += count } }
                current.append(distribution)
            }
            previous = current
        }
        return previous[n]
    }
}

/// How a comparison over many (cell, metric) pairs keeps chance findings out: each p-value is adjusted
/// for the number of tests in the family before it is held against alpha. Holm–Bonferroni controls the
/// family-wise error rate (the chance of any false "better"/"worse"); Benjamini–Hochberg the false
/// discovery rate (the expected share of false ones among those flagged), with more power.
public enum MultipleComparisonCorrection: String, Codable, Sendable, CaseIterable {
    case holm
    case benjaminiHochberg = "bh"
    case none

    public var name: String {
        switch self {
        case .holm: "Holm–Bonferroni (family-wise error rate)"
        case .benjaminiHochberg: "Benjamini–Hochberg (false discovery rate)"
        case .none: "none (each test at alpha on its own)"
        }
    }

    /// Adjusted p-values, in the order given (Holm 1979; Benjamini & Hochberg 1995), each at most 1.
    public func adjust(_ pValues: [Double]) -> [Double] {
        let m = pValues.count
        guard m > 0, self != .none else { return pValues }
        let order = pValues.indices.sorted { pValues[$0] < pValues[$1] }
        var adjusted = [Double](repeating: 1, count: m)
        switch self {
        case .holm:
            var running = 0.0
            for (rank, index) in order.enumerated() {
                running = max(running, min(1, Double(m - rank) * pValues[index]))
                adjusted[index] = running
            }
        case .benjaminiHochberg:
            var running = 1.0
            for (rank, index) in order.enumerated().reversed() {
                running = min(running, min(1, Double(m) / Double(rank + 1) * pValues[index]))
                adjusted[index] = running
            }
        case .none: break
        }
        return adjusted
    }
}

/// `cvm bench compare A B`: per common (cell, metric), the medians, the relative change and whether
/// it is significant: Welch's t-test p-value, adjusted for the number of pairs compared (Holm–Bonferroni
/// unless asked otherwise), below alpha; Mann-Whitney U reported beside it.
public struct BenchComparison: Codable, Sendable {
    public static let schema = "cvmkit.bench.compare/1"

    public struct Entry: Codable, Sendable {
        public var cell: BenchCell
        public var metric: String
        public var unit: String
        public var better: MetricDirection
        public var nA: Int
        public var nB: Int
        public var medianA: Double
        public var medianB: Double
        /// (median B − median A) / median A; absent when median A is 0.
        public var relativeChange: Double?
        public var welch: TwoSampleTest.Welch?
        /// Welch's p-value adjusted for the family of comparisons; absent where Welch's test could not run.
        public var adjustedPValue: Double?
        public var mannWhitney: TwoSampleTest.MannWhitney?
        /// The adjusted p-value is below alpha.
        public var significant: Bool
        /// "B better", "B worse", or "no significant change".
        public var verdict: String
    }

    public var schema: String
    public var a: String
    public var b: String
    public var alpha: Double
    public var correction: MultipleComparisonCorrection
    /// How many tests the correction counted (the pairs with a Welch p-value).
    public var comparisons: Int
    public var emulatedA: Bool
    public var emulatedB: Bool
    public var entries: [Entry]
    /// "cell key · metric" measured only in A or only in B.
    public var onlyInA: [String]
    public var onlyInB: [String]
    public var warnings: [String]

    /// Compares two loaded result directories.
    public init(a: ResultDirectory, b: ResultDirectory, alpha: Double = 0.05, correction: MultipleComparisonCorrection = .holm) {
        let samplesA = Samples(a.records), samplesB = Samples(b.records)
        let orderA = ReportOrder(plan: a.plan, samples: samplesA), orderB = ReportOrder(plan: b.plan, samples: samplesB)
        func pairs(_ order: ReportOrder, _ samples: Samples) -> [(BenchCell, String)] {
            order.cells.flatMap { cell in order.metrics.filter { samples.cells[cell]?.metrics[$0] != nil }.map { (cell, $0) } }
        }
        let inA = pairs(orderA, samplesA), inB = pairs(orderB, samplesB)
        let keysB = Set(inB.map { "\($0.0.key)|\($0.1)" }), keysA = Set(inA.map { "\($0.0.key)|\($0.1)" })
        var entries: [Entry] = []
        for (cell, metric) in inA where keysB.contains("\(cell.key)|\(metric)") {
            guard let valuesA = samplesA.cells[cell]?.metrics[metric], let valuesB = samplesB.cells[cell]?.metrics[metric],
                  let info = samplesA.metricInfo[metric] else { continue }
            let medianA = SampleStatistics.median(sorted: valuesA.sorted()), medianB = SampleStatistics.median(sorted: valuesB.sorted())
            entries.append(Entry(cell: cell, metric: metric, unit: info.unit, better: info.better, nA: valuesA.count, nB: valuesB.count,
                                 medianA: medianA, medianB: medianB,
                                 relativeChange: medianA == 0 ? nil : (medianB - medianA) / medianA,
                                 welch: TwoSampleTest.welch(valuesA, valuesB), adjustedPValue: nil,
                                 mannWhitney: TwoSampleTest.mannWhitney(valuesA, valuesB),
                                 significant: false, verdict: "no significant change"))
        }
        let tested = entries.indices.filter { entries[$0].welch != nil }
        let adjusted = correction.adjust(tested.map { entries[$0].welch!.pValue })
        for (position, index) in tested.enumerated() {
            var entry = entries[index]
            entry.adjustedPValue = adjusted[position]
            entry.significant = adjusted[position] < alpha
            let info = samplesA.metricInfo[entry.metric]
            let bIsLower = entry.medianB < entry.medianA || (entry.medianB == entry.medianA && (entry.welch?.t ?? 0) < 0)
            if entry.significant { entry.verdict = bIsLower == (info?.better == .lowerIsBetter) ? "B better" : "B worse" }
            entries[index] = entry
        }
        self.correction = correction
        comparisons = tested.count
        schema = Self.schema
        self.a = a.url.path
        self.b = b.url.path
        self.alpha = alpha
        emulatedA = a.environment.emulated
        emulatedB = b.environment.emulated
        self.entries = entries
        onlyInA = inA.filter { !keysB.contains("\($0.0.key)|\($0.1)") }.map { "\($0.0.key) · \($0.1)" }
        onlyInB = inB.filter { !keysA.contains("\($0.0.key)|\($0.1)") }.map { "\($0.0.key) · \($0.1)" }
        var warnings = a.warnings + b.warnings
        if a.environment.accelerator != b.environment.accelerator {
            warnings.append("A ran with \(a.environment.accelerator), B with \(b.environment.accelerator): differences include the accelerator")
        }
        if a.environment.cpuModel != b.environment.cpuModel || a.environment.hostname != b.environment.hostname {
            warnings.append("A and B come from different hosts or CPUs")
        }
        self.warnings = warnings
    }

    /// The human table `cvm bench compare` prints.
    public func renderText() -> String {
        var lines: [String] = []
        if emulatedA || emulatedB { lines.append("\(BenchSummary.emulationText) (\(emulatedA ? "A" : "")\(emulatedA && emulatedB ? " and " : "")\(emulatedB ? "B" : ""))") }
        lines.append("A: \(a)")
        lines.append("B: \(b)")
        lines.append("significant: Welch's t-test p, adjusted by \(correction.name) over \(comparisons) comparisons, < \(alpha) (Mann-Whitney U p shown beside)")
        lines.append("")
        let header = ["cell", "metric", "median A", "median B", "change", "p (Welch)", "p adjusted", "p (MWU)", "verdict"]
        var rows: [[String]] = [header]
        for entry in entries {
            rows.append([entry.cell.key, entry.metric + (entry.unit.isEmpty ? "" : " (\(entry.unit))"),
                         ReportFormat.number(entry.medianA), ReportFormat.number(entry.medianB),
                         entry.relativeChange.map { ReportFormat.percent($0 * 100) } ?? "n/a",
                         entry.welch.map { pValue($0.pValue) } ?? "n<2", entry.adjustedPValue.map { pValue($0) } ?? "–",
                         entry.mannWhitney.map { pValue($0.pValue) } ?? "–",
                         entry.significant ? "* " + entry.verdict : entry.verdict])
        }
        let widths = header.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        let numeric: Set<Int> = [2, 3, 4, 5, 6, 7]
        for row in rows {
            lines.append(row.enumerated().map { column, text in
                let pad = String(repeating: " ", count: widths[column] - text.count)
                return numeric.contains(column) ? pad + text : text + pad
            }.joined(separator: "  ").trimmingCharacters(in: .whitespaces))
        }
        if entries.isEmpty { lines.append("(no cell and metric measured in both)") }
        if !onlyInA.isEmpty { lines += ["", "only in A:"] + onlyInA.map { "  \($0)" } }
        if !onlyInB.isEmpty { lines += ["", "only in B:"] + onlyInB.map { "  \($0)" } }
        if !warnings.isEmpty { lines += [""] + warnings.map { "warning: \($0)" } }
        return lines.joined(separator: "\n")
    }

    private func pValue(_ p: Double) -> String {
        p < 0.0001 ? "<0.0001" : String(format: "%.4f", p)
    }
}
