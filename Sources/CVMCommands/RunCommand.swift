import ArgumentParser
import Foundation
import GuestImage
import HostOS
import HostProbe
import Launch
import SEVABI

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Boot a guest once, stream its console, and return the guest's exit code.",
        discussion: """
        SOURCE is a guest bundle directory (from `cvm image build`); or give --kernel (and --initrd, \
        --append) instead. Plain guests (--mode none) run anywhere, under KVM when a probe guest really \
        runs under KVM here, else under TCG with a notice that timings are emulated. Confidential modes \
        are refused, with the host check's reasons, on hosts that cannot run them; --dry-run prints the \
        exact launch anyway (the QEMU command line, or with --backend libvirt the domain XML), so a launch \
        can be prepared for another host.

        Examples:
          cvm run out/linux --timeout 120
          cvm run out/linux --mode sev-snp --vcpus 2 --dry-run
          cvm run --kernel vmlinuz --initrd initrd.img --firmware ovmf \\
              --append "console=ttyS0"
          cvm run out/linux --backend libvirt --accel tcg

        Exit status: the guest's exit code; 3 when this host cannot run the launch; 124 on timeout; \
        125 when the guest kernel panicked (QEMU is stopped at the panic instead of rebooting into it); \
        130 when interrupted by SIGINT (Ctrl-C), 143 by SIGTERM.
        """
    )

    @Argument(help: "A guest bundle directory.") var source: String?
    @Option(help: "Kernel to boot directly (instead of a bundle).") var kernel: String?
    @Option(help: "Initial ramdisk for --kernel.") var initrd: String?
    @Option(help: "Kernel command line for --kernel (default console=ttyS0).") var append: String?
    @Option(help: "Extra kernel arguments appended to the bundle's command line.") var extraArgs: String?
    @Option(help: "none, sev, sev-es or sev-snp.") var mode: ConfidentialMode = .none
    @Option(help: "Guest policy (SEV 32-bit or SNP 64-bit; default 0x1 SEV, 0x5 SEV-ES, 0x30000 SNP).") var policy: String?
    @Option(help: "Number of vCPUs.") var vcpus: Int = 1
    @Option(help: "Guest memory, e.g. 512M or 2G.") var memory: String = "512M"
    @Option(help: "QEMU CPU model (default QEMU's; EPYC-v4 for confidential modes).") var cpu: String?
    @Option(help: "Firmware: auto, seabios, ovmf, a path to an OVMF image, or bios:PATH (a -bios image that is the whole guest).") var firmware: String = "auto"
    @Option(help: "qemu or libvirt.") var backend: Backend = .qemu
    @Option(help: "auto, kvm or tcg.") var accel: AcceleratorRequest = .auto
    @Option(help: "Stop the guest after this many seconds.") var timeout: Double?
    @Flag(help: "Measured direct kernel boot (kernel-hashes=on); needs an OvmfPkg/AmdSev firmware.") var kernelHashes = false
    @Option(help: "C-bit position for --dry-run (default: read from the host, else 47 Milan / 51 Genoa, Turin).") var cbitpos: Int?
    @Option(help: "Physical address bit reduction for --dry-run (default 1).") var reducedPhysBits: Int?
    @Option(help: "QEMU binary.") var qemu = "qemu-system-x86_64"
    @Option(help: ArgumentHelp(ImageCommand.Build.OCI.maxImageContentHelp)) var maxImageContent: String?
    @Option(help: "Write the console to this file as well.") var consoleLog: String?
    @Flag(help: "Print the launch instead of running it.") var dryRun = false
    @Flag(help: "Do not echo the guest console.") var quiet = false
    @Flag(help: "Print the run result as JSON at the end.") var json = false
    @OptionGroup var kernelOptions: KernelLaunchOptions

    enum Backend: String, ExpressibleByArgument, CaseIterable { case qemu, libvirt }

    func run() throws {
        if try listPresetsIfAsked() { return }
        // A dry run prints a command meant to be run later: its per-VM OVMF variable store must outlive
        // this process, so it goes to the cache instead of a temporary directory.
        let scratch = dryRun
            ? Self.cacheDirectory.appendingPathComponent("dry-run/\(UUID().uuidString)")
            : FileManager.default.temporaryDirectory.appendingPathComponent("cvm-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { if !dryRun { try? FileManager.default.removeItem(at: scratch) } }

        var spec = try launchSpec(scratch: scratch)
        // The C-bit position and address reduction come from this host's CPUID when it has SEV; a dry
        // run for another host falls back to the usual values of the CPU model (or --cbitpos).
        if mode.isConfidential, spec.cbitpos == nil, let leaf = CPUInfo(cpuid: NativeCPUID()).memoryEncryption, leaf.sev {
            spec.cbitpos = leaf.cBitPosition
            spec.reducedPhysBits = spec.reducedPhysBits ?? leaf.physicalAddressReduction
        }
        if dryRun {
            if mode.isConfidential { spec.accelerator = .kvm }
            try finishCustomLaunch(&spec, dryRun: true)
            do {
                switch backend {
                case .qemu:
                    print(QEMUCommandLine.shellQuoted(try QEMUCommandLine.render(spec, binary: qemu)))
                case .libvirt:
                    print(try LibvirtDomainXML.render(spec, consoleLog: consoleLog), terminator: "")
                }
            } catch let error as LaunchError {
                throw CLIFailure.badInput(error.description)
            }
            if (try? FileManager.default.contentsOfDirectory(atPath: scratch.path))?.isEmpty == true {
                try? FileManager.default.removeItem(at: scratch)
            }
            return
        }

        do {
            try LaunchPlanner.requireHostSupport(for: mode)
        } catch let error as LaunchError {
            throw CLIFailure.unsupportedHere(error.description + ". Use --dry-run to prepare the launch for another host.")
        }
        if !mode.isConfidential {
            printError("notice: --mode none: this guest is not protected (no memory encryption)")
        }
        let (accelerator, notice) = LaunchPlanner.accelerator(accel, mode: mode, cpuModel: spec.effectiveCPUModel, qemuBinary: qemu)
        spec.accelerator = accelerator
        if let notice { printError("notice: \(notice)") }
        try finishCustomLaunch(&spec, dryRun: false)

        let result: RunResult
        switch backend {
        case .qemu:
            // Asking QEMU about itself costs four QEMU starts; only confidential launches need the answers.
            let capabilities = mode.isConfidential ? QEMUCapabilities.detect(using: ProcessRunner(), binary: qemu) : nil
            let arguments: [String]
            do { arguments = try QEMUCommandLine.render(spec, binary: qemu, capabilities: capabilities) } catch let error as LaunchError {
                throw CLIFailure.unsupportedHere(error.description)
            }
            do {
                result = try QEMUSupervisor.run(arguments, options: .init(timeout: timeout, echoConsole: !quiet && !json, consoleLog: consoleLog))
            } catch let error as LaunchError {
                throw CLIFailure.unsupportedHere(error.description)
            }
        case .libvirt:
            let version = LibvirtCapabilities.detect(using: ProcessRunner())?.version
            do {
                result = try LibvirtRunner.run(spec, libvirtVersion: version, scratch: scratch, timeout: timeout ?? 600, echo: !quiet && !json)
            } catch let error as LaunchError {
                throw CLIFailure.unsupportedHere(error.description)
            }
        }
        if json {
            try printJSON(RunReport(result: result, accelerator: accelerator.rawValue, mode: mode.rawValue, backend: backend.rawValue))
        }
        printError("cvm: \(result.summary)")
        reportContainerGuestRun(spec)
        if result.interrupted { throw ExitCode(128 + (result.interruptSignal ?? SIGINT)) }
        if result.timedOut { throw ExitCode(124) }
        if result.guestPanic != nil { throw ExitCode(125) }
        guard let code = result.guestExitCode else { throw ExitCode(3) }
        if code != 0 { throw ExitCode(Int32(truncatingIfNeeded: code)) }
    }

    struct RunReport: Encodable {
        let result: RunResult
        let accelerator: String
        let mode: String
        let backend: String
    }

    func launchSpec(scratch: URL) throws -> LaunchSpec {
        let boot: BootSource
        var minimumMemory = 16
        let custom = try customBoot()
        if let custom {
            boot = custom.boot
        } else if let kernel {
            guard source == nil else { throw CLIFailure.badInput("give a bundle or --kernel, not both") }
            guard FileManager.default.isReadableFile(atPath: kernel) else { throw CLIFailure.badInput("cannot read kernel \(kernel)") }
            if let initrd, !FileManager.default.isReadableFile(atPath: initrd) { throw CLIFailure.badInput("cannot read initrd \(initrd)") }
            boot = .kernel(path: Self.absolute(kernel), initrd: initrd.map(Self.absolute), cmdline: append ?? "console=ttyS0")
        } else if let source {
            let bundle: GuestBundle
            if let image = containerImageSource { bundle = try containerImageBundle(image, scratch: scratch) } else {
                do { bundle = try GuestBundle.load(from: URL(fileURLWithPath: source)) } catch {
                    throw CLIFailure.badInput("\(error)")
                }
            }
            minimumMemory = bundle.manifest.boot.minimumMemoryMiB
            var kernelPath = bundle.kernelURL.path
            if bundle.manifest.boot.protocolName == "pvh" {
                // A PVH kernel has no firmware to carry SEV; through OVMF the bundle's EFI application boots instead.
                let throughOVMF = mode.isConfidential || firmware != "auto" && firmware != "seabios"
                if throughOVMF {
                    guard let efi = bundle.efiKernelURL else {
                        throw CLIFailure.badInput("this PVH bundle has no EFI application: it cannot boot through OVMF or in a confidential mode")
                    }
                    kernelPath = efi.path
                }
            }
            boot = .kernel(path: kernelPath, initrd: bundle.hasInitrd ? bundle.initrdURL.path : nil, cmdline: bundle.cmdline)
        } else if firmware.hasPrefix("bios:") {
            boot = .firmwareOnly
        } else {
            throw CLIFailure.badInput("nothing to run: give a bundle directory or --kernel FILE")
        }
        guard let memoryMiB = custom?.memoryMiB ?? MemorySize.mebibytes(memory) else {
            throw CLIFailure.badInput("invalid --memory '\(memory)' (use e.g. 512M or 2G)")
        }
        if memoryMiB < minimumMemory {
            throw CLIFailure.badInput("--memory \(memoryMiB)M is below the bundle's minimum of \(minimumMemory)M (its initramfs would not unpack)")
        }
        let guestPolicy: GuestPolicy?
        do { guestPolicy = try Self.parsePolicy(policy, mode: mode) } catch let error as PolicyError {
            throw CLIFailure.badInput("invalid --policy: \(error)")
        }
        let firmwareChoice: Firmware
        do {
            firmwareChoice = try LaunchPlanner.firmware(for: mode, request: custom?.firmwareRequest ?? FirmwareRequest(argument: firmware), stateDirectory: scratch)
        } catch LaunchError.invalid(let why) {
            throw CLIFailure.badInput(why)
        } catch let error as LaunchError {
            throw CLIFailure.unsupportedHere(error.description)
        }
        var spec = LaunchSpec(
            name: "cvm-run-\(getpid())", boot: boot, mode: mode, policy: guestPolicy, vcpus: custom?.vcpus ?? vcpus, cpuModel: cpu,
            memoryMiB: memoryMiB, firmware: firmwareChoice, accelerator: .tcg, kernelHashes: kernelHashes,
            cbitpos: cbitpos, reducedPhysBits: reducedPhysBits, console: .stdio, debugExit: true,
            extraKernelArguments: extraArgs.map { [$0] } ?? [])
        try prepareContainerGuestLaunch(&spec)
        if let custom { applyCustomBoot(custom, to: &spec) }
        do { try spec.validate() } catch let error as LaunchError { throw CLIFailure.badInput(error.description) }
        return spec
    }

    static var cacheDirectory: URL {
        if let cache = ProcessInfo.processInfo.environment["CVM_CACHE"] { return URL(fileURLWithPath: cache) }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/cvmkit")
    }

    /// Dry runs print commands meant to be run elsewhere: paths are made absolute.
    static func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.path
    }

    static func parsePolicy(_ text: String?, mode: ConfidentialMode) throws -> GuestPolicy? {
        guard let text else { return nil }
        return try GuestPolicy(parsing: text, mode: mode)
    }
}

extension ConfidentialMode: ExpressibleByArgument {}
extension AcceleratorRequest: ExpressibleByArgument {}
