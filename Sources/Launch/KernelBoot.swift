import Foundation
import SEVABI

/// How a disk image is attached to the guest.
public enum DiskBus: String, Sendable, Hashable, CaseIterable {
    case virtioBlk = "virtio-blk"
    case virtioSCSI = "virtio-scsi"

    /// QEMU -device arguments for drive `disk0`.
    func qemuDevices(iommu: String) -> [String] {
        switch self {
        case .virtioBlk:
            return ["-device", "virtio-blk-pci,drive=disk0\(iommu)"]
        case .virtioSCSI:
            return ["-device", "virtio-scsi-pci,id=scsi0\(iommu)", "-device", "scsi-hd,bus=scsi0.0,drive=disk0"]
        }
    }
}

extension LaunchSpec {
    /// Rules of the kernel boot protocols that hold on any host: which firmware can start which kernel,
    /// and that PVH and multiboot kernels cannot be confidential.
    func validateKernelProtocol() throws {
        guard let proto = kernelProtocol else { return }
        guard case .kernel = boot else { throw LaunchError.invalid("a boot protocol applies to a direct-boot kernel only") }
        if proto.needsSeaBIOS {
            if mode.isConfidential {
                throw LaunchError.invalid(KernelBootRules.confidentialRefusal(proto, mode: mode))
            }
            if firmware.isOVMF {
                throw LaunchError.invalid("OVMF cannot start a \(proto.rawValue) kernel: QEMU enters it from an option ROM only SeaBIOS runs (use --firmware seabios)")
            }
        }
        if proto.needsOVMF, !firmware.isOVMF {
            throw LaunchError.invalid("an EFI application needs OVMF (--firmware ovmf): SeaBIOS cannot start it")
        }
    }
}

public enum KernelBootRules {
    /// Why PVH and multiboot kernels cannot run in a confidential mode, in one line.
    public static func confidentialRefusal(_ proto: BootProtocol, mode: ConfidentialMode) -> String {
        "\(mode.rawValue) refused: a \(proto.rawValue) kernel starts from QEMU's own loader with no firmware to carry SEV; only an EFI application or a Linux kernel booted through OVMF can be confidential"
    }

    /// The firmware a protocol boots with when the user asked for none in particular.
    public static func firmwareRequest(for proto: BootProtocol, mode: ConfidentialMode, requested: FirmwareRequest) -> FirmwareRequest {
        guard requested == .auto else { return requested }
        switch proto {
        case .efi: return .ovmf
        case .pvh, .multiboot: return .seabios
        case .linux: return .auto
        }
    }
}

/// libvirt's `<cpu>` for a QEMU -cpu string: "host…" is host-passthrough, "max…" the maximum mode,
/// anything else a custom model; "+f", "f", "f=on" become required features and "-f", "f=off" disabled ones.
enum LibvirtCPU {
    static func write(_ model: String, into x: inout XMLWriter) {
        let parts = model.split(separator: ",").map(String.init)
        guard let name = parts.first else { return }
        let features: [(String, String)] = parts.dropFirst().compactMap { part in
            if part.hasPrefix("+") { return ("require", String(part.dropFirst())) }
            if part.hasPrefix("-") { return ("disable", String(part.dropFirst())) }
            if part.hasSuffix("=on") { return ("require", String(part.dropLast(3))) }
            if part.hasSuffix("=off") { return ("disable", String(part.dropLast(4))) }
            if part.contains("=") { return nil }
            return ("require", part)
        }
        switch name {
        case "host" where features.isEmpty: x.element("cpu", ["mode": "host-passthrough"]); return
        case "max" where features.isEmpty: x.element("cpu", ["mode": "maximum"]); return
        case "host": x.open("cpu", ["mode": "host-passthrough"])
        case "max": x.open("cpu", ["mode": "maximum"])
        default:
            x.open("cpu", ["mode": "custom", "match": "exact"])
            x.element("model", ["fallback": "forbid"], text: name)
        }
        for (policy, feature) in features { x.element("feature", ["policy": policy, "name": feature]) }
        x.close("cpu")
    }
}
