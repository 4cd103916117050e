import Foundation

/// Computes a BenchSummary from the inputs of a result directory. Pure: no I/O, deterministic
/// (the bootstrap is seeded), so the same run log always gives the same summary apart from `generatedAt`.
public struct SummaryBuilder {
    public var confidenceLevel = 0.95
    public static let baselineMode = "none"

    public init() {}

    public func summarize(_ directory: ResultDirectory, generatedAt: Date = Date()) -> BenchSummary {
        let samples = Samples(directory.records)
        let order = ReportOrder(plan: directory.plan, samples: samples)
        var totals = BenchRunCounts()
        var cells: [BenchCellSummary] = []
        for cell in order.cells {
            let cellSamples = samples.cells[cell]
            let runs = cellSamples?.counts ?? BenchRunCounts()
            totals.add(runs)
            let metrics = order.metrics.compactMap { key -> BenchMetricSummary? in
                guard let values = cellSamples?.metrics[key], let info = samples.metricInfo[key],
                      let statistics = SampleStatistics(values, confidenceLevel: confidenceLevel) else { return nil }
                return BenchMetricSummary(key: key, workload: info.workload, name: info.name, unit: info.unit,
                                          better: info.better, statistics: statistics)
            }
            cells.append(BenchCellSummary(cell: cell, key: cell.key, measured: runs.ok > 0, runs: runs, metrics: metrics,
                                          timeline: timeline(cellSamples?.timeline ?? [:]), failures: cellSamples?.failures ?? []))
        }
        let environment = directory.environment
        return BenchSummary(
            schema: BenchSchema.summary,
            generatedAt: ISO8601DateFormatter().string(from: generatedAt),
            emulated: environment.emulated,
            emulationLabel: environment.emulated ? BenchSummary.emulationText : nil,
            environment: environment,
            plan: directory.plan,
            method: .standard(level: confidenceLevel),
            runs: totals,
            cells: cells,
            overheads: overheads(order: order, samples: samples),
            guestRatios: guestRatios(plan: directory.plan, order: order, samples: samples),
            skipped: directory.plan.skipped,
            warnings: directory.warnings)
    }

    /// Median time of each event, sorted by it; each phase is the difference of consecutive medians.
    func timeline(_ events: [String: [Double]]) -> [BenchTimelinePoint] {
        let medians = events.compactMap { name, values -> (String, Int, Double)? in
            guard let statistics = SampleStatistics(values) else { return nil }
            return (name, values.count, statistics.median)
        }.sorted { a, b in
            a.2 != b.2 ? a.2 < b.2 : (ReportOrder.eventRank(a.0), a.0) < (ReportOrder.eventRank(b.0), b.0)
        }
        var points: [BenchTimelinePoint] = []
        for (index, (name, count, median)) in medians.enumerated() {
            let previous = index > 0 ? medians[index - 1] : nil
            points.append(BenchTimelinePoint(event: name, n: count, medianSeconds: median,
                                             phaseSeconds: median - (previous?.2 ?? 0), after: previous?.0))
        }
        return points
    }

    func overheads(order: ReportOrder, samples: Samples) -> [BenchOverhead] {
        var result: [BenchOverhead] = []
        for cell in order.cells where cell.mode != Self.baselineMode {
            var baselineCell = cell
            baselineCell.mode = Self.baselineMode
            guard let measured = samples.cells[cell], let baseline = samples.cells[baselineCell] else { continue }
            for key in order.metrics {
                guard let values = measured.metrics[key], let baseValues = baseline.metrics[key], let info = samples.metricInfo[key],
                      let comparison = RatioOfMedians(numerator: values, denominator: baseValues, level: confidenceLevel,
                                                      key: "\(cell.key)|\(key)") else { continue }
                let sign = info.better == .lowerIsBetter ? 1.0 : -1.0
                let overheadCI = comparison.ci.map { ci in
                    sign > 0 ? ConfidenceInterval(low: (ci.low - 1) * 100, high: (ci.high - 1) * 100)
                        : ConfidenceInterval(low: (1 - ci.high) * 100, high: (1 - ci.low) * 100)
                }
                result.append(BenchOverhead(
                    cell: cell, baselineMode: Self.baselineMode, metric: key, workload: info.workload, name: info.name,
                    unit: info.unit, better: info.better, baselineMedian: comparison.denominatorMedian,
                    median: comparison.numeratorMedian, ratio: comparison.ratio, ratioCI: comparison.ci,
                    overheadPercent: sign * (comparison.ratio - 1) * 100, overheadCI: overheadCI))
            }
        }
        return result
    }

    /// Every unikernel-kind guest against every Linux-kind guest (by the plan's guest kinds, or by the
    /// names "unikernel" and "linux" for guests the plan does not list).
    func guestRatios(plan: BenchPlan, order: ReportOrder, samples: Samples) -> [BenchGuestRatio] {
        func kind(_ guest: String) -> String { plan.guests.first { $0.name == guest }?.kind ?? guest }
        var result: [BenchGuestRatio] = []
        for cell in order.cells where kind(cell.guest) == "unikernel" {
            for other in order.cells where kind(other.guest) == "linux" && other.mode == cell.mode
                && other.vcpus == cell.vcpus && other.memoryMiB == cell.memoryMiB {
                guard let top = samples.cells[cell], let bottom = samples.cells[other] else { continue }
                for key in order.metrics {
                    guard let values = top.metrics[key], let baseValues = bottom.metrics[key], let info = samples.metricInfo[key],
                          let comparison = RatioOfMedians(numerator: values, denominator: baseValues, level: confidenceLevel,
                                                          key: "\(cell.key)|\(other.key)|\(key)") else { continue }
                    let better: Bool? = comparison.ratio == 1 ? nil
                        : (info.better == .lowerIsBetter) == (comparison.ratio < 1)
                    result.append(BenchGuestRatio(
                        numeratorGuest: cell.guestAndBoot, denominatorGuest: other.guest, mode: cell.mode, vcpus: cell.vcpus,
                        memoryMiB: cell.memoryMiB, metric: key, workload: info.workload, name: info.name, unit: info.unit,
                        better: info.better, numeratorMedian: comparison.numeratorMedian,
                        denominatorMedian: comparison.denominatorMedian, ratio: comparison.ratio, ratioCI: comparison.ci,
                        numeratorBetter: better))
                }
            }
        }
        return result
    }
}

/// The ratio of two samples' medians with its bootstrap interval; nil when the denominator's median is 0.
struct RatioOfMedians {
    var numeratorMedian: Double
    var denominatorMedian: Double
    var ratio: Double
    var ci: ConfidenceInterval?

    init?(numerator: [Double], denominator: [Double], level: Double, key: String) {
        guard !numerator.isEmpty, !denominator.isEmpty else { return nil }
        numeratorMedian = SampleStatistics.median(sorted: numerator.sorted())
        denominatorMedian = SampleStatistics.median(sorted: denominator.sorted())
        guard denominatorMedian != 0 else { return nil }
        ratio = numeratorMedian / denominatorMedian
        ci = RatioBootstrap.ratioOfMediansCI(numerator: numerator, denominator: denominator, level: level, key: key)
    }
}

/// Run records sorted into per-cell samples: what the statistics are computed from.
struct Samples {
    struct Cell {
        var counts = BenchRunCounts()
        var metrics: [String: [Double]] = [:]
        var timeline: [String: [Double]] = [:]
        var failures: [BenchFailure] = []
        var bootOnlyTimeline: [String: [Double]] = [:]
    }

    struct MetricInfo {
        var workload: String
        var name: String
        var unit: String
        var better: MetricDirection
    }

    var cells: [BenchCell: Cell] = [:]
    var metricInfo: [String: MetricInfo] = [:]
    /// Metric keys and workloads in order of first appearance.
    var metricOrder: [String] = []

    init(_ records: [BenchRunRecord]) {
        for record in records {
            var cell = cells[record.cell] ?? Cell()
            cell.counts.count(record)
            if record.outcome != .ok {
                cell.failures.append(BenchFailure(runID: record.runID, outcome: record.outcome, failure: record.failure))
            } else if !record.warmup {
                for metric in record.metrics where metric.value.isFinite {
                    if metricInfo[metric.key] == nil {
                        metricInfo[metric.key] = MetricInfo(workload: metric.workload, name: metric.name,
                                                            unit: metric.unit, better: metric.better)
                        metricOrder.append(metric.key)
                    }
                    cell.metrics[metric.key, default: []].append(metric.value)
                }
                // Boots that ran only the boot workload give the cleanest timeline; keep them apart.
                let bootOnly = record.workloads.allSatisfy { $0 == "boot" }
                for event in record.timeline where event.seconds.isFinite {
                    cell.timeline[event.name, default: []].append(event.seconds)
                    if bootOnly { cell.bootOnlyTimeline[event.name, default: []].append(event.seconds) }
                }
            }
            cells[record.cell] = cell
        }
        for (key, cell) in cells where !cell.bootOnlyTimeline.isEmpty {
            cells[key]?.timeline = cell.bootOnlyTimeline
        }
    }
}

/// The order of cells, workloads and metrics in every output: the plan's guest order, then mode
/// (none, sev, sev-es, sev-snp), vCPUs, memory; workloads in the plan's order, metrics as first seen.
struct ReportOrder {
    var cells: [BenchCell]
    var metrics: [String]

    static let events = ["qemu-start", "launch-start", "launch-finish", "firmware", "kernel-entry", "ready", "workload-done", "exit"]

    static func eventRank(_ name: String) -> Int { events.firstIndex(of: name) ?? events.count }

    init(plan: BenchPlan, samples: Samples) {
        let guestRank = Dictionary(plan.guests.map(\.name).enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        var all = Set(plan.cells)
        all.formUnion(samples.cells.keys)
        cells = all.sorted { a, b in
            let rankA = guestRank[a.guest] ?? Int.max
            let rankB = guestRank[b.guest] ?? Int.max
            if rankA != rankB { return rankA < rankB }
            if a.guest != b.guest { return a.guest < b.guest }
            return a < b
        }
        var workloads = plan.workloads
        for key in samples.metricOrder {
            if let workload = samples.metricInfo[key]?.workload, !workloads.contains(workload) { workloads.append(workload) }
        }
        metrics = workloads.flatMap { workload in
            samples.metricOrder.filter { samples.metricInfo[$0]?.workload == workload }
        }
    }
}
