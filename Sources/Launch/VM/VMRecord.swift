import Foundation
import SEVABI

/// Which program runs the VM: cvm's own QEMU supervision, or libvirt (define/start/destroy/undefine).
public enum VMBackendKind: String, Sendable, Codable, CaseIterable {
    case qemu, libvirt
}

/// The last state cvm recorded; `cvm vm status` checks it against the hypervisor before reporting.
public enum VMStatus: String, Sendable, Codable {
    case created, running, stopped
}

/// What the VM boots from, as given at create time.
public struct VMSource: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Codable {
        case bundle, disk, cloudImage = "cloud-image"
    }

    public var kind: Kind
    /// The bundle directory or base image the user named (absolute).
    public var origin: String
    /// Format of the base image (raw, qcow2, ...), for disks and cloud images.
    public var baseFormat: String?
    /// The kernel command line, for bundles (kernel and initrd are copied into the VM directory).
    public var cmdline: String?
    public var hasInitrd: Bool

    public init(kind: Kind, origin: String, baseFormat: String? = nil, cmdline: String? = nil, hasInitrd: Bool = false) {
        self.kind = kind
        self.origin = origin
        self.baseFormat = baseFormat
        self.cmdline = cmdline
        self.hasInitrd = hasInitrd
    }
}

/// The firmware a VM boots with. OVMF with pflash keeps its variable store in the VM directory.
public struct VMFirmware: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Codable {
        /// QEMU's SeaBIOS.
        case seabios
        /// OVMF code (shared, read-only) plus this VM's copy of the VARS template (`OVMF_VARS.fd`).
        case ovmfPflash = "ovmf-pflash"
        /// One image loaded with -bios, no variable store: SNP's stateless OVMF.
        case bios
        /// A custom -bios image that is the whole guest (plain guests only).
        case customBIOS = "custom-bios"
    }

    public var kind: Kind
    /// The code (pflash) or the whole image (-bios).
    public var image: String?

    public init(kind: Kind, image: String? = nil) {
        self.kind = kind
        self.image = image
    }

    init(_ firmware: Firmware) {
        switch firmware {
        case .seabios: self.init(kind: .seabios)
        case .ovmfPflash(let code, _): self.init(kind: .ovmfPflash, image: code)
        case .ovmfBios(let path): self.init(kind: .bios, image: path)
        case .customBIOS(let path): self.init(kind: .customBIOS, image: path)
        // VMs boot Linux bundles and disks; a unikernel's own firmware is a one-shot `cvm run` boot.
        case .ownImage(let path): self.init(kind: .customBIOS, image: path)
        }
    }

    /// The request that resolves to this firmware again (the launch builder checks it against the mode).
    var request: FirmwareRequest {
        switch kind {
        case .seabios: return .seabios
        case .ovmfPflash, .bios: return image.map(FirmwareRequest.path) ?? .ovmf
        case .customBIOS: return .customBIOS(image ?? "")
        }
    }

    /// The launch form, with the VM's own variable store.
    func launchFirmware(varsCopy: String) -> Firmware {
        switch kind {
        case .seabios: return .seabios
        case .ovmfPflash: return .ovmfPflash(code: image ?? "", vars: varsCopy)
        case .bios: return .ovmfBios(path: image ?? "")
        case .customBIOS: return .customBIOS(path: image ?? "")
        }
    }
}

/// Everything `state.json` holds: the VM's definition and the last state cvm saw. Written only through
/// `VMStore.save` (atomic replace, under the VM's lock).
public struct VMRecord: Sendable, Hashable, Codable {
    public static let schemaName = "cvmkit.vm/1"

    public var schema = VMRecord.schemaName
    public var name: VMName
    public var createdAt: Date
    public var backend: VMBackendKind
    public var libvirtURI: String?
    public var source: VMSource
    public var mode: ConfidentialMode
    /// Hexadecimal policy as given (nil: the mode's default).
    public var policy: String?
    public var vcpus: Int
    public var memoryMiB: Int
    public var cpuModel: String?
    /// Measured direct kernel boot (kernel-hashes=on), for bundles in confidential modes.
    public var kernelHashes = false
    /// auto, kvm or tcg, as asked at create time (`auto` is resolved at each start).
    public var accelerator: String
    public var firmware: VMFirmware
    public var userNetwork: Bool
    /// cloud-init instance-id, for VMs with a seed.
    public var instanceID: String?
    /// SEV-SNP ID block, ID auth and HOST_DATA given at create time (absent in older state files).
    public var snp: SNPLaunchOptions?
    /// TDX launch options given at create time: the QGS socket (absent in older state files).
    public var tdx: TDXLaunchOptions?
    /// Published ports (absent in older state files).
    public var portForwards: [PortForward]?

    public var status: VMStatus
    /// QEMU's process id while running (QEMU backend).
    public var pid: Int32?
    /// The accelerator the running (or last) boot used.
    public var activeAccelerator: Accelerator?
    public var startedAt: Date?
    public var stoppedAt: Date?

    public init(name: VMName, backend: VMBackendKind, libvirtURI: String?, source: VMSource, mode: ConfidentialMode, policy: String?,
                vcpus: Int, memoryMiB: Int, cpuModel: String?, accelerator: AcceleratorRequest, firmware: VMFirmware,
                userNetwork: Bool, instanceID: String?, createdAt: Date = Date()) {
        self.name = name
        self.createdAt = createdAt
        self.backend = backend
        self.libvirtURI = libvirtURI
        self.source = source
        self.mode = mode
        self.policy = policy
        self.vcpus = vcpus
        self.memoryMiB = memoryMiB
        self.cpuModel = cpuModel
        self.accelerator = accelerator.rawValue
        self.firmware = firmware
        self.userNetwork = userNetwork
        self.instanceID = instanceID
        self.status = .created
    }

    public var acceleratorRequest: AcceleratorRequest { AcceleratorRequest(rawValue: accelerator) ?? .auto }
}
