import ArgumentParser
import Foundation
import GuestImage
import Launch
import SEVABI

struct VMCreateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create a VM from a guest bundle, a disk image, or a cloud image with a cloud-init seed.",
        discussion: """
        Exactly one of --bundle, --disk or --cloud-image. Disks and cloud images get a qcow2 overlay \
        (qemu-img create -f qcow2 -F FORMAT -b BASE); cloud images also get a NoCloud seed ISO (label \
        cidata) made with xorriso from --cloud-init (a #cloud-config document or a #! script) and a \
        meta-data file with the instance-id and the host name (the VM name).

        A confidential mode this host cannot run is refused now, with the host check's reasons (exit 3). \
        The policy defaults to 0x1 (sev), 0x5 (sev-es), 0x30000 (sev-snp); for tdx it is the TD attributes \
        (default SEPT_VE_DISABLE), and --quote-socket names the host's Quote Generation Service.
        """
    )

    @Argument(help: "VM name: letters, digits, '.', '_', '-' (at most 48).") var name: String
    @Option(help: "A guest bundle directory (from cvm image build).") var bundle: String?
    @Option(help: "A disk image to boot (raw, qcow2, ...); the VM writes an overlay, never the image.") var disk: String?
    @Option(help: "A cloud image (e.g. debian-12-genericcloud-amd64.qcow2); needs --cloud-init.") var cloudImage: String?
    @Option(help: "cloud-init user-data for --cloud-image (#cloud-config or a #! script).") var cloudInit: String?
    @Option(help: "cloud-init network-config (version 1 or 2) for --cloud-image.") var networkConfig: String?
    @Option(help: "none, sev, sev-es, sev-snp or tdx.") var mode: ConfidentialMode = .none
    @Option(help: "Guest policy (SEV 32-bit or SNP 64-bit, hex or decimal).") var policy: String?
    @Option(help: "Number of vCPUs.") var vcpus: Int = 1
    @Option(help: "Guest memory, e.g. 512M or 2G (default 512M, as cvm run).") var memory: String = "\(LaunchOptions.defaultMemoryMiB)M"
    @Option(help: "QEMU CPU model (default QEMU's; EPYC-v4 for confidential modes).") var cpu: String?
    @Flag(help: "Measured direct kernel boot of a --bundle (kernel-hashes=on); needs an OvmfPkg/AmdSev firmware.") var kernelHashes = false
    @Option(help: "qemu or libvirt.") var backend: String = "qemu"
    @Option(help: "auto, kvm or tcg (auto is decided at each start).") var accel: AcceleratorRequest = .auto
    @Option(help: "auto, seabios, ovmf, or a firmware image path (auto: SeaBIOS for a plain bundle, else OVMF).") var firmware: String = "auto"
    @Option(help: "Virtual size of the overlay, e.g. 20G (default: the base image's).") var diskSize: String?
    @Option(help: "Guest network: user (QEMU user-mode NAT) or none (default: user for cloud images).") var network: String?
    @Option(help: "Forward a host port to the guest, like docker run -p: [HOSTADDR:]HOSTPORT:GUESTPORT (tcp; repeatable; turns the user network on).") var publish: [String] = []
    @Option(help: "libvirt connection URI for --backend libvirt.") var libvirtURI = "qemu:///system"
    @Option(help: "QEMU binary.") var qemu = "qemu-system-x86_64"
    @OptionGroup var snpInputs: SNPLaunchInputOptions
    @Flag(help: "Print the QEMU command line (or with --backend libvirt the domain XML) the VM's first start would use, and create nothing.") var dryRun = false

    func run() throws {
        let vmName = try VMCommandSupport.name(name)
        guard let backendKind = VMBackendKind(rawValue: backend) else { throw CLIFailure.badInput("--backend must be qemu or libvirt, not '\(backend)'") }
        var request = VMCreateRequest(name: vmName, source: try source())
        request.mode = mode
        do { request.policy = try RunCommand.parsePolicy(policy, mode: mode) } catch {
            throw CLIFailure.badInput("invalid --policy: \(error)")
        }
        if policy != nil, mode == .none { throw CLIFailure.badInput("--policy needs --mode sev, sev-es, sev-snp or tdx") }
        request.vcpus = vcpus
        guard let memoryMiB = MemorySize.mebibytes(memory) else { throw CLIFailure.badInput("invalid --memory '\(memory)' (use e.g. 512M or 2G)") }
        request.memoryMiB = memoryMiB
        request.cpuModel = cpu
        request.kernelHashes = kernelHashes
        request.backend = backendKind
        request.accelerator = accel
        request.firmware = FirmwareRequest(argument: firmware)
        request.diskSize = diskSize
        request.libvirtURI = libvirtURI
        switch network {
        case nil: break
        case "user"?: request.userNetwork = true
        case "none"?: request.userNetwork = false
        case let other?: throw CLIFailure.badInput("--network must be user or none, not '\(other)'")
        }
        request.snp = try snpInputs.launchOptions()
        request.tdx = try snpInputs.tdxLaunchOptions()
        do { request.portForwards = try publish.map(PortForward.init(parsing:)) } catch { throw CLIFailure.badInput("\(error)") }
        let manager = VMCommandSupport.manager(qemu: qemu)
        if dryRun {
            print(try VMCommandSupport.failing { try manager.dryRun(request) }, terminator: backendKind == .libvirt ? "" : "\n")
            return
        }
        let record = try VMCommandSupport.failing { try manager.create(request) }
        let vm = manager.store.directory(for: vmName)
        print("created VM \(record.name) (\(record.backend.rawValue), mode \(record.mode.rawValue), \(record.vcpus) vCPU, \(record.memoryMiB) MiB) in \(vm.url.path)")
    }

    func source() throws -> VMCreateRequest.Source {
        let given = [bundle, disk, cloudImage].compactMap { $0 }
        guard given.count == 1 else { throw CLIFailure.badInput("give exactly one of --bundle, --disk or --cloud-image") }
        if cloudImage == nil, cloudInit != nil || networkConfig != nil {
            throw CLIFailure.badInput("--cloud-init and --network-config go with --cloud-image")
        }
        if let bundle {
            let loaded: GuestBundle
            do { loaded = try GuestBundle.load(from: URL(fileURLWithPath: bundle)) } catch { throw CLIFailure.badInput("\(error)") }
            let hasInitrd = (loaded.manifest.parts[GuestBundle.initrdFile]?.size ?? 0) > 0
            return .bundle(directory: bundle, kernel: loaded.kernelURL.path, initrd: hasInitrd ? loaded.initrdURL.path : nil, cmdline: loaded.cmdline)
        }
        if let disk { return .disk(disk) }
        guard let cloudImage, let cloudInit else { throw CLIFailure.badInput("--cloud-image needs --cloud-init FILE (the user-data)") }
        let userData: CloudInitUserData = try VMCommandSupport.failing {
            guard let data = FileManager.default.contents(atPath: cloudInit) else { throw VMError.invalidInput("cannot read --cloud-init \(cloudInit)") }
            return try CloudInitUserData(bytes: [UInt8](data))
        }
        var network: String?
        if let networkConfig {
            guard let data = FileManager.default.contents(atPath: networkConfig) else { throw CLIFailure.badInput("cannot read --network-config \(networkConfig)") }
            network = String(decoding: data, as: UTF8.self)
        }
        return .cloudImage(cloudImage, userData: userData, networkConfig: network)
    }
}
