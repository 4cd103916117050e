import Foundation
import SEVABI

/// Everything `cvm vm create` decides. Paths are as the user gave them; `VMManager.create` checks them.
public struct VMCreateRequest: Sendable {
    public enum Source: Sendable {
        /// A guest bundle's parts (kernel, optional initrd, command line), already verified by the caller.
        case bundle(directory: String, kernel: String, initrd: String?, cmdline: String)
        /// A disk image the VM boots from through a qcow2 overlay.
        case disk(String)
        /// A cloud image plus the NoCloud seed cloud-init configures it from.
        case cloudImage(String, userData: CloudInitUserData, networkConfig: String?)
    }

    public var name: VMName
    public var source: Source
    public var mode: ConfidentialMode = .none
    public var policy: GuestPolicy?
    public var vcpus = 1
    public var memoryMiB = LaunchOptions.defaultMemoryMiB
    public var cpuModel: String?
    /// Measured direct kernel boot: QEMU adds kernel, initrd and cmdline hashes that OVMF (AmdSev build) measures.
    public var kernelHashes = false
    public var accelerator: AcceleratorRequest = .auto
    public var backend: VMBackendKind = .qemu
    public var libvirtURI = "qemu:///system"
    /// `.auto` gives SeaBIOS to a plain bundle and OVMF to disks, cloud images and confidential modes.
    public var firmware: FirmwareRequest = .auto
    /// qemu-img size of the overlay, e.g. 20G (nil: the base image's size).
    public var diskSize: String?
    /// User-mode networking; nil means on for cloud images (cloud-init usually fetches packages), else off.
    public var userNetwork: Bool?
    /// SEV-SNP ID block, ID auth and HOST_DATA.
    public var snp = SNPLaunchOptions()
    /// TDX: the host's Quote Generation Service socket.
    public var tdx = TDXLaunchOptions()
    /// `--publish`: host ports forwarded to the guest (turns user networking on).
    public var portForwards: [PortForward] = []

    public init(name: VMName, source: Source) {
        self.name = name
        self.source = source
    }
}

/// What `cvm vm status` and `cvm vm list` report.
public struct VMStatusReport: Sendable, Codable {
    public var name: String
    public var status: VMStatus
    public var detail: String
    public var backend: VMBackendKind
    public var mode: ConfidentialMode
    public var policy: String?
    public var vcpus: Int
    public var memoryMiB: Int
    public var accelerator: String
    public var activeAccelerator: Accelerator?
    public var pid: Int32?
    public var source: VMSource
    public var firmware: VMFirmware
    public var directory: String
    public var serialLog: String
    /// How the host reaches the guest: its user-networking address and the published ports, or "-".
    public var address: String
    /// ISO 8601 times.
    public var createdAt: String
    public var startedAt: String?
    public var stoppedAt: String?
}
