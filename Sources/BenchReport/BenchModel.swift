import Foundation

// The data a benchmark run produces, shared by the engine (`Bench`) that measures and the reports
// (`BenchReport`) that summarise. A result directory holds:
//
//   environment.json   BenchEnvironment, written once at start (and checked on resume)
//   plan.json          BenchPlan: the matrix as requested, with skipped cells and their reasons
//   runs.jsonl         one BenchRunRecord per line, appended as each run completes (the run log)
//   summary.json       BenchSummary, computed from the three files above by BenchReport
//   results.csv, report.md, report.html
//
// Every type here is Codable with explicit, stable field names; docs/EVALUATION.md documents them.

/// Schema identifiers written into every file, so a reader can refuse a file it does not understand.
public enum BenchSchema {
    public static let run = "cvmkit.bench.run/1"
    public static let plan = "cvmkit.bench.plan/1"
    public static let environment = "cvmkit.bench.environment/1"
    public static let summary = "cvmkit.bench.summary/1"
}

/// One cell of the matrix: the guest, the confidential mode and the VM shape. Workloads are measured
/// inside the cell's runs (one guest boot may run several workloads).
public struct BenchCell: Codable, Hashable, Sendable, Comparable {
    /// Guest name as in the plan: "unikernel", "linux", or a user-chosen name of a bundle/kernel.
    public var guest: String
    /// "none", "sev", "sev-es" or "sev-snp".
    public var mode: String
    public var vcpus: Int
    public var memoryMiB: Int
    /// The unikernel's boot path ("firmware", "pvh" or "efi"), an axis of the matrix; absent for other
    /// guests and in plans written before the axis existed.
    public var boot: String?

    public init(guest: String, mode: String, vcpus: Int, memoryMiB: Int, boot: String? = nil) {
        self.guest = guest
        self.mode = mode
        self.vcpus = vcpus
        self.memoryMiB = memoryMiB
        self.boot = boot
    }

    /// The guest and its boot path: "unikernel@firmware", or the guest name alone.
    public var guestAndBoot: String { boot.map { "\(guest)@\($0)" } ?? guest }

    /// Stable text key, e.g. "unikernel@firmware/sev-snp/1vcpu/256M"; also the prefix of run IDs.
    public var key: String { "\(guestAndBoot)/\(mode)/\(vcpus)vcpu/\(memoryMiB)M" }

    public static func < (a: BenchCell, b: BenchCell) -> Bool {
        (a.guest, bootOrder(a.boot), BenchCell.modeOrder(a.mode), a.vcpus, a.memoryMiB)
            < (b.guest, bootOrder(b.boot), BenchCell.modeOrder(b.mode), b.vcpus, b.memoryMiB)
    }

    /// none < sev < sev-es < sev-snp < anything else, for tables in a familiar order.
    public static func modeOrder(_ mode: String) -> Int {
        ["none", "sev", "sev-es", "sev-snp"].firstIndex(of: mode) ?? 99
    }

    /// firmware < pvh < efi < anything else (no boot axis first).
    public static func bootOrder(_ boot: String?) -> Int {
        guard let boot else { return -1 }
        return ["firmware", "pvh", "efi"].firstIndex(of: boot) ?? 99
    }
}

/// Which way a metric is better, for overhead signs and compare.
public enum MetricDirection: String, Codable, Sendable {
    case lowerIsBetter = "lower"
    case higherIsBetter = "higher"
}

/// One number a run measured: a workload's result (e.g. workload "stream", name "triad", unit "MB/s")
/// or a boot phase (workload "boot", name "to-ready", unit "s").
public struct BenchMetric: Codable, Hashable, Sendable {
    public var workload: String
    public var name: String
    public var value: Double
    public var unit: String
    public var better: MetricDirection

    public init(workload: String, name: String, value: Double, unit: String, better: MetricDirection) {
        self.workload = workload
        self.name = name
        self.value = value
        self.unit = unit
        self.better = better
    }

    /// "stream.triad": the identity of a metric across runs.
    public var key: String { "\(workload).\(name)" }
}

/// One point of the boot timeline, in seconds since QEMU was spawned (host clock). Standard names, in
/// order: "qemu-start" (0), "firmware" (first firmware output or QMP event), "kernel-entry",
/// "ready" (init ran / workloads start), "workload-done", "exit" (QEMU gone). Confidential launches
/// may add "launch-start"/"launch-finish" (pre-encryption/measurement). Source says where it came from.
public struct TimelineEvent: Codable, Hashable, Sendable {
    public var name: String
    public var seconds: Double
    /// "host" (host clock), "guest-marker" (a console marker's arrival time), "qmp" (a QMP event).
    public var source: String

    public init(name: String, seconds: Double, source: String) {
        self.name = name
        self.seconds = seconds
        self.source = source
    }
}

public enum RunOutcome: String, Codable, Sendable {
    case ok
    /// The guest exited non-zero, printed an error, or a workload's self-check failed.
    case failed
    case timedOut = "timed-out"
    /// QEMU could not start or died.
    case launchFailed = "launch-failed"
}

/// One line of runs.jsonl: one guest boot, written when it completes.
public struct BenchRunRecord: Codable, Hashable, Sendable {
    public var schema: String
    /// "<cell key>/<workload set>/r<repetition>" (warm-ups "…/w<n>"); unique within a result directory,
    /// used by resume to skip what is done.
    public var runID: String
    public var cell: BenchCell
    /// The workloads this boot ran, e.g. ["boot"] or ["stream", "chase"].
    public var workloads: [String]
    /// 1-based repetition number; warm-ups are numbered separately and flagged.
    public var repetition: Int
    public var warmup: Bool
    /// ISO 8601 start time (UTC).
    public var startedAt: String
    public var outcome: RunOutcome
    /// One line for people when outcome is not ok.
    public var failure: String?
    public var guestExitCode: Int?
    public var wallSeconds: Double
    public var timeline: [TimelineEvent]
    public var metrics: [BenchMetric]
    /// "kvm" or "tcg".
    public var accelerator: String
    /// Stage times the guest reported on its own clock (source "guest-clock"): seconds since the
    /// unikernel's first instruction, or the Linux guest's CLOCK_BOOTTIME in cvm-init's markers. Not on
    /// the host clock of `timeline`; absent when the guest reported none.
    public var guestTimeline: [TimelineEvent]? = nil
    /// Under SEV-SNP with the `attest` workload: the verdict on the run's report (PASS or FAIL).
    public var attestation: String? = nil

    public init(runID: String, cell: BenchCell, workloads: [String], repetition: Int, warmup: Bool, startedAt: String,
                outcome: RunOutcome, failure: String? = nil, guestExitCode: Int?, wallSeconds: Double,
                timeline: [TimelineEvent], metrics: [BenchMetric], accelerator: String) {
        self.schema = BenchSchema.run
        self.runID = runID
        self.cell = cell
        self.workloads = workloads
        self.repetition = repetition
        self.warmup = warmup
        self.startedAt = startedAt
        self.outcome = outcome
        self.failure = failure
        self.guestExitCode = guestExitCode
        self.wallSeconds = wallSeconds
        self.timeline = timeline
        self.metrics = metrics
        self.accelerator = accelerator
    }
}

/// A cell the host cannot run, kept in the plan so every report shows it as not measured.
public struct SkippedCell: Codable, Hashable, Sendable {
    public var cell: BenchCell
    /// The host check's reason, one line.
    public var reason: String
    /// Expected SNP/SEV launch measurement (hex) when it can be computed for this guest and mode
    /// (OVMF with the kernel-hashes table, or a firmware-only guest), with what it covers.
    public var expectedMeasurement: String?
    public var measurementNote: String?

    public init(cell: BenchCell, reason: String, expectedMeasurement: String? = nil, measurementNote: String? = nil) {
        self.cell = cell
        self.reason = reason
        self.expectedMeasurement = expectedMeasurement
        self.measurementNote = measurementNote
    }
}

/// A guest of the matrix as it was built/used: what a reader needs to reproduce it.
public struct BenchGuest: Codable, Hashable, Sendable {
    public var name: String
    /// "unikernel", "linux", "bundle", "kernel".
    public var kind: String
    /// Bundle directory or kernel path.
    public var path: String
    /// SHA-256 of kernel, initrd, cmdline (hex), as available.
    public var digests: [String: String]
    /// "pvh", "linux", "efi", ...
    public var bootProtocol: String

    public init(name: String, kind: String, path: String, digests: [String: String], bootProtocol: String) {
        self.name = name
        self.kind = kind
        self.path = path
        self.digests = digests
        self.bootProtocol = bootProtocol
    }
}

/// plan.json: the matrix requested, after the host gate.
public struct BenchPlan: Codable, Hashable, Sendable {
    public var schema: String
    public var guests: [BenchGuest]
    public var modes: [String]
    public var workloads: [String]
    public var vcpus: [Int]
    public var memoryMiB: [Int]
    public var repetitions: Int
    public var warmups: Int
    /// Cells that will run.
    public var cells: [BenchCell]
    public var skipped: [SkippedCell]
    /// Per-run timeout in seconds.
    public var timeoutSeconds: Double
    /// Repetitions of guests that override `repetitions` (e.g. more for the fast unikernel); absent = none.
    public var guestRepetitions: [String: Int]? = nil
    /// The workload parameters every guest ran with (`stream.size` → `4M`); absent in older plans.
    public var workloadParameters: [String: String]? = nil
    /// "ovmf" when every cell, also mode none, booted through OVMF; absent = "auto" (SeaBIOS or PVH
    /// for mode none, OVMF for the confidential modes).
    public var firmware: String? = nil
    /// The unikernel's boot paths, the matrix's boot axis; absent in older plans (PVH, or EFI through OVMF).
    public var boots: [String]? = nil
    /// How each cell (run or skipped) boots, by cell key: "firmware.fd", "pvh+seabios", "efi+ovmf",
    /// "kernel+ovmf", "kernel+seabios"; absent in older plans.
    public var bootPaths: [String: String]? = nil
    /// The working-set sizes against the host's last-level cache; absent in older plans.
    public var workingSetNote: String? = nil

    public init(guests: [BenchGuest], modes: [String], workloads: [String], vcpus: [Int], memoryMiB: [Int],
                repetitions: Int, warmups: Int, cells: [BenchCell], skipped: [SkippedCell], timeoutSeconds: Double) {
        self.schema = BenchSchema.plan
        self.guests = guests
        self.modes = modes
        self.workloads = workloads
        self.vcpus = vcpus
        self.memoryMiB = memoryMiB
        self.repetitions = repetitions
        self.warmups = warmups
        self.cells = cells
        self.skipped = skipped
        self.timeoutSeconds = timeoutSeconds
    }
}

/// environment.json: where and how the numbers were taken.
public struct BenchEnvironment: Codable, Hashable, Sendable {
    public var schema: String
    public var hostname: String
    public var cpuModel: String
    public var cpuCount: Int
    public var memoryMiB: Int
    public var kernelRelease: String
    /// "kvm" or "tcg"; when "tcg", every output labels the figures as emulation.
    public var accelerator: String
    public var emulated: Bool
    public var qemuVersion: String?
    public var ovmf: String?
    public var ovmfSHA256: String?
    public var libvirtVersion: String?
    public var cvmVersion: String
    /// The command line that produced the results.
    public var command: String
    public var startedAt: String
    /// The host check's verdict per mode ("none": "ready", "sev-snp": "not ready: …").
    public var modeVerdicts: [String: String]
    /// Host settings that change results (absent in result directories written before they were recorded).
    public var tuning: Tuning?

    /// What a reviewer asks of the host beside versions; each nil where the host does not expose it.
    public struct Tuning: Codable, Hashable, Sendable {
        public var microcode: String?
        public var sevFirmware: String?
        public var snpCurrentTCB: String?
        public var snpReportedTCB: String?
        public var kernelCommandLine: String?
        public var cpuGovernor: String?
        public var smt: String?
        public var transparentHugepages: String?
        public var lastLevelCache: Int?
        public var lastLevelCacheBytes: UInt64?

        public init(microcode: String? = nil, sevFirmware: String? = nil, snpCurrentTCB: String? = nil, snpReportedTCB: String? = nil,
                    kernelCommandLine: String? = nil, cpuGovernor: String? = nil, smt: String? = nil, transparentHugepages: String? = nil,
                    lastLevelCache: Int? = nil, lastLevelCacheBytes: UInt64? = nil) {
            self.microcode = microcode
            self.sevFirmware = sevFirmware
            self.snpCurrentTCB = snpCurrentTCB
            self.snpReportedTCB = snpReportedTCB
            self.kernelCommandLine = kernelCommandLine
            self.cpuGovernor = cpuGovernor
            self.smt = smt
            self.transparentHugepages = transparentHugepages
            self.lastLevelCache = lastLevelCache
            self.lastLevelCacheBytes = lastLevelCacheBytes
        }
    }

    public init(hostname: String, cpuModel: String, cpuCount: Int, memoryMiB: Int, kernelRelease: String, accelerator: String,
                qemuVersion: String?, ovmf: String?, ovmfSHA256: String?, libvirtVersion: String?, cvmVersion: String,
                command: String, startedAt: String, modeVerdicts: [String: String], tuning: Tuning? = nil) {
        self.schema = BenchSchema.environment
        self.hostname = hostname
        self.cpuModel = cpuModel
        self.cpuCount = cpuCount
        self.memoryMiB = memoryMiB
        self.kernelRelease = kernelRelease
        self.accelerator = accelerator
        self.emulated = accelerator != "kvm"
        self.qemuVersion = qemuVersion
        self.ovmf = ovmf
        self.ovmfSHA256 = ovmfSHA256
        self.libvirtVersion = libvirtVersion
        self.cvmVersion = cvmVersion
        self.command = command
        self.startedAt = startedAt
        self.modeVerdicts = modeVerdicts
        self.tuning = tuning
    }
}

/// The file names of a result directory.
public enum BenchFiles {
    public static let environment = "environment.json"
    public static let plan = "plan.json"
    public static let runLog = "runs.jsonl"
    public static let summary = "summary.json"
    public static let csv = "results.csv"
    public static let markdown = "report.md"
    public static let html = "report.html"
}
