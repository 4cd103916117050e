import BenchReport
import Foundation
import GuestImage
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
    public static func probe(modes: [ConfidentialMode], accelerator request: AcceleratorRequest, qemu: String,
                             sources: HostSources = .live()) -> HostGate {
        var refusals: [ConfidentialMode: String] = [:]
        let confidential = modes.filter(\.isConfidential)
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

    public func verdict(_ mode: ConfidentialMode) -> String {
        refusals[mode].map { "not ready: \($0)" } ?? "ready"
    }
}

extension BenchCell {
    /// The cell's mode as the one mode type; plans and run logs on disk keep its name.
    var confidentialMode: ConfidentialMode? { ConfidentialMode(rawValue: mode) }
    /// The cell's unikernel boot path as the launch builder's type.
    var unikernelBoot: UnikernelBoot? { boot.flatMap(UnikernelBoot.init(rawValue:)) }
}

/// Turns guests, modes and shapes into the plan: cells to run, cells skipped with their reasons and
/// expected launch measurements, and the launch of each run.
public enum BenchPlanner {
    public static func plan(options: BenchOptions, guests: [PreparedGuest], gate: HostGate) -> BenchPlan {
        var cells: [BenchCell] = []
        var skipped: [SkippedCell] = []
        var bootPaths: [String: String] = [:]
        for guest in guests {
            let boots: [String?] = guest.spec.kind == .unikernel ? options.unikernelBoots.map(\.rawValue) : [nil]
            for boot in boots {
                for mode in options.modes {
                    for vcpus in options.vcpus {
                        for memory in options.memoryMiB {
                            let cell = BenchCell(guest: guest.spec.name, mode: mode.rawValue, vcpus: vcpus, memoryMiB: memory, boot: boot)
                            if let path = bootPath(guest: guest, cell: cell, options: options) { bootPaths[cell.key] = path }
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
        }
        var plan = BenchPlan(guests: guests.map(\.record), modes: options.modes.map(\.rawValue), workloads: options.workloads, vcpus: options.vcpus,
                             memoryMiB: options.memoryMiB, repetitions: options.repetitions, warmups: options.warmups,
                             cells: cells, skipped: skipped, timeoutSeconds: options.timeoutSeconds)
        plan.guestRepetitions = Dictionary(uniqueKeysWithValues: guests.compactMap { guest in guest.spec.repetitions.map { (guest.spec.name, $0) } })
        if plan.guestRepetitions?.isEmpty == true { plan.guestRepetitions = nil }
        plan.workloadParameters = WorkloadCatalog.defaultParameters.merging(options.parameters) { $1 }
        plan.firmware = options.firmware == .auto ? nil : options.firmware.argument
        if guests.contains(where: { $0.spec.kind == .unikernel }) { plan.boots = options.unikernelBoots.map(\.rawValue) }
        plan.bootPaths = bootPaths.isEmpty ? nil : bootPaths
        plan.workingSetNote = options.workingSetNote
        return plan
    }

    /// How `cell` boots ("firmware.fd", "pvh+seabios", "efi+ovmf", "kernel+ovmf", ...), decided by
    /// the launch builder as for a dry run; nil when the launch cannot be built here.
    static func bootPath(guest: PreparedGuest, cell: BenchCell, options: BenchOptions) -> String? {
        guard guest.unavailable == nil, let mode = cell.confidentialMode else { return nil }
        var launch = launchOptions(name: "cvm-bench-plan", mode: mode, guest: guest, cell: cell, options: options)
        launch.dryRun = true
        let cmdline = guest.commandLine(workloads: workloads(for: guest, options: options), parameters: options.parameters)
        return (try? LaunchBuilder(options: launch).plan(.bundle(boot(guest, cmdline: cmdline))))?.bootLabel
    }

    /// A cell's shape, firmware and boot path as launch options (planning and running share them).
    static func launchOptions(name: String, mode: ConfidentialMode, guest: PreparedGuest, cell: BenchCell, options: BenchOptions) -> LaunchOptions {
        var launch = LaunchOptions(name: name)
        launch.mode = mode
        launch.vcpus = cell.vcpus
        launch.memoryMiB = cell.memoryMiB
        launch.firmware = firmwareRequest(guest: guest, cell: cell, options: options)
        launch.unikernelBoot = cell.unikernelBoot
        return launch
    }

    /// The firmware request of a cell's launch: the bench's, except for a unikernel that boots as its
    /// own firmware or as a PVH kernel (there --firmware names the OVMF of the EFI boot and of other guests).
    static func firmwareRequest(guest: PreparedGuest, cell: BenchCell, options: BenchOptions) -> FirmwareRequest {
        guard guest.spec.kind == .unikernel, let boot = cell.unikernelBoot, boot != .efi else { return options.firmware }
        return .auto
    }

    static func refusal(guest: PreparedGuest, cell: BenchCell, gate: HostGate, firmware: FirmwareRequest = .auto) -> String? {
        if let unavailable = guest.unavailable { return unavailable }
        if let reason = cell.confidentialMode.flatMap({ gate.refusals[$0] }) { return reason }
        if cell.memoryMiB < guest.minimumMemoryMiB {
            return "\(cell.memoryMiB) MiB is below the guest's minimum of \(guest.minimumMemoryMiB) MiB"
        }
        if case .unikernel = guest.spec.kind {
            if cell.confidentialMode == .tdx {
                return "the CVMKit unikernel has no TDX path yet (no TDX metadata, #VE handler or TDCALLs); the Linux guest runs in tdx"
            }
            switch cell.unikernelBoot {
            case .firmware? where guest.firmwareImage == nil:
                return "this unikernel bundle has no firmware.fd to boot as its own firmware"
            case .pvh? where cell.confidentialMode?.isConfidential == true:
                return "a PVH kernel starts from QEMU's loader with no firmware to carry SEV (boot: firmware or efi)"
            case .efi? where guest.efiKernel == nil:
                return "this unikernel bundle has no EFI application to boot through OVMF"
            case nil where (cell.confidentialMode != ConfidentialMode.none || firmware != .auto) && guest.efiKernel == nil:
                return "this unikernel bundle has no EFI application to boot through OVMF"
            default: break
            }
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
        BundleBoot(kernel: guest.kernel, efiKernel: guest.efiKernel, firmwareImage: guest.firmwareImage, initrd: guest.initrd, cmdline: cmdline,
                   pvh: guest.efiKernel != nil, minimumMemoryMiB: guest.minimumMemoryMiB)
    }

    /// The launch measurement the cell would have on an SEV host with this system's OVMF: covering the
    /// kernel, initrd and command line when the OVMF has the kernel-hashes table (then the launch uses
    /// kernel-hashes=on), else the firmware and vCPUs only.
    public static func expectedMeasurement(guest: PreparedGuest, cell: BenchCell, options: BenchOptions) -> (String?, String?) {
        guard let mode = cell.confidentialMode, mode.isConfidential, guest.unavailable == nil,
              let launchMode = LaunchMode(mode) else { return (nil, nil) }
        let cmdline = guest.commandLine(workloads: workloads(for: guest, options: options), parameters: options.parameters)
        if cell.unikernelBoot == .firmware {
            return firmwareBootMeasurement(guest: guest, cell: cell, mode: launchMode, cmdline: cmdline)
        }
        guard let firmware = firmwarePath(for: mode, request: options.firmware) else { return (nil, "no OVMF image for \(mode.rawValue) on this system (apt-get install ovmf)") }
        do {
            let vcpus = VCPUConfiguration(count: cell.vcpus, type: try VCPUType(named: "EPYC-v4"))
            let expected = try LaunchMeasurementRecord.expected(firmware: URL(fileURLWithPath: firmware), cmdline: cmdline,
                                                                mode: launchMode, vcpus: vcpus) {
                (URL(fileURLWithPath: try boot(guest, cmdline: cmdline).kernel(throughOVMF: true)), guest.initrd.map { URL(fileURLWithPath: $0) })
            }
            let covers = expected.coversKernelInitrdCmdline
                ? "covers \(firmware), \(cell.vcpus) vCPU(s) EPYC-v4 and the kernel, initrd and command line (kernel-hashes=on)"
                : "covers \(firmware) and \(cell.vcpus) vCPU(s) EPYC-v4 only: this OVMF has no kernel-hashes table, so the kernel, initrd and command line are not measured"
            return (expected.measurement, covers)
        } catch let error as GuestImageError {
            return (nil, "\(error)")
        } catch {
            return (nil, "\(firmware): \(error)")
        }
    }

    /// A firmware boot's launch measurement: firmware.fd (the whole unikernel) and the vCPUs; the
    /// command line comes through fw_cfg and is not measured.
    static func firmwareBootMeasurement(guest: PreparedGuest, cell: BenchCell, mode: LaunchMode, cmdline: String) -> (String?, String?) {
        guard let image = guest.firmwareImage else { return (nil, nil) }
        do {
            let vcpus = VCPUConfiguration(count: cell.vcpus, type: try VCPUType(named: "EPYC-v4"))
            let expected = try LaunchMeasurementRecord.expected(firmware: URL(fileURLWithPath: image), cmdline: cmdline, mode: mode, vcpus: vcpus) {
                throw GuestImageError.invalidBundle("firmware.fd loads no kernel")
            }
            return (expected.measurement, "covers firmware.fd (the whole unikernel) and \(cell.vcpus) vCPU(s) EPYC-v4; the command line (fw_cfg, sha256 \(PartDigest.sha256Hex(of: cmdline))) is not measured")
        } catch {
            return (nil, "\(image): \(error)")
        }
    }

    /// Whether a run asks the unikernel for a report and verifies it: the `attest` workload, under SEV-SNP,
    /// on the firmware boot (whose command line the launch measurement does not cover, so the nonce in it
    /// leaves the expected measurement as it is).
    public static func verifiesAttestation(guest: PreparedGuest, cell: BenchCell, workloads: [String]) -> Bool {
        guest.spec.kind == .unikernel && workloads.contains("attest") && cell.confidentialMode == .sevSNP && cell.unikernelBoot == .firmware
    }

    /// The launch of one run of `cell`.
    public static func launchSpec(guest: PreparedGuest, cell: BenchCell, workloads: [String], options: BenchOptions,
                                  gate: HostGate, stateDirectory: URL, qmpSocket: String, attestNonce: [UInt8]? = nil) throws -> LaunchSpec {
        guard let mode = cell.confidentialMode else { throw BenchError.badInput("unknown mode \(cell.mode)") }
        var launch = launchOptions(name: "cvm-bench-\(getpid())", mode: mode, guest: guest, cell: cell, options: options)
        // The bench asked the host once (HostGate); every run takes its answer.
        launch.hostDecided = mode.isConfidential ? .kvm : gate.accelerator
        launch.kernelHashesWhenMeasurable = true
        launch.cbitpos = mode.isSEV ? gate.cbitpos : nil
        launch.reducedPhysBits = mode.isSEV ? gate.reducedPhysBits : nil
        launch.qmpSocket = qmpSocket
        var cmdline = guest.commandLine(workloads: workloads, parameters: options.parameters)
        if let attestNonce { cmdline += " " + UnikernelAttestation.kernelArguments(nonce: attestNonce) }
        let plan = try LaunchBuilder(options: launch).plan(.bundle(boot(guest, cmdline: cmdline)))
        var spec = plan.spec
        spec.firmware = try plan.firmware.prepare(in: stateDirectory)
        // vCPUs wait for the QMP `cont` that marks the timeline's firmware point.
        spec.startPaused = true
        return spec
    }
}

/// Facts about this host for environment.json: HostProbe's host facts plus what this bench decided.
public enum BenchHostFacts {
    public static func environment(gate: HostGate, modes: [ConfidentialMode], qemu: String, cvmVersion: String, command: String,
                                   startedAt: String, firmware: FirmwareRequest = .auto, sources: HostSources = .live()) -> BenchEnvironment {
        let host = HostFacts.collect(qemu: qemu, sources: sources)
        // The OVMF image confidential launches would use (SNP's stateless image first).
        let ovmf = BenchPlanner.firmwarePath(for: .sevSNP, request: firmware) ?? BenchPlanner.firmwarePath(for: .sev, request: firmware)
        let ovmfDigest = ovmf.flatMap { try? GuestProvider.sha256(URL(fileURLWithPath: $0)) }
        var verdicts: [String: String] = [:]
        for mode in modes { verdicts[mode.rawValue] = gate.verdict(mode) }
        return BenchEnvironment(hostname: host.hostname, cpuModel: host.cpuModel, cpuCount: host.cpuCount,
                                memoryMiB: host.memoryMiB, kernelRelease: host.kernelRelease, accelerator: gate.accelerator.rawValue,
                                qemuVersion: host.qemuVersion, ovmf: ovmf, ovmfSHA256: ovmfDigest, libvirtVersion: host.libvirtVersion,
                                cvmVersion: cvmVersion, command: command, startedAt: startedAt, modeVerdicts: verdicts,
                                tuning: tuning(host.tuning))
    }

    static func tuning(_ host: HostTuning) -> BenchEnvironment.Tuning {
        BenchEnvironment.Tuning(microcode: host.microcode, sevFirmware: host.sevFirmware, snpCurrentTCB: host.snpCurrentTCB,
                                snpReportedTCB: host.snpReportedTCB, kernelCommandLine: host.kernelCommandLine, cpuGovernor: host.cpuGovernor,
                                smt: host.smt, transparentHugepages: host.transparentHugepages, lastLevelCache: host.lastLevelCache,
                                lastLevelCacheBytes: host.lastLevelCacheBytes)
    }
}
