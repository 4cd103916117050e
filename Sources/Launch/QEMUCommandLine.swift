import Foundation
import HostProbe
import SEVABI

/// Renders a `LaunchSpec` to the argument vector of `qemu-system-x86_64`: the one place where QEMU
/// options are chosen. The first element is the binary, so a dry run prints exactly what would run.
public enum QEMUCommandLine {
    /// C-bit position and reduced physical bits by CPU model, for launches prepared for another host
    /// (Naples and Rome use bit 47, Milan, Genoa and Turin bit 51; every generation so far reduces by 1).
    public static func usualCBitPosition(cpuModel: String?) -> Int {
        let model = (cpuModel ?? "").lowercased()
        if model.contains("milan") || model.contains("genoa") || model.contains("turin") || model.contains("bergamo") || model.contains("siena") { return 51 }
        if model.contains("rome") || model.hasPrefix("epyc") { return 47 }
        return 51
    }

    /// The C-bit position of a CPU generation, as CPUID 0x8000001F EBX[5:0] reports it: 47 on Naples
    /// and Rome, 51 from Milan on (as the host fixtures in Tests/HostProbeTests/Fixtures/hosts have it).
    public static func usualCBitPosition(generation: AMDGeneration) -> Int {
        switch generation {
        case .naples, .rome: return 47
        case .milan, .genoa, .turin: return 51
        }
    }

    /// - Parameters:
    ///   - capabilities: what the installed QEMU offers; nil renders for a modern QEMU (≥ 9.1), as a dry
    ///     run for another host does.
    public static func render(_ spec: LaunchSpec, binary: String = "qemu-system-x86_64", capabilities: QEMUCapabilities? = nil) throws -> [String] {
        try spec.validate()
        if spec.mode.isConfidential && spec.accelerator == .tcg {
            throw LaunchError.needsKVM(spec.mode)
        }
        if let capabilities {
            switch spec.mode {
            case .sevSNP where !capabilities.supportsSNPGuest:
                throw LaunchError.unsupportedHere("QEMU \(capabilities.version?.description ?? "") has no sev-snp-guest; SEV-SNP needs QEMU ≥ 9.1")
            case .sev, .sevES:
                if !capabilities.supportsSEVGuest { throw LaunchError.unsupportedHere("this QEMU has no sev-guest object") }
            case .tdx where !capabilities.supportsTDXGuest:
                throw LaunchError.unsupportedHere("QEMU \(capabilities.version?.description ?? "") has no tdx-guest; TDX needs QEMU ≥ 10.1 built with TDX")
            default: break
            }
        }

        var args = [binary]
        if spec.namesProcess { args += ["-name", spec.name] }
        var machine = spec.machineType
        if spec.kernelHashes, capabilities?.needsKernelHashesMachineWorkaround == true {
            machine = "pc-q35-7.1"
        }
        if spec.mode.isSEV { machine += ",confidential-guest-support=sev0" }
        if spec.mode == .sevSNP { machine += ",memory-backend=ram1" }
        // TDX: the split irqchip it requires; private memory is guest_memfd, which QEMU allocates itself for
        // a machine whose confidential-guest-support needs it (no backend option selects it).
        if spec.mode == .tdx { machine += ",confidential-guest-support=tdx0,kernel-irqchip=split" }
        args += ["-machine", machine, "-accel", spec.accelerator.rawValue]
        if let model = spec.effectiveCPUModel { args += ["-cpu", model] }
        args += ["-smp", String(spec.vcpus), "-m", "\(spec.memoryMiB)M"]
        args += ["-nodefaults", "-display", "none", "-no-user-config"]

        switch spec.firmware {
        case .seabios:
            break
        case let .ovmfPflash(code, vars):
            args += ["-drive", "if=pflash,format=raw,unit=0,readonly=on,file=\(escapeOption(code))",
                     "-drive", "if=pflash,format=raw,unit=1,file=\(escapeOption(vars))"]
        case .ovmfBios(let path), .customBIOS(let path), .ownImage(let path):
            args += ["-bios", path]
        }

        if spec.mode == .tdx {
            args += ["-object", tdxGuestObject(spec)]
        }
        if spec.mode.isSEV {
            let cbitpos = spec.cbitpos ?? usualCBitPosition(cpuModel: spec.effectiveCPUModel)
            let reduced = spec.reducedPhysBits ?? 1
            let policy = spec.effectivePolicy?.hexValue ?? "0x1"
            var object = spec.mode == .sevSNP ? "sev-snp-guest" : "sev-guest"
            object += ",id=sev0,cbitpos=\(cbitpos),reduced-phys-bits=\(reduced),policy=\(policy)"
            if spec.kernelHashes { object += ",kernel-hashes=on" }
            if spec.mode == .sevSNP {
                if let block = spec.snp.idBlock, let auth = spec.snp.idAuth {
                    object += ",id-block=\(block),id-auth=\(auth)"
                    if spec.snp.authorKeyEnabled { object += ",author-key-enabled=on" }
                }
                if let hostData = spec.snp.hostData { object += ",host-data=\(hostData)" }
                args += ["-object", "memory-backend-memfd,id=ram1,size=\(spec.memoryMiB)M,share=true,prealloc=false"]
            }
            args += ["-object", object]
        }

        switch spec.boot {
        case let .kernel(path, initrd, _):
            args += ["-kernel", path]
            if let initrd { args += ["-initrd", initrd] }
            args += ["-append", spec.kernelCommandLine ?? ""]
        case .firmwareOnly:
            break
        case .ownFirmware:
            // Over the PIO fw_cfg interface, which the guest reads without DMA (no shared buffer under SEV).
            args += ["-fw_cfg", "name=\(BootSource.commandLineFwCfgName),string=\(escapeOption(spec.kernelCommandLine ?? ""))"]
        case let .disk(path, format):
            // Confidential guests need virtio behind the IOMMU platform so DMA uses shared (unencrypted) pages.
            let iommu = spec.mode.isConfidential ? ",iommu_platform=on,disable-legacy=on" : ""
            args += ["-drive", "if=none,id=disk0,format=\(format),file=\(escapeOption(path))\(spec.diskSnapshot ? ",snapshot=on" : "")"]
            args += spec.diskBus.qemuDevices(iommu: iommu)
        }
        for (index, cdrom) in spec.cdroms.enumerated() {
            args += ["-drive", "if=none,id=cd\(index),media=cdrom,readonly=on,format=raw,file=\(escapeOption(cdrom))",
                     "-device", "ide-cd,drive=cd\(index)"]
        }
        if spec.userNetwork {
            let iommu = spec.mode.isConfidential ? ",iommu_platform=on,disable-legacy=on" : ""
            let forwards = spec.portForwards.map { ",hostfwd=" + $0.qemuHostForward }.joined()
            args += ["-netdev", "user,id=net0\(forwards)", "-device", "virtio-net-pci,netdev=net0\(iommu)"]
        }

        args += spec.extraQEMUArguments
        if spec.noReboot { args += ["-no-reboot"] }
        args += serial(spec.console, id: "console0")
        if spec.applicationSerial != .none { args += serial(spec.applicationSerial, id: "app0") }
        if spec.debugExit { args += ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"] }
        if let qmp = spec.qmpSocket { args += ["-qmp", "unix:\(qmp),server=on,wait=off"] }
        if spec.startPaused { args += ["-S"] }
        if let pidFile = spec.daemonPIDFile { args += ["-daemonize", "-pidfile", pidFile] }
        return args
    }

    /// `tdx-guest`: SEPT_VE_DISABLE alone through its own property, any other attribute bits (DEBUG, PKS,
    /// PERFMON) as the whole `attributes` value (its setter replaces all bits, so the two are never mixed).
    /// A Quote Generation Service socket is a nested SocketAddress, which only QEMU's JSON form of -object
    /// takes (`quote-generation-socket.path=` is refused in the key=value form).
    static func tdxGuestObject(_ spec: LaunchSpec) -> String {
        var attributes = TDAttributes.default
        if case .td(let given)? = spec.effectivePolicy { attributes = given }
        let onlySEPT = attributes.rawValue & ~TDAttributes.septVEDisable == 0
        if let socket = spec.tdx.quoteGenerationSocket {
            let attribute = onlySEPT ? "\"sept-ve-disable\":\(attributes.septVEDisabled)" : "\"attributes\":\(attributes.rawValue)"
            let path = socket.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            return "{\"qom-type\":\"tdx-guest\",\"id\":\"tdx0\",\(attribute),\"quote-generation-socket\":{\"type\":\"unix\",\"path\":\"\(path)\"}}"
        }
        return onlySEPT ? "tdx-guest,id=tdx0,sept-ve-disable=\(attributes.septVEDisabled ? "on" : "off")"
                        : "tdx-guest,id=tdx0,attributes=\(attributes.description)"
    }

    static func serial(_ sink: SerialSink, id: String) -> [String] {
        switch sink {
        case .stdio: return ["-chardev", "stdio,id=\(id),signal=off", "-serial", "chardev:\(id)"]
        case .file(let path): return ["-chardev", "file,id=\(id),path=\(escapeOption(path))", "-serial", "chardev:\(id)"]
        case let .socket(path, log):
            let logging = log.map { ",logfile=\(escapeOption($0)),logappend=on" } ?? ""
            return ["-chardev", "socket,id=\(id),path=\(escapeOption(path)),server=on,wait=off\(logging)", "-serial", "chardev:\(id)"]
        case .none: return ["-serial", "none"]
        }
    }

    /// QEMU option values separate properties with commas; a literal comma is written twice.
    static func escapeOption(_ value: String) -> String {
        value.replacingOccurrences(of: ",", with: ",,")
    }

    /// One line a POSIX shell runs as exactly these arguments.
    public static func shellQuoted(_ arguments: [String]) -> String {
        arguments.map(shellQuote).joined(separator: " ")
    }

    static func shellQuote(_ word: String) -> String {
        let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%")
        if !word.isEmpty && word.allSatisfy({ safe.contains($0) }) { return word }
        return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
