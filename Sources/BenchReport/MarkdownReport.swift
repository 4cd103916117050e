import Foundation

/// report.md: the summary for people, readable as plain text and rendered by any Markdown viewer.
public enum MarkdownReport {
    public static func render(_ summary: BenchSummary) -> String {
        let view = SummaryView(summary)
        let md = ReportFormat.markdown
        var out: [String] = ["# CVMKit benchmark report", ""]
        if let label = summary.emulationLabel {
            out += ["> **\(label).** QEMU ran with the \(md(summary.environment.accelerator)) accelerator, without hardware",
                    "> virtualization: the numbers show how the pipeline behaves, not what a host with KVM and SEV measures.", ""]
        }
        out += ["Runs: \(summary.runs.ok) ok, \(summary.runs.notOK) not ok (\(summary.runs.failed) failed, \(summary.runs.timedOut) timed out, "
                + "\(summary.runs.launchFailed) launch failed), \(summary.runs.warmups) warm-ups. Generated \(summary.generatedAt).", ""]

        out += ["## Environment", "", "| | |", "|---|---|"]
        for (label, value) in view.environmentRows {
            out.append("| \(label) | \(SummaryView.codeRows.contains(label) ? "`\(value.replacingOccurrences(of: "`", with: "'").replacingOccurrences(of: "|", with: "\\|"))`" : md(value)) |")
        }
        out.append("")

        out += matrix(view)
        out += results(view)
        out += guestRatios(summary)
        out += timeline(view)
        out += skipped(summary)
        out += failures(summary)
        if !summary.warnings.isEmpty {
            out += ["## Warnings", ""] + summary.warnings.map { "- \(md($0))" } + [""]
        }
        return out.joined(separator: "\n")
    }

    static func matrix(_ view: SummaryView) -> [String] {
        let md = ReportFormat.markdown
        let plan = view.summary.plan
        var out = ["## Matrix", "", view.matrixLine + ".", "",
                   "| guest | kind | boot | digests |", "|---|---|---|---|"]
        for guest in plan.guests {
            let digests = guest.digests.sorted { $0.key < $1.key }.map { "\(md($0.key)) `\(String($0.value.prefix(16)))…`" }
            out.append("| \(md(guest.name)) | \(md(guest.kind)) | \(md(guest.bootProtocol)) | \(digests.joined(separator: ", ")) |")
        }
        out += ["", "| mode | host check | cells measured | cells skipped |", "|---|---|---|---|"]
        for mode in view.modes {
            let measured = view.summary.cells.filter { $0.cell.mode == mode && $0.measured }.count
            let skipped = view.summary.skipped.filter { $0.cell.mode == mode }.count
            out.append("| \(md(mode)) | \(md(view.summary.environment.modeVerdicts[mode] ?? "")) | \(measured) | \(skipped) |")
        }
        out.append("")
        let rows = view.bootRows
        if !rows.isEmpty {
            out += ["How each cell boots (firmware.fd: the unikernel is its own firmware, measured whole; X+ovmf / X+seabios: "
                    + "kernel X loaded by that firmware):", "",
                    "| guest | " + view.modes.map(md).joined(separator: " | ") + " |",
                    "|---|" + String(repeating: "---|", count: view.modes.count)]
            for row in rows {
                out.append("| \(md(row.label)) | " + row.paths.map { md($0 ?? "–") }.joined(separator: " | ") + " |")
            }
            out.append("")
            out += view.mixedBootWarnings.map { "- **Boot differs across modes:** \(md($0))" }
            if !view.mixedBootWarnings.isEmpty { out.append("") }
        }
        return out
    }

    static func results(_ view: SummaryView) -> [String] {
        let md = ReportFormat.markdown
        var out = ["## Results", "",
                   "Each value is the median ± the half-width of the 95% confidence interval of the mean (Student t, n−1 df) "
                   + "over the non-warm-up ok runs. Overhead: relative difference of medians against mode none of the same guest "
                   + "and shape, signed so that positive means worse, with a 95% bootstrap interval. "
                   + "summary.json and results.csv carry n, mean, standard deviation, the median's own interval, CV, min and max.", ""]
        for workload in view.workloads {
            out += ["### \(md(workload)): \(md(ReportFormat.workloadTitle(workload)))", ""]
            let metrics = view.metrics[workload] ?? []
            let overheadModes = Array(Set(metrics.flatMap { view.overheadModes(metric: $0.key) }))
                .sorted { BenchCell.modeOrder($0) < BenchCell.modeOrder($1) }
            let (modes, notMeasured) = view.tableModes(metrics)
            let header = ["metric", "guest"] + modes + overheadModes.map { "\($0) vs none" }
            out.append("| " + header.map(md).joined(separator: " | ") + " |")
            out.append("|" + String(repeating: "---|", count: 2) + String(repeating: "---:|", count: header.count - 2))
            for metric in metrics {
                for group in view.groups(for: metric.key) {
                    var row = ["\(md(metric.name)) (\(md(metric.unit)), \(metric.better == .lowerIsBetter ? "lower" : "higher") is better)",
                               md(view.groupLabel(group))]
                    for mode in modes {
                        switch view.slot(group, mode: mode, metric: metric.key) {
                        case .measured(let statistics): row.append(ReportFormat.medianWithCI(statistics) + (statistics.n < 2 ? " (n=1)" : ""))
                        case .skipped: row.append("not measured")
                        case .noData: row.append("no data")
                        case .notPlanned: row.append("–")
                        }
                    }
                    for mode in overheadModes {
                        guard let overhead = view.overhead(group, mode: mode, metric: metric.key) else {
                            row.append("–")
                            continue
                        }
                        row.append("\(ReportFormat.percent(overhead.overheadPercent)) \(ReportFormat.percentInterval(overhead.overheadCI))"
                            .trimmingCharacters(in: .whitespaces))
                    }
                    out.append("| " + row.joined(separator: " | ") + " |")
                }
            }
            if !notMeasured.isEmpty {
                out += ["", "Not measured on this host: \(notMeasured.map(md).joined(separator: ", ")) (see [Not measured](#not-measured))."]
            }
            out.append("")
        }
        if view.workloads.isEmpty { out += ["No run produced a metric yet.", ""] }
        return out
    }

    static func guestRatios(_ summary: BenchSummary) -> [String] {
        guard !summary.guestRatios.isEmpty else { return [] }
        let md = ReportFormat.markdown
        var out = ["## Unikernel vs Linux", "",
                   "Ratio of medians (first guest / second guest) for the same mode, shape and metric, with a 95% bootstrap interval.", "",
                   "| metric | mode | shape | guests | medians | ratio [95% CI] | better |", "|---|---|---|---|---:|---:|---|"]
        for ratio in summary.guestRatios {
            let better = md(ReportFormat.betterGuest(ratio))
            out.append("| \(md(ratio.metric)) (\(md(ratio.unit))) | \(md(ratio.mode)) | \(ratio.vcpus) vCPU, \(ratio.memoryMiB) MiB | "
                + "\(md(ratio.numeratorGuest)) / \(md(ratio.denominatorGuest)) | "
                + "\(ReportFormat.number(ratio.numeratorMedian)) / \(ReportFormat.number(ratio.denominatorMedian)) | "
                + "\(ReportFormat.ratio(ratio.ratio)) \(ReportFormat.ratioInterval(ratio.ratioCI)) | \(better) |")
        }
        out.append("")
        return out
    }

    static func timeline(_ view: SummaryView) -> [String] {
        let cells = view.timelineCells
        guard !cells.isEmpty else { return [] }
        let md = ReportFormat.markdown
        let events = view.timelineEvents
        var out = ["## Boot timeline", "",
                   "Median seconds since QEMU was spawned at which each event was seen (host clock; guest markers, QMP events).", "",
                   "| guest | mode | " + events.map(md).joined(separator: " | ") + " |",
                   "|---|---|" + String(repeating: "---:|", count: events.count)]
        for cell in cells {
            let values = events.map { event in
                cell.timeline.first { $0.event == event }.map { ReportFormat.number($0.medianSeconds, decimals: 3) } ?? "–"
            }
            out.append("| \(md(view.groupLabel(SummaryView.Group(cell.cell)))) | \(md(cell.cell.mode)) | " + values.joined(separator: " | ") + " |")
        }
        out.append("")
        return out
    }

    static func skipped(_ summary: BenchSummary) -> [String] {
        guard !summary.skipped.isEmpty else { return [] }
        let md = ReportFormat.markdown
        var out = ["## Not measured", "", "Cells of the matrix this host cannot run, with the host check's reason:", ""]
        for skipped in summary.skipped {
            var line = "- **\(md(skipped.cell.mode))** for \(md(skipped.cell.guest)) (\(ReportFormat.shape(skipped.cell))): \(md(skipped.reason))"
            if let measurement = skipped.expectedMeasurement {
                line += ". Expected launch measurement: `\(measurement.filter(\.isHexDigit))`"
                if let note = skipped.measurementNote { line += " (\(md(note)))" }
            }
            out.append(line)
        }
        out.append("")
        return out
    }

    static func failures(_ summary: BenchSummary) -> [String] {
        let failures = summary.cells.flatMap(\.failures)
        guard !failures.isEmpty else { return [] }
        let md = ReportFormat.markdown
        return ["## Runs that failed", ""]
            + failures.map { "- \(md($0.runID)): \($0.outcome.rawValue)\($0.failure.map { ": " + md($0) } ?? "")" } + [""]
    }
}
