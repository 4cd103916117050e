import Foundation
import GuestImage
import SEVABI

/// The three ways a unikernel bundle boots: its `firmware.fd` as the whole firmware (-bios, command
/// line in fw_cfg), its PVH `kernel` from SeaBIOS, or its `kernel.efi` from OVMF.
extension LaunchBuilder {
    /// The boot source, the firmware request and, for the firmware boot, the image that is the firmware.
    func unikernelBootSource(_ bundle: BundleBoot, _ chosen: UnikernelBoot) throws -> (BootSource, FirmwareRequest, String?) {
        if mode == .tdx {
            throw LaunchError.invalid("tdx refused: the CVMKit unikernel has no TDX path yet (no TDX metadata in firmware.fd, no #VE handler, no TDCALLs); a TD runs a Linux guest (cvm image build linux, or an OCI image) with a TDVF")
        }
        switch chosen {
        case .firmware:
            guard let image = bundle.firmwareImage else {
                throw LaunchError.invalid("--boot firmware: this unikernel bundle has no firmware.fd (it predates the firmware boot): rebuild it with cvm image build unikernel, or use --boot efi")
            }
            guard options.firmware == .auto else {
                throw LaunchError.invalid("--boot firmware: the bundle's firmware.fd is the guest's firmware, so --firmware \(options.firmware.argument) has nothing to load (it applies to --boot pvh or --boot efi)")
            }
            return (.ownFirmware(cmdline: bundle.cmdline), .auto, image)
        case .pvh:
            if mode.isConfidential {
                throw LaunchError.invalid("\(mode.rawValue) refused: --boot pvh starts the kernel from QEMU's own loader with no firmware to carry SEV; use --boot firmware (firmware.fd) or --boot efi (kernel.efi through OVMF)")
            }
            switch options.firmware {
            case .auto, .seabios: break
            default: throw LaunchError.invalid("--boot pvh starts the kernel from SeaBIOS; --firmware \(options.firmware.argument) goes with --boot efi")
            }
            return (.kernel(path: bundle.kernel, initrd: bundle.initrd, cmdline: bundle.cmdline), .seabios, nil)
        case .efi:
            guard let efiKernel = bundle.efiKernel else {
                throw LaunchError.invalid("--boot efi: this unikernel bundle has no EFI application (kernel.efi)")
            }
            let request: FirmwareRequest
            switch options.firmware {
            case .auto: request = .ovmf
            case .seabios, .customBIOS: throw LaunchError.invalid("--boot efi needs OVMF: SeaBIOS cannot start an EFI application")
            default: request = options.firmware
            }
            return (.kernel(path: efiKernel, initrd: bundle.initrd, cmdline: bundle.cmdline), request, nil)
        }
    }

    /// What a firmware boot's launch measurement covers, with the bundle's expected digest for this
    /// shape when its manifest lists one.
    func firmwareBootNotice(_ bundle: BundleBoot, spec: LaunchSpec) {
        let line = spec.kernelCommandLine ?? ""
        let digest = PartDigest.sha256Hex(of: line)
        guard mode.isConfidential else {
            notice("boot: firmware.fd with -bios; command line in fw_cfg \(BootSource.commandLineFwCfgName) (sha256 \(digest))")
            return
        }
        var text = "boot: firmware.fd is the whole firmware and is measured whole; the command line (fw_cfg, sha256 \(digest)) is NOT measured"
        if let expected = bundle.launchMeasurement?.measurement(mode: mode.rawValue, vcpus: spec.vcpus, vcpuType: spec.effectiveCPUModel) {
            text += "; expected \(mode.rawValue) launch measurement (\(spec.vcpus) vCPU, \(spec.effectiveCPUModel ?? "default CPU")): \(expected)"
        } else {
            text += "; compute the launch measurement with cvm measure --firmware \(spec.firmware.imagePath ?? "firmware.fd")"
        }
        notice(text)
    }
}
