import ArgumentParser
import Foundation
import Launch

/// `cvm run` options for third-party kernels and disk images: boot protocols and presets.
struct KernelLaunchOptions: ParsableArguments {
    @Option(help: "Boot protocol of --kernel: linux, pvh, multiboot or efi (default: read from the file).")
    var bootProtocol: BootProtocol?
    @Option(help: "A disk image (raw or qcow2) to boot through the firmware: SeaBIOS, or OVMF for confidential modes or --firmware ovmf.")
    var disk: String?
    @Option(help: "Format of --disk: raw or qcow2 (default: from the image's header).")
    var diskFormat: String?
    @Option(help: "Machine, firmware, CPU and device defaults for unikraft, hermit, nanos or osv images; `list` prints the table.")
    var preset: String?

    init() {}

    /// True when any of these options asks for the kernel/disk path of `cvm run`.
    var isSet: Bool { bootProtocol != nil || disk != nil || diskFormat != nil || preset != nil }
}

extension BootProtocol: ExpressibleByArgument {}

/// What the kernel/disk options decided, applied on top of the usual `cvm run` launch.
struct CustomBoot {
    var boot: BootSource
    var firmwareRequest: FirmwareRequest
    var kernelProtocol: BootProtocol?
    var profile: PresetProfile?
    var memoryMiB: Int?
    var vcpus: Int?
}

extension RunCommand {
    /// `cvm run --preset list`: prints the preset table instead of running anything.
    func listPresetsIfAsked() throws -> Bool {
        guard kernelOptions.preset == "list" else { return false }
        print(GuestPreset.table())
        return true
    }

    func presetProfile() throws -> PresetProfile? {
        guard let name = kernelOptions.preset else { return nil }
        guard let preset = GuestPreset(rawValue: name.lowercased()) else {
            throw CLIFailure.badInput("unknown --preset '\(name)' (\(GuestPreset.allCases.map(\.rawValue).joined(separator: ", ")), or list)")
        }
        return preset.profile
    }

    /// The boot source for --kernel with a boot protocol (given or detected), --disk, or --preset; nil
    /// leaves `cvm run` to its bundle and Linux-kernel paths (a --kernel detected as Linux stays there).
    func customBoot() throws -> CustomBoot? {
        let options = kernelOptions
        let profile = try presetProfile()
        var info: KernelImageInfo?
        if !options.isSet {
            guard let kernel, source == nil, FileManager.default.isReadableFile(atPath: kernel) else { return nil }
            do { info = try KernelImageDetector.inspect(path: kernel) } catch KernelImageError.noKnownHeader {
                printError("notice: \(kernel): \(KernelImageError.noKnownHeader); booting it with the Linux boot protocol as given")
                return nil
            } catch {
                throw CLIFailure.badInput("\(kernel): \(error)")
            }
            guard info?.detected != .linux else { return nil }
        }
        guard source == nil else { throw CLIFailure.badInput("--boot-protocol, --disk and --preset apply to --kernel or --disk, not to a bundle") }
        if let profile, let why = profile.refusal(for: mode) { throw CLIFailure.badInput(why) }

        var custom: CustomBoot
        switch (kernel, options.disk) {
        case (_?, _?):
            throw CLIFailure.badInput("give --kernel or --disk, not both")
        case (nil, nil):
            throw CLIFailure.badInput("nothing to run: give --kernel FILE or --disk IMAGE")
        case let (kernel?, nil):
            custom = try kernelBoot(kernel, info: info, profile: profile)
        case let (nil, disk?):
            custom = try diskBoot(disk, profile: profile)
        }
        custom.profile = profile
        if let profile {
            // Presets fill in memory and vCPUs left at cvm's defaults.
            if memory == "512M" { custom.memoryMiB = profile.memoryMiB }
            if vcpus == 1 { custom.vcpus = profile.vcpus }
        }
        return custom
    }

    private func kernelBoot(_ kernel: String, info detected: KernelImageInfo?, profile: PresetProfile?) throws -> CustomBoot {
        guard FileManager.default.isReadableFile(atPath: kernel) else { throw CLIFailure.badInput("cannot read kernel \(kernel)") }
        if let initrd, !FileManager.default.isReadableFile(atPath: initrd) { throw CLIFailure.badInput("cannot read initrd \(initrd)") }
        if let profile, case .disk = profile.boot {
            throw CLIFailure.badInput("the \(profile.preset.rawValue) preset boots a disk image: give --disk IMAGE, not --kernel")
        }
        let info: KernelImageInfo
        do { info = try detected ?? KernelImageDetector.inspect(path: kernel) } catch {
            throw CLIFailure.badInput("\(kernel): \(error)")
        }
        let proto: BootProtocol
        if let requested = kernelOptions.bootProtocol {
            guard info.supports(requested) else {
                throw CLIFailure.badInput("\(kernel) cannot boot as \(requested.rawValue): \(Self.missingMarker(requested)); the file looks like \(info.detected.rawValue)")
            }
            if requested == .pvh, info.multibootHeaderOffset != nil {
                printError("notice: \(kernel) also has a multiboot header, which QEMU's loader takes before the PVH note")
            }
            proto = requested
        } else {
            proto = info.detected
            printError("notice: \(kernel): boot protocol \(proto.rawValue) (\(Self.evidence(info, proto)))")
        }
        if let profile, case .kernel(let protocols) = profile.boot, !protocols.contains(proto) {
            printError("notice: \(profile.preset.rawValue) images usually boot by \(protocols.map(\.rawValue).joined(separator: " or ")), not \(proto.rawValue)")
        }
        if mode.isConfidential, proto.needsSeaBIOS {
            throw CLIFailure.badInput(KernelBootRules.confidentialRefusal(proto, mode: mode))
        }
        if let profile, profile.needsInitrd, initrd == nil {
            throw CLIFailure.badInput("the \(profile.preset.rawValue) preset boots the loader as --kernel and the application as --initrd: give --initrd APP")
        }
        let cmdline = append ?? profile?.defaultCmdline ?? (proto.needsSeaBIOS ? "" : "console=ttyS0")
        return CustomBoot(boot: .kernel(path: Self.absolute(kernel), initrd: initrd.map(Self.absolute), cmdline: cmdline),
                          firmwareRequest: KernelBootRules.firmwareRequest(for: proto, mode: mode, requested: FirmwareRequest(argument: firmware)),
                          kernelProtocol: proto)
    }

    private func diskBoot(_ disk: String, profile: PresetProfile?) throws -> CustomBoot {
        guard let handle = FileHandle(forReadingAtPath: disk) else { throw CLIFailure.badInput("cannot read disk image \(disk)") }
        let head = [UInt8]((try? handle.read(upToCount: 4)) ?? Data())
        try? handle.close()
        if let profile, case .kernel = profile.boot {
            throw CLIFailure.badInput("the \(profile.preset.rawValue) preset boots a kernel file: give --kernel FILE, not --disk")
        }
        if initrd != nil || append != nil { throw CLIFailure.badInput("--initrd and --append apply to --kernel, not to a disk image") }
        let format = kernelOptions.diskFormat ?? (head == [0x51, 0x46, 0x49, 0xFB] ? "qcow2" : "raw")
        guard ["raw", "qcow2"].contains(format) else { throw CLIFailure.badInput("--disk-format must be raw or qcow2, not '\(format)'") }
        let request = FirmwareRequest(argument: firmware)
        if let profile, profile.seabiosOnly, request != .auto, request != .seabios {
            throw CLIFailure.badInput("the \(profile.preset.rawValue) preset boots only through SeaBIOS (its image has a BIOS boot sector, no UEFI loader)")
        }
        if mode.isConfidential {
            printError("notice: disk boot: the launch measurement covers the firmware and the initial vCPU state, not the disk; use --kernel with --kernel-hashes for a measured guest")
            if let note = profile?.confidentialNote { printError("notice: \(note)") }
        }
        return CustomBoot(boot: .disk(path: Self.absolute(disk), format: format), firmwareRequest: request)
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

    /// Machine, devices, CPU and protocol of a custom boot, on the spec `launchSpec` built.
    func applyCustomBoot(_ custom: CustomBoot, to spec: inout LaunchSpec) {
        spec.kernelProtocol = custom.kernelProtocol
        guard let profile = custom.profile else { return }
        spec.machineType = profile.machineType
        spec.diskBus = profile.diskBus
        spec.userNetwork = profile.userNetwork
        spec.extraQEMUArguments = profile.extraQEMUArguments(mode: mode)
        if cpu == nil, !mode.isConfidential { spec.cpuModel = profile.cpuKVM }
    }

    /// Once the accelerator is known: the preset's CPU model for it, and under TCG a notice for every
    /// feature the guest needs that this QEMU's CPU model does not offer (asked of QEMU itself).
    func finishCustomLaunch(_ spec: inout LaunchSpec, dryRun: Bool) throws {
        guard let profile = try presetProfile() else { return }
        if dryRun, accel != .auto, !mode.isConfidential { spec.accelerator = accel == .kvm ? .kvm : .tcg }
        if cpu == nil, !mode.isConfidential { spec.cpuModel = profile.cpuModel(for: spec.accelerator) }
        guard spec.accelerator == .tcg, !profile.tcgNeeds.isEmpty, let model = spec.effectiveCPUModel else { return }
        let features = profile.tcgNeeds.flatMap(\.features)
        do {
            let offered = try CPUFeatureProbe.offered(features, cpuModel: model, accelerator: .tcg, machine: spec.machineType, qemuBinary: qemu)
            for notice in profile.tcgNotices(cpuModel: model, offered: offered) { printError("notice: \(notice)") }
        } catch {
            printError("notice: \(profile.preset.rawValue) needs \(features.joined(separator: ", ")) under TCG; \(error)")
        }
    }
}
