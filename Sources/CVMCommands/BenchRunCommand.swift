import ArgumentParser
import Bench
import BenchReport
import Foundation
import GuestImage
import HostOS
import Launch

/// `cvm bench` (and `cvm bench run`): runs the matrix and writes the result directory and its reports.
struct BenchRunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the benchmark matrix (the default of `cvm bench`).",
        discussion: """
        Boots every guest in every mode, vCPU count and memory size, REPS times after \
        WARMUPS warm-ups, under QEMU with host timestamps, and writes \
        DIR/environment.json, DIR/plan.json and DIR/runs.jsonl (one JSON record per \
        boot, appended as it completes), DIR/console/RUN.log, then the reports \
        (summary.json, results.csv, runs.csv, report.md, report.html). Modes this host \
        cannot run are skipped with the host check's reason and, where it can be \
        computed, the launch measurement they would have.

        Guests: unikernel (our Embedded Swift unikernel, built on demand and cached), \
        linux (the minimal Linux guest running the same workloads with cvm-workloads), \
        bundle:NAME=DIR (any guest bundle, e.g. from `cvm image build oci`; boot \
        only), kernel:NAME=FILE (an external kernel; boot only). Workloads: boot (time \
        to ready and to exit), stream (memory bandwidth), chase (memory latency), \
        sha256 and ep (CPU), exits (VM-exit cost of cpuid, port I/O, rdmsr, rdtsc), \
        touch (first touch of pages). One boot runs all the workloads of a guest; boot \
        times leave the workload time out.

        Boot: when the matrix has confidential modes, every mode of a guest boots the \
        same way: the unikernel as its own firmware (firmware.fd), Linux through OVMF, \
        also in mode none. --boot firmware,pvh,efi puts the unikernel's boot paths side \
        by side; the report says how each cell booted.

        Resume: running again with the same --out skips the runs already in \
        runs.jsonl; a different plan or host is refused unless --restart discards the \
        old results. Ctrl-C stops after tearing QEMU down, keeps the log, writes the \
        reports from what exists and exits 130 (143 after SIGTERM).

        --config FILE reads the same settings from YAML (flags given on the command \
        line win):
          guests: [unikernel, linux, "bundle:web=out/web"]   # or mappings:
          #  - {name: web, bundle: out/web, reps: 3}
          #  - {name: vm, kernel: vmlinuz, initrd: initrd.img,
          #     cmdline: "console=ttyS0"}
          modes: [none, sev-snp]        # or "none,sev-snp"
          workloads: [boot, stream, chase]
          vcpus: [1, 2]
          memory: [256M, 1G]
          reps: 10
          warmups: 1
          timeout: 300                  # seconds per boot
          accel: auto                   # auto, kvm or tcg
          firmware: ovmf                # Linux through OVMF in every mode
          boot: [firmware, pvh]         # the unikernel's boot paths
          out: results/run1
          params: {stream.size: 8M, chase.steps: 2M}

        Examples:
          cvm bench --quick --out bench-results
          cvm bench --guests unikernel,linux --modes none,sev-snp \\
              --workloads boot,stream --reps 10 --out r1
          cvm bench --config bench.yaml --reps 20
          cvm bench --quick --out bench-results   # again: resumes where it stopped
        """
    )

    @Flag(help: "The quick evaluation: unikernel and Linux, the modes this host runs, boot+stream+chase+sha256, 20 unikernel / 6 Linux repetitions.")
    var quick = false
    @Option(help: "YAML file with the settings below (see the discussion).") var config: String?
    @Option(help: "Guests: unikernel, linux, bundle:NAME=DIR, kernel:NAME=FILE (comma list).") var guests: String?
    @Option(help: "Modes: none, sev, sev-es, sev-snp (comma list).") var modes: String?
    @Option(help: "Workloads: boot, stream, chase, sha256, ep, exits, touch (comma list).") var workloads: String?
    @Option(help: "vCPU counts (comma list).") var vcpus: String?
    @Option(help: "Guest memory sizes, e.g. 256M or 256M,1G.") var memory: String?
    @Option(help: "Repetitions per cell.") var reps: Int?
    @Option(help: "Warm-up boots per cell (recorded, flagged warmup).") var warmups: Int?
    @Option(help: "Seconds before a boot is stopped.") var timeout: Double?
    @Option(help: "Result directory (default bench-results/UTC-TIMESTAMP).") var out: String?
    @Option(help: "auto, kvm or tcg.") var accel: AcceleratorRequest?
    @Option(help: "ovmf (the system's OVMF for every mode: the default when the matrix has confidential modes, so an overhead never mixes in a change of firmware), auto (SeaBIOS for mode none, OVMF for confidential modes) or the path of an OVMF image (a self-built AmdSev OVMF, say) for every mode.") var firmware: String?
    @Option(help: "The unikernel's boot paths: firmware (its firmware.fd is the whole firmware), pvh (from SeaBIOS, mode none only), efi (kernel.efi from OVMF); comma list, each a row of its own. Default: firmware when the matrix has confidential modes, else pvh.") var boot: String?
    @Option(help: "Workload parameter KEY=VALUE, e.g. stream.size=8M (repeatable).") var param: [String] = []
    @Flag(help: "Discard earlier results in --out instead of resuming.") var restart = false
    @Flag(help: "Rebuild the cached unikernel and Linux guest.") var rebuildGuests = false
    @Option(help: "QEMU binary.") var qemu = "qemu-system-x86_64"
    @Option(help: "Directory with swiftc, clang, ld.lld and lld-link (to build the unikernel).") var toolchain = "/opt/swift/usr/bin"
    @Flag(help: "Print a machine-readable summary as JSON at the end.") var json = false

    func settings() throws -> BenchSettings {
        var file = BenchSettings()
        if let config { file = try BenchSettings.load(configFile: config) }
        var flags = BenchSettings()
        flags.guests = try guests.map { try BenchSettings.list($0, what: "--guests").map(GuestSpec.parse) }
        flags.modes = try modes.map { try BenchSettings.modes(BenchSettings.list($0, what: "--modes")) }
        flags.workloads = try workloads.map { try BenchSettings.list($0, what: "--workloads") }
        flags.vcpus = try vcpus.map { try BenchSettings.integers($0, what: "--vcpus") }
        flags.memoryMiB = try memory.map { try BenchSettings.list($0, what: "--memory").map(BenchSettings.memory) }
        flags.repetitions = reps
        flags.warmups = warmups
        flags.timeoutSeconds = timeout
        flags.out = out
        flags.accelerator = accel
        flags.firmware = firmware
        flags.boots = try boot.map { try BenchSettings.boots(BenchSettings.list($0, what: "--boot")) }
        if !param.isEmpty {
            flags.parameters = Dictionary(try param.map(BenchSettings.parameter)) { $1 }
        }
        return file.overriding(with: flags)
    }

    func run() throws {
        let options: BenchOptions
        do { options = try settings().resolved(quick: quick) } catch let error as BenchError {
            throw CLIFailure.badInput(error.description)
        }
        let stamp = ISO8601DateFormatter.string(from: Date(), timeZone: TimeZone(identifier: "UTC") ?? .current,
                                                formatOptions: [.withYear, .withMonth, .withDay, .withTime])
        let directory = URL(fileURLWithPath: options.out ?? "bench-results/\(stamp)").standardizedFileURL
        let script = UnikernelBuildScript.locate(source: nil)
        let tree = script.map { URL(fileURLWithPath: $0).deletingLastPathComponent().deletingLastPathComponent() }
        var session = BenchSession(options: options, directory: directory,
                                   provider: GuestProvider(cache: RunCommand.cacheDirectory, sourceTree: tree, toolchain: toolchain, rebuild: rebuildGuests))
        session.restart = restart
        session.qemu = qemu
        session.cvmVersion = CVMVersion.string
        session.command = QEMUCommandLine.shellQuoted(["cvm"] + CommandLine.arguments.dropFirst())
        session.progress = ProgressDisplay()
        // A signal at any point of the session stops it after (or, with a guest running, during) the current run.
        let cancellation = session.cancellation
        let signals = SignalOwner.shared.subscribe { _ in cancellation.cancel() }
        defer { signals.cancel() }

        let result: BenchSession.Result
        do { result = try session.run() } catch let error as BenchError {
            switch error {
            case .badInput, .resultMismatch: throw CLIFailure.badInput(error.description)
            case .unsupportedHere, .io: throw CLIFailure.unsupportedHere(error.description)
            }
        }
        if json {
            try printJSON(MachineSummary(result))
        } else {
            printSummary(result)
        }
        if let reportError = result.reportError { printError("cvm: reports not written: \(reportError)") }
        if result.outcome.interrupted { throw ExitCode(128 + (SignalOwner.shared.received ?? SIGINT)) }
    }

    func printSummary(_ result: BenchSession.Result) {
        if result.environment.emulated { print(BenchSummary.emulationText) }
        let executed = result.outcome.executed
        let notOK = executed.filter { $0.outcome != .ok }.count
        var line = "\(result.directory.path): \(executed.count) runs now (\(notOK) not ok)"
        if result.outcome.alreadyDone > 0 { line += ", \(result.outcome.alreadyDone) already in the log" }
        line += ", \(result.outcome.total) planned"
        print(line + (result.outcome.interrupted ? "; interrupted" : ""))
        // One line per reason: the host check's reason is usually the same for every guest of a mode.
        var byReason: [(reason: String, mode: String, guests: [String])] = []
        for skipped in result.plan.skipped {
            if let index = byReason.firstIndex(where: { $0.reason == skipped.reason }) {
                if !byReason[index].guests.contains(skipped.cell.guest) { byReason[index].guests.append(skipped.cell.guest) }
            } else {
                byReason.append((skipped.reason, skipped.cell.mode, [skipped.cell.guest]))
            }
        }
        for entry in byReason {
            print("  not measured: \(entry.mode) (\(entry.guests.joined(separator: ", "))): \(entry.reason)")
        }
        if let summary = result.summary {
            let keys = ["boot.to-ready", "boot.to-exit", "stream.triad", "chase.latency", "sha256.throughput", "ep.throughput",
                        "exits.cpuid-ns", "touch.ns-per-page"]
            for cell in summary.cells where cell.measured {
                let parts = keys.compactMap { key -> String? in
                    guard let metric = cell.metrics.first(where: { $0.key == key }) else { return nil }
                    return "\(key) \(Self.format(metric.statistics.median)) \(metric.unit)"
                }
                print("  \(cell.key): " + parts.joined(separator: ", "))
            }
        }
        print("  reports: \(BenchFiles.markdown), \(BenchFiles.html), \(BenchFiles.summary), \(BenchFiles.csv) (cvm bench report DIR rewrites them)")
    }

    static func format(_ value: Double) -> String {
        let magnitude = abs(value)
        if magnitude >= 100 { return String(format: "%.0f", value) }
        if magnitude >= 1 { return String(format: "%.2f", value) }
        return String(format: "%.3f", value)
    }

    struct MachineSummary: Encodable {
        struct Skipped: Encodable {
            let guest: String
            let mode: String
            let reason: String
        }
        struct Metric: Encodable {
            let cell: String
            let metric: String
            let unit: String
            let n: Int
            let median: Double
        }
        let directory: String
        let emulated: Bool
        let accelerator: String
        let interrupted: Bool
        let resumed: Bool
        let planned: Int
        let executed: Int
        let alreadyDone: Int
        let notOK: Int
        let skipped: [Skipped]
        let medians: [Metric]
        let files: [String]
        let reportError: String?

        init(_ result: BenchSession.Result) {
            directory = result.directory.path
            emulated = result.environment.emulated
            accelerator = result.environment.accelerator
            interrupted = result.outcome.interrupted
            resumed = result.resumed
            planned = result.outcome.total
            executed = result.outcome.executed.count
            alreadyDone = result.outcome.alreadyDone
            notOK = result.outcome.executed.filter { $0.outcome != .ok }.count
            var seen = Set<String>()
            skipped = result.plan.skipped.filter { seen.insert("\($0.cell.guest)/\($0.cell.mode)").inserted }
                .map { Skipped(guest: $0.cell.guest, mode: $0.cell.mode, reason: $0.reason) }
            medians = (result.summary?.cells ?? []).flatMap { cell in
                cell.metrics.map { Metric(cell: cell.key, metric: $0.key, unit: $0.unit, n: $0.statistics.n, median: $0.statistics.median) }
            }
            let names = [BenchFiles.environment, BenchFiles.plan, BenchFiles.runLog, BenchFiles.summary, BenchFiles.csv,
                         BenchReportWriter.runsCSV, BenchFiles.markdown, BenchFiles.html]
            files = names.map { result.directory.appendingPathComponent($0).path }
                .filter { FileManager.default.fileExists(atPath: $0) }
            reportError = result.reportError
        }
    }
}
