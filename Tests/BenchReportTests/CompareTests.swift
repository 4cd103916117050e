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
}
