import BenchReport
import Foundation
import Launch
import SEVABI

/// Set by the bench's `SignalOwner` subscription or a test to stop the bench after the current run.
public final class CancellationFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var cancelled = false

    public init() {}

    public func cancel() { lock.withLock { cancelled = true } }
    public var isCancelled: Bool { lock.withLock { cancelled } }
}

/// One boot the plan asks for.
public struct ScheduledRun: Sendable, Equatable {
    public var runID: String
    public var cell: BenchCell
    public var workloads: [String]
    public var repetition: Int
    public var warmup: Bool
}

/// Runs the plan: one QEMU per run, supervised, with the vCPUs held (`-S`) until QMP releases them so
/// the firmware start is a host timestamp; each record is appended to the run log as it completes.
public struct BenchEngine: Sendable {
    public var options: BenchOptions
    public var guests: [PreparedGuest]
    public var gate: HostGate
    public var qemu: String
    public var cancellation: CancellationFlag
    /// Called after each record is safely in the log (tests stop a bench from here).
    public var onRecord: (@Sendable (BenchRunRecord) -> Void)?
    public var progress: ProgressDisplay?

    public init(options: BenchOptions, guests: [PreparedGuest], gate: HostGate, qemu: String = "qemu-system-x86_64",
                cancellation: CancellationFlag = CancellationFlag(), progress: ProgressDisplay? = nil,
                onRecord: (@Sendable (BenchRunRecord) -> Void)? = nil) {
        self.options = options
        self.guests = guests
        self.gate = gate
        self.qemu = qemu
        self.cancellation = cancellation
        self.progress = progress
        self.onRecord = onRecord
    }

    /// Every run of the plan in execution order: the warm-ups of all cells, then repetition 1 of every
    /// cell, repetition 2, … so modes and guests alternate and a drift of the host spreads over all of
    /// them instead of biasing one.
    public static func schedule(plan: BenchPlan, guests: [PreparedGuest], options: BenchOptions) -> [ScheduledRun] {
        let byName = Dictionary(uniqueKeysWithValues: guests.map { ($0.spec.name, $0) })
        var runs: [ScheduledRun] = []
        let cells = plan.cells.compactMap { cell in byName[cell.guest].map { (cell, $0) } }
        for warmup in stride(from: 1, through: plan.warmups, by: 1) {
            for (cell, guest) in cells {
                let workloads = BenchPlanner.workloads(for: guest, options: options)
                runs.append(ScheduledRun(runID: "\(cell.key)/\(WorkloadCatalog.setName(workloads))/w\(warmup)", cell: cell,
                                         workloads: workloads, repetition: warmup, warmup: true))
            }
        }
        let most = cells.map { options.repetitions(for: $0.1.spec) }.max() ?? 0
        for repetition in stride(from: 1, through: most, by: 1) {
            for (cell, guest) in cells where repetition <= options.repetitions(for: guest.spec) {
                let workloads = BenchPlanner.workloads(for: guest, options: options)
                runs.append(ScheduledRun(runID: "\(cell.key)/\(WorkloadCatalog.setName(workloads))/r\(repetition)", cell: cell,
                                         workloads: workloads, repetition: repetition, warmup: false))
            }
        }
        return runs
    }

    public struct Outcome: Sendable {
        /// Runs executed now (recorded in the log).
        public var executed: [BenchRunRecord] = []
        /// Runs skipped because the log already had them.
        public var alreadyDone = 0
        public var total = 0
        public var interrupted = false
    }

    public func run(store: ResultStore) throws -> Outcome {
        let schedule = Self.schedule(plan: store.plan, guests: guests, options: options)
        var outcome = Outcome()
        outcome.total = schedule.count
        let pending = schedule.filter { !store.completed.contains($0.runID) }
        outcome.alreadyDone = schedule.count - pending.count
        let byName = Dictionary(uniqueKeysWithValues: guests.map { ($0.spec.name, $0) })
        var durations: [String: [Double]] = [:]
        for record in store.previousRecords { durations[record.cell.guest, default: []].append(record.wallSeconds) }

        for (index, run) in pending.enumerated() {
            if cancellation.isCancelled {
                outcome.interrupted = true
                break
            }
            guard let guest = byName[run.cell.guest] else { continue }
            let remaining = pending[index...].map { pendingRun in
                Self.estimate(durations[pendingRun.cell.guest], guest: byName[pendingRun.cell.guest])
            }.reduce(0, +)
            progress?.update(run: run, done: outcome.alreadyDone + index, total: schedule.count, eta: remaining)
            guard let record = try execute(run, guest: guest, consoleDirectory: store.directory.appendingPathComponent("console")) else {
                outcome.interrupted = true
                break
            }
            try store.append(record)
            outcome.executed.append(record)
            durations[run.cell.guest, default: []].append(record.wallSeconds)
            if record.outcome != .ok {
                progress?.note("\(run.runID): \(record.outcome.rawValue): \(record.failure ?? "")")
            }
            onRecord?(record)
        }
        if cancellation.isCancelled { outcome.interrupted = true }
        progress?.finish(done: outcome.alreadyDone + outcome.executed.count, total: schedule.count, interrupted: outcome.interrupted)
        return outcome
    }

    /// Expected seconds of one run: the mean of this guest's runs so far, else a guess by kind.
    static func estimate(_ seen: [Double]?, guest: PreparedGuest?) -> Double {
        if let seen, !seen.isEmpty { return seen.reduce(0, +) / Double(seen.count) }
        switch guest?.spec.kind {
        case .unikernel?: return 3
        default: return 30
        }
    }

    /// Boots the guest once; nil when the run was interrupted (nothing is recorded then).
    /// The console of every run is kept as DIR/console/RUN-ID.log (slashes as underscores).
    func execute(_ run: ScheduledRun, guest: PreparedGuest, consoleDirectory: URL) throws -> BenchRunRecord? {
        let scratch = URL(fileURLWithPath: "/tmp").appendingPathComponent("cvm-bench-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(at: scratch) }
        let qmpPath = scratch.appendingPathComponent("qmp").path
        let startedAt = ISO8601DateFormatter().string(from: Date())
        let accelerator = run.cell.confidentialMode == ConfidentialMode.none ? gate.accelerator.rawValue : Accelerator.kvm.rawValue

        func record(_ outcome: RunOutcome, failure: String?, exitCode: Int?, wall: Double, analysis: RunAnalysis) -> BenchRunRecord {
            var record = BenchRunRecord(runID: run.runID, cell: run.cell, workloads: run.workloads, repetition: run.repetition,
                                        warmup: run.warmup, startedAt: startedAt, outcome: outcome, failure: failure,
                                        guestExitCode: exitCode, wallSeconds: wall, timeline: analysis.timeline,
                                        metrics: analysis.metrics, accelerator: accelerator)
            record.guestTimeline = analysis.guestTimeline.isEmpty ? nil : analysis.guestTimeline
            return record
        }

        let arguments: [String]
        let nonce = BenchPlanner.verifiesAttestation(guest: guest, cell: run.cell, workloads: run.workloads) ? UnikernelAttestation.randomNonce() : nil
        var commandLine = ""
        do {
            let spec = try BenchPlanner.launchSpec(guest: guest, cell: run.cell, workloads: run.workloads, options: options,
                                                   gate: gate, stateDirectory: scratch, qmpSocket: qmpPath, attestNonce: nonce)
            commandLine = spec.kernelCommandLine ?? ""
            arguments = try QEMUCommandLine.render(spec, binary: qemu)
        } catch {
            return record(.launchFailed, failure: "\(error)", exitCode: nil, wall: 0, analysis: RunAnalysis())
        }

        let release = VCPURelease(socketPath: qmpPath)
        let origin = Date()
        release.start(origin: origin)
        let result: RunResult
        do {
            try? FileManager.default.createDirectory(at: consoleDirectory, withIntermediateDirectories: true)
            let log = consoleDirectory.appendingPathComponent(run.runID.replacingOccurrences(of: "/", with: "_") + ".log").path
            result = try QEMUSupervisor.run(arguments, options: .init(timeout: options.timeoutSeconds, consoleLog: log, qmpSocket: qmpPath))
        } catch {
            return record(.launchFailed, failure: "\(error)", exitCode: nil, wall: Date().timeIntervalSince(origin), analysis: RunAnalysis())
        }
        let firmwareStart = release.finish()
        // The supervisor stopped QEMU for a signal the bench's subscription also heard.
        if result.interrupted || cancellation.isCancelled {
            cancellation.cancel()
            return nil
        }
        let analysis = RunAnalysis.analyze(console: result.console.map { ($0.time, $0.text) }, firmwareStart: firmwareStart.time,
                                           exitSeconds: result.wallSeconds, workloads: run.workloads)
        if result.timedOut {
            let why = firmwareStart.error.map { "timed out after \(Int(options.timeoutSeconds)) s (\($0))" } ?? "timed out after \(Int(options.timeoutSeconds)) s"
            return record(.timedOut, failure: why, exitCode: nil, wall: result.wallSeconds, analysis: analysis)
        }
        guard let code = result.guestExitCode else {
            return record(.launchFailed, failure: result.summary, exitCode: nil, wall: result.wallSeconds, analysis: analysis)
        }
        if code != 0 {
            let why = "guest exited with code \(code)" + (analysis.failure.map { ": \($0)" } ?? "")
            return record(.failed, failure: why, exitCode: code, wall: result.wallSeconds, analysis: analysis)
        }
        if let failure = analysis.failure, guest.spec.runsWorkloads || !failure.hasPrefix("no result line") {
            return record(.failed, failure: failure, exitCode: code, wall: result.wallSeconds, analysis: analysis)
        }
        if let nonce {
            // The report of this run, verified as `cvm run --attest` does: binding, measurement, chain.
            let verdict = UnikernelAttestation.judge(console: result.console.map(\.text), nonce: nonce, commandLine: commandLine,
                                                     measurement: BenchPlanner.expectedMeasurement(guest: guest, cell: run.cell, options: options).0)
            var attested = record(verdict.passed ? .ok : .failed, failure: verdict.passed ? nil : verdict.lines.last { $0.contains("FAIL") || $0.contains("no report") },
                                  exitCode: code, wall: result.wallSeconds, analysis: analysis)
            attested.attestation = verdict.passed ? "PASS" : "FAIL"
            return attested
        }
        return record(.ok, failure: nil, exitCode: code, wall: result.wallSeconds, analysis: analysis)
    }
}

/// Releases the vCPUs of a QEMU started with `-S` through QMP `cont` and notes when that happened.
/// (A stop while the guest runs is the supervisor's: it hears the signal from `SignalOwner`.)
final class VCPURelease: @unchecked Sendable {
    let socketPath: String
    private let lock = NSLock()
    private let released = DispatchSemaphore(value: 0)
    private var time: Double?
    private var error: String?

    init(socketPath: String) {
        self.socketPath = socketPath
    }

    func start(origin: Date) {
        DispatchQueue.global().async { [self] in
            defer { released.signal() }
            do {
                let client = try QMPClient(socketPath: socketPath, timeout: 15)
                try client.execute("cont")
                let now = Date().timeIntervalSince(origin)
                lock.withLock { time = now }
            } catch {
                let text = "\(error)"
                lock.withLock { self.error = text }
            }
        }
    }

    /// Called when QEMU is gone: the release time (seconds since `origin`) or why there is none.
    func finish() -> (time: Double?, error: String?) {
        _ = released.wait(timeout: .now() + 2)
        return lock.withLock { (time, error) }
    }
}
