import BenchReport
import Foundation
import HostProbe

/// One `cvm bench`: guests prepared, host gate asked, plan and environment written (or checked on
/// resume), the runs executed, the reports written, also after an interruption.
public struct BenchSession: Sendable {
    public var options: BenchOptions
    public var directory: URL
    public var restart = false
    public var provider: GuestProvider
    public var qemu = "qemu-system-x86_64"
    public var cvmVersion = "dev"
    public var command = "cvm bench"
    public var hostSources: HostSources?
    public var cancellation = CancellationFlag()
    public var progress: ProgressDisplay?
    public var onRecord: (@Sendable (BenchRunRecord) -> Void)?

    public init(options: BenchOptions, directory: URL, provider: GuestProvider) {
        self.options = options
        self.directory = directory
        self.provider = provider
    }

    public struct Result: Sendable {
        public var directory: URL
        public var plan: BenchPlan
        public var environment: BenchEnvironment
        public var outcome: BenchEngine.Outcome
        public var resumed: Bool
        public var acceleratorNotice: String?
        /// The reports' summary; nil when writing them failed (`reportError` says why).
        public var summary: BenchSummary?
        public var reportError: String?
    }

    public func run() throws -> Result {
        let guests = try provider.prepare(options.guests, tool: "cvm \(cvmVersion)") { progress?.note($0) }
        var gate = HostGate.probe(modes: options.modes, accelerator: options.accelerator, qemu: qemu, sources: hostSources ?? .live())
        let pvh = guests.first { $0.spec.kind == .unikernel && $0.unavailable == nil }?.kernel ?? provider.cachedUnikernelKernel()
        gate.confirmKVM(request: options.accelerator, pvhKernel: pvh, qemu: qemu)
        if let notice = gate.acceleratorNotice { progress?.note(notice) }
        var options = self.options
        let cache = HostTuning.collect(sources: hostSources ?? .live(), cpuCount: 1)
        options.workingSetNote = WorkingSet.apply(to: &options, cacheBytes: cache.lastLevelCacheBytes, cacheLevel: cache.lastLevelCache,
                                                  emulated: gate.accelerator != .kvm)
        if let note = options.workingSetNote { progress?.note(note) }
        let plan = BenchPlanner.plan(options: options, guests: guests, gate: gate)
        let environment = BenchHostFacts.environment(gate: gate, modes: options.modes, qemu: qemu, cvmVersion: cvmVersion,
                                                     command: command, startedAt: ISO8601DateFormatter().string(from: Date()), firmware: options.firmware)
        let store = try ResultStore(directory: directory, plan: plan, environment: environment, restart: restart)
        if store.resumed { progress?.note("resuming \(directory.path): \(store.completed.count) run(s) already in the log") }
        for skipped in plan.skipped where skipped.cell.vcpus == plan.vcpus.first && skipped.cell.memoryMiB == plan.memoryMiB.first {
            progress?.note("skipping \(skipped.cell.guest) \(skipped.cell.mode): \(skipped.reason)")
        }
        let engine = BenchEngine(options: options, guests: guests, gate: gate, qemu: qemu, cancellation: cancellation,
                                 progress: progress, onRecord: onRecord)
        let outcome = try engine.run(store: store)
        var result = Result(directory: directory, plan: store.plan, environment: store.environment, outcome: outcome,
                            resumed: store.resumed, acceleratorNotice: gate.acceleratorNotice)
        do {
            result.summary = try BenchReportWriter.write(directory: directory)
        } catch {
            result.reportError = "\(error)"
        }
        return result
    }
}
