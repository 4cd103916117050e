import Foundation
import HostOS
import HostProbe
import SEVABI

public enum FirmwareRequest: Sendable, Hashable {
    /// SeaBIOS for plain guests, OVMF for confidential ones.
    case auto
    case seabios
    case ovmf
    /// An OVMF image by path (code image for pflash, or the single image SNP loads with -bios).
    case path(String)
    /// "bios:PATH": any image loaded with -bios, for plain guests.
    case customBIOS(String)

    /// The spelling `init(argument:)` reads back.
    public var argument: String {
        switch self {
        case .auto: return "auto"
        case .seabios: return "seabios"
        case .ovmf: return "ovmf"
        case .path(let path): return path
        case .customBIOS(let path): return "bios:" + path
        }
    }

    public init(argument: String) {
        switch argument.lowercased() {
        case "auto": self = .auto
        case "seabios", "bios": self = .seabios
        case "ovmf", "uefi": self = .ovmf
        default: self = argument.hasPrefix("bios:") ? .customBIOS(String(argument.dropFirst(5))) : .path(argument)
        }
    }
}

/// The firmware files a launch uses, before its own variable store exists.
public enum ResolvedFirmware: Sendable, Hashable {
    case seabios
    /// OVMF code for pflash and the VARS template each launch copies (nil: an AmdSev build without one).
    case ovmfPflash(code: String, varsTemplate: String?)
    case ovmfBios(path: String)
    case customBIOS(path: String)
    /// The guest's own firmware image (a unikernel bundle's firmware.fd).
    case ownImage(path: String)

    public var imagePath: String? { firmware(varsPath: "").imagePath }

    /// The launch firmware with its variable store at `varsPath` (which this does not create).
    public func firmware(varsPath: String) -> Firmware {
        switch self {
        case .seabios: return .seabios
        case .ovmfPflash(let code, _): return .ovmfPflash(code: code, vars: varsPath)
        case .ovmfBios(let path): return .ovmfBios(path: path)
        case .customBIOS(let path): return .customBIOS(path: path)
        case .ownImage(let path): return .ownImage(path: path)
        }
    }

    /// The launch firmware with this launch's own copy of the variable store in `stateDirectory`
    /// (kept when it exists: a persistent VM's variables survive its restarts).
    public func prepare(in stateDirectory: URL) throws -> Firmware {
        guard case let .ovmfPflash(code, template) = self else { return firmware(varsPath: "") }
        let varsCopy = stateDirectory.appendingPathComponent("OVMF_VARS.fd")
        if !FileManager.default.fileExists(atPath: varsCopy.path) {
            try FileManager.default.createDirectory(at: stateDirectory, withIntermediateDirectories: true)
            if let template {
                try FileManager.default.copyItem(atPath: template, toPath: varsCopy.path)
            } else {
                // A code image without a vars template (an AmdSev build): an empty store of the right size.
                try Data(count: code.contains("4M") ? 540_672 : 131_072).write(to: varsCopy)
            }
        }
        return .ovmfPflash(code: code, vars: varsCopy.path)
    }
}

public enum AcceleratorRequest: String, Sendable, CaseIterable {
    case auto, kvm, tcg
}

/// Decisions a launch needs from the host: which firmware files, which accelerator, whether the mode
/// can run here at all. `cvm run`, `cvm vm` and `cvm bench` share them.
public enum LaunchPlanner {
    /// Debian/Ubuntu/Fedora locations of (code, vars template) pairs, preferring images with SEV metadata.
    static let pflashPairs: [(code: String, vars: String)] = [
        ("/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"),
        ("/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"),
        ("/usr/share/edk2/ovmf/OVMF_CODE.fd", "/usr/share/edk2/ovmf/OVMF_VARS.fd"),
    ]
    static let statelessImages = ["/usr/share/ovmf/OVMF.fd", "/usr/share/OVMF/OVMF.amdsev.fd", "/usr/share/edk2/ovmf/OVMF.amdsev.fd", "/usr/share/qemu/OVMF.fd"]

    /// Resolves the firmware and, for pflash, copies the variable store into `stateDirectory` (one per VM).
    public static func firmware(for mode: ConfidentialMode, request: FirmwareRequest, stateDirectory: URL,
                                files: any HostFileSystem = LocalFileSystem()) throws -> Firmware {
        try resolveFirmware(for: mode, request: request, files: files).prepare(in: stateDirectory)
    }

    /// Which firmware files a launch of `mode` uses; reads only, writes nothing.
    public static func resolveFirmware(for mode: ConfidentialMode, request: FirmwareRequest,
                                       files: any HostFileSystem = LocalFileSystem()) throws -> ResolvedFirmware {
        let wantsOVMF: Bool
        var explicit: String?
        switch request {
        case .auto: wantsOVMF = mode.isConfidential
        case .seabios: wantsOVMF = false
        case .ovmf: wantsOVMF = true
        case .path(let path):
            wantsOVMF = true
            explicit = path
        case .customBIOS(let path):
            guard !mode.isConfidential else { throw LaunchError.invalid("bios:\(path) cannot run confidential guests; give an OVMF image") }
            guard files.size(of: path) != nil else { throw LaunchError.invalid("cannot read firmware \(path)") }
            return .customBIOS(path: path)
        }
        guard wantsOVMF else { return .seabios }
        if mode == .tdx {
            // A TDVF, loaded with -bios: TDX has no read-only memory slots, so no pflash and no VARS store.
            let candidates = explicit.map { [$0] } ?? tdvfImages(files: files)
            for path in candidates where files.size(of: path) != nil {
                if FirmwareDiscovery.inspect(path, files: files).hasTDXMetadata { return .ovmfBios(path: path) }
                if explicit != nil { throw LaunchError.invalid("\(path) has no TDX metadata: it is no TDVF, and a TD cannot boot it") }
            }
            throw LaunchError.unsupportedHere("no TDVF (OVMF built for TDX) found (Debian: apt-get install ovmf-inteltdx), or give --firmware PATH")
        }
        if mode == .sevSNP {
            let candidates = explicit.map { [$0] } ?? statelessImages
            for path in candidates where files.size(of: path) != nil {
                if FirmwareDiscovery.inspect(path, files: files).supportsSNP { return .ovmfBios(path: path) }
                if explicit != nil { throw LaunchError.invalid("\(path) has no SEV metadata: SEV-SNP cannot boot it") }
            }
            throw LaunchError.unsupportedHere("no OVMF image with SEV metadata found (apt-get install ovmf), or give --firmware PATH")
        }
        let pairs: [(code: String, vars: String)]
        if let explicit {
            let vars = companionVars(for: explicit)
            pairs = [(explicit, vars ?? "")]
        } else {
            pairs = pflashPairs
        }
        for pair in pairs where files.size(of: pair.code) != nil {
            return .ovmfPflash(code: pair.code, varsTemplate: files.size(of: pair.vars) != nil ? pair.vars : nil)
        }
        throw LaunchError.unsupportedHere("no OVMF image found (apt-get install ovmf), or give --firmware PATH")
    }

    /// Where distributions put TDVF builds (Debian's ovmf-inteltdx, Ubuntu's and Fedora's names), then any
    /// image in the usual directories whose footer names TDX metadata.
    static func tdvfImages(files: any HostFileSystem) -> [String] {
        let known = ["/usr/share/ovmf/OVMF.inteltdx.fd", "/usr/share/ovmf/OVMF.inteltdx.ms.fd", "/usr/share/OVMF/OVMF.inteltdx.fd",
                     "/usr/share/edk2/ovmf/OVMF.inteltdx.fd", "/usr/share/qemu/OVMF.inteltdx.fd"]
        return known + FirmwareDiscovery.candidates(in: files).filter { !known.contains($0) }
    }

    static func companionVars(for code: String) -> String? {
        let candidates = [code.replacingOccurrences(of: "CODE", with: "VARS"), code.replacingOccurrences(of: "code", with: "vars")]
        return candidates.first { $0 != code && FileManager.default.fileExists(atPath: $0) }
    }

    /// KVM only where a probe guest really runs under QEMU+KVM with the CPU model the launch will use;
    /// otherwise TCG, with the notice to show. Confidential modes always get KVM (they cannot run under TCG).
    public static func accelerator(_ request: AcceleratorRequest, mode: ConfidentialMode, cpuModel: String?,
                                   qemuBinary: String = "qemu-system-x86_64",
                                   runner: any CommandRunner = ProcessRunner(),
                                   moduleRoot: URL = URL(fileURLWithPath: "/sys/module")) -> (Accelerator, notice: String?) {
        switch request {
        case .kvm: return (.kvm, nil)
        case .tcg: return (.tcg, mode.isConfidential ? nil : "accelerator: TCG (software emulation): timings are emulated, not native")
        case .auto:
            if mode.isConfidential { return (.kvm, nil) }
            if let provider = paravirtualKVM(moduleRoot: moduleRoot) {
                return (.tcg, "accelerator: TCG (software emulation; /dev/kvm here is \(provider), KVM without hardware virtualization, where guests run slower than under TCG and full guests misbehave; --accel kvm forces it): timings are emulated, not native")
            }
            let outcome = try? QEMUGuestProbe.withBIOS { bios in
                QEMUGuestProbe.run(using: runner, binary: qemuBinary, accelerator: "kvm", cpuModel: cpuModel, biosPath: bios, timeout: 10)
            }
            if outcome?.ran == true { return (.kvm, nil) }
            let why = outcome?.detail ?? "probe could not run"
            return (.tcg, "accelerator: TCG (software emulation; KVM probe with CPU model \(cpuModel ?? "default"): \(why)): timings are emulated, not native")
        }
    }

    /// The loaded KVM module when it is a paravirtualized one (`ParavirtualKVM`, the host check's rule too).
    static func paravirtualKVM(moduleRoot: URL) -> String? {
        ParavirtualKVM.provider(loadedModules: ["kvm_pvm", "kvm_amd", "kvm_intel"].filter {
            FileManager.default.fileExists(atPath: moduleRoot.appendingPathComponent($0).path)
        })
    }

    /// Refuses a confidential mode the host cannot run, naming the host check's reasons.
    public static func requireHostSupport(for mode: ConfidentialMode, sources: HostSources = .live()) throws {
        guard mode.isConfidential else { return }
        var options = HostChecker.Options()
        options.probeQEMUGuests = false
        if let why = hostRefusal(for: mode, report: HostChecker(sources: sources, options: options).run()) {
            throw LaunchError.hostRefused(why)
        }
    }

    /// The one wording of a host check's "no" for `mode` (run, vm and bench say the same); nil when ready.
    public static func hostRefusal(for mode: ConfidentialMode, report: HostReport) -> String? {
        let verdict = report.verdict(for: mode)
        guard !verdict.ready else { return nil }
        let more = verdict.blockers.count > 3 ? " (+\(verdict.blockers.count - 3) more; see cvm host check)" : ""
        return "\(mode.displayName) cannot launch on this host: \(verdict.blockers.prefix(3).joined(separator: "; "))\(more)"
    }
}
