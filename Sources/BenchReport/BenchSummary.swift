import Foundation

/// summary.json (schema `cvmkit.bench.summary/1`): everything the reports show, computed from
/// environment.json, plan.json and runs.jsonl. docs/EVALUATION.md documents every field.
/// Optional fields are absent (not null) when undefined, e.g. a confidence interval with n < 2.
public struct BenchSummary: Codable, Sendable {
    public var schema: String
    /// ISO 8601 time the summary was computed.
    public var generatedAt: String
    /// True when the accelerator was not KVM: every figure is from emulation.
    public var emulated: Bool
    /// "EMULATION (TCG): timings are not hardware figures" when emulated.
    public var emulationLabel: String?
    public var environment: BenchEnvironment
    public var plan: BenchPlan
    /// How the intervals were computed.
    public var method: BenchStatisticsMethod
    /// Totals over the whole run log.
    public var runs: BenchRunCounts
    /// Every planned or measured cell, in report order (plan's guest order, then mode, vCPUs, memory).
    public var cells: [BenchCellSummary]
    /// Each confidential mode against mode "none" of the same guest, vCPUs and memory.
    public var overheads: [BenchOverhead]
    /// Unikernel against Linux guest for the same mode, shape, workload and metric.
    public var guestRatios: [BenchGuestRatio]
    /// The plan's skipped cells (repeated here so a reader of the summary alone sees them).
    public var skipped: [SkippedCell]
    /// Things the reader of the run log should know (truncated last line, superseded records, ...).
    public var warnings: [String]

    public static let emulationText = "EMULATION (TCG): timings are not hardware figures"
}

public struct BenchStatisticsMethod: Codable, Sendable, Hashable {
    public var confidenceLevel: Double
    public var meanInterval: String
    public var medianInterval: String
    public var ratioInterval: String
    public var bootstrapResamples: Int
    public var bootstrapSeed: String
    public var samples: String

    public static func standard(level: Double) -> BenchStatisticsMethod {
        BenchStatisticsMethod(
            confidenceLevel: level,
            meanInterval: "Student t: mean ± t(1-α/2, n-1)·s/√n",
            medianInterval: "distribution-free order statistics x(k)..x(n-k+1), binomial(n, 1/2); needs n ≥ 6 at 95%",
            ratioInterval: "percentile bootstrap of the ratio of medians, both groups resampled independently; needs n ≥ \(RatioBootstrap.minimumSampleSize) per group",
            bootstrapResamples: RatioBootstrap.resamples,
            bootstrapSeed: String(RatioBootstrap.seed, radix: 16),
            samples: "non-warm-up runs with outcome ok; one value per run and metric")
    }
}

/// Run counts of a cell or of the whole log. Warm-ups are counted apart from the measured outcomes.
public struct BenchRunCounts: Codable, Sendable, Hashable {
    public var ok = 0
    public var failed = 0
    public var timedOut = 0
    public var launchFailed = 0
    public var warmups = 0

    public init() {}

    /// Measured runs that did not produce numbers.
    public var notOK: Int { failed + timedOut + launchFailed }

    mutating func count(_ record: BenchRunRecord) {
        if record.warmup {
            warmups += 1
            return
        }
        switch record.outcome {
        case .ok: ok += 1
        case .failed: failed += 1
        case .timedOut: timedOut += 1
        case .launchFailed: launchFailed += 1
        }
    }

    mutating func add(_ other: BenchRunCounts) {
        ok += other.ok
        failed += other.failed
        timedOut += other.timedOut
        launchFailed += other.launchFailed
        warmups += other.warmups
    }
}

public struct BenchCellSummary: Codable, Sendable {
    public var cell: BenchCell
    public var key: String
    /// False for a cell that is in the plan but has no ok run yet (interrupted, or every run failed).
    public var measured: Bool
    public var runs: BenchRunCounts
    public var metrics: [BenchMetricSummary]
    /// Median time of each boot timeline event, in time order.
    public var timeline: [BenchTimelinePoint]
    /// Runs that were not ok (warm-ups included: their run ID ends in /w<n>), with their one-line reason.
    public var failures: [BenchFailure]
}

public struct BenchMetricSummary: Codable, Sendable {
    /// "stream.triad"
    public var key: String
    public var workload: String
    public var name: String
    public var unit: String
    public var better: MetricDirection
    public var statistics: SampleStatistics
}

/// One event of the median boot timeline: its median time since QEMU was spawned and the phase that
/// ends with it (the difference to the previous event's median).
public struct BenchTimelinePoint: Codable, Sendable, Hashable {
    public var event: String
    /// Runs that reported the event.
    public var n: Int
    public var medianSeconds: Double
    public var phaseSeconds: Double
    /// The event the phase starts at (nil for the first event, whose phase starts at 0).
    public var after: String?
}

public struct BenchFailure: Codable, Sendable, Hashable {
    public var runID: String
    public var outcome: RunOutcome
    public var failure: String?
}

/// A confidential mode against the non-confidential baseline of the same guest and shape.
public struct BenchOverhead: Codable, Sendable {
    /// The confidential cell.
    public var cell: BenchCell
    public var baselineMode: String
    public var metric: String
    public var workload: String
    public var name: String
    public var unit: String
    public var better: MetricDirection
    public var baselineMedian: Double
    public var median: Double
    /// median / baselineMedian.
    public var ratio: Double
    public var ratioCI: ConfidenceInterval?
    /// Sign-aware relative difference of medians in percent: positive = worse than the baseline
    /// ((m − b)/b for lower-is-better metrics, (b − m)/b for higher-is-better ones).
    public var overheadPercent: Double
    public var overheadCI: ConfidenceInterval?
}

/// One guest against another (unikernel / Linux) in the same mode and shape.
public struct BenchGuestRatio: Codable, Sendable {
    public var numeratorGuest: String
    public var denominatorGuest: String
    public var mode: String
    public var vcpus: Int
    public var memoryMiB: Int
    public var metric: String
    public var workload: String
    public var name: String
    public var unit: String
    public var better: MetricDirection
    public var numeratorMedian: Double
    public var denominatorMedian: Double
    /// numeratorMedian / denominatorMedian.
    public var ratio: Double
    public var ratioCI: ConfidenceInterval?
    /// Whether the numerator guest is better on this metric; absent when the medians are equal.
    public var numeratorBetter: Bool?
}
