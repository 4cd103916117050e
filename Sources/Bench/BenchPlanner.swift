import BenchReport
import Foundation
import HostOS
import HostProbe
import Launch
import Measurement
import SEVABI

/// What the host says about each mode, asked once per bench.
public struct HostGate: Sendable {
    /// nil = the mode can launch here; otherwise the host check's one-line reason.
    public var refusals: [ConfidentialMode: String]
    public var accelerator: Accelerator
    public var acceleratorNotice: String?
    /// C-bit position and address reduction from this host's CPUID, when it has SEV.
    public var cbitpos: Int?
    public var reducedPhysBits: Int?

    public init(refusals: [ConfidentialMode: String], accelerator: Accelerator, acceleratorNotice: String? = nil, cbitpos: Int? = nil, reducedPhysBits: Int? = nil) {
        self.refusals = refusals
        self.accelerator = accelerator
        self.acceleratorNotice = acceleratorNotice
        self.cbitpos = cbitpos
        self.reducedPhysBits = reducedPhysBits
    }

    /// Runs the host check (without its QEMU probe guests) for the confidential modes asked for, and
    /// picks the accelerator for plain guests (a real KVM probe for `auto`).
    public static func probe(modes: [String], accelerator request: AcceleratorRequest, qemu: String,
                             sources: HostSources = .live()) -> HostGate {
        var refusals: [ConfidentialMode: String] = [:]
        let confidential = modes.compactMap(ConfidentialMode.init(rawValue:)).filter(\.isConfidential)
        if !confidential.isEmpty {
            var options = HostChecker.Options()
            options.probeQEMUGuests = false
            options.qemuBinary = qemu
            let report = HostChecker(sources: sources, options: options).run()
            for mode in confidential {
                if let why = LaunchPlanner.hostRefusal(for: mode, report: report) {
                    refusals[mode] = why
                } else if request == .tcg {
                    refusals[mode] = "--accel tcg: \(LaunchError.needsKVM(mode))"
                }
            }
        }
        let (accelerator, notice) = LaunchPlanner.accelerator(request, mode: .none, cpuModel: nil, qemuBinary: qemu)
        var gate = HostGate(refusals: refusals, accelerator: accelerator, acceleratorNotice: notice)
        if let leaf = CPUInfo(cpuid: sources.cpuid).memoryEncryption, leaf.sev {
            gate.cbitpos = leaf.cBitPosition
            gate.reducedPhysBits = leaf.physicalAddressReduction
        }
        return gate
    }

    /// A KVM that answers the planner's probe can still be unusable for real guests (nested or
    /// paravirtual KVM where a long-mode boot takes tens of seconds). With `auto`, the unikernel boots
    /// once under KVM; if that does not finish within `limit` seconds the plain cells run under TCG.
    public mutating func confirmKVM(request: AcceleratorRequest, pvhKernel: String?, qemu: String, limit: Double = 5) {
        guard request == .auto, accelerator == .kvm, let pvhKernel else { return }
        let spec = LaunchSpec(name: "cvm-bench-kvm-check", boot: .kernel(path: pvhKernel, initrd: nil, cmdline: "run=noop"),
                              memoryMiB: 64, accelerator: .kvm, console: .stdio, debugExit: true)
        let arguments: [String]
        do { arguments = try QEMUCommandLine.render(spec, binary: qemu) } catch { return }
        let result = try? QEMUSupervisor.run(arguments, options: .init(timeout: limit))
        if result?.guestExitCode == 0 && result?.timedOut == false { return }
        accelerator = .tcg
        let why = result.map { $0.timedOut ? "did not finish in \(Int(limit)) s" : $0.summary } ?? "could not start"
        acceleratorNotice = "accelerator: TCG (software emulation; KVM answers its probe but a unikernel boot under KVM \(why): nested or paravirtual KVM?): timings are emulated, not native"
    }

    public func verdict(_ mode: String) -> String {
        ConfidentialMode(rawValue: mode).flatMap { refusals[$0] }.map { "not ready: \($0)" } ?? "ready"
    }
}

/// Turns guests, modes and shapes into the plan: cells to run, cells skipped with their reasons and
/// expected launch measurements, and the launch of each run.
public enum BenchPlanner {
    public static func plan(options: BenchOptions, guests: [PreparedGuest], gate: HostGate) -> BenchPlan {
        var cells: [BenchCell] = []
        var skipped: [SkippedCell] = []
        for guest in guests {
            for mode in options.modes {
                for vcpus in options.vcpus {
                    for memory in options.memoryMiB {
                        let cell = BenchCell(guest: guest.spec.name, mode: mode, vcpus: vcpus, memoryMiB: memory)
                        if let reason = refusal(guest: guest, cell: cell, gate: gate, firmware: options.firmware) {
                            let (measurement, note) = expectedMeasurement(guest: guest, cell: cell, options: options)
                            skipped.append(SkippedCell(cell: cell, reason: reason, expectedMeasurement: measurement, measurementNote: note))
                        } else {
                            cells.append(cell)
                        }
                    }
                }
            }
        }
        var plan = BenchPlan(guests: guests.map(\.record), modes: options.modes, workloads: options.workloads, vcpus: options.vcpus,
                             memoryMiB: options.memoryMiB, repetitions: options.repetitions, warmups: options.warmups,
                             cells: cells, skipped: skipped, timeoutSeconds: options.timeoutSeconds)
        plan.guestRepetitions = Dictionary(uniqueKeysWithValues: guests.compactMap { guest in guest.spec.repetitions.map { (guest.spec.name, $0) } })
        if plan.guestRepetitions?.isEmpty == true { plan.guestRepetitions = nil }
        plan.workloadParameters = WorkloadCatalog.defaultParameters.merging(options.parameters) { $1 }
        plan.firmware = options.firmware == .auto ? nil : options.firmware.argument
        return plan
    }

    static func refusal(guest: PreparedGuest, cell: BenchCell, gate: HostGate, firmware: FirmwareRequest = .auto) -> String? {
        if let unavailable = guest.unavailable { return unavailable }
        if let reason = ConfidentialMode(rawValue: cell.mode).flatMap({ gate.refusals[$0] }) { return reason }
        if cell.memoryMiB < guest.minimumMemoryMiB {
            return "\(cell.memoryMiB) MiB is below the guest's minimum of \(guest.minimumMemoryMiB) MiB"
        }
        if cell.mode != "none" || firmware != .auto, case .unikernel = guest.spec.kind, guest.efiKernel == nil {
            return "this unikernel bundle has no EFI application to boot through OVMF"
        }
        return nil
    }

    /// The workloads of one boot of `guest`: all of them for our guests, the boot alone for others.
    public static func workloads(for guest: PreparedGuest, options: BenchOptions) -> [String] {
        guest.spec.runsWorkloads ? options.workloads : ["boot"]
    }

    /// The firmware a confidential launch of `mode` would use here, resolved without side effects.
    static func firmwarePath(for mode: ConfidentialMode, request: FirmwareRequest = .auto) -> String? {
        (try? LaunchPlanner.resolveFirmware(for: mode, request: request))?.imagePath
    }

    /// The guest's boot parts as the launch builder takes them; the command line carries `workloads`.
    static func boot(_ guest: PreparedGuest, cmdline: String) -> BundleBoot {
        BundleBoot(kernel: guest.kernel, efiKernel: guest.efiKernel, initrd: guest.initrd, cmdline: cmdline,
                   pvh: guest.efiKernel != nil, minimumMemoryMiB: guest.minimumMemoryMiB)
    }

    /// The launch measurement the cell would have on an SEV host with this system's OVMF: covering the
    /// kernel, initrd and command line when the OVMF has the kernel-hashes table (then the launch uses
    /// kernel-hashes=on), else the firmware and vCPUs only.
    public static func expectedMeasurement(guest: PreparedGuest, cell: BenchCell, options: BenchOptions) -> (String?, String?) {
        guard let mode = ConfidentialMode(rawValue: cell.mode), mode.isConfidential, guest.unavailable == nil,
              let launchMode = LaunchMode(mode) else { return (nil, nil) }
        guard let firmware = firmwarePath(for: mode, request: options.firmware) else { return (nil, "no OVMF image for \(mode.rawValue) on this system (apt-get install ovmf)") }
        let image: FirmwareImage
        do { image = try FirmwareImage(path: firmware) } catch { return (nil, "\(firmware): \(error)") }
        let hashesTable = FirmwareDiscovery.inspect(firmware, files: LocalFileSystem()).supportsMeasuredKernelBoot
        var hashes: SEVHashesTable?
        let cmdline = guest.commandLine(workloads: workloads(for: guest, options: options), parameters: options.parameters)
        if hashesTable {
            do {
                hashes = SEVHashesTable(kernel: try readFile(try boot(guest, cmdline: cmdline).kernel(throughOVMF: true)), initrd: try guest.initrd.map(readFile), cmdline: cmdline)
            } catch {
                return (nil, "cannot read the guest's kernel or initrd: \(error)")
            }
        }
        do {
            let measurer = try LaunchMeasurer(mode: launchMode, firmware: image, hashes: hashes)
            let vcpuType = try VCPUType(named: "EPYC-v4")
            let digest = try measurer.measure(VCPUConfiguration(count: cell.vcpus, type: vcpuType))
            let hex = digest.map { String(format: "%02x", $0) }.joined()
            let covers = hashes != nil
                ? "covers \(firmware), \(cell.vcpus) vCPU(s) EPYC-v4 and the kernel, initrd and command line (kernel-hashes=on)"
                : "covers \(firmware) and \(cell.vcpus) vCPU(s) EPYC-v4 only: this OVMF has no kernel-hashes table, so the kernel, initrd and command line are not measured"
            return (hex, covers)
        } catch {
            return (nil, "\(firmware): \(error)")
        }
    }

    /// The launch of one run of `cell`.
    public static func launchSpec(guest: PreparedGuest, cell: BenchCell, workloads: [String], options: BenchOptions,
                                  gate: HostGate, stateDirectory: URL, qmpSocket: String) throws -> LaunchSpec {
        guard let mode = ConfidentialMode(rawValue: cell.mode) else { throw BenchError.badInput("unknown mode \(cell.mode)") }
        var launch = LaunchOptions(name: "cvm-bench-\(getpid())")
        launch.mode = mode
        launch.vcpus = cell.vcpus
        launch.memoryMiB = cell.memoryMiB
        launch.firmware = options.firmware
        // The bench asked the host once (HostGate); every run takes its answer.
        launch.hostDecided = mode.isConfidential ? .kvm : gate.accelerator
        launch.kernelHashesWhenMeasurable = true
        launch.cbitpos = mode.isConfidential ? gate.cbitpos : nil
        launch.reducedPhysBits = mode.isConfidential ? gate.reducedPhysBits : nil
        launch.qmpSocket = qmpSocket
        let cmdline = guest.commandLine(workloads: workloads, parameters: options.parameters)
        let plan = try LaunchBuilder(options: launch).plan(.bundle(boot(guest, cmdline: cmdline)))
        var spec = plan.spec
        spec.firmware = try plan.firmware.prepare(in: stateDirectory)
        // vCPUs wait for the QMP `cont` that marks the timeline's firmware point.
        spec.startPaused = true
        return spec
    }
}

/// Facts about this host for environment.json.
public enum BenchHostFacts {
    public static func environment(gate: HostGate, modes: [String], qemu: String, cvmVersion: String, command: String,
                                   startedAt: String, firmware: FirmwareRequest = .auto, runner: any CommandRunner = ProcessRunner()) -> BenchEnvironment {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let cpuModel = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .flatMap { $0.split(separator: ":", maxSplits: 1).last }.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
        let meminfo = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? ""
        let memoryKiB = meminfo.split(separator: "\n").first { $0.hasPrefix("MemTotal:") }
            .flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
        var system = utsname()
        uname(&system)
        let release = withUnsafeBytes(of: system.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let qemuVersion = runner.run([qemu, "--version"], timeout: 20).flatMap { $0.stdout.split(separator: "\n").first.map(String.init) }
        let libvirt = runner.run(["virsh", "--version"], timeout: 20).flatMap { $0.status == 0 ? $0.stdout.trimmingCharacters(in: .whitespacesAndNewlines) : nil }
        // The OVMF image confidential launches would use (SNP's stateless image first).
        let ovmf = BenchPlanner.firmwarePath(for: .sevSNP, request: firmware) ?? BenchPlanner.firmwarePath(for: .sev, request: firmware)
        let ovmfDigest = ovmf.flatMap { try? GuestProvider.sha256(URL(fileURLWithPath: $0)) }
        var verdicts: [String: String] = [:]
        for mode in modes { verdicts[mode] = gate.verdict(mode) }
        return BenchEnvironment(hostname: ProcessInfo.processInfo.hostName, cpuModel: cpuModel, cpuCount: ProcessInfo.processInfo.processorCount,
                                memoryMiB: memoryKiB / 1024, kernelRelease: release, accelerator: gate.accelerator.rawValue,
                                qemuVersion: qemuVersion, ovmf: ovmf, ovmfSHA256: ovmfDigest, libvirtVersion: libvirt,
                                cvmVersion: cvmVersion, command: command, startedAt: startedAt, modeVerdicts: verdicts)
    }
}
