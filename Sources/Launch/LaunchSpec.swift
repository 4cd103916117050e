import HostProbe
import SEVABI

public enum Accelerator: String, Sendable, Codable, CaseIterable {
    case kvm, tcg
}

/// The guest's policy, typed by mode.
public enum GuestPolicy: Sendable, Hashable {
    case sev(SEVPolicy)
    case snp(SNPPolicy)
    /// A TD's ATTRIBUTES, which KVM_TDX_INIT_VM takes and the TD report carries.
    case td(TDAttributes)

    public var hexValue: String {
        switch self {
        case .sev(let policy): return policy.description
        case .snp(let policy): return policy.description
        case .td(let attributes): return attributes.description
        }
    }
}

/// TD ATTRIBUTES (Intel TDX module ABI, TD_PARAMS.ATTRIBUTES): bit 0 DEBUG (off-TD debug: the host
/// reads the TD's state), bit 28 SEPT_VE_DISABLE (no #VE on access to pending private pages; Linux
/// guests want it set), bit 30 PKS, bit 63 PERFMON. The default is SEPT_VE_DISABLE alone.
public struct TDAttributes: Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public static let debug = TDAttributeBits.debug
    public static let septVEDisable = TDAttributeBits.septVEDisable
    public static let pks = TDAttributeBits.pks
    public static let perfmon = TDAttributeBits.perfmon
    public static let `default` = TDAttributes(rawValue: septVEDisable)
    public static let reserved = TDAttributeBits.reserved

    public var isDebug: Bool { rawValue & Self.debug != 0 }
    public var septVEDisabled: Bool { rawValue & Self.septVEDisable != 0 }
    public var description: String { String(format: "0x%016llx", rawValue) }
}

/// What the guest boots from.
public enum BootSource: Sendable, Hashable {
    /// Direct kernel boot: kernel, optional initrd, command line.
    case kernel(path: String, initrd: String?, cmdline: String)
    /// A disk image (raw or qcow2), booted by the firmware.
    case disk(path: String, format: String)
    /// Nothing but the firmware itself (a custom -bios image that is the whole guest).
    case firmwareOnly
    /// A guest that is its own firmware (`Firmware.ownImage`, the unikernel's firmware.fd): nothing is
    /// loaded beside it; the command line goes to the fw_cfg file `opt/org.cvmkit/cmdline`.
    case ownFirmware(cmdline: String)

    /// The fw_cfg file the firmware boot reads its command line from.
    public static let commandLineFwCfgName = "opt/org.cvmkit/cmdline"
    /// Most command-line bytes the unikernel reads from that file.
    public static let commandLineFwCfgLimit = 4096
}

/// How a unikernel bundle boots: as its own firmware (firmware.fd with -bios, measured whole), as a
/// PVH kernel that QEMU's loader starts from SeaBIOS, or as an EFI application that OVMF starts.
public enum UnikernelBoot: String, Sendable, Hashable, Codable, CaseIterable {
    case firmware, pvh, efi
}

/// The firmware the guest starts with.
public enum Firmware: Sendable, Hashable {
    /// QEMU's default SeaBIOS. Cannot run any SEV mode.
    case seabios
    /// OVMF as two pflash devices: shared read-only code, and this VM's own copy of the variable store.
    case ovmfPflash(code: String, vars: String)
    /// A single OVMF image loaded with -bios (stateless): what SNP requires.
    case ovmfBios(path: String)
    /// Any other image loaded with -bios (a test or custom firmware); cannot run confidential guests.
    case customBIOS(path: String)
    /// The guest's own firmware image, loaded with -bios (the unikernel's firmware.fd): its footer table
    /// carries the SEV-ES reset block and the SEV metadata, so it launches in every mode and the PSP
    /// measures it whole.
    case ownImage(path: String)

    public var isOVMF: Bool {
        switch self {
        case .seabios, .customBIOS, .ownImage: return false
        case .ovmfPflash, .ovmfBios: return true
        }
    }

    /// Firmware that can start a confidential guest: OVMF, or a guest that is its own SEV-aware firmware.
    public var launchesConfidential: Bool {
        if case .ownImage = self { return true }
        return isOVMF
    }

    public var imagePath: String? {
        switch self {
        case .seabios: return nil
        case .ovmfPflash(let code, _): return code
        case .ovmfBios(let path), .customBIOS(let path), .ownImage(let path): return path
        }
    }
}

/// SEV-SNP launch inputs beyond the policy.
public struct SNPLaunchOptions: Sendable, Hashable, Codable {
    /// Base64 of the 96-byte ID block and the 4096-byte ID authentication info.
    public var idBlock: String?
    public var idAuth: String?
    public var authorKeyEnabled: Bool
    /// 32 bytes the host binds into the report (HOST_DATA), base64.
    public var hostData: String?

    public init(idBlock: String? = nil, idAuth: String? = nil, authorKeyEnabled: Bool = false, hostData: String? = nil) {
        self.idBlock = idBlock
        self.idAuth = idAuth
        self.authorKeyEnabled = authorKeyEnabled
        self.hostData = hostData
    }
}

/// TDX launch inputs beyond the TD attributes.
public struct TDXLaunchOptions: Sendable, Hashable, Codable {
    /// The host's Quote Generation Service (QGS), which turns a TD report into a quote: a Unix socket
    /// path (libvirt's `<quoteGenerationService path=…>`, QEMU's quote-generation-socket).
    public var quoteGenerationSocket: String?

    public init(quoteGenerationSocket: String? = nil) { self.quoteGenerationSocket = quoteGenerationSocket }
}

/// One serial port and where its bytes go.
public enum SerialSink: Sendable, Hashable {
    /// The supervisor's standard input/output (streamed to the terminal and a log).
    case stdio
    case file(String)
    /// A Unix socket a console can attach to later; with `log`, QEMU also appends every byte to that
    /// file whether or not a client is attached.
    case socket(String, log: String? = nil)
    case none
}

/// A guest launch as data: everything `cvm run`, `cvm vm` and `cvm bench` decide, rendered in one
/// place to QEMU arguments (`QEMUCommandLine`) or libvirt domain XML (`LibvirtDomainXML`).
public struct LaunchSpec: Sendable, Hashable {
    public var name: String
    public var boot: BootSource
    public var mode: ConfidentialMode
    public var policy: GuestPolicy?
    public var vcpus: Int
    /// A QEMU CPU model; nil leaves QEMU's default (or EPYC-v4 for confidential modes).
    public var cpuModel: String?
    public var memoryMiB: Int
    public var firmware: Firmware
    public var accelerator: Accelerator
    /// Measured direct kernel boot: QEMU puts kernel/initrd/cmdline hashes where OVMF measures them.
    public var kernelHashes: Bool
    public var snp: SNPLaunchOptions
    public var tdx = TDXLaunchOptions()
    /// C-bit position and physical address reduction; read from the host, or given for dry runs.
    public var cbitpos: Int?
    public var reducedPhysBits: Int?
    /// First serial port (console, kernel log).
    public var console: SerialSink
    /// Second serial port (application output), when the guest uses one.
    public var applicationSerial: SerialSink
    /// The guest may end QEMU with an exit code through isa-debug-exit at port 0xf4.
    public var debugExit: Bool
    public var qmpSocket: String?
    /// Extra drives, e.g. a cloud-init seed ISO (read-only CD-ROM).
    public var cdroms: [String]
    public var userNetwork: Bool
    /// Host ports forwarded into the guest over user networking (`--publish`, like docker run -p).
    public var portForwards: [PortForward] = []
    public var extraKernelArguments: [String]
    /// QEMU machine type: q35 unless a preset documents another (Unikraft's kraft uses pc).
    public var machineType = "q35"
    /// How a disk image is attached: virtio-blk, or virtio-scsi as Nanos' ops does.
    public var diskBus: DiskBus = .virtioBlk
    /// The boot protocol of a direct-boot kernel (`KernelImageDetector`); nil is the Linux boot protocol.
    public var kernelProtocol: BootProtocol?
    /// Further QEMU arguments a preset documents (RNG, an extra exit device); libvirt gets them as qemu:arg.
    public var extraQEMUArguments: [String] = []
    /// A disk is booted without writing to it: QEMU keeps the guest's writes in a temporary snapshot.
    public var diskSnapshot = false
    /// A reboot ends QEMU (-no-reboot): a guest that resets itself is not booted again in a loop.
    public var noReboot = false
    /// libvirt: a guest reboot restarts the domain (persistent VMs) instead of ending it (one-shot runs).
    public var rebootRestarts = false
    /// libvirt: the domain's UUID, so redefining a persistent VM keeps its identity.
    public var domainUUID: String?
    /// QEMU starts with its vCPUs stopped (-S) until a QMP `cont`: bench tells QEMU's setup from the boot.
    public var startPaused = false
    /// QEMU's -name: persistent VMs carry their name into ps and QMP.
    public var namesProcess = false
    /// QEMU detaches (-daemonize) and writes its pid to this file (-pidfile): persistent VMs.
    public var daemonPIDFile: String?

    public init(name: String, boot: BootSource, mode: ConfidentialMode = .none, policy: GuestPolicy? = nil, vcpus: Int = 1,
                cpuModel: String? = nil, memoryMiB: Int = 512, firmware: Firmware = .seabios, accelerator: Accelerator = .tcg,
                kernelHashes: Bool = false, snp: SNPLaunchOptions = SNPLaunchOptions(), cbitpos: Int? = nil, reducedPhysBits: Int? = nil,
                console: SerialSink = .stdio, applicationSerial: SerialSink = .none, debugExit: Bool = true, qmpSocket: String? = nil,
                cdroms: [String] = [], userNetwork: Bool = false, extraKernelArguments: [String] = []) {
        self.name = name
        self.boot = boot
        self.mode = mode
        self.policy = policy
        self.vcpus = vcpus
        self.cpuModel = cpuModel
        self.memoryMiB = memoryMiB
        self.firmware = firmware
        self.accelerator = accelerator
        self.kernelHashes = kernelHashes
        self.snp = snp
        self.cbitpos = cbitpos
        self.reducedPhysBits = reducedPhysBits
        self.console = console
        self.applicationSerial = applicationSerial
        self.debugExit = debugExit
        self.qmpSocket = qmpSocket
        self.cdroms = cdroms
        self.userNetwork = userNetwork
        self.extraKernelArguments = extraKernelArguments
    }

    /// The policy to launch with: the given one, or the usual default for the mode
    /// (SEV 0x01 no-debug, SEV-ES 0x05 no-debug + ES, SNP 0x30000).
    public var effectivePolicy: GuestPolicy? {
        if let policy { return policy }
        switch mode {
        case .none: return nil
        case .sev: return try? .sev(SEVPolicy(rawValue: 0x01))
        case .sevES: return try? .sev(SEVPolicy(rawValue: 0x05))
        case .sevSNP: return .snp(.default)
        case .tdx: return .td(.default)
        }
    }

    /// The vCPU model: the user's, else EPYC-v4 for SEV (the model the launch digests assume) and the
    /// host's own CPU for TDX (the TDX module fixes what a TD sees; QEMU's TDX support wants `host`).
    public var effectiveCPUModel: String? {
        cpuModel ?? (mode == .tdx ? "host" : mode.isConfidential ? "EPYC-v4" : nil)
    }

    /// The kernel command line with the extra arguments appended.
    public var kernelCommandLine: String? {
        let cmdline: String
        switch boot {
        case .kernel(_, _, let line), .ownFirmware(let line): cmdline = line
        case .disk, .firmwareOnly: return nil
        }
        return ([cmdline] + extraKernelArguments).filter { !$0.isEmpty }.joined(separator: " ")
    }
}

/// Why a launch cannot be rendered or started.
public enum LaunchError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalid(String)
    case unsupportedHere(String)
    /// The host check says this host cannot run the mode (a dry run can still prepare the launch).
    case hostRefused(String)

    /// Confidential guests under TCG: QEMU 7.2 aborts on an assertion when SEV objects meet TCG, and no
    /// version can emulate SEV. The one wording of it.
    public static func needsKVM(_ mode: ConfidentialMode) -> LaunchError {
        .unsupportedHere("\(mode.rawValue) needs KVM on an SEV host; TCG cannot run confidential guests")
    }

    public var description: String {
        switch self {
        case .invalid(let why), .unsupportedHere(let why), .hostRefused(let why): return why
        }
    }
}

extension LaunchSpec {
    /// Checks that hold whatever the host: they make a launch meaningless, not merely impossible here.
    public func validate() throws {
        guard vcpus >= 1, vcpus <= 512 else { throw LaunchError.invalid("vCPU count \(vcpus) is out of range (1-512)") }
        guard memoryMiB >= 16, memoryMiB <= 4 * 1024 * 1024 else { throw LaunchError.invalid("memory \(memoryMiB) MiB is out of range (16 MiB-4 TiB)") }
        if case .ownImage = firmware {
            guard case .ownFirmware = boot else { throw LaunchError.invalid("a guest's own firmware image boots alone: no kernel or disk beside it") }
            if kernelHashes { throw LaunchError.invalid("kernel hashes need a kernel loaded beside the firmware; a firmware boot is measured whole") }
            let line = kernelCommandLine ?? ""
            if line.isEmpty { throw LaunchError.invalid("the firmware boot needs a command line: QEMU cannot create the fw_cfg file \(BootSource.commandLineFwCfgName) empty") }
            if line.utf8.count > BootSource.commandLineFwCfgLimit {
                throw LaunchError.invalid("command line of \(line.utf8.count) bytes: the firmware boot reads at most \(BootSource.commandLineFwCfgLimit) from fw_cfg")
            }
        } else if case .ownFirmware = boot {
            throw LaunchError.invalid("a firmware boot needs the guest's own firmware image")
        }
        if mode.isConfidential {
            guard firmware.launchesConfidential else {
                throw LaunchError.invalid("\(mode.rawValue) needs OVMF (UEFI); SeaBIOS cannot run confidential guests")
            }
            switch (mode, effectivePolicy) {
            case (.sevSNP, .sev?): throw LaunchError.invalid("sev-snp needs a 64-bit SNP policy, not an SEV policy")
            case (.sev, .snp?), (.sevES, .snp?): throw LaunchError.invalid("\(mode.rawValue) needs a 32-bit SEV policy, not an SNP policy")
            case (.sevES, .sev(let policy)?) where !policy.requiresES:
                throw LaunchError.invalid("sev-es needs the ES bit (0x4) in the policy; \(policy) lacks it")
            case (.sev, .sev(let policy)?) where policy.requiresES:
                throw LaunchError.invalid("policy \(policy) has the ES bit: use --mode sev-es")
            case (.tdx, .sev?), (.tdx, .snp?): throw LaunchError.invalid("tdx takes TD attributes (64 bits, e.g. 0x10000000), not an SEV or SNP policy")
            case (.sev, .td?), (.sevES, .td?), (.sevSNP, .td?): throw LaunchError.invalid("\(mode.rawValue) takes an SEV or SNP policy, not TD attributes")
            default: break
            }
            if mode == .sevSNP, case .ovmfPflash = firmware {
                throw LaunchError.invalid("sev-snp loads OVMF with -bios (stateless), not as pflash")
            }
            if case .td(let attributes)? = effectivePolicy, attributes.rawValue & TDAttributes.reserved != 0 {
                throw LaunchError.invalid("TD attributes \(attributes) set reserved bits (\(TDAttributes(rawValue: attributes.rawValue & TDAttributes.reserved))): only DEBUG (0x1), SEPT_VE_DISABLE (0x10000000), PKS (0x40000000), KL (0x80000000) and PERFMON (bit 63) exist")
            }
            if mode == .tdx, case .ovmfPflash = firmware {
                throw LaunchError.invalid("tdx loads the TDVF with -bios: a TD has no read-only memory for pflash")
            }
            if mode == .tdx, kernelHashes {
                throw LaunchError.invalid("kernel hashes are SEV's: a TDVF measures the kernel, initrd and command line into RTMRs itself")
            }
        } else if kernelHashes {
            throw LaunchError.invalid("kernel hashes are only measured in confidential modes")
        }
        if kernelHashes, case .disk = boot {
            throw LaunchError.invalid("kernel hashes need direct kernel boot (--kernel), not a disk")
        }
        try validateKernelProtocol()
        if snp != SNPLaunchOptions(), mode != .sevSNP {
            throw LaunchError.invalid("ID block, ID auth and host data exist only for sev-snp")
        }
        if tdx != TDXLaunchOptions(), mode != .tdx {
            throw LaunchError.invalid("a Quote Generation Service socket exists only for tdx")
        }
        if (snp.idBlock == nil) != (snp.idAuth == nil) {
            throw LaunchError.invalid("an SNP ID block needs its ID authentication info, and the other way round")
        }
    }
}

/// A TCP port of the host forwarded to one of the guest's: `[HOSTADDR:]HOSTPORT:GUESTPORT`, as
/// `docker run -p` writes it. The host address defaults to 127.0.0.1 (not every interface).
public struct PortForward: Sendable, Hashable, Codable, CustomStringConvertible {
    public var hostAddress: String
    public var hostPort: Int
    public var guestPort: Int

    public init(hostAddress: String = "127.0.0.1", hostPort: Int, guestPort: Int) {
        self.hostAddress = hostAddress
        self.hostPort = hostPort
        self.guestPort = guestPort
    }

    public init(parsing text: String) throws {
        var parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        if let last = parts.last, last.hasSuffix("/tcp") { parts[parts.count - 1] = String(last.dropLast(4)) }
        guard parts.count == 2 || parts.count == 3, !text.hasSuffix("/udp") else {
            throw LaunchError.invalid("--publish '\(text)': expected [HOSTADDR:]HOSTPORT:GUESTPORT (tcp)")
        }
        let address = parts.count == 3 ? parts[0] : "127.0.0.1"
        let octets = address.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4, octets.allSatisfy({ UInt8($0) != nil }) else {
            throw LaunchError.invalid("--publish '\(text)': the host address must be an IPv4 address")
        }
        guard let host = Int(parts[parts.count - 2]), let guest = Int(parts[parts.count - 1]),
              (1...65535).contains(host), (1...65535).contains(guest) else {
            throw LaunchError.invalid("--publish '\(text)': ports are 1-65535")
        }
        self.init(hostAddress: address, hostPort: host, guestPort: guest)
    }

    public var description: String { "\(hostAddress):\(hostPort)->\(guestPort)/tcp" }
    /// QEMU's `hostfwd=` value.
    public var qemuHostForward: String { "tcp:\(hostAddress):\(hostPort)-:\(guestPort)" }
}
