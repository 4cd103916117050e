import Foundation

/// Writes the reports of a result directory.
public enum BenchReportWriter {
    /// Reads `environment.json`, `plan.json` and `runs.jsonl` in `directory` and writes `summary.json`,
    /// `results.csv`, `runs.csv`, `report.md` and `report.html` next to them, replacing earlier ones.
    ///
    /// Call it at the end of a benchmark (also after an interrupted one: a torn last line of the run log
    /// is skipped and reported in `summary.warnings`) or any time later on a copied directory.
    /// - Returns: the summary that was written, for printing or `--json`.
    /// - Throws: `BenchReportError` with a one-line description naming the file (and line) at fault.
    @discardableResult
    public static func write(directory: URL) throws -> BenchSummary {
        let results = try ResultDirectory.load(directory)
        let summary = SummaryBuilder().summarize(results)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let json: Data
        do {
            json = try encoder.encode(summary)
        } catch {
            throw BenchReportError.cannotWrite(path: directory.appendingPathComponent(BenchFiles.summary).path,
                                               reason: ResultDirectory.oneLine(error))
        }
        try write(json + Data("\n".utf8), to: directory.appendingPathComponent(BenchFiles.summary))
        try write(Data(CSVReport.results(summary).utf8), to: directory.appendingPathComponent(BenchFiles.csv))
        try write(Data(CSVReport.runs(results.records).utf8), to: directory.appendingPathComponent(runsCSV))
        try write(Data(MarkdownReport.render(summary).utf8), to: directory.appendingPathComponent(BenchFiles.markdown))
        try write(Data(HTMLReport.render(summary).utf8), to: directory.appendingPathComponent(BenchFiles.html))
        return summary
    }

    /// The raw values as CSV, one row per run and metric.
    public static let runsCSV = "runs.csv"

    static func write(_ data: Data, to url: URL) throws {
        do {
            try data.write(to: url, options: .atomic)
        } catch {
            throw BenchReportError.cannotWrite(path: url.path, reason: ResultDirectory.oneLine(error))
        }
    }
}
