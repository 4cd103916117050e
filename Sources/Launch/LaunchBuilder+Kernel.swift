import Foundation
import HostProbe

/// Kernel files and disk images: the boot protocol (given or read from the file), presets' rules,
/// and the firmware each protocol boots with.
extension LaunchBuilder {
    struct KernelBoot {
        var boot: BootSource
        var proto: BootProtocol
        var firmware: FirmwareRequest
    }

    func kernelBoot(_ kernel: String, initrd: String?, cmdline: String?, profile: PresetProfile?) throws -> KernelBoot {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: kernel, isDirectory: &isDirectory), isDirectory.boolValue {
            throw LaunchError.invalid("\(kernel) is a directory, not a kernel file (a bundle directory is given without --kernel)")
        }
        guard FileManager.default.isReadableFile(atPath: kernel) else { throw LaunchError.invalid("cannot read kernel \(kernel)") }
        if let initrd, !FileManager.default.isReadableFile(atPath: initrd) { throw LaunchError.invalid("cannot read initrd \(initrd)") }
        if let profile, case .disk = profile.boot {
            throw LaunchError.invalid("the \(profile.preset.rawValue) preset boots a disk image: give --disk IMAGE, not --kernel")
        }
        let info: KernelImageInfo
        do { info = try KernelImageDetector.inspect(path: kernel) } catch KernelImageError.noKnownHeader {
            throw LaunchError.invalid("\(kernel): \(KernelImageError.noKnownHeader)")
        } catch {
            throw LaunchError.invalid("\(kernel): \(error)")
        }
        let proto: BootProtocol
        if let requested = options.bootProtocol {
            guard info.supports(requested) else {
                throw LaunchError.invalid("\(kernel) cannot boot as \(requested.rawValue): \(Self.missingMarker(requested)); the file looks like \(info.detected.rawValue)")
            }
            if requested == .pvh, info.multibootHeaderOffset != nil {
                notice("\(kernel) also has a multiboot header, which QEMU's loader takes before the PVH note")
            }
            proto = requested
        } else {
            proto = info.detected
            // A Linux kernel is what plain --kernel has always meant; other protocols are worth saying.
            if proto != .linux || profile != nil { notice("\(kernel): boot protocol \(proto.rawValue) (\(Self.evidence(info, proto)))") }
        }
        if let profile, case .kernel(let protocols) = profile.boot, !protocols.contains(proto) {
            notice("\(profile.preset.rawValue) images usually boot by \(protocols.map(\.rawValue).joined(separator: " or ")), not \(proto.rawValue)")
        }
        if mode.isConfidential, proto.needsSeaBIOS {
            throw LaunchError.invalid(KernelBootRules.confidentialRefusal(proto, mode: mode))
        }
        if let profile, profile.needsInitrd, initrd == nil {
            throw LaunchError.invalid("the \(profile.preset.rawValue) preset boots the loader as --kernel and the application as --initrd: give --initrd APP")
        }
        let line = cmdline ?? profile?.defaultCmdline ?? (proto.needsSeaBIOS ? "" : "console=ttyS0")
        return KernelBoot(boot: .kernel(path: Self.absolute(kernel), initrd: initrd.map(Self.absolute), cmdline: line),
                          proto: proto,
                          firmware: KernelBootRules.firmwareRequest(for: proto, mode: mode, requested: options.firmware))
    }

    func diskBoot(_ disk: String, profile: PresetProfile?) throws -> BootSource {
        guard let handle = FileHandle(forReadingAtPath: disk) else { throw LaunchError.invalid("cannot read disk image \(disk)") }
        let head = [UInt8]((try? handle.read(upToCount: 4)) ?? Data())
        try? handle.close()
        if let profile, case .kernel = profile.boot {
            throw LaunchError.invalid("the \(profile.preset.rawValue) preset boots a kernel file: give --kernel FILE, not --disk")
        }
        let format = options.diskFormat ?? (head == [0x51, 0x46, 0x49, 0xFB] ? "qcow2" : "raw")
        guard ["raw", "qcow2"].contains(format) else { throw LaunchError.invalid("--disk-format must be raw or qcow2, not '\(format)'") }
        if let profile, profile.seabiosOnly, options.firmware != .auto, options.firmware != .seabios {
            throw LaunchError.invalid("the \(profile.preset.rawValue) preset boots only through SeaBIOS (its image has a BIOS boot sector, no UEFI loader)")
        }
        if mode.isConfidential {
            notice("disk boot: the launch measurement covers the firmware and the initial vCPU state, not the disk; use --kernel with --kernel-hashes for a measured guest")
            if let note = profile?.confidentialNote { notice(note) }
        }
        return .disk(path: Self.absolute(disk), format: format)
    }

    /// Once the accelerator is known: the preset's CPU model for it, and under TCG a notice for every
    /// feature the guest needs that this QEMU's CPU model does not offer (asked of QEMU itself).
    func finishPreset(_ profile: PresetProfile?, spec: inout LaunchSpec, hostChecked: Bool) throws {
        guard let profile else { return }
        if options.dryRun, options.accelerator != .auto, !mode.isConfidential { spec.accelerator = options.accelerator == .kvm ? .kvm : .tcg }
        if options.cpuModel == nil, !mode.isConfidential { spec.cpuModel = profile.cpuModel(for: spec.accelerator) }
        guard spec.accelerator == .tcg, !profile.tcgNeeds.isEmpty, let model = spec.effectiveCPUModel else { return }
        var used = profile
        if case .kernel(let path, let initrd, _) = spec.boot {
            // Only what the image's code can execute: an image without RDSEED gets no RDSEED notice.
            let scan = KernelInstructionScan(files: [path] + (initrd.map { [$0] } ?? []))
            used.tcgNeeds = profile.tcgNeeds.compactMap { need in
                var need = need
                need.features = need.features.filter { scan.uses($0) ?? true }
                return need.features.isEmpty ? nil : need
            }
        }
        let features = used.tcgNeeds.flatMap(\.features)
        guard !features.isEmpty else { return }
        do {
            let offered = try CPUFeatureProbe.offered(features, cpuModel: model, accelerator: .tcg, machine: spec.machineType, qemuBinary: options.qemuBinary)
            for line in used.tcgNotices(cpuModel: model, offered: offered) { notice(line) }
        } catch {
            notice("\(profile.preset.rawValue) needs \(features.joined(separator: ", ")) under TCG; \(error)")
        }
    }

    /// Dry runs print commands meant to be run elsewhere: paths are made absolute.
    static func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.path
    }

    static func missingMarker(_ proto: BootProtocol) -> String {
        switch proto {
        case .linux: return "no Linux setup header (\"HdrS\" at 0x202)"
        case .pvh: return "no ELF note XEN_ELFNOTE_PHYS32_ENTRY (18)"
        case .multiboot: return "no multiboot header (0x1BADB002) in its first 8 KiB"
        case .efi: return "no PE/COFF EFI application header"
        }
    }

    static func evidence(_ info: KernelImageInfo, _ proto: BootProtocol) -> String {
        switch proto {
        case .linux: return String(format: "Linux setup header, protocol %d.%02d", (info.linuxProtocolVersion ?? 0) >> 8, (info.linuxProtocolVersion ?? 0) & 0xFF)
        case .pvh: return String(format: "detected from the ELF PVH note, entry 0x%x", info.pvhEntry ?? 0)
        case .multiboot: return String(format: "detected from the multiboot header at offset 0x%x", info.multibootHeaderOffset ?? 0)
        case .efi: return "detected from the PE/COFF header: EFI application, started by OVMF"
        }
    }
}
