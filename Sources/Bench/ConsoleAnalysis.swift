import BenchReport
import Foundation
import GuestImage
import Launch

/// One `cvmuk KIND key=value …` line of the unikernel or cvm-workloads.
public struct GuestResultLine: Equatable, Sendable {
    public var kind: String
    public var fields: [String: String]

    public static let prefix = "cvmuk "

    public static func parse(_ line: String) -> GuestResultLine? {
        guard let start = line.range(of: prefix) else { return nil }
        let words = line[start.upperBound...].split(separator: " ", omittingEmptySubsequences: true)
        guard let kind = words.first, !kind.contains("=") else { return nil }
        var fields: [String: String] = [:]
        for word in words.dropFirst() {
            guard let equals = word.firstIndex(of: "=") else { continue }
            fields[String(word[..<equals])] = String(word[word.index(after: equals)...])
        }
        return GuestResultLine(kind: String(kind), fields: fields)
    }

    func number(_ key: String) -> Double? { fields[key].flatMap(Double.init) }
}

/// What one guest boot showed: its timeline on the host clock, the guest's own stage times, the
/// metrics of each workload, and the first sign of failure.
public struct RunAnalysis: Equatable, Sendable {
    public var timeline: [TimelineEvent] = []
    public var guestTimeline: [TimelineEvent] = []
    public var metrics: [BenchMetric] = []
    /// Why the run failed, when the console says so (error lines, failed self-checks, missing results).
    public var failure: String?

    /// - Parameters:
    ///   - console: the console lines with their host arrival times (seconds since QEMU was spawned).
    ///   - firmwareStart: when the vCPUs were released (QMP `cont`), seconds since spawn.
    ///   - exitSeconds: when QEMU was gone.
    ///   - workloads: the workloads the run asked for ("boot" adds the boot metrics).
    public static func analyze(console: [(time: Double, text: String)], firmwareStart: Double?, exitSeconds: Double?, workloads: [String]) -> RunAnalysis {
        var analysis = RunAnalysis()
        var kernelEntry: Double?
        var ready: Double?
        var readyFromInit = false
        var workloadDone: Double?
        var doneFromWorkloads = false
        var guestReady: Double?
        var tscHz: Double?
        var results: [GuestResultLine] = []
        var bootKind: String?

        for line in console {
            let result = GuestResultLine.parse(line.text)
            let marker = result == nil ? GuestInit.Marker.parse(line.text) : nil
            if kernelEntry == nil, result != nil || marker != nil || isKernelLogLine(line.text) { kernelEntry = line.time }
            // A kernel log line stamped T seconds after boot cannot arrive before entry + T, so entry is
            // at most arrival − T: this catches a console that registers (and flushes) late.
            if let stamp = kernelLogTimestamp(line.text), let entry = kernelEntry {
                kernelEntry = max(firmwareStart ?? 0, min(entry, line.time - stamp))
            }
            if let result {
                switch result.kind {
                case "info":
                    bootKind = bootKind ?? result.fields["boot"]
                    tscHz = tscHz ?? result.number("tsc_hz")
                case "stage":
                    let name = result.fields["name"] ?? "?"
                    // Stage times are microseconds since the kernel's first instruction; cvm-workloads'
                    // count from the process start, which the init markers already place.
                    if bootKind != "linux", let micros = result.number("us") {
                        analysis.guestTimeline.append(TimelineEvent(name: name, seconds: micros / 1e6, source: "guest-clock"))
                        if name == "workload-start" { guestReady = micros / 1e6 }
                    }
                    if name == "workload-start", !readyFromInit, ready == nil { ready = line.time }
                    if name == "workload-end" {
                        workloadDone = line.time
                        doneFromWorkloads = true
                    }
                case "result":
                    results.append(result)
                case "error", "exception", "panic":
                    let detail = result.fields.keys.sorted().map { "\($0)=\(result.fields[$0] ?? "")" }.joined(separator: " ")
                    analysis.failure = analysis.failure ?? "guest \(result.kind): \(detail)"
                default:
                    break
                }
            } else if let marker {
                analysis.guestTimeline.append(TimelineEvent(name: marker.event, seconds: marker.seconds, source: "guest-clock"))
                switch marker.event {
                case "run-start":
                    ready = line.time
                    readyFromInit = true
                    guestReady = marker.seconds
                case "run-exit" where !doneFromWorkloads:
                    workloadDone = line.time
                case "error", "initramfs-truncated":
                    analysis.failure = analysis.failure ?? "guest init: \(marker.fields["message"] ?? marker.event)"
                default:
                    break
                }
            }
        }

        var timeline = [TimelineEvent(name: "qemu-start", seconds: 0, source: "host")]
        // The vCPUs start before the guest can print anything; the clamp only absorbs the few
        // microseconds between this process's clock and the supervisor's.
        let firmwareStart = firmwareStart.map { min($0, kernelEntry ?? $0) }
        if let firmwareStart { timeline.append(TimelineEvent(name: "firmware", seconds: firmwareStart, source: "qmp")) }
        if let kernelEntry { timeline.append(TimelineEvent(name: "kernel-entry", seconds: kernelEntry, source: "guest-marker")) }
        if let ready { timeline.append(TimelineEvent(name: "ready", seconds: ready, source: "guest-marker")) }
        if let workloadDone { timeline.append(TimelineEvent(name: "workload-done", seconds: workloadDone, source: "guest-marker")) }
        if let exitSeconds { timeline.append(TimelineEvent(name: "exit", seconds: exitSeconds, source: "host")) }
        analysis.timeline = timeline

        analysis.metrics = workloadMetrics(results, tscHz: tscHz)
        if workloads.contains("boot") {
            func boot(_ name: String, _ value: Double?) {
                guard let value else { return }
                analysis.metrics.insert(BenchMetric(workload: "boot", name: name, value: value, unit: "s", better: .lowerIsBetter),
                                        at: analysis.metrics.firstIndex { $0.workload != "boot" } ?? analysis.metrics.count)
            }
            boot("qemu-setup", firmwareStart)
            boot("to-kernel", kernelEntry)
            boot("to-ready", ready)
            // Time to exit without the time the workloads ran: what a boot-only run would take.
            if let exitSeconds, let ready {
                boot("to-exit", exitSeconds - max(0, (workloadDone ?? ready) - ready))
            }
            boot("guest-ready", guestReady)
        }

        if analysis.failure == nil {
            for result in results where result.fields["valid"] == "0" {
                analysis.failure = "\(result.fields["workload"] ?? "a workload")'s self-check failed"
                break
            }
        }
        if analysis.failure == nil {
            let seen = Set(results.compactMap { $0.fields["workload"] })
            if let missing = WorkloadCatalog.measured(workloads).first(where: { !seen.contains($0) }) {
                analysis.failure = "no result line for \(missing)"
            }
        }
        return analysis
    }

    /// `[    0.000000] Linux version …`: a Linux kernel log line on the console.
    static func isKernelLogLine(_ text: String) -> Bool {
        kernelLogTimestamp(text) != nil || text.hasPrefix("Linux version")
    }

    /// The seconds of a kernel log line's `[    1.234567]` prefix.
    static func kernelLogTimestamp(_ text: String) -> Double? {
        let trimmed = text.drop { $0 == " " }
        guard trimmed.first == "[", let close = trimmed.firstIndex(of: "]") else { return nil }
        let stamp = trimmed[trimmed.index(after: trimmed.startIndex)..<close].trimmingCharacters(in: .whitespaces)
        guard stamp.contains("."), let seconds = Double(stamp), seconds >= 0 else { return nil }
        return seconds
    }

    /// The metrics of `cvmuk result` lines: names, units and which way is better.
    public static func workloadMetrics(_ results: [GuestResultLine], tscHz: Double?) -> [BenchMetric] {
        var metrics: [BenchMetric] = []
        func add(_ workload: String, _ name: String, _ value: Double?, _ unit: String, _ better: MetricDirection) {
            guard let value, value.isFinite else { return }
            metrics.append(BenchMetric(workload: workload, name: name, value: value, unit: unit, better: better))
        }
        func nanoseconds(_ cycles: Double?) -> Double? {
            guard let cycles, let tscHz, tscHz > 0 else { return nil }
            return cycles / tscHz * 1e9
        }
        for result in results {
            guard let workload = result.fields["workload"] else { continue }
            switch workload {
            case "stream":
                add("stream", result.fields["kernel"] ?? "?", result.number("mb_per_s"), "MB/s", .higherIsBetter)
            case "chase":
                add("chase", "latency", result.number("ns_per_load"), "ns", .lowerIsBetter)
                add("chase", "cycles-per-load", result.number("cycles_per_load"), "cycles", .lowerIsBetter)
            case "sha256":
                add("sha256", "throughput", result.number("mb_per_s"), "MB/s", .higherIsBetter)
            case "ep":
                add("ep", "throughput", result.number("mops"), "Mop/s", .higherIsBetter)
            case "exits":
                let op = result.fields["op"] ?? "?"
                add("exits", op, result.number("cycles_per_op"), "cycles", .lowerIsBetter)
                add("exits", "\(op)-ns", nanoseconds(result.number("cycles_per_op")), "ns", .lowerIsBetter)
            case "touch":
                add("touch", "cycles-per-page", result.number("cycles_per_page"), "cycles", .lowerIsBetter)
                add("touch", "ns-per-page", nanoseconds(result.number("cycles_per_page")), "ns", .lowerIsBetter)
                add("touch", "alloc-cycles-per-page", result.number("alloc_cycles_per_page"), "cycles", .lowerIsBetter)
            case "attest":
                add("attest", "report-us", result.number("us_median"), "µs", .lowerIsBetter)
                add("attest", "report-us-min", result.number("us_min"), "µs", .lowerIsBetter)
            default:
                break
            }
        }
        return metrics
    }
}
