import Foundation
import HostProbe
import SEVABI

/// Renders a `LaunchSpec` to libvirt domain XML: `<launchSecurity type='sev'>` for SEV and SEV-ES,
/// `type='sev-snp'` for SNP (libvirt ≥ 10.5), per-VM NVRAM for OVMF, the console to a log file.
public enum LibvirtDomainXML {
    /// - Parameter libvirtVersion: the installed libvirt; nil renders for a current one (dry run for another host).
    /// - Parameter dacLabel: run QEMU as this "+uid:+gid" without relabelling files (used when the caller's
    ///   files sit where libvirt's unprivileged QEMU user cannot reach them).
    public static func render(_ spec: LaunchSpec, libvirtVersion: DottedVersion? = nil, consoleLog: String? = nil,
                              dacLabel: String? = nil) throws -> String {
        try spec.validate()
        if spec.mode == .sevSNP, let version = libvirtVersion, version < LibvirtCapabilities.snpMinimumVersion {
            throw LaunchError.unsupportedHere("libvirt \(version) has no <launchSecurity type='sev-snp'> (needs ≥ 10.5); use --backend qemu for SEV-SNP")
        }
        if spec.mode.isConfidential && spec.accelerator == .tcg {
            throw LaunchError.needsKVM(spec.mode)
        }
        var x = XMLWriter()
        let type = spec.accelerator == .kvm ? "kvm" : "qemu"
        let qemuArguments = (spec.debugExit ? ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"] : []) + spec.extraQEMUArguments
        x.open("domain", ["type": type, "xmlns:qemu": qemuArguments.isEmpty ? nil : "http://libvirt.org/schemas/domain/qemu/1.0"])
        x.element("name", text: spec.name)
        if let uuid = spec.domainUUID { x.element("uuid", text: uuid) }
        x.element("memory", ["unit": "MiB"], text: String(spec.memoryMiB))
        if spec.mode.isSEV {
            // SEV guest memory must stay in place: libvirt then raises the memlock limit for QEMU.
            x.open("memoryBacking")
            x.element("locked")
            x.close("memoryBacking")
        }
        x.element("vcpu", text: String(spec.vcpus))

        x.open("os")
        x.element("type", ["arch": "x86_64", "machine": spec.machineType], text: "hvm")
        switch spec.firmware {
        case .seabios:
            break
        case let .ovmfPflash(code, vars):
            x.element("loader", ["readonly": "yes", "type": "pflash"], text: code)
            x.element("nvram", text: vars)
        case .ovmfBios(let path):
            x.element("loader", ["type": "rom", "stateless": "yes"], text: path)
        case .customBIOS(let path):
            x.element("loader", ["type": "rom", "readonly": "yes"], text: path)
        case .ownImage(let path):
            x.element("loader", ["type": "rom", "readonly": "yes", "stateless": spec.mode == .sevSNP ? "yes" : nil], text: path)
        }
        switch spec.boot {
        case let .kernel(path, initrd, _):
            x.element("kernel", text: path)
            if let initrd { x.element("initrd", text: initrd) }
            x.element("cmdline", text: spec.kernelCommandLine ?? "")
        case .disk:
            x.element("boot", ["dev": "hd"])
        case .firmwareOnly, .ownFirmware:
            break
        }
        x.close("os")
        if case .ownFirmware = spec.boot {
            // libvirt's way to QEMU's -fw_cfg name=...,string=...
            x.open("sysinfo", ["type": "fwcfg"])
            x.element("entry", ["name": BootSource.commandLineFwCfgName], text: spec.kernelCommandLine ?? "")
            x.close("sysinfo")
        }

        x.open("features")
        x.element("acpi")
        x.close("features")
        if let model = spec.effectiveCPUModel { LibvirtCPU.write(model, into: &x) }
        x.element("on_poweroff", text: "destroy")
        x.element("on_reboot", text: spec.rebootRestarts ? "restart" : "destroy")
        x.element("on_crash", text: "destroy")

        x.open("devices")
        let iommu: [String: String?] = spec.mode.isConfidential ? ["iommu": "on"] : [:]
        if case let .disk(path, format) = spec.boot {
            x.open("disk", ["type": "file", "device": "disk"])
            x.element("driver", ["name": "qemu", "type": format].merging(iommu) { $1 })
            x.element("source", ["file": path])
            x.element("target", spec.diskBus == .virtioSCSI ? ["dev": "sda", "bus": "scsi"] : ["dev": "vda", "bus": "virtio"])
            if spec.diskSnapshot { x.element("transient") }
            x.close("disk")
            if spec.diskBus == .virtioSCSI { x.element("controller", ["type": "scsi", "model": "virtio-scsi"]) }
        }
        for (index, cdrom) in spec.cdroms.enumerated() {
            x.open("disk", ["type": "file", "device": "cdrom"])
            x.element("driver", ["name": "qemu", "type": "raw"])
            x.element("source", ["file": cdrom])
            x.element("target", ["dev": "sd\(Character(UnicodeScalar(UInt8(97 + index))))", "bus": "sata"])
            x.element("readonly")
            x.close("disk")
        }
        if spec.userNetwork {
            x.open("interface", ["type": "user"])
            // libvirt forwards ports of user networking only through its passt backend.
            if !spec.portForwards.isEmpty { x.element("backend", ["type": "passt"]) }
            for forward in spec.portForwards {
                x.open("portForward", ["proto": "tcp", "address": forward.hostAddress])
                x.element("range", ["start": String(forward.hostPort), "to": String(forward.guestPort)])
                x.close("portForward")
            }
            x.element("model", ["type": "virtio"])
            if spec.mode.isConfidential { x.element("driver", iommu) }
            x.close("interface")
        }
        x.open("serial", ["type": "pty"])
        if let consoleLog { x.element("log", ["file": consoleLog, "append": "off"]) }
        x.element("target", ["port": "0"])
        x.close("serial")
        x.open("console", ["type": "pty"])
        x.element("target", ["type": "serial", "port": "0"])
        x.close("console")
        x.element("memballoon", ["model": "none"])
        x.close("devices")

        if let policy = spec.effectivePolicy {
            let cbitpos = spec.cbitpos ?? QEMUCommandLine.usualCBitPosition(cpuModel: spec.effectiveCPUModel)
            let reduced = spec.reducedPhysBits ?? 1
            switch policy {
            case .sev(let sevPolicy):
                x.open("launchSecurity", ["type": "sev", "kernelHashes": spec.kernelHashes ? "yes" : nil])
                x.element("cbitpos", text: String(cbitpos))
                x.element("reducedPhysBits", text: String(reduced))
                x.element("policy", text: String(format: "0x%04x", sevPolicy.rawValue))
                x.close("launchSecurity")
            case .snp(let snpPolicy):
                x.open("launchSecurity", ["type": "sev-snp", "kernelHashes": spec.kernelHashes ? "yes" : nil,
                                          "authorKey": spec.snp.authorKeyEnabled ? "yes" : nil])
                x.element("cbitpos", text: String(cbitpos))
                x.element("reducedPhysBits", text: String(reduced))
                x.element("policy", text: String(format: "0x%08llx", snpPolicy.rawValue))
                if let block = spec.snp.idBlock { x.element("idBlock", text: block) }
                if let auth = spec.snp.idAuth { x.element("idAuth", text: auth) }
                if let hostData = spec.snp.hostData { x.element("hostData", text: hostData) }
                x.close("launchSecurity")
            case .td(let attributes):
                // libvirt ≥ 11.5 (docs/formatdomain: launchSecurity type 'tdx'): the TD attributes as its policy,
                // and the host's Quote Generation Service socket when one is named.
                x.open("launchSecurity", ["type": "tdx"])
                x.element("policy", text: String(format: "0x%llx", attributes.rawValue))
                if let socket = spec.tdx.quoteGenerationSocket { x.element("quoteGenerationService", ["path": socket]) }
                x.close("launchSecurity")
            }
        }
        if let dacLabel {
            x.open("seclabel", ["type": "static", "model": "dac", "relabel": "no"])
            x.element("label", text: dacLabel)
            x.close("seclabel")
        }
        if !qemuArguments.isEmpty {
            x.open("qemu:commandline")
            for argument in qemuArguments { x.element("qemu:arg", ["value": argument]) }
            x.close("qemu:commandline")
        }
        x.close("domain")
        return x.text
    }
}

/// A minimal indenting XML writer with escaping; attributes are sorted for stable output.
struct XMLWriter {
    private(set) var text = ""
    private var depth = 0

    static func escape(_ value: String) -> String {
        var out = ""
        for character in value {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "'": out += "&apos;"
            case "\"": out += "&quot;"
            default: out.append(character)
            }
        }
        return out
    }

    private func attributes(_ attributes: [String: String?]) -> String {
        attributes.compactMap { key, value in value.map { (key, $0) } }
            .sorted { $0.0 < $1.0 }
            .map { " \($0.0)='\(Self.escape($0.1))'" }
            .joined()
    }

    private var indent: String { String(repeating: "  ", count: depth) }

    mutating func open(_ name: String, _ attrs: [String: String?] = [:]) {
        text += "\(indent)<\(name)\(attributes(attrs))>\n"
        depth += 1
    }

    mutating func close(_ name: String) {
        depth -= 1
        text += "\(indent)</\(name)>\n"
    }

    mutating func element(_ name: String, _ attrs: [String: String?] = [:], text content: String? = nil) {
        if let content {
            text += "\(indent)<\(name)\(attributes(attrs))>\(Self.escape(content))</\(name)>\n"
        } else {
            text += "\(indent)<\(name)\(attributes(attrs))/>\n"
        }
    }
}
