import Foundation
import GuestImage
import HostOS
import HostProbe
import SEVABI

/// A guest as the user named it, before any launch decision.
public enum LaunchGuest: Sendable {
    /// A bundle's boot parts (`cvm run BUNDLE`, a built OCI image, a bench guest).
    case bundle(BundleBoot)
    /// A kernel file for direct boot; a nil command line takes the protocol's or the preset's default.
    case kernel(path: String, initrd: String?, cmdline: String?)
    /// A disk image booted through the firmware.
    case disk(path: String)
    /// A VM's own qcow2 overlay of its disk (absent until `cvm vm create` makes it, so during its dry
    /// run): written in place, and a reboot restarts the guest as it would a machine.
    case vmDisk(path: String)
    /// Nothing but a custom -bios image (`--firmware bios:PATH`).
    case firmwareOnly
}

/// What a launch needs of a bundle: its kernels, initrd, command line and how it boots.
public struct BundleBoot: Sendable {
    public var kernel: String
    /// The EFI application that OVMF starts in place of a PVH kernel (unikernel bundles carry one).
    public var efiKernel: String?
    /// The kernel as its own firmware, for -bios (unikernel bundles carry `firmware.fd`).
    public var firmwareImage: String?
    public var initrd: String?
    public var cmdline: String
    /// The bundle's kernel is a PVH ELF: without firmware in the way it boots as is, through OVMF its EFI application boots.
    public var pvh: Bool
    public var minimumMemoryMiB: Int
    /// Built from a container image: the app console is the second serial port and the kernel log goes to `kernelLog`.
    public var kernelLog: String?
    /// The expected launch measurements the bundle's builder recorded, when its firmware had the hashes table.
    public var launchMeasurement: LaunchMeasurementRecord?

    public init(kernel: String, efiKernel: String? = nil, firmwareImage: String? = nil, initrd: String?, cmdline: String, pvh: Bool = false,
                minimumMemoryMiB: Int = 16, kernelLog: String? = nil, launchMeasurement: LaunchMeasurementRecord? = nil) {
        self.kernel = kernel
        self.efiKernel = efiKernel
        self.firmwareImage = firmwareImage
        self.initrd = initrd
        self.cmdline = cmdline
        self.pvh = pvh
        self.minimumMemoryMiB = minimumMemoryMiB
        self.kernelLog = kernelLog
        self.launchMeasurement = launchMeasurement
    }

    public init(_ bundle: GuestBundle) {
        self.init(kernel: bundle.kernelURL.path, efiKernel: bundle.efiKernelURL?.path, firmwareImage: bundle.firmwareImageURL?.path, initrd: bundle.hasInitrd ? bundle.initrdURL.path : nil,
                  cmdline: bundle.cmdline, pvh: bundle.manifest.boot.protocolName == "pvh", minimumMemoryMiB: bundle.manifest.boot.minimumMemoryMiB,
                  kernelLog: bundle.manifest.kind == "oci" ? bundle.directory.path + ".kernel.log" : nil,
                  launchMeasurement: bundle.manifest.launchMeasurement)
    }

    /// The kernel file the launch boots: the PVH kernel without firmware, else the EFI application
    /// through OVMF (a PVH kernel has no firmware to carry SEV); a Linux kernel boots as it is.
    public func kernel(throughOVMF: Bool) throws -> String {
        guard pvh, throughOVMF else { return kernel }
        guard let efiKernel else {
            throw LaunchError.invalid("this PVH bundle has no EFI application: it cannot boot through OVMF or in a confidential mode")
        }
        return efiKernel
    }

    /// How a unikernel bundle boots when the user did not say: as its own firmware in confidential
    /// modes (unless OVMF was asked for, or the bundle predates firmware.fd), through OVMF when OVMF was
    /// asked for, else as a PVH kernel from SeaBIOS.
    public func defaultUnikernelBoot(mode: ConfidentialMode, firmware: FirmwareRequest) -> UnikernelBoot {
        let asksOVMF = firmware != .auto && firmware != .seabios
        if mode.isConfidential { return firmwareImage != nil && !asksOVMF ? .firmware : .efi }
        return asksOVMF ? .efi : .pvh
    }
}

extension LaunchGuest {
    func isBundle(pvh: Bool) -> Bool {
        if case .bundle(let bundle) = self { return bundle.pvh == pvh }
        return false
    }
}

/// The user's launch options, before defaults, presets and host facts are applied.
public struct LaunchOptions: Sendable {
    public var name: String
    public var mode: ConfidentialMode = .none
    public var policy: GuestPolicy?
    /// nil: 1, or the preset's.
    public var vcpus: Int?
    /// nil: `defaultMemoryMiB`, or the preset's.
    public var memoryMiB: Int?
    public var cpuModel: String?
    public var firmware: FirmwareRequest = .auto
    public var accelerator: AcceleratorRequest = .auto
    public var kernelHashes = false
    /// Kernel hashes on whenever the firmware can measure them (bench, container-image guests).
    public var kernelHashesWhenMeasurable = false
    public var cbitpos: Int?
    public var reducedPhysBits: Int?
    public var snp = SNPLaunchOptions()
    public var tdx = TDXLaunchOptions()
    public var extraKernelArguments: [String] = []
    public var bootProtocol: BootProtocol?
    /// How a unikernel bundle boots (`cvm run --boot`); nil: `BundleBoot.defaultUnikernelBoot`.
    public var unikernelBoot: UnikernelBoot?
    public var preset: GuestPreset?
    public var diskFormat: String?
    /// A disk boot writes to the user's image only when asked; otherwise QEMU writes to a throw-away snapshot.
    public var writableDisk = false
    public var console: SerialSink = .stdio
    public var debugExit = true
    public var qmpSocket: String?
    /// CD-ROM images (a cloud image's cloud-init seed).
    public var cdroms: [String] = []
    /// QEMU user networking; nil: the preset's choice (none without a preset).
    public var userNetwork: Bool?
    /// `--publish`: forwarded host ports (turns user networking on).
    public var portForwards: [PortForward] = []
    public var qemuBinary = "qemu-system-x86_64"
    /// Prepared for another host: no host gate, no accelerator probe, no files written.
    public var dryRun = false
    /// The caller already asked the host (bench asks once per bench): no gate, and this accelerator.
    public var hostDecided: Accelerator?

    /// `cvm run` and `cvm vm create` default to the same guest memory.
    public static let defaultMemoryMiB = 512

    public init(name: String) { self.name = name }
}

/// A launch decided: the spec, and how its firmware's variable store is made before QEMU starts.
public struct LaunchPlan: Sendable {
    public var spec: LaunchSpec
    public var firmware: ResolvedFirmware
    public var profile: PresetProfile?
    /// The boot path a unikernel bundle took; nil for other guests.
    public var unikernelBoot: UnikernelBoot?

    /// Which way the guest boots, for reports: "firmware.fd", "pvh+seabios", "efi+ovmf",
    /// "kernel+ovmf", "kernel+seabios", "disk+ovmf", ...
    public var bootLabel: String {
        if unikernelBoot == .firmware { return "firmware.fd" }
        let loaded: String
        switch spec.boot {
        case .kernel: loaded = unikernelBoot?.rawValue ?? "kernel"
        case .disk: loaded = "disk"
        case .firmwareOnly, .ownFirmware: return "bios"
        }
        switch spec.firmware {
        case .seabios: return loaded + "+seabios"
        case .ovmfPflash, .ovmfBios: return loaded + "+ovmf"
        case .customBIOS, .ownImage: return loaded + "+bios"
        }
    }
}

/// The one place a guest plus the user's options becomes a `LaunchSpec`: `cvm run`, `cvm bench` and
/// `cvm vm` call it. The boot path (PVH kernel or EFI application, kernel protocol, disk) is chosen
/// here, the firmware is resolved here without side effects, and the host gate is asked here, once.
public struct LaunchBuilder: Sendable {
    public var options: LaunchOptions
    /// The host the launch is planned for: its CPUID (C-bit) and its host check.
    public var host: HostSources
    /// Where the firmware and guest files are: this machine, also when the launch is prepared for another host.
    public var files: any HostFileSystem
    /// Where notices go (the boot protocol found, TCG, what the measurement covers).
    public var notice: @Sendable (String) -> Void

    public init(options: LaunchOptions, host: HostSources = .live(), files: any HostFileSystem = LocalFileSystem(),
                notice: @escaping @Sendable (String) -> Void = { _ in }) {
        self.options = options
        self.host = host
        self.files = files
        self.notice = notice
    }

    var mode: ConfidentialMode { options.mode }

    /// Refuses a confidential mode the host cannot run (never for a dry run, which prepares a launch for another host).
    public func requireHost() throws {
        guard !options.dryRun else { return }
        try LaunchPlanner.requireHostSupport(for: mode, sources: host)
    }

    /// Builds the launch. `hostChecked` says the caller already asked `requireHost()` (before a long
    /// image build), so the host check runs once either way.
    public func plan(_ guest: LaunchGuest, hostChecked: Bool = false) throws -> LaunchPlan {
        let profile = try options.preset.map { preset -> PresetProfile in
            let profile = preset.profile
            if let why = profile.refusal(for: mode) { throw LaunchError.invalid(why) }
            return profile
        }
        var boot: BootSource
        var firmwareRequest = options.firmware
        var kernelProtocol: BootProtocol?
        var minimumMemory = 16
        var bootsDisk = false
        var unikernelBoot: UnikernelBoot?
        var ownFirmware: String?
        if options.unikernelBoot != nil, !(guest.isBundle(pvh: true)) {
            throw LaunchError.invalid("--boot firmware|pvh|efi applies to a unikernel bundle; a Linux kernel boots through the firmware --firmware names")
        }
        switch guest {
        case .bundle(let bundle):
            guard options.bootProtocol == nil, options.preset == nil, options.diskFormat == nil else {
                throw LaunchError.invalid("--boot-protocol, --disk and --preset apply to --kernel or --disk, not to a bundle")
            }
            minimumMemory = bundle.minimumMemoryMiB
            if bundle.pvh {
                let chosen = options.unikernelBoot ?? bundle.defaultUnikernelBoot(mode: mode, firmware: options.firmware)
                (boot, firmwareRequest, ownFirmware) = try unikernelBootSource(bundle, chosen)
                unikernelBoot = chosen
            } else {
                let throughOVMF = mode.isConfidential || (options.firmware != .auto && options.firmware != .seabios)
                boot = .kernel(path: try bundle.kernel(throughOVMF: throughOVMF), initrd: bundle.initrd, cmdline: bundle.cmdline)
            }
        case let .kernel(path, initrd, cmdline):
            let kernel = try kernelBoot(path, initrd: initrd, cmdline: cmdline, profile: profile)
            boot = kernel.boot
            kernelProtocol = kernel.proto
            firmwareRequest = kernel.firmware
        case .disk(let path):
            boot = try diskBoot(path, profile: profile)
            bootsDisk = true
        case .vmDisk(let path):
            boot = .disk(path: path, format: "qcow2")
        case .firmwareOnly:
            boot = .firmwareOnly
        }

        let memoryMiB = options.memoryMiB ?? profile?.memoryMiB ?? LaunchOptions.defaultMemoryMiB
        if memoryMiB < minimumMemory {
            throw LaunchError.invalid("--memory \(memoryMiB)M is below the bundle's minimum of \(minimumMemory)M (its initramfs would not unpack)")
        }
        let firmware = try ownFirmware.map { ResolvedFirmware.ownImage(path: $0) }
            ?? LaunchPlanner.resolveFirmware(for: mode, request: firmwareRequest, files: files)
        var spec = LaunchSpec(
            name: options.name, boot: boot, mode: mode, policy: options.policy, vcpus: options.vcpus ?? profile?.vcpus ?? 1,
            cpuModel: options.cpuModel, memoryMiB: memoryMiB, firmware: firmware.firmware(varsPath: Self.placeholderVars),
            accelerator: .tcg, kernelHashes: options.kernelHashes, snp: options.snp, cbitpos: options.cbitpos,
            reducedPhysBits: options.reducedPhysBits, console: options.console, debugExit: options.debugExit,
            qmpSocket: options.qmpSocket, extraKernelArguments: options.extraKernelArguments)
        spec.kernelProtocol = kernelProtocol
        spec.tdx = options.tdx
        if bootsDisk { spec.diskSnapshot = !options.writableDisk }
        if case .kernel = guest { spec.noReboot = true }
        if bootsDisk { spec.noReboot = true }
        if let profile {
            spec.machineType = profile.machineType
            spec.diskBus = profile.diskBus
            spec.userNetwork = profile.userNetwork
            spec.extraQEMUArguments = profile.extraQEMUArguments(mode: mode)
            if options.cpuModel == nil, !mode.isConfidential { spec.cpuModel = profile.cpuKVM }
        }
        spec.cdroms = options.cdroms
        if let userNetwork = options.userNetwork { spec.userNetwork = userNetwork }
        if !options.portForwards.isEmpty {
            spec.userNetwork = true
            spec.portForwards = options.portForwards
        }
        if case .bundle(let bundle) = guest { containerGuest(bundle, spec: &spec) }
        if options.kernelHashesWhenMeasurable, mode.isSEV, case .kernel = spec.boot {
            spec.kernelHashes = Self.measuresKernel(firmware.imagePath, files: files)
        }
        try checkKernelHashes(spec)
        applyHostCPUID(to: &spec)
        try spec.validate()

        if case .bundle(let bundle) = guest, unikernelBoot == .firmware { firmwareBootNotice(bundle, spec: spec) }
        if unikernelBoot != nil, spec.vcpus > 1 {
            var text = "vcpus: the unikernel runs on vCPU 0 and leaves the other \(spec.vcpus - 1) parked (it prints cvmuk info vcpus= parked=)"
            if mode == .sevES || mode == .sevSNP { text += "; their VMSAs are still part of the launch measurement" }
            notice(text)
        }

        if options.dryRun {
            if mode.isConfidential { spec.accelerator = .kvm }
            try finishPreset(profile, spec: &spec, hostChecked: hostChecked)
            return LaunchPlan(spec: spec, firmware: firmware, profile: profile, unikernelBoot: unikernelBoot)
        }
        if let decided = options.hostDecided {
            spec.accelerator = decided
            try finishPreset(profile, spec: &spec, hostChecked: true)
            return LaunchPlan(spec: spec, firmware: firmware, profile: profile, unikernelBoot: unikernelBoot)
        }
        if !hostChecked { try requireHost() }
        if !mode.isConfidential { notice("--mode none: this guest is not protected (no memory encryption)") }
        let (accelerator, acceleratorNotice) = LaunchPlanner.accelerator(options.accelerator, mode: mode, cpuModel: spec.effectiveCPUModel,
                                                                         qemuBinary: options.qemuBinary, runner: host.commands)
        spec.accelerator = accelerator
        if let acceleratorNotice { notice(acceleratorNotice) }
        try finishPreset(profile, spec: &spec, hostChecked: hostChecked)
        return LaunchPlan(spec: spec, firmware: firmware, profile: profile, unikernelBoot: unikernelBoot)
    }

    /// The OVMF image this launch boots when it has the SEV kernel-hashes table (a container image's
    /// bundle is built with the measurement table for it); resolved without side effects.
    public func measuredBootFirmware() -> String? {
        let path: String?
        if case .path(let explicit) = options.firmware {
            path = explicit
        } else if mode.isSEV {
            path = (try? LaunchPlanner.resolveFirmware(for: mode, request: options.firmware, files: files))?.imagePath
        } else {
            path = nil
        }
        return Self.measuresKernel(path, files: files) ? path : nil
    }

    /// The VARS path a dry run prints: the copy a later run makes of the template, here, in the current directory.
    static var placeholderVars: String {
        FileManager.default.currentDirectoryPath + "/OVMF_VARS.fd"
    }

    static func measuresKernel(_ firmware: String?, files: any HostFileSystem) -> Bool {
        firmware.map { FirmwareDiscovery.inspect($0, files: files).hasKernelHashesTable } ?? false
    }

    /// kernel-hashes=on with a firmware that has no SEV hashes table would measure nothing; `cvm measure` refuses the same input.
    func checkKernelHashes(_ spec: LaunchSpec) throws {
        guard spec.kernelHashes, spec.mode.isConfidential, let image = spec.firmware.imagePath else { return }
        guard Self.measuresKernel(image, files: files) else {
            throw LaunchError.invalid("--kernel-hashes: \(image) has no SEV hashes table (an OvmfPkg/AmdSev build has one), so QEMU's kernel hashes would be measured by nothing")
        }
    }

    /// The C-bit position and address reduction: from this host's CPUID when it has SEV; else, for a
    /// dry run, the value of the host's CPU generation (47 on Naples and Rome, 51 from Milan on); else
    /// the renderer's guess from the CPU model.
    func applyHostCPUID(to spec: inout LaunchSpec) {
        guard spec.mode.isSEV, spec.cbitpos == nil else { return }
        let cpu = CPUInfo(cpuid: host.cpuid)
        if let leaf = cpu.memoryEncryption, leaf.sev {
            spec.cbitpos = leaf.cBitPosition
            spec.reducedPhysBits = spec.reducedPhysBits ?? leaf.physicalAddressReduction
        } else if let generation = cpu.generation {
            spec.cbitpos = QEMUCommandLine.usualCBitPosition(generation: generation)
        }
    }

    /// Launches of container-image bundles: the app console (ttyS1) on standard output, the kernel log
    /// (ttyS0) in a file beside the bundle, and a plain statement of what the launch measurement covers.
    func containerGuest(_ bundle: BundleBoot, spec: inout LaunchSpec) {
        guard let kernelLog = bundle.kernelLog, spec.console == .stdio else { return }
        spec.console = .file(kernelLog)
        spec.applicationSerial = .stdio
        notice("app console (ttyS1) on standard output; kernel log (ttyS0) in \(kernelLog)")
        guard mode.isConfidential else { return }
        if mode == .tdx {
            notice("tdx: the TDVF measures kernel, initrd and cmdline into RTMR1/RTMR2, not into MRTD; a verifier checks them by replaying the TD's event log (cvm attest rtmr replay)")
            return
        }
        let image = spec.firmware.imagePath
        guard Self.measuresKernel(image, files: files) else {
            notice("firmware \(image ?? "?") has no SEV kernel-hashes table: kernel, initrd and cmdline are NOT covered by the launch measurement")
            return
        }
        spec.kernelHashes = true
        let vcpus = spec.vcpus
        if options.extraKernelArguments.isEmpty,
           let expected = bundle.launchMeasurement?.measurement(mode: mode.rawValue, vcpus: vcpus, vcpuType: spec.effectiveCPUModel) {
            notice("kernel-hashes=on; expected \(mode.rawValue) launch measurement (\(vcpus) vCPU, \(spec.effectiveCPUModel ?? "default CPU")): \(expected)")
        } else {
            notice("kernel-hashes=on: kernel, initrd and cmdline are covered by the launch measurement (compute it with cvm measure --kernel/--initrd/--append)")
        }
    }
}
