import Foundation
import SEVABI

/// Launch defaults for third-party unikernels, as each project documents its QEMU invocation.
/// The facts and their sources are in docs/GUIDE.md ("Third-party kernels and unikernels").
public enum GuestPreset: String, Sendable, CaseIterable {
    case unikraft, hermit, nanos, osv

    public var profile: PresetProfile {
        switch self {
        case .unikraft:
            // kraft (kraftkit's QEMU driver): machine pc, 64 MiB, `-cpu host,+x2apic,-pmu` under KVM;
            // images are ELF with a multiboot header (address kludge) and a PVH note, or an EFI stub.
            return PresetProfile(
                preset: self, boot: .kernel([.multiboot, .pvh, .efi]), machineType: "pc",
                cpuKVM: "host,+x2apic,-pmu", cpuTCG: "max", memoryMiB: 64, vcpus: 1,
                diskBus: .virtioBlk, userNetwork: false, rng: false, extraDevices: [], defaultCmdline: "",
                confidentialRefusal: [
                    .sev: Self.unikraftNoSEV, .sevES: Self.unikraftNoSEV, .sevSNP: Self.unikraftNoSEV,
                ],
                tcgNeeds: [CPUFeatureNeed(
                    features: ["rdrand", "rdseed"],
                    why: "a Unikraft image whose random library takes entropy from the CPU (lib/ukrandom's CPU driver, the default) checks for RDRAND and RDSEED at boot and stops without them",
                    fix: "run under KVM (--accel kvm, CPU host), use a QEMU whose TCG offers rdseed with --cpu max, or build the image with LIBUKRANDOM_CMDLINE_SEED and pass random.seed=... in --append")],
                source: "kraftkit machine/qemu (kraft run --plat qemu); unikraft PR #1459 on RDRAND/RDSEED under TCG",
                // lib/ukboot stops at the first failed init function ("Init function at 0x… returned
                // error -95") and then powers off like a clean exit; uk_pr_crit lines carry the level tag
                // "CRIT:" before the library name, as "Info: [libukboot] …" does for info.
                fatalLines: [FatalConsoleLine("Init function at", "returned error"), FatalConsoleLine("CRIT: [")])
        case .hermit:
            // hermit-loader README: the loader is the -kernel (multiboot), the application the -initrd,
            // `-cpu qemu64,apic,fsgsbase,fxsr,rdrand,rdtscp,xsave,xsaveopt` (or host under KVM), 128 MiB,
            // isa-debug-exit at 0xf4 (which cvm adds to every launch).
            return PresetProfile(
                preset: self, boot: .kernel([.multiboot, .pvh]), machineType: "q35",
                cpuKVM: "host", cpuTCG: "qemu64,apic,fsgsbase,fxsr,rdrand,rdtscp,xsave,xsaveopt", memoryMiB: 128, vcpus: 1,
                diskBus: .virtioBlk, userNetwork: false, rng: false, extraDevices: [], defaultCmdline: "",
                confidentialRefusal: [
                    .sev: Self.hermitNoSEV, .sevES: Self.hermitNoSEV, .sevSNP: Self.hermitNoSEV,
                ],
                tcgNeeds: [CPUFeatureNeed(
                    features: ["fsgsbase", "rdtscp", "xsave", "xsaveopt", "rdrand", "fxsr"],
                    why: "the Hermit kernel uses these instructions from its first steps (FS/GS base, TSC, extended state)",
                    fix: "run under KVM (--accel kvm, CPU host) or a QEMU whose TCG offers them")],
                source: "hermit-os/loader README (x86-64, QEMU)", needsInitrd: true,
                // The kernel's panic handler prints "[core][PANIC] info" and then shuts down.
                fatalLines: [FatalConsoleLine("][PANIC] ")])
        case .nanos:
            // ops (qemu/qemu_unix.go): q35, the image as virtio-scsi disk, virtio-rng-pci, a virtio-net
            // NIC on user networking, `-cpu max` (host under KVM), isa-debug-exit at its default port
            // 0x501, 2 GiB. Nanos has SEV support (nanos PR #1969, GCP confidential VMs, UEFI images).
            return PresetProfile(
                preset: self, boot: .disk, machineType: "q35",
                cpuKVM: "host", cpuTCG: "max", memoryMiB: 2048, vcpus: 1,
                diskBus: .virtioSCSI, userNetwork: true, rng: true,
                extraDevices: ["isa-debug-exit,iobase=0x501,iosize=0x02"], defaultCmdline: "",
                confidentialRefusal: [
                    .sevES: "refused for nanos: Nanos documents SEV memory encryption (nanos PR #1969, Google Cloud SEV confidential VMs), not SEV-ES, which needs a #VC handler in the guest",
                    .sevSNP: "refused for nanos: Nanos documents SEV memory encryption (nanos PR #1969), not SEV-SNP page validation",
                ],
                tcgNeeds: [],
                source: "nanovms/ops qemu/qemu_unix.go; nanovms/nanos PR #1969 (SEV)",
                confidentialNote: "nanos under SEV boots its disk through OVMF: build the image with UEFI boot (ops \"Uefi\": true); a BIOS-only image does not start under OVMF")
        case .osv:
            // OSv scripts/run.py: usr.img (qcow2) on virtio-blk, virtio-net on user networking,
            // virtio-rng-pci, `-cpu host,+x2apic` under KVM, 2 GiB, 4 vCPUs; BIOS boot sector only.
            return PresetProfile(
                preset: self, boot: .disk, machineType: "q35",
                cpuKVM: "host,+x2apic", cpuTCG: "max", memoryMiB: 2048, vcpus: 4,
                diskBus: .virtioBlk, userNetwork: true, rng: true, extraDevices: [], defaultCmdline: "",
                confidentialRefusal: [.sev: Self.osvNoSEV, .sevES: Self.osvNoSEV, .sevSNP: Self.osvNoSEV],
                tcgNeeds: [],
                source: "cloudius-systems/osv scripts/run.py; OSv issue #1098 (no UEFI boot)",
                seabiosOnly: true)
        }
    }

    static let unikraftNoSEV = "refused for unikraft: Unikraft images boot by multiboot or PVH straight from QEMU's loader with no firmware to carry SEV, and upstream Unikraft has no SEV guest support (unikraft PR #1094 is not merged)"
    static let hermitNoSEV = "refused for hermit: hermit-loader boots by multiboot from QEMU's loader with no firmware to carry SEV, and Hermit documents no SEV guest support"
    static let osvNoSEV = "refused for osv: OSv boots only from a BIOS boot sector (no UEFI, OSv issue #1098), so OVMF, which every SEV mode needs, cannot start it"
}

/// A CPU feature group a guest needs, with why and how to get it.
public struct CPUFeatureNeed: Sendable, Hashable {
    public var features: [String]
    public var why: String
    public var fix: String
}

public struct PresetProfile: Sendable {
    public enum Boot: Sendable, Hashable {
        /// A kernel file (`--kernel`) started by one of these protocols.
        case kernel([BootProtocol])
        /// A disk image (`--disk`) booted by the firmware.
        case disk
    }

    public var preset: GuestPreset
    public var boot: Boot
    public var machineType: String
    public var cpuKVM: String
    public var cpuTCG: String
    public var memoryMiB: Int
    public var vcpus: Int
    public var diskBus: DiskBus
    public var userNetwork: Bool
    public var rng: Bool
    /// QEMU -device values beyond cvm's own (console, isa-debug-exit at 0xf4).
    public var extraDevices: [String]
    public var defaultCmdline: String
    /// Modes the guest cannot run in, each with a one-line reason; a mode absent here is possible.
    public var confidentialRefusal: [ConfidentialMode: String]
    public var tcgNeeds: [CPUFeatureNeed]
    public var source: String
    public var needsInitrd = false
    public var seabiosOnly = false
    public var confidentialNote: String?
    /// Console lines by which the guest reports a fatal error (see `FatalConsoleLine`).
    public var fatalLines: [FatalConsoleLine] = []

    public func refusal(for mode: ConfidentialMode) -> String? {
        confidentialRefusal[mode].map { "\(mode.rawValue) \($0)" }
    }

    public func cpuModel(for accelerator: Accelerator) -> String {
        accelerator == .kvm ? cpuKVM : cpuTCG
    }

    /// QEMU arguments the preset adds: its extra devices and the RNG (behind the IOMMU platform in
    /// confidential modes, so its DMA uses shared pages).
    public func extraQEMUArguments(mode: ConfidentialMode) -> [String] {
        var args: [String] = []
        if rng { args += ["-device", "virtio-rng-pci" + (mode.isConfidential ? ",iommu_platform=on,disable-legacy=on" : "")] }
        for device in extraDevices { args += ["-device", device] }
        return args
    }

    /// Notices for features the CPU model lacks under TCG. `offered` maps feature → offered (nil: unknown).
    public func tcgNotices(cpuModel: String, offered: [String: Bool?]) -> [String] {
        tcgNeeds.compactMap { need in
            let missing = need.features.filter { offered[$0] == .some(false) }
            guard !missing.isEmpty else { return nil }
            let names = missing.map { $0.uppercased() }.joined(separator: ", ")
            return "\(preset.rawValue) under TCG: CPU model \(cpuModel) offers no \(names) on this QEMU; \(need.why). Fix: \(need.fix)"
        }
    }

    var bootDescription: String {
        switch boot {
        case .kernel(let protocols): return "--kernel (" + protocols.map(\.rawValue).joined(separator: "/") + ")" + (needsInitrd ? " + --initrd app" : "")
        case .disk: return "--disk"
        }
    }

    var firmwareDescription: String {
        switch boot {
        case .kernel(let protocols): return protocols.contains(.efi) ? "SeaBIOS (OVMF for efi)" : "SeaBIOS"
        case .disk: return seabiosOnly ? "SeaBIOS" : "SeaBIOS, OVMF"
        }
    }

    var deviceDescription: String {
        var parts: [String] = []
        if case .disk = boot { parts.append(diskBus.rawValue) }
        if userNetwork { parts.append("virtio-net") }
        if rng { parts.append("virtio-rng") }
        parts += extraDevices.map { $0.split(separator: ",").first.map(String.init) ?? $0 }
        return parts.isEmpty ? "-" : parts.joined(separator: ", ")
    }
}

extension GuestPreset {
    /// The preset table `cvm run --preset list` prints, with the reason for every refused mode.
    public static func table() -> String {
        let header = ["preset", "boots", "machine", "firmware", "cpu kvm | tcg", "memory", "vcpus", "devices", "sev", "sev-es", "sev-snp"]
        let rows = allCases.map { preset -> [String] in
            let p = preset.profile
            let modes = [ConfidentialMode.sev, .sevES, .sevSNP].map { p.confidentialRefusal[$0] == nil ? "yes" : "no" }
            return [preset.rawValue, p.bootDescription, p.machineType, p.firmwareDescription, "\(p.cpuKVM) | \(p.cpuTCG)",
                    "\(p.memoryMiB)M", String(p.vcpus), p.deviceDescription] + modes
        }
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }
        var out = [line(header)] + rows.map(line)
        out.append("")
        out.append("Without a preset: pvh and multiboot kernels cannot be confidential (no firmware to carry SEV); efi and linux kernels and disks boot through OVMF in every mode (a disk boot's launch measurement covers the firmware only).")
        for preset in allCases {
            let p = preset.profile
            var reasons: [String] = []
            for mode in [ConfidentialMode.sev, .sevES, .sevSNP] {
                if let why = p.refusal(for: mode) { reasons.append(why) }
            }
            // The same reason for every mode is printed once.
            let unique = Set(p.confidentialRefusal.values)
            if unique.count == 1, p.confidentialRefusal.count == 3, let only = unique.first {
                out.append("\(preset.rawValue): sev, sev-es, sev-snp \(only)")
            } else {
                out += reasons.map { "\(preset.rawValue): \($0)" }
            }
            if let note = p.confidentialNote { out.append("\(preset.rawValue): \(note)") }
            for need in p.tcgNeeds {
                out.append("\(preset.rawValue): under TCG needs \(need.features.joined(separator: ", ")): \(need.why)")
            }
            out.append("\(preset.rawValue): source: \(p.source)")
        }
        return out.joined(separator: "\n")
    }
}
