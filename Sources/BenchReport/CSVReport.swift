import Foundation

/// results.csv (one row per cell × metric with its statistics and overhead) and runs.csv (one row per
/// run × metric, the raw values). RFC 4180: comma-separated, fields quoted when they need it, CRLF-free.
public enum CSVReport {
    public static let resultsHeader = [
        "guest", "boot", "boot_path", "mode", "vcpus", "memory_mib", "workload", "metric", "unit", "better", "n",
        "median", "mean", "stddev", "ci95_low", "ci95_high", "median_ci_low", "median_ci_high", "cv",
        "min", "max", "overhead_pct", "overhead_ci_low_pct", "overhead_ci_high_pct", "emulated",
    ]

    public static let runsHeader = [
        "run_id", "guest", "boot", "mode", "vcpus", "memory_mib", "repetition", "warmup", "outcome", "wall_seconds",
        "workload", "metric", "value", "unit", "accelerator",
    ]

    public static func results(_ summary: BenchSummary) -> String {
        var overheads: [String: BenchOverhead] = [:]
        for overhead in summary.overheads { overheads["\(overhead.cell.key)|\(overhead.metric)"] = overhead }
        var rows = [resultsHeader]
        for cell in summary.cells {
            for metric in cell.metrics {
                let s = metric.statistics
                let overhead = overheads["\(cell.key)|\(metric.key)"]
                rows.append([
                    cell.cell.guest, cell.cell.boot ?? "", summary.plan.bootPaths?[cell.key] ?? "", cell.cell.mode, String(cell.cell.vcpus), String(cell.cell.memoryMiB),
                    metric.workload, metric.name, metric.unit, metric.better.rawValue, String(s.n),
                    number(s.median), number(s.mean), number(s.standardDeviation), number(s.meanCI?.low), number(s.meanCI?.high),
                    number(s.medianCI?.low), number(s.medianCI?.high), number(s.coefficientOfVariation),
                    number(s.min), number(s.max), number(overhead?.overheadPercent), number(overhead?.overheadCI?.low),
                    number(overhead?.overheadCI?.high), summary.emulated ? "true" : "false",
                ])
            }
        }
        return render(rows)
    }

    public static func runs(_ records: [BenchRunRecord]) -> String {
        var rows = [runsHeader]
        for record in records {
            let prefix = [record.runID, record.cell.guest, record.cell.boot ?? "", record.cell.mode, String(record.cell.vcpus), String(record.cell.memoryMiB),
                          String(record.repetition), record.warmup ? "true" : "false", record.outcome.rawValue,
                          number(record.wallSeconds)]
            if record.metrics.isEmpty {
                rows.append(prefix + ["", "", "", "", record.accelerator])
            }
            for metric in record.metrics {
                rows.append(prefix + [metric.workload, metric.name, number(metric.value), metric.unit, record.accelerator])
            }
        }
        return render(rows)
    }

    /// Full precision (shortest round-trip form), empty for absent values.
    static func number(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "" }
        return "\(value)"
    }

    static func render(_ rows: [[String]]) -> String {
        rows.map { $0.map(field).joined(separator: ",") }.joined(separator: "\n") + "\n"
    }

    /// Quotes a field with a comma, quote or line break; a leading =, +, - or @ in a text field gets a
    /// quote-protected apostrophe so spreadsheets do not run user-supplied names as formulas.
    static func field(_ text: String) -> String {
        var text = text
        if let first = text.first, "=+-@".contains(first), Double(text) == nil { text = "'" + text }
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
