import Foundation

/// report.html: one self-contained page (inline CSS and SVG, no script, nothing fetched) with the
/// environment, the emulation label, bar charts with 95% intervals per workload and metric, stacked
/// boot timelines, and the tables of the Markdown report.
public enum HTMLReport {
    public static func render(_ summary: BenchSummary) -> String {
        let view = SummaryView(summary)
        let h = ReportFormat.html
        let environment = summary.environment
        var page: [String] = [
            "<!doctype html>",
            #"<html lang="en"><head><meta charset="utf-8">"#,
            #"<meta name="viewport" content="width=device-width, initial-scale=1">"#,
            "<title>CVMKit benchmark report · \(h(environment.hostname))</title>",
            "<style>\(style)</style></head><body><main>",
            "<header><h1>CVMKit benchmark report</h1>",
            #"<p class="sub">\#(h(environment.hostname)) · \#(h(environment.cpuModel)) · \#(h(environment.accelerator)) · \#(h(environment.startedAt))</p></header>"#,
        ]
        if let label = summary.emulationLabel {
            page.append(#"<div class="banner"><strong>\#(h(label)).</strong> QEMU ran with the \#(h(environment.accelerator)) accelerator, without hardware virtualization: these figures show the pipeline and the shape of the results, not what a host with KVM and SEV measures.</div>"#)
        }
        page.append(cards(view))
        page.append(environmentSection(view))
        page.append(resultsSection(view))
        page.append(guestRatiosSection(summary))
        page.append(timelineSection(view))
        page.append(skippedSection(summary))
        page.append(failuresSection(summary))
        page.append(matrixSection(view))
        if !summary.warnings.isEmpty {
            page.append(#"<section id="warnings"><h2>Warnings</h2><ul>"# + summary.warnings.map { "<li>\(h($0))</li>" }.joined() + "</ul></section>")
        }
        page.append(#"<footer>Generated \#(h(summary.generatedAt)) by cvm \#(h(environment.cvmVersion)) from <code>\#(h(environment.command))</code>. Raw data: runs.jsonl; statistics: summary.json, results.csv. \#(h(summary.method.meanInterval)); overhead intervals: \#(h(summary.method.ratioInterval)).</footer>"#)
        page.append("</main></body></html>")
        return page.joined(separator: "\n") + "\n"
    }

    static func cards(_ view: SummaryView) -> String {
        let summary = view.summary
        let measured = summary.cells.filter(\.measured).count
        let items: [(String, String, String)] = [
            ("\(summary.runs.ok)", "runs ok", ""),
            ("\(summary.runs.notOK)", "runs not ok", summary.runs.notOK > 0 ? "bad" : ""),
            ("\(measured)/\(summary.cells.count)", "cells measured", ""),
            ("\(summary.skipped.count)", "cells not measured", summary.skipped.isEmpty ? "" : "warn"),
            ("\(view.repetitions)+\(summary.plan.warmups)", "repetitions + warm-ups", ""),
            (summary.environment.accelerator, "accelerator", summary.emulated ? "warn" : "good"),
        ]
        return #"<section class="cards">"# + items.map { value, label, tone in
            #"<div class="card \#(tone)"><div class="big">\#(ReportFormat.html(value))</div><div class="label">\#(label)</div></div>"#
        }.joined() + "</section>"
    }

    static func environmentSection(_ view: SummaryView) -> String {
        let h = ReportFormat.html
        // Short values two per line, the long ones (paths with digests, the command) across the width.
        let long = SummaryView.codeRows.union(["OVMF"])
        let rows = view.environmentRows.filter { !long.contains($0.0) } + view.environmentRows.filter { long.contains($0.0) }
        let items = rows.map { label, value in
            let wide = long.contains(label) ? " class=\"full\"" : ""
            return "<dt\(wide)>\(h(label))</dt><dd\(wide)>\(SummaryView.codeRows.contains(label) ? "<code>\(h(value))</code>" : h(value))</dd>"
        }
        return #"<section id="environment"><h2>Environment</h2><dl class="env">"# + items.joined() + "</dl></section>"
    }

    static func resultsSection(_ view: SummaryView) -> String {
        let h = ReportFormat.html
        var out = [#"<section id="results"><h2>Results</h2><p class="note">Bars are medians over the non-warm-up ok runs; whiskers span median ± the half-width of the 95% confidence interval of the mean (Student t, n−1 df). Overheads compare each mode with <em>none</em> for the same guest and shape, signed so that positive means worse, with a 95% bootstrap interval.</p>"#]
        if view.workloads.isEmpty { out.append(#"<p class="empty">No run produced a metric yet.</p>"#) }
        for workload in view.workloads {
            out.append(#"<h3>\#(h(workload)) <span class="muted">· \#(h(ReportFormat.workloadTitle(workload)))</span></h3><div class="charts">"#)
            let metrics = view.metrics[workload] ?? []
            for metric in metrics {
                let groups = view.groups(for: metric.key)
                let slots = view.modes.map { mode in (mode, groups.map { view.slot($0, mode: mode, metric: metric.key) }) }
                // A mode gets bar slots when some group measured it (or ran it without data); a mode
                // skipped everywhere is named in the legend instead of drawing empty slots.
                let chartModes = slots.filter { $0.1.contains { slot in
                    switch slot {
                    case .measured, .noData: true
                    case .skipped, .notPlanned: false
                    }
                } }.map(\.0)
                let notMeasured = slots.filter { mode, modeSlots in
                    !chartModes.contains(mode) && modeSlots.contains { if case .skipped = $0 { true } else { false } }
                }.map(\.0)
                let barGroups = groups.map { group in
                    SVGChart.BarGroup(label: group.guestLabel, sublabel: view.severalShapes ? "\(group.vcpus) vCPU · \(group.memoryMiB) MiB" : nil,
                                      bars: chartModes.compactMap { mode in
                        bar(view, group: group, mode: mode, metric: metric)
                    })
                }
                // A lone metric, or many bars, gets the whole width.
                let wide = metrics.count == 1 || groups.count * chartModes.count > 12
                out.append(#"<figure class="chart-card\#(wide ? " wide" : "")"><figcaption><strong>\#(h(metric.name))</strong> <span class="muted">\#(h(metric.unit)), \#(ReportFormat.direction(metric.better)) · bar: median, whisker: 95% CI</span></figcaption>"#)
                out.append(SVGChart.bars(groups: barGroups, modes: chartModes, notMeasured: notMeasured, unit: metric.unit,
                                         width: wide ? 1080 : 560))
                out.append("</figure>")
            }
            out.append("</div>")
            out.append(resultsTable(view, metrics: metrics))
        }
        out.append("</section>")
        return out.joined(separator: "\n")
    }

    static func bar(_ view: SummaryView, group: SummaryView.Group, mode: String, metric: SummaryView.Metric) -> SVGChart.Bar? {
        let label = "\(view.groupLabel(group)) \(mode)"
        switch view.slot(group, mode: mode, metric: metric.key) {
        case .measured(let statistics):
            let half = statistics.meanCI?.halfWidth
            var tooltip = "\(label): median \(ReportFormat.medianWithCI(statistics)) \(metric.unit), n=\(statistics.n)"
            if let overhead = view.overhead(group, mode: mode, metric: metric.key) {
                tooltip += "; overhead \(ReportFormat.percent(overhead.overheadPercent)) vs none"
            }
            return SVGChart.Bar(mode: mode, state: .measured, value: statistics.median, low: half.map { statistics.median - $0 },
                                high: half.map { statistics.median + $0 }, tooltip: tooltip)
        case .skipped(let skipped):
            return SVGChart.Bar(mode: mode, state: .skipped, tooltip: "\(label): not measured: \(skipped.reason)")
        case .noData:
            return SVGChart.Bar(mode: mode, state: .noData, tooltip: "\(label): no ok run")
        case .notPlanned:
            return nil
        }
    }

    static func resultsTable(_ view: SummaryView, metrics: [SummaryView.Metric]) -> String {
        let h = ReportFormat.html
        let overheadModes = view.modes.filter { mode in metrics.contains { view.overheadModes(metric: $0.key).contains(mode) } }
        let (modes, notMeasured) = view.tableModes(metrics)
        var out = [#"<table class="data"><thead><tr><th>metric</th><th>guest</th>"#
            + modes.map { #"<th class="num"><span class="dot" style="background:\#(SVGChart.modeColor($0))"></span>\#(h($0))</th>"# }.joined()
            + overheadModes.map { #"<th class="num">\#(h($0)) vs none</th>"# }.joined() + "</tr></thead><tbody>"]
        for metric in metrics {
            for group in view.groups(for: metric.key) {
                var row = "<tr><td>\(h(metric.name)) <span class=\"muted\">\(h(metric.unit))</span></td><td>\(h(view.groupLabel(group)))</td>"
                for mode in modes {
                    switch view.slot(group, mode: mode, metric: metric.key) {
                    case .measured(let statistics):
                        row += #"<td class="num">\#(h(ReportFormat.medianWithCI(statistics)))<span class="n">n=\#(statistics.n)</span></td>"#
                    case .skipped(let skipped): row += #"<td class="num muted" title="\#(h(skipped.reason))">not measured</td>"#
                    case .noData: row += #"<td class="num muted">no data</td>"#
                    case .notPlanned: row += #"<td class="num muted">–</td>"#
                    }
                }
                for mode in overheadModes {
                    if let overhead = view.overhead(group, mode: mode, metric: metric.key) {
                        let tone = overhead.overheadPercent > 0 ? "worse" : "better"
                        row += #"<td class="num \#(tone)">\#(h(ReportFormat.percent(overhead.overheadPercent)))<span class="n">\#(h(ReportFormat.percentInterval(overhead.overheadCI)))</span></td>"#
                    } else {
                        row += #"<td class="num muted">–</td>"#
                    }
                }
                out.append(row + "</tr>")
            }
        }
        out.append("</tbody></table>")
        if !notMeasured.isEmpty {
            out.append(##"<p class="note">Not measured on this host: \##(notMeasured.map { "<strong>\(h($0))</strong>" }.joined(separator: ", ")) (see <a href="#not-measured">Not measured</a>).</p>"##)
        }
        return out.joined()
    }

    static func guestRatiosSection(_ summary: BenchSummary) -> String {
        guard !summary.guestRatios.isEmpty else { return "" }
        let h = ReportFormat.html
        var out = [#"<section id="ratios"><h2>Unikernel vs Linux</h2><p class="note">Ratio of medians (first guest / second guest) for the same mode, shape and metric, with a 95% bootstrap interval.</p><table class="data"><thead><tr><th>metric</th><th>mode</th><th>shape</th><th>guests</th><th class="num">medians</th><th class="num">ratio</th><th>better</th></tr></thead><tbody>"#]
        for ratio in summary.guestRatios {
            let better = ReportFormat.betterGuest(ratio)
            out.append("<tr><td>\(h(ratio.metric)) <span class=\"muted\">\(h(ratio.unit))</span></td><td>\(h(ratio.mode))</td>"
                + "<td>\(ratio.vcpus) vCPU, \(ratio.memoryMiB) MiB</td><td>\(h(ratio.numeratorGuest)) / \(h(ratio.denominatorGuest))</td>"
                + "<td class=\"num\">\(h(ReportFormat.number(ratio.numeratorMedian))) / \(h(ReportFormat.number(ratio.denominatorMedian)))</td>"
                + "<td class=\"num\">\(h(ReportFormat.ratio(ratio.ratio)))<span class=\"n\">\(h(ReportFormat.ratioInterval(ratio.ratioCI)))</span></td>"
                + "<td>\(h(better))</td></tr>")
        }
        return out.joined() + "</tbody></table></section>"
    }

    static func timelineSection(_ view: SummaryView) -> String {
        // The modes of one guest and shape next to each other, so their bars compare at a glance.
        let guests = view.timelineCells.map(\.cell.guest).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        let cells = view.timelineCells.sorted { a, b in
            ((guests.firstIndex(of: a.cell.guest) ?? 0), a.cell.vcpus, a.cell.memoryMiB, BenchCell.modeOrder(a.cell.mode))
                < ((guests.firstIndex(of: b.cell.guest) ?? 0), b.cell.vcpus, b.cell.memoryMiB, BenchCell.modeOrder(b.cell.mode))
        }
        guard !cells.isEmpty else { return "" }
        let h = ReportFormat.html
        let events = view.timelineEvents
        let rows = cells.map { cell in
            SVGChart.TimelineRow(label: view.severalShapes ? "\(cell.cell.guest) \(cell.cell.vcpus)v \(cell.cell.memoryMiB)M" : cell.cell.guest,
                                 mode: cell.cell.mode, points: cell.timeline)
        }
        var out = [#"<section id="timeline"><h2>Boot timeline</h2><p class="note">Median time since QEMU was spawned at which each event was seen (host clock, guest console markers, QMP events); each segment is the difference between consecutive medians and is coloured by the event that ends it.</p>"#,
                   #"<figure class="chart-card wide">"# + SVGChart.timeline(rows: rows, events: events) + "</figure>",
                   #"<table class="data"><thead><tr><th>guest</th><th>mode</th>"# + events.map { #"<th class="num">\#(h($0))</th>"# }.joined() + "</tr></thead><tbody>"]
        for cell in cells {
            out.append("<tr><td>\(h(view.groupLabel(SummaryView.Group(cell.cell))))</td><td>\(h(cell.cell.mode))</td>" + events.map { event in
                cell.timeline.first { $0.event == event }.map { #"<td class="num">\#(ReportFormat.number($0.medianSeconds, decimals: 3)) s</td>"# }
                    ?? #"<td class="num muted">–</td>"#
            }.joined() + "</tr>")
        }
        return out.joined(separator: "\n") + "</tbody></table></section>"
    }

    static func skippedSection(_ summary: BenchSummary) -> String {
        guard !summary.skipped.isEmpty else { return "" }
        let h = ReportFormat.html
        // One row per mode and reason, naming the guests it covers; expected measurements per guest.
        var groups: [(mode: String, reason: String, cells: [SkippedCell])] = []
        for skipped in summary.skipped {
            if let index = groups.firstIndex(where: { $0.mode == skipped.cell.mode && $0.reason == skipped.reason }) {
                groups[index].cells.append(skipped)
            } else {
                groups.append((skipped.cell.mode, skipped.reason, [skipped]))
            }
        }
        var out = [#"<section id="not-measured"><h2>Not measured</h2><p class="note">Cells of the matrix this host cannot run, with the host check's reason and, where it can be computed, the launch measurement the guest would have.</p><table class="data"><thead><tr><th>mode</th><th>guests</th><th>reason</th><th>expected measurement</th></tr></thead><tbody>"#]
        for group in groups {
            let guests = group.cells.map { "<div>\(h($0.cell.guest)) <span class=\"muted\">\(h(ReportFormat.shape($0.cell)))</span></div>" }.joined()
            // Guests with the same expected measurement (e.g. firmware-only) share one line.
            var measured: [(measurement: String, note: String?, guests: [String])] = []
            for skipped in group.cells {
                guard let measurement = skipped.expectedMeasurement else { continue }
                if let index = measured.firstIndex(where: { $0.measurement == measurement && $0.note == skipped.measurementNote }) {
                    measured[index].guests.append(skipped.cell.guest)
                } else {
                    measured.append((measurement, skipped.measurementNote, [skipped.cell.guest]))
                }
            }
            let measurements = measured.map { item in
                "<div><span class=\"muted\">\(h(item.guests.joined(separator: ", "))):</span> <code class=\"digest\">\(h(item.measurement))</code>"
                    + (item.note.map { " <span class=\"muted\">(\(h($0)))</span>" } ?? "") + "</div>"
            }.joined()
            out.append(#"<tr><td class="nowrap"><span class="dot" style="background:\#(SVGChart.modeColor(group.mode))"></span><strong>\#(h(group.mode))</strong></td><td class="nowrap">\#(guests)</td><td>\#(h(group.reason))</td><td>\#(measurements.isEmpty ? #"<span class="muted">–</span>"# : measurements)</td></tr>"#)
        }
        return out.joined() + "</tbody></table></section>"
    }

    static func failuresSection(_ summary: BenchSummary) -> String {
        let failures = summary.cells.flatMap(\.failures)
        guard !failures.isEmpty else { return "" }
        let h = ReportFormat.html
        return #"<section id="failures"><h2>Runs that failed</h2><table class="data"><thead><tr><th>run</th><th>outcome</th><th>reason</th></tr></thead><tbody>"#
            + failures.map { "<tr><td><code>\(h($0.runID))</code></td><td class=\"worse\">\(h($0.outcome.rawValue))</td><td>\(h($0.failure ?? ""))</td></tr>" }.joined()
            + "</tbody></table></section>"
    }

    static func matrixSection(_ view: SummaryView) -> String {
        let h = ReportFormat.html
        let summary = view.summary
        var out = [#"<section id="matrix"><h2>Matrix</h2><p class="note">\#(h(view.matrixLine)).</p><div class="two">"#,
                   #"<table class="data"><thead><tr><th>guest</th><th>kind</th><th>boot</th><th>digests (SHA-256)</th></tr></thead><tbody>"#]
        for guest in summary.plan.guests {
            let digests = guest.digests.sorted { $0.key < $1.key }
                .map { #"<div><span class="muted">\#(h($0.key))</span> <code class="digest">\#(h($0.value))</code></div>"# }.joined()
            out.append("<tr><td>\(h(guest.name))</td><td>\(h(guest.kind))</td><td>\(h(guest.bootProtocol))</td><td>\(digests)</td></tr>")
        }
        out.append(#"</tbody></table><table class="data"><thead><tr><th>mode</th><th>host check</th><th class="num">measured</th><th class="num">skipped</th></tr></thead><tbody>"#)
        for mode in view.modes {
            let measured = summary.cells.filter { $0.cell.mode == mode && $0.measured }.count
            let skipped = summary.skipped.filter { $0.cell.mode == mode }.count
            out.append(#"<tr><td class="nowrap"><span class="dot" style="background:\#(SVGChart.modeColor(mode))"></span>\#(h(mode))</td><td>\#(h(summary.environment.modeVerdicts[mode] ?? ""))</td><td class="num">\#(measured)</td><td class="num">\#(skipped)</td></tr>"#)
        }
        out.append("</tbody></table></div>")
        let rows = view.bootRows
        if !rows.isEmpty {
            out.append(#"<table class="data"><thead><tr><th>boot path</th>"# + view.modes.map { "<th>\(h($0))</th>" }.joined() + "</tr></thead><tbody>")
            for row in rows {
                out.append("<tr><td>\(h(row.label))</td>" + row.paths.map { "<td><code>\(h($0 ?? "–"))</code></td>" }.joined() + "</tr>")
            }
            out.append("</tbody></table>")
            out += view.mixedBootWarnings.map { #"<p class="note worse">Boot differs across modes: \#(h($0))</p>"# }
        }
        out.append("</section>")
        return out.joined()
    }

    static let style = """
    :root{--ink:#1d2733;--muted:#6b7785;--line:#e3e8ee;--bg:#f6f8fa;--card:#fff;--bad:#b42318;--warn:#b54708;--good:#027a48}
    *{box-sizing:border-box}
    body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
    main{max-width:1180px;margin:0 auto;padding:28px 28px 40px}
    header h1{margin:0;font-size:26px;letter-spacing:-.01em}
    .sub{margin:4px 0 18px;color:var(--muted)}
    h2{font-size:19px;margin:0 0 10px}
    h3{font-size:16px;margin:22px 0 10px}
    section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:18px 20px;margin:16px 0}
    .banner{background:#fff4e5;border:1px solid #f5c07a;border-left:6px solid #e8890c;color:#7a3e00;border-radius:8px;padding:12px 16px;margin:0 0 16px}
    .cards{display:grid;grid-template-columns:repeat(6,1fr);gap:12px;background:none;border:0;padding:0}
    .card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 14px}
    .card .big{font-size:22px;font-weight:650;font-variant-numeric:tabular-nums}
    .card .label{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
    .card.bad .big{color:var(--bad)} .card.warn .big{color:var(--warn)} .card.good .big{color:var(--good)}
    .note{color:var(--muted);margin:0 0 12px;max-width:900px}
    .muted{color:var(--muted);font-weight:normal}
    .charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(500px,1fr));gap:14px;margin-bottom:12px}
    .charts .wide{grid-column:1/-1}
    figure{margin:0}
    .chart-card{border:1px solid var(--line);border-radius:8px;padding:10px 10px 4px;background:#fff}
    .chart-card figcaption{font-size:13px;margin:0 0 2px 4px}
    .chart{width:100%;height:auto;display:block;font-family:inherit}
    .chart .grid{stroke:#edf0f3;stroke-width:1}
    .chart .axis{stroke:#9aa5b1;stroke-width:1}
    .chart .tick{font-size:11px;fill:#6b7785}
    .chart .unit{font-size:11px;fill:#6b7785}
    .chart .legend{font-size:12px;fill:#1d2733}
    .chart .legend.muted{fill:#8a95a3;font-size:11px}
    .chart .value{font-size:11px;fill:#1d2733;font-variant-numeric:tabular-nums}
    .chart .group{font-size:12px;fill:#1d2733;font-weight:600}
    .chart .row-label{font-size:12px;fill:#1d2733}
    .chart .whisker{stroke:#1d2733;stroke-width:1.4;fill:none}
    .chart .placeholder{fill:#fafbfc;stroke:#b8c1cc;stroke-dasharray:4 3}
    .chart .placeholder-text{font-size:11px;fill:#8a95a3}
    .chart .phase{stroke:#fff;stroke-width:1}
    table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
    th,td{padding:6px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
    thead th{font-size:12px;color:var(--muted);font-weight:600;text-transform:uppercase;letter-spacing:.03em;border-bottom:2px solid var(--line)}
    tbody tr:nth-child(even){background:#fafbfc}
    .num{text-align:right;white-space:nowrap}
    .nowrap{white-space:nowrap}
    .n{display:block;font-size:11px;color:var(--muted)}
    .worse{color:var(--bad)} .better{color:var(--good)}
    .env{display:grid;grid-template-columns:110px 1fr 110px 1fr;gap:6px 14px;margin:0}
    .env dt{color:var(--muted);font-weight:600}
    .env dd{margin:0;word-break:break-word}
    .env dt.full{grid-column:1}
    .env dd.full{grid-column:2/-1}
    code{font:12px/1.4 ui-monospace,"DejaVu Sans Mono",monospace;background:#f1f3f5;border-radius:4px;padding:1px 4px}
    .digest{word-break:break-all}
    .dot{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px;vertical-align:-1px}
    .two{display:grid;grid-template-columns:1fr;gap:16px}
    .empty{color:var(--muted)}
    table.data + .note{margin-top:8px}
    a{color:#1f5fa8}
    footer{color:var(--muted);font-size:12px;margin-top:18px}
    @media (max-width:800px){.env{grid-template-columns:110px 1fr}.env dd.full{grid-column:2}.cards{grid-template-columns:repeat(2,1fr)}.two{grid-template-columns:1fr}.charts{grid-template-columns:1fr}}
    """
}
