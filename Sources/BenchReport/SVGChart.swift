import Foundation

/// Hand-written SVG for the HTML report: grouped bars with error bars, and stacked horizontal boot
/// timelines. Every text from the input goes through ReportFormat.html; sizes are in viewBox units and
/// the charts scale to their container.
enum SVGChart {
    /// One bar slot: a mode's value in a group, or why there is none.
    struct Bar {
        enum State { case measured, skipped, noData }
        var mode: String
        var state: State
        var value = 0.0
        var low: Double?
        var high: Double?
        var tooltip: String
    }

    struct BarGroup {
        var label: String
        /// A second, smaller line under the label (the VM shape when the matrix has several).
        var sublabel: String?
        var bars: [Bar]
    }

    static func modeColor(_ mode: String) -> String {
        switch mode {
        case "none": "#5b7083"
        case "sev": "#e9a23b"
        case "sev-es": "#d9534f"
        case "sev-snp": "#2a9d8f"
        default: ["#7b6d9e", "#8c6d4f", "#4f7f8c"][Int(RatioBootstrap.fnv1a(mode) % 3)]
        }
    }

    static func eventColor(_ event: String) -> String {
        let palette = ["launch-start": "#c9b27c", "launch-finish": "#e07a5f", "firmware": "#81a4cd", "kernel-entry": "#3d5a80",
                       "ready": "#2a9d8f", "workload-done": "#e9c46a", "exit": "#9aa5b1"]
        return palette[event] ?? ["#b56576", "#6d597a", "#588157", "#bc6c25"][Int(RatioBootstrap.fnv1a(event) % 4)]
    }

    /// Grouped vertical bars: one group per guest (and shape), one bar per mode, the bar at the median
    /// and the whisker over `low`…`high`. `notMeasured` modes appear in the legend only, marked as such.
    static func bars(groups: [BarGroup], modes: [String], notMeasured: [String], unit: String, width: Double = 560) -> String {
        let h = ReportFormat.html
        let height = 290.0
        let left = 62.0, right = 14.0, top = 34.0, bottom = groups.contains { $0.sublabel != nil } ? 52.0 : 40.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let measured = groups.flatMap(\.bars).filter { $0.state == .measured }
        let highest = measured.map { Swift.max($0.value, $0.high ?? $0.value) }.max() ?? 1
        let lowest = Swift.min(0, measured.map { Swift.min($0.value, $0.low ?? $0.value) }.min() ?? 0)
        // 8% headroom keeps the value labels above the tallest whisker inside the plot.
        let axis = NiceAxis(low: lowest, high: highest > lowest ? highest * 1.08 : lowest + 1)
        func y(_ value: Double) -> Double { top + plotHeight * (1 - (value - axis.low) / (axis.high - axis.low)) }

        var svg = [#"<svg class="chart" viewBox="0 0 \#(f(width)) \#(f(height))" role="img" xmlns="http://www.w3.org/2000/svg">"#]
        for tick in axis.ticks {
            svg.append(#"<line class="grid" x1="\#(f(left))" x2="\#(f(width - right))" y1="\#(f(y(tick)))" y2="\#(f(y(tick)))"/>"#)
            svg.append(#"<text class="tick" x="\#(f(left - 6))" y="\#(f(y(tick) + 4))" text-anchor="end">\#(h(axis.label(tick)))</text>"#)
        }
        svg.append(#"<text class="unit" x="14" y="\#(f(top + plotHeight / 2))" transform="rotate(-90 14 \#(f(top + plotHeight / 2)))" text-anchor="middle">\#(h(unit))</text>"#)
        var legendX = left
        for mode in modes {
            svg.append(#"<rect x="\#(f(legendX))" y="10" width="12" height="12" rx="2" fill="\#(modeColor(mode))"/>"#)
            svg.append(#"<text class="legend" x="\#(f(legendX + 16))" y="20">\#(h(mode))</text>"#)
            legendX += 30 + Double(mode.count) * 6.8
        }
        for mode in notMeasured {
            svg.append(#"<rect class="placeholder" x="\#(f(legendX + 0.5))" y="10.5" width="11" height="11" rx="2"/>"#)
            svg.append(#"<text class="legend muted" x="\#(f(legendX + 16))" y="20">\#(h(mode)) not measured</text>"#)
            legendX += 30 + Double(mode.count + 13) * 6.2
        }

        let groupWidth = plotWidth / Double(Swift.max(groups.count, 1))
        let slots = Double(Swift.max(modes.count, 1))
        let barWidth = Swift.min(56, groupWidth * 0.72 / slots)
        // Narrow bars get no value label (it would collide with its neighbours); the tooltip keeps it.
        let labelled = barWidth >= 30
        for (index, group) in groups.enumerated() {
            let center = left + groupWidth * (Double(index) + 0.5)
            let start = center - barWidth * slots / 2
            for bar in group.bars {
                guard let slot = modes.firstIndex(of: bar.mode) else { continue }
                let x = start + barWidth * Double(slot) + 2
                let w = barWidth - 4
                let middle = x + w / 2
                let yZero = y(Swift.max(axis.low, 0))
                switch bar.state {
                case .measured:
                    let yValue = y(bar.value)
                    svg.append(#"<rect class="bar" data-mode="\#(h(bar.mode))" x="\#(f(x))" y="\#(f(Swift.min(yValue, yZero)))" width="\#(f(w))" height="\#(f(Swift.max(abs(yZero - yValue), 0.5)))" rx="2" fill="\#(modeColor(bar.mode))"><title>\#(h(bar.tooltip))</title></rect>"#)
                    var labelY = yValue - 5
                    if let low = bar.low, let high = bar.high {
                        let cap = Swift.min(7, w / 3)
                        svg.append(#"<path class="whisker" d="M\#(f(middle)) \#(f(y(low)))V\#(f(y(high)))M\#(f(middle - cap)) \#(f(y(low)))H\#(f(middle + cap))M\#(f(middle - cap)) \#(f(y(high)))H\#(f(middle + cap))"/>"#)
                        labelY = Swift.min(labelY, y(high) - 5)
                    }
                    if labelled {
                        svg.append(#"<text class="value" x="\#(f(middle))" y="\#(f(Swift.max(labelY, top - 2)))" text-anchor="middle">\#(h(ReportFormat.number(bar.value, decimals: ReportFormat.decimals(for: bar.value, significant: 3))))</text>"#)
                    }
                case .skipped, .noData:
                    svg.append(#"<rect class="placeholder" x="\#(f(x))" y="\#(f(yZero - 60))" width="\#(f(w))" height="60" rx="2"><title>\#(h(bar.tooltip))</title></rect>"#)
                    svg.append(#"<text class="placeholder-text" x="\#(f(middle))" y="\#(f(yZero - 66))" text-anchor="middle">\#(bar.state == .skipped ? "n/m" : "no data")</text>"#)
                }
            }
            svg.append(#"<text class="group" x="\#(f(center))" y="\#(f(height - bottom + 18))" text-anchor="middle">\#(h(truncate(group.label, to: Int(groupWidth / 7.2))))<title>\#(h(group.label))</title></text>"#)
            if let sublabel = group.sublabel {
                svg.append(#"<text class="tick" x="\#(f(center))" y="\#(f(height - bottom + 33))" text-anchor="middle">\#(h(truncate(sublabel, to: Int(groupWidth / 6))))</text>"#)
            }
        }
        svg.append(#"<line class="axis" x1="\#(f(left))" x2="\#(f(width - right))" y1="\#(f(y(Swift.max(axis.low, 0))))" y2="\#(f(y(Swift.max(axis.low, 0))))"/>"#)
        svg.append("</svg>")
        return svg.joined(separator: "\n")
    }

    struct TimelineRow {
        var label: String
        var mode: String
        var points: [BenchTimelinePoint]
    }

    /// Stacked horizontal bars: one row per guest × mode, one segment per phase (colour of the event
    /// that ends it), the row's length the median time of its last event.
    static func timeline(rows: [TimelineRow], events: [String]) -> String {
        let h = ReportFormat.html
        let labelWidth = 210.0, right = 70.0, top = 44.0, rowHeight = 30.0, bottom = 34.0
        let width = 1000.0
        let height = top + rowHeight * Double(rows.count) + bottom
        let plotWidth = width - labelWidth - right
        let longest = rows.compactMap { $0.points.last?.medianSeconds }.max() ?? 1
        let axis = NiceAxis(low: 0, high: longest > 0 ? longest : 1)
        func x(_ seconds: Double) -> Double { labelWidth + plotWidth * (seconds - axis.low) / (axis.high - axis.low) }

        var svg = [#"<svg class="chart timeline" viewBox="0 0 \#(f(width)) \#(f(height))" role="img" xmlns="http://www.w3.org/2000/svg">"#]
        var legendX = labelWidth
        for event in events where event != "qemu-start" {
            svg.append(#"<rect x="\#(f(legendX))" y="12" width="12" height="12" rx="2" fill="\#(eventColor(event))"/>"#)
            svg.append(#"<text class="legend" x="\#(f(legendX + 16))" y="22">\#(h(event))</text>"#)
            legendX += 30 + Double(event.count) * 6.6
        }
        svg.append(#"<text class="legend muted" x="12" y="22">segment ends at</text>"#)
        for tick in axis.ticks {
            svg.append(#"<line class="grid" x1="\#(f(x(tick)))" x2="\#(f(x(tick)))" y1="\#(f(top - 6))" y2="\#(f(height - bottom))"/>"#)
            svg.append(#"<text class="tick" x="\#(f(x(tick)))" y="\#(f(height - bottom + 16))" text-anchor="middle">\#(h(axis.label(tick))) s</text>"#)
        }
        for (index, row) in rows.enumerated() {
            let rowTop = top + rowHeight * Double(index)
            let barY = rowTop + 5, barHeight = rowHeight - 10
            svg.append(#"<text class="row-label" x="\#(f(labelWidth - 10))" y="\#(f(rowTop + rowHeight / 2 + 4))" text-anchor="end">\#(h(truncate(row.label, to: 22))) <tspan fill="\#(modeColor(row.mode))" font-weight="600">\#(h(row.mode))</tspan><title>\#(h(row.label + " " + row.mode))</title></text>"#)
            for point in row.points where point.phaseSeconds > 0 {
                let start = point.medianSeconds - point.phaseSeconds
                let tooltip = "\(row.label) \(row.mode): \(point.after ?? "qemu-start") → \(point.event): \(ReportFormat.number(point.phaseSeconds)) s (ends at \(ReportFormat.number(point.medianSeconds)) s, n=\(point.n))"
                svg.append(#"<rect class="phase" data-event="\#(h(point.event))" x="\#(f(x(start)))" y="\#(f(barY))" width="\#(f(Swift.max(x(point.medianSeconds) - x(start), 0.5)))" height="\#(f(barHeight))" fill="\#(eventColor(point.event))"><title>\#(h(tooltip))</title></rect>"#)
            }
            if let last = row.points.last {
                svg.append(#"<text class="value" x="\#(f(x(last.medianSeconds) + 6))" y="\#(f(rowTop + rowHeight / 2 + 4))">\#(ReportFormat.number(last.medianSeconds, decimals: 3)) s</text>"#)
            }
        }
        svg.append(#"<line class="axis" x1="\#(f(labelWidth))" x2="\#(f(labelWidth))" y1="\#(f(top - 6))" y2="\#(f(height - bottom))"/>"#)
        svg.append("</svg>")
        return svg.joined(separator: "\n")
    }

    static func f(_ value: Double) -> String {
        let rounded = (value * 10).rounded() / 10
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
    }

    static func truncate(_ text: String, to length: Int) -> String {
        text.count <= Swift.max(length, 4) ? text : String(text.prefix(Swift.max(length, 4) - 1)) + "…"
    }
}

/// An axis from `low` to `high` with 1-2-5 ticks, widened to whole ticks.
struct NiceAxis {
    var low: Double
    var high: Double
    var step: Double

    init(low: Double, high: Double, targetTicks: Double = 5) {
        let span = Swift.max(high - low, Swift.max(abs(high), 1) * 1e-9)
        let raw = span / targetTicks
        let magnitude = pow(10, floor(log10(raw)))
        let fraction = raw / magnitude
        step = (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * magnitude
        self.low = floor(low / step) * step
        self.high = ceil(high / step) * step
    }

    var ticks: [Double] {
        let count = Int(((high - low) / step).rounded())
        return (0...Swift.max(count, 0)).map { low + Double($0) * step }
    }

    func label(_ tick: Double) -> String {
        let places = Swift.max(0, -Int(floor(log10(step))))
        return ReportFormat.number(abs(tick) < step / 1e6 ? 0 : tick, decimals: places)
    }
}
