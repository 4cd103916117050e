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
          cvm run out/unikernel --boot firmware --timeout 60
          cvm run --kernel vmlinuz --initrd initrd.img --firmware ovmf \\
              --append "console=ttyS0"
          cvm run out/linux --backend libvirt --accel tcg

        Exit status: the guest's exit code; 3 when this host cannot run the launch; 124 on timeout; \
        125 when the guest kernel reported a fatal error: a Linux panic, or a line the --preset names \
        fatal, such as a failed Unikraft init function (QEMU is stopped there instead of rebooting into \
        it or passing for a clean exit); \
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
    @Option(help: "Number of vCPUs (default 1, or the preset's).") var vcpus: Int?
    @Option(help: "Guest memory, e.g. 512M or 2G (default 512M, or the preset's).") var memory: String?
    @Option(help: "QEMU CPU model (default QEMU's; EPYC-v4 for confidential modes).") var cpu: String?
    @Option(help: "Firmware: auto, seabios, ovmf, a path to an OVMF image, or bios:PATH (a -bios image that is the whole guest).") var firmware: String = "auto"
    @Option(help: "How a unikernel bundle boots: firmware (its firmware.fd is the whole firmware, measured whole; the default in confidential modes), pvh (from SeaBIOS; the default in mode none) or efi (its kernel.efi from OVMF).") var boot: UnikernelBoot?
    @Option(help: "qemu or libvirt.") var backend: Backend = .qemu
    @Option(help: "auto, kvm or tcg.") var accel: AcceleratorRequest = .auto
    @Option(help: "Stop the guest after this many seconds.") var timeout: Double?
    @Flag(help: "Measured direct kernel boot (kernel-hashes=on); needs an OvmfPkg/AmdSev firmware.") var kernelHashes = false
    @OptionGroup var snpInputs: SNPLaunchInputOptions
    @Option(help: "C-bit position (default: read from the host; else by the host's CPU generation, 47 on Naples and Rome, 51 from Milan on; else by the CPU model).") var cbitpos: Int?
    @Option(help: "Physical address bit reduction for --dry-run (default 1).") var reducedPhysBits: Int?
    @Option(help: "QEMU binary.") var qemu = "qemu-system-x86_64"
    @Option(help: ArgumentHelp(ImageCommand.Build.OCI.maxImageContentHelp)) var maxImageContent: String?
    @Option(help: "Write the console to this file as well.") var consoleLog: String?
    @Flag(help: "Print the launch instead of running it.") var dryRun = false
    @Flag(help: "Do not echo the guest console.") var quiet = false
    @Flag(help: "Print the run result as JSON at the end.") var json = false
    @Flag(help: ArgumentHelp("--attest: ask the unikernel for an SEV-SNP attestation report bound to a nonce and its command line, and verify it against the bundle's expected measurement (exit 1 when there is none or it fails). --attest URL: a container guest attests to the relying party at URL (cvm attest serve) before its Entrypoint runs, and gets its secrets in /run/secrets; refused, the container does not start (exit 122).", valueName: "URL")) var attest = false
    @Option(name: .customLong("attest-url"), help: .hidden) var attestURL: String?
    @Option(help: "The relying party's X25519 public key (hex) for --attest URL (default: fetched from URL/kbs/v0/public-key).") var attestKey: String?
    @Option(help: "Forward a host port to the guest, like docker run -p: [HOSTADDR:]HOSTPORT:GUESTPORT (tcp; repeatable; the host address defaults to 127.0.0.1).") var publish: [String] = []
    @Option(help: "The nonce for --attest, up to 32 bytes of hex (default: 32 random bytes).") var nonce: String?
    @OptionGroup var kernelOptions: KernelLaunchOptions

    enum Backend: String, ExpressibleByArgument, CaseIterable { case qemu, libvirt }

    func run() throws {
        if try listPresetsIfAsked() { return }
        let attestation = try attestationRequest()
        var options = try launchOptions()
        if let attestation { options.extraKernelArguments.append(attestation.kernelArgument) }
        let builder = LaunchBuilder(options: options, host: try Self.launchHost()) { printError("notice: \($0)") }
        let guest = try self.guest(builder)
        let plan = try mappingLaunchErrors { try builder.plan(guest, hostChecked: containerImageSource != nil) }
        if dryRun {
            if case .ovmfPflash(_, let template) = plan.firmware, case .ovmfPflash(_, let vars) = plan.spec.firmware {
                printError("notice: the launch keeps its UEFI variables in \(vars): copy \(template ?? "an empty store of the code image's size") there before running it")
            }
            try mappingLaunchErrors { try printLaunch(plan.spec) }
            return
        }

        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(at: scratch) }
        var spec = plan.spec
        spec.firmware = try mappingLaunchErrors { try plan.firmware.prepare(in: scratch) }

        let result: RunResult
        switch backend {
        case .qemu:
            // Asking QEMU about itself costs four QEMU starts; only confidential launches need the answers.
            let capabilities = mode.isConfidential ? QEMUCapabilities.detect(using: ProcessRunner(), binary: qemu) : nil
            let arguments = try mappingLaunchErrors(allUnsupported: true) { try QEMUCommandLine.render(spec, binary: qemu, capabilities: capabilities) }
            result = try mappingLaunchErrors(allUnsupported: true) {
                try QEMUSupervisor.run(arguments, options: .init(timeout: timeout, echoConsole: !quiet && !json, consoleLog: consoleLog,
                                                                 fatalLines: plan.profile?.fatalLines ?? []))
            }
        case .libvirt:
            let version = LibvirtCapabilities.detect(using: ProcessRunner())?.version
            result = try mappingLaunchErrors(allUnsupported: true) {
                try LibvirtRunner.run(spec, libvirtVersion: version, scratch: scratch, timeout: timeout ?? 600, echo: !quiet && !json)
            }
        }
        var verdict: RunAttestation.Outcome?
        if let attestation {
            let boot: BundleBoot? = if case .bundle(let boot) = guest { boot } else { nil }
            verdict = attestation.evaluate(console: result.console.map(\.text), spec: spec, bundle: boot)
        }
        if json {
            try printJSON(RunReport(result: result, accelerator: spec.accelerator.rawValue, mode: mode.rawValue, backend: backend.rawValue,
                                    attestation: verdict?.lines, attestationPassed: verdict?.passed))
        }
        printError("cvm: \(result.summary)")
        if let verdict, !json { for line in verdict.lines { printError("cvm: " + line) } }
        reportContainerGuestRun(spec)
        if result.interrupted { throw ExitCode(128 + (result.interruptSignal ?? SIGINT)) }
        if result.timedOut { throw ExitCode(124) }
        if result.guestPanic != nil { throw ExitCode(125) }
        guard let code = result.guestExitCode else { throw ExitCode(3) }
        if code != 0 { throw ExitCode(Int32(truncatingIfNeeded: code)) }
        if verdict?.passed == false { throw ExitCode(1) }
    }

    /// `--attest` (and its `--nonce`) for a unikernel bundle; nil without --attest.
    func attestationRequest() throws -> RunAttestation? {
        if attestURL != nil {
            if attest { throw CLIFailure.badInput("give --attest (the unikernel's own report) or --attest URL (a container guest's relying party), not both") }
            if nonce != nil { throw CLIFailure.badInput("--nonce goes with the unikernel's --attest; the relying party issues the nonce for --attest URL") }
            return nil
        }
        if attestKey != nil { throw CLIFailure.badInput("--attest-key goes with --attest URL") }
        guard attest else {
            if nonce != nil { throw CLIFailure.badInput("--nonce goes with --attest") }
            return nil
        }
        guard let source, containerImageSource == nil,
              (try? GuestBundle.load(from: URL(fileURLWithPath: source)))?.manifest.kind == "unikernel" else {
            throw CLIFailure.badInput("--attest: only the CVMKit unikernel answers attest=1; give its bundle (cvm image build unikernel). In a Linux guest, run cvm attest report inside it")
        }
        return RunAttestation(nonce: try nonce.map(RunAttestation.parseNonce) ?? RunAttestation.randomNonce(),
                              endorsementKey: { try RunAttestation.kdsEndorsementKey($0) })
    }

    func printLaunch(_ spec: LaunchSpec) throws {
        switch backend {
        case .qemu: print(QEMUCommandLine.shellQuoted(try QEMUCommandLine.render(spec, binary: qemu)))
        case .libvirt: print(try LibvirtDomainXML.render(spec, consoleLog: consoleLog), terminator: "")
        }
    }

    struct RunReport: Encodable {
        let result: RunResult
        let accelerator: String
        let mode: String
        let backend: String
        var attestation: [String]? = nil
        var attestationPassed: Bool? = nil
    }

    /// The launch options as the user gave them; the builder applies defaults and presets.
    func launchOptions() throws -> LaunchOptions {
        var options = LaunchOptions(name: "cvm-run-\(getpid())")
        options.mode = mode
        do { options.policy = try Self.parsePolicy(policy, mode: mode) } catch let error as PolicyError {
            throw CLIFailure.badInput("invalid --policy: \(error)")
        }
        options.vcpus = vcpus
        if let memory {
            guard let value = MemorySize.mebibytes(memory) else { throw CLIFailure.badInput("invalid --memory '\(memory)' (use e.g. 512M or 2G)") }
            options.memoryMiB = value
        }
        options.cpuModel = cpu
        options.firmware = FirmwareRequest(argument: firmware)
        options.accelerator = accel
        options.kernelHashes = kernelHashes
        options.kernelHashesWhenMeasurable = false
        options.cbitpos = cbitpos
        options.reducedPhysBits = reducedPhysBits
        options.snp = try snpInputs.launchOptions()
        options.tdx = try snpInputs.tdxLaunchOptions()
        options.extraKernelArguments = extraArgs.map { [$0] } ?? []
        options.bootProtocol = kernelOptions.bootProtocol
        options.unikernelBoot = boot
        options.preset = try presetChoice()
        options.diskFormat = kernelOptions.diskFormat
        options.writableDisk = kernelOptions.writable
        options.qemuBinary = qemu
        options.dryRun = dryRun
        do { options.portForwards = try publish.map(PortForward.init(parsing:)) } catch { throw CLIFailure.badInput("\(error)") }
        if attestURL != nil { options.userNetwork = true }
        return options
    }

    /// SOURCE, --kernel, --disk or bios:PATH as the guest to launch (a container image is built into its bundle first).
    func guest(_ builder: LaunchBuilder) throws -> LaunchGuest {
        switch (source, kernel, kernelOptions.disk) {
        case (_?, _?, _), (_?, _, _?):
            throw CLIFailure.badInput(kernel != nil ? "give a bundle or --kernel, not both" : "give a bundle or --disk, not both")
        case (_, _?, _?):
            throw CLIFailure.badInput("give --kernel or --disk, not both")
        case let (nil, kernel?, nil):
            return .kernel(path: kernel, initrd: initrd, cmdline: append)
        case let (nil, nil, disk?):
            if initrd != nil || append != nil { throw CLIFailure.badInput("--initrd and --append apply to --kernel, not to a disk image") }
            return .disk(path: disk)
        case let (source?, nil, nil):
            if kernelOptions.isSet { throw CLIFailure.badInput("--boot-protocol, --disk and --preset apply to --kernel or --disk, not to a bundle") }
            if let image = containerImageSource {
                try mappingLaunchErrors(hostRefusal: true) { try builder.requireHost() }
                return .bundle(BundleBoot(try containerImageBundle(image, firmware: builder.measuredBootFirmware())))
            }
            let bundle: GuestBundle
            do { bundle = try GuestBundle.load(from: URL(fileURLWithPath: source)) } catch {
                throw CLIFailure.badInput("\(error)")
            }
            try checkBundleAttestation(bundle)
            return .bundle(BundleBoot(bundle))
        case (nil, nil, nil):
            if case .customBIOS = FirmwareRequest(argument: firmware) { return .firmwareOnly }
            if kernelOptions.isSet { throw CLIFailure.badInput("nothing to run: give --kernel FILE or --disk IMAGE") }
            throw CLIFailure.badInput("nothing to run: give a bundle directory or --kernel FILE")
        }
    }

    /// Launch errors as exit statuses: a launch that is wrong whatever the host is bad input (2); one
    /// this host cannot make is 3 (a refused host gate also says how to prepare it for another host).
    func mappingLaunchErrors<T>(allUnsupported: Bool = false, hostRefusal: Bool = false, _ body: () throws -> T) throws -> T {
        do { return try body() } catch LaunchError.invalid(let why) where !allUnsupported {
            throw CLIFailure.badInput(why)
        } catch LaunchError.hostRefused(let why) {
            throw CLIFailure.unsupportedHere(why + ". Use --dry-run to prepare the launch for another host.")
        } catch let error as LaunchError {
            throw CLIFailure.unsupportedHere(error.description)
        }
    }

    /// The host a launch is planned for: this machine, or the recorded host named by $CVM_HOST_RECORDING
    /// (the tests replay recorded hosts, so a dry run's output does not depend on the test machine).
    static func launchHost() throws -> HostSources {
        guard let path = ProcessInfo.processInfo.environment["CVM_HOST_RECORDING"], !path.isEmpty else { return .live() }
        do { return try RecordedHost.load(path: path).sources } catch { throw CLIFailure.badInput("\(error)") }
    }

    static var cacheDirectory: URL {
        if let cache = ProcessInfo.processInfo.environment["CVM_CACHE"] { return URL(fileURLWithPath: cache) }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/cvmkit")
    }

    static func parsePolicy(_ text: String?, mode: ConfidentialMode) throws -> GuestPolicy? {
        guard let text else { return nil }
        return try GuestPolicy(parsing: text, mode: mode)
    }
}

extension ConfidentialMode: ExpressibleByArgument {}
extension AcceleratorRequest: ExpressibleByArgument {}
