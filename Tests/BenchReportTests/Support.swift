import Foundation
import Testing
@testable import BenchReport

/// Runs a Python 3 snippet with `input` on standard input and returns its standard output. The
/// reference computations of these tests live in such snippets, so they are independent of the Swift code.
func python(_ script: String, input: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", script]
    let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
    process.standardInput = stdin
    process.standardOutput = stdout
    process.standardError = stderr
    try process.run()
    stdin.fileHandleForWriting.write(Data(input.utf8))
    try stdin.fileHandleForWriting.close()
    let out = stdout.fileHandleForReading.readDataToEndOfFile()
    let err = stderr.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw ReferenceFailure(message: "python3 failed: " + String(decoding: err, as: UTF8.self))
    }
    return String(decoding: out, as: UTF8.self)
}

struct ReferenceFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// Parses whitespace-separated numbers printed by a reference snippet.
func numbers(_ text: String) -> [Double] {
    text.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Double($0) }
}

/// Deterministic pseudo-random numbers for synthetic data (not the generator the bootstrap uses).
struct TestNoise {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    /// Uniform in [0, 1), xorshift64*.
    mutating func uniform() -> Double {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return Double((state &* 0x2545_F491_4F6C_DD1D) >> 11) / Double(1 << 53)
    }

    /// Approximately standard normal (sum of 12 uniforms − 6).
    mutating func normal() -> Double { (0..<12).reduce(0) { sum, _ in sum + uniform() } - 6 }
}

/// A hand-made result directory: two guests plus one with a hostile name, modes none and sev measured,
/// sev-es and sev-snp skipped, three metrics and a boot timeline per run.
struct SyntheticResults {
    static let hostileGuest = #"evil<img src=x onerror=alert(1)>"&'"#
    static let snpReason = "SEV-SNP is not enabled: SYSCFG.SNPEn is clear (firmware setting)"
    static let esReason = "SEV-ES needs KVM; this host has no usable /dev/kvm"
    static let expectedMeasurement = String(repeating: "ab", count: 48)

    var emulated = true
    var repetitions = 10
    var warmups = 1
    /// Multiplies every boot time of mode sev (the planted overhead), and the stream triad divisor.
    var sevBootFactor = 1.5
    var sevStreamFactor = 0.8
    var bootFactor = 1.0
    var noise = 0.02
    var seed: UInt64 = 42
    var guests: [(name: String, kind: String)] = [("unikernel", "unikernel"), ("linux", "linux"), (hostileGuest, "bundle")]

    var measuredModes: [String] { ["none", "sev"] }
    /// The unikernel's boot axis (nil: none); "pvh" boots take twice as long.
    var boots: [String]?
    /// Boot paths by cell key, as the planner records them.
    var bootPaths: [String: String]?

    var environment: BenchEnvironment {
        BenchEnvironment(hostname: "testhost", cpuModel: "AMD EPYC 7763 64-Core Processor", cpuCount: 2, memoryMiB: 24_000,
                         kernelRelease: "6.1.0-test", accelerator: emulated ? "tcg" : "kvm", qemuVersion: "7.2.19",
                         ovmf: "/usr/share/OVMF/OVMF.fd", ovmfSHA256: String(repeating: "cd", count: 32), libvirtVersion: nil,
                         cvmVersion: "0.1.0", command: "cvm bench --quick --out /tmp/r", startedAt: "2026-11-27T00:00:00Z",
                         modeVerdicts: ["none": "ready", "sev": "ready", "sev-es": "not ready: " + Self.esReason,
                                        "sev-snp": "not ready: " + Self.snpReason],
                         tuning: tuning)
    }

    /// The host settings environment.json records (nil: a result directory from before they were).
    var tuning: BenchEnvironment.Tuning? = BenchEnvironment.Tuning(microcode: "0xa0011d1", kernelCommandLine: "mem_encrypt=on kvm_amd.sev=1",
                                                                   smt: "on, active", transparentHugepages: "madvise",
                                                                   lastLevelCache: 3, lastLevelCacheBytes: 256 << 20)

    var plan: BenchPlan {
        let cells = guests.flatMap { guest in
            (guest.kind == "unikernel" ? (boots ?? [nil]) as [String?] : [nil]).flatMap { boot in
                measuredModes.map { BenchCell(guest: guest.name, mode: $0, vcpus: 1, memoryMiB: 256, boot: boot) }
            }
        }
        let skipped = guests.flatMap { guest in
            [SkippedCell(cell: BenchCell(guest: guest.name, mode: "sev-es", vcpus: 1, memoryMiB: 256), reason: Self.esReason),
             SkippedCell(cell: BenchCell(guest: guest.name, mode: "sev-snp", vcpus: 1, memoryMiB: 256), reason: Self.snpReason,
                         expectedMeasurement: guest.kind == "unikernel" ? Self.expectedMeasurement : nil,
                         measurementNote: guest.kind == "unikernel" ? "OVMF + kernel hashes, 1 vCPU EPYC-v4" : nil)]
        }
        return BenchPlan(guests: guests.map { BenchGuest(name: $0.name, kind: $0.kind, path: "/guests/\($0.name)",
                                                         digests: ["kernel": String(repeating: "0f", count: 32)], bootProtocol: "pvh") },
                         modes: ["none", "sev", "sev-es", "sev-snp"], workloads: ["boot", "stream", "exits"], vcpus: [1],
                         memoryMiB: [256], repetitions: repetitions, warmups: warmups, cells: cells, skipped: skipped,
                         timeoutSeconds: 120).withBoots(boots, paths: bootPaths)
    }

    /// The planted value of a metric before noise.
    func base(guest: String, mode: String, metric: String) -> Double {
        let guestFactor = guest == "linux" ? 3.0 : 1.0
        switch metric {
        case "boot.to-ready": return 0.4 * guestFactor * bootFactor * (mode == "sev" ? sevBootFactor : 1)
        case "stream.triad": return 9000 / guestFactor * (mode == "sev" ? sevStreamFactor : 1)
        default: return 120 * (mode == "sev" ? 2.4 : 1)
        }
    }

    /// Every run of the plan, warm-ups first, with the planted values and a little noise.
    var records: [BenchRunRecord] {
        var noise = TestNoise(seed: seed)
        var records: [BenchRunRecord] = []
        for cell in plan.cells {
            for (warmup, count) in [(true, warmups), (false, repetitions)] {
                for repetition in stride(from: 1, through: count, by: 1) {
                    func value(_ metric: String) -> Double {
                        base(guest: cell.guest, mode: cell.mode, metric: metric) * (cell.boot == "pvh" && metric.hasPrefix("boot") ? 2 : 1)
                            * (1 + self.noise * noise.normal())
                    }
                    let ready = value("boot.to-ready")
                    let metrics = [
                        BenchMetric(workload: "boot", name: "to-ready", value: ready, unit: "s", better: .lowerIsBetter),
                        BenchMetric(workload: "stream", name: "triad", value: value("stream.triad"), unit: "MB/s", better: .higherIsBetter),
                        BenchMetric(workload: "exits", name: "cpuid", value: value("exits.cpuid"), unit: "cycles", better: .lowerIsBetter),
                    ]
                    let timeline = [
                        TimelineEvent(name: "qemu-start", seconds: 0, source: "host"),
                        TimelineEvent(name: "firmware", seconds: ready * 0.3, source: "guest-marker"),
                        TimelineEvent(name: "kernel-entry", seconds: ready * 0.6, source: "guest-marker"),
                        TimelineEvent(name: "ready", seconds: ready, source: "guest-marker"),
                        TimelineEvent(name: "workload-done", seconds: ready * 1.5, source: "guest-marker"),
                        TimelineEvent(name: "exit", seconds: ready * 1.6, source: "host"),
                    ]
                    records.append(BenchRunRecord(
                        runID: "\(cell.key)/all/\(warmup ? "w" : "r")\(repetition)", cell: cell, workloads: ["boot", "stream", "exits"],
                        repetition: repetition, warmup: warmup, startedAt: "2026-11-27T00:00:00Z", outcome: .ok, guestExitCode: 0,
                        wallSeconds: ready * 1.6, timeline: timeline, metrics: metrics, accelerator: emulated ? "tcg" : "kvm"))
                }
            }
        }
        return records
    }

    /// Writes environment.json, plan.json and runs.jsonl (the given records, or all) plus `trailer` verbatim.
    func write(to directory: URL, records: [BenchRunRecord]? = nil, trailer: String = "") throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try encoder.encode(environment).write(to: directory.appendingPathComponent(BenchFiles.environment))
        try encoder.encode(plan).write(to: directory.appendingPathComponent(BenchFiles.plan))
        var log = Data()
        for record in records ?? self.records {
            log += try encoder.encode(record)
            log += Data("\n".utf8)
        }
        log += Data(trailer.utf8)
        try log.write(to: directory.appendingPathComponent(BenchFiles.runLog))
    }
}

/// A fresh temporary directory per test.
func temporaryDirectory(_ name: String) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-bench-report-\(name)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Occurrences of `needle` in `haystack`.
func count(_ needle: String, in haystack: String) -> Int {
    haystack.components(separatedBy: needle).count - 1
}

extension BenchPlan {
    func withBoots(_ boots: [String]?, paths: [String: String]?) -> BenchPlan {
        var plan = self
        plan.boots = boots
        plan.bootPaths = paths
        return plan
    }
}
