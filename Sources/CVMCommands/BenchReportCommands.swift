import ArgumentParser
import BenchReport
import Foundation

/// `cvm bench report DIR`: (re)writes summary.json, results.csv, runs.csv, report.md and report.html
/// from a result directory's environment.json, plan.json and runs.jsonl.
struct BenchReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write the reports of a result directory.",
        discussion: """
        Reads environment.json, plan.json and runs.jsonl in DIR (as `cvm bench` leaves them, also after an \
        interrupted run) and writes summary.json, results.csv, runs.csv, report.md and report.html there. \
        Statistics: medians, means, sample standard deviations, 95% intervals (Student t for the mean, \
        order statistics for the median), overhead of each mode against mode none, unikernel/Linux ratios.

        Examples:
          cvm bench report results/2026-11-27
          cvm bench report results/2026-11-27 --json | jq '.overheads'
        """)

    @Argument(help: "A result directory written by `cvm bench`.")
    var directory: String

    @Flag(help: "Print summary.json to standard output.")
    var json = false

    func run() throws {
        let url = URL(fileURLWithPath: directory)
        let summary: BenchSummary
        do {
            summary = try BenchReportWriter.write(directory: url)
        } catch let error as BenchReportError {
            throw CLIFailure.badInput(error.description)
        }
        for warning in summary.warnings { printError("cvm: warning: \(warning)") }
        if json {
            try printJSON(summary)
            return
        }
        if let label = summary.emulationLabel { print(label) }
        let measured = summary.cells.filter(\.measured).count
        print("\(summary.runs.ok) ok runs, \(summary.runs.notOK) not ok; \(measured) of \(summary.cells.count) cells measured, "
            + "\(summary.skipped.count) not measured")
        for file in [BenchFiles.summary, BenchFiles.csv, BenchReportWriter.runsCSV, BenchFiles.markdown, BenchFiles.html] {
            print("wrote \(url.appendingPathComponent(file).path)")
        }
    }
}

/// `cvm bench compare A B`: differences between two result directories, with significance.
struct BenchCompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare two result directories.",
        discussion: """
        For every (cell, metric) measured in both A and B: the medians, the relative change (B − A) / A, \
        Welch's t-test and Mann-Whitney U p-values, and a verdict. Comparing many pairs at once makes some \
        look significant by chance, so Welch's p-values are adjusted for the number of pairs (--correction: \
        Holm–Bonferroni by default, or Benjamini–Hochberg), and a change is flagged significant when the \
        adjusted p < --alpha; "B better" or "B worse" follows the metric's direction. Cells and metrics \
        measured in only one directory are listed. Exit status 0 whatever the differences.

        Example:
          cvm bench compare results/before results/after --alpha 0.01
          cvm bench compare results/before results/after --correction bh --json
        """)

    @Argument(help: "The first result directory (the reference).")
    var a: String

    @Argument(help: "The second result directory.")
    var b: String

    @Flag(help: "Print the comparison as JSON.")
    var json = false

    @Option(help: "Significance level for Welch's t-test, after the correction.")
    var alpha: Double = 0.05

    @Option(help: "Multiple-comparison correction over all (cell, metric) pairs: holm (family-wise error rate), bh (Benjamini–Hochberg, false discovery rate) or none.")
    var correction: MultipleComparisonCorrection = .holm

    func validate() throws {
        guard alpha > 0 && alpha < 1 else { throw ValidationError("--alpha must be between 0 and 1") }
    }

    func run() throws {
        let comparison: BenchComparison
        do {
            comparison = BenchComparison(a: try ResultDirectory.load(URL(fileURLWithPath: a)),
                                         b: try ResultDirectory.load(URL(fileURLWithPath: b)), alpha: alpha, correction: correction)
        } catch let error as BenchReportError {
            throw CLIFailure.badInput(error.description)
        }
        if json {
            try printJSON(comparison)
        } else {
            print(comparison.renderText())
        }
    }
}

extension MultipleComparisonCorrection: ExpressibleByArgument {}
