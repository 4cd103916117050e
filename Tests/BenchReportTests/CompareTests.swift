import Foundation
import Testing
@testable import BenchReport

@Suite struct CompareTests {
    /// A: the synthetic matrix; B: the same with every boot 30% longer (1% noise), other metrics drawn
    /// afresh from the same distributions.
    func planted() throws -> BenchComparison {
        var a = SyntheticResults()
        a.noise = 0.01
        a.seed = 1
        var b = a
        b.seed = 2
        b.bootFactor = 1.3
        let directoryA = try temporaryDirectory("compare-a"), directoryB = try temporaryDirectory("compare-b")
        try a.write(to: directoryA)
        try b.write(to: directoryB, records: b.records.filter { $0.cell.guest != "linux" || $0.cell.mode != "sev" })
        return BenchComparison(a: try ResultDirectory.load(directoryA), b: try ResultDirectory.load(directoryB))
    }

    @Test func plantedBootSlowdownIsSignificantAndWorse() throws {
        let comparison = try planted()
        let boots = comparison.entries.filter { $0.metric == "boot.to-ready" }
        #expect(boots.count == 5)
        for entry in boots {
            #expect(entry.significant, "\(entry.cell.key)")
            #expect(entry.verdict == "B worse")
            #expect(abs((entry.relativeChange ?? 0) - 0.3) < 0.03)
            #expect((entry.welch?.pValue ?? 1) < 1e-6)
            #expect((entry.mannWhitney?.pValue ?? 1) < 0.001)
        }
    }

    @Test func unchangedMetricsAreNotSignificant() throws {
        let comparison = try planted()
        let unchanged = comparison.entries.filter { $0.metric != "boot.to-ready" }
        #expect(unchanged.count == 10)
        #expect(unchanged.allSatisfy { !$0.significant && $0.verdict == "no significant change" })
    }

    @Test func cellsInOnlyOneSetAreListed() throws {
        let comparison = try planted()
        #expect(comparison.onlyInA.count == 3)
        #expect(comparison.onlyInA.allSatisfy { $0.hasPrefix("linux/sev/1vcpu/256M · ") })
        #expect(comparison.onlyInB.isEmpty)
        let text = comparison.renderText()
        #expect(text.contains("only in A:"))
        #expect(text.contains("* B worse"))
        #expect(text.hasPrefix(BenchSummary.emulationText))
    }

    @Test func higherIsBetterImprovementIsBBetter() throws {
        var a = SyntheticResults()
        a.noise = 0.01
        a.guests = [("unikernel", "unikernel")]
        var b = a
        b.seed = 9
        b.sevStreamFactor = 1.0
        let directoryA = try temporaryDirectory("better-a"), directoryB = try temporaryDirectory("better-b")
        try a.write(to: directoryA)
        try b.write(to: directoryB)
        let comparison = BenchComparison(a: try ResultDirectory.load(directoryA), b: try ResultDirectory.load(directoryB))
        let stream = try #require(comparison.entries.first { $0.metric == "stream.triad" && $0.cell.mode == "sev" })
        #expect(stream.significant && stream.verdict == "B better")
    }

    /// The definitions (Holm 1979: step-down, max over (m − j + 1)·p(j); Benjamini & Hochberg 1995:
    /// step-up, min over m/j·p(j)) worked by hand on four p-values.
    @Test func adjustedPValuesFollowTheDefinitions() {
        let p = [0.01, 0.04, 0.03, 0.005]
        let holm = MultipleComparisonCorrection.holm.adjust(p)
        let bh = MultipleComparisonCorrection.benjaminiHochberg.adjust(p)
        for (ours, expected) in zip(holm, [0.03, 0.06, 0.06, 0.02]) { #expect(abs(ours - expected) < 1e-12, "Holm \(holm)") }
        for (ours, expected) in zip(bh, [0.02, 0.04, 0.04, 0.02]) { #expect(abs(ours - expected) < 1e-12, "BH \(bh)") }
        #expect(MultipleComparisonCorrection.none.adjust(p) == p)
        #expect(MultipleComparisonCorrection.holm.adjust([0.9, 0.8]) == [1, 1], "capped at 1")
        #expect(MultipleComparisonCorrection.holm.adjust([]).isEmpty)
    }

    /// The case the issue reported: two runs of the same code, 24 metrics, three Welch p-values of
    /// 0.018–0.029 among chance values. Uncorrected they pass p < 0.05; corrected, none does.
    @Test func threeChanceFindingsAmong24AreNotSignificantOnceCorrected() {
        let p = [0.018, 0.022, 0.029] + (0..<21).map { 0.08 + Double($0) * 0.043 }
        #expect(p.filter { $0 < 0.05 }.count == 3)
        #expect(MultipleComparisonCorrection.holm.adjust(p).allSatisfy { $0 >= 0.05 })
        #expect(MultipleComparisonCorrection.benjaminiHochberg.adjust(p).allSatisfy { $0 >= 0.05 })
        for correction in MultipleComparisonCorrection.allCases where correction != .none {
            let adjusted = correction.adjust(p)
            #expect(zip(adjusted, p).allSatisfy { $0 >= $1 }, "an adjusted p-value is never below the raw one")
        }
    }

    @Test func theComparisonCountsItsFamilyAndNamesTheCorrection() throws {
        let comparison = try planted()
        #expect(comparison.correction == .holm && comparison.comparisons == comparison.entries.count)
        #expect(comparison.entries.allSatisfy { ($0.adjustedPValue ?? 0) >= ($0.welch?.pValue ?? 1) })
        #expect(comparison.renderText().contains("Holm–Bonferroni (family-wise error rate) over \(comparison.comparisons) comparisons"))
    }
}
