import Foundation
import HostProbe

/// Runs a VM as a persistent libvirt domain of the same name, through virsh: define (and redefine
/// at each start, so the resolved accelerator and files are current), start, shutdown, destroy,
/// undefine with its NVRAM. The serial console is logged by virtlogd to `serial.log`.
struct LibvirtVMBackend: VMBackend {
    var uri: String
    var tool: VMTool

    @discardableResult
    func virsh(_ arguments: [String], timeout: Double = 120) throws -> String {
        try tool.run(["virsh", "-c", uri] + arguments, timeout: timeout, hint: "apt-get install libvirt-clients")
    }

    func exists(_ name: String) -> Bool {
        (try? tool.capture(["virsh", "-c", uri, "domstate", name], timeout: 30).status) == 0
    }

    /// The domain XML of the VM: a guest reboot restarts it, and a redefinition keeps its UUID
    /// (libvirt refuses a second definition of a name under a new UUID).
    static func domainXML(_ spec: LaunchSpec, in vm: VMDirectory, libvirtVersion: DottedVersion?, uuid: String?) throws -> String {
        var spec = spec
        spec.rebootRestarts = true
        spec.domainUUID = uuid
        do {
            // As root, QEMU runs as root and files keep their owner, as with `cvm run`; otherwise libvirt's defaults apply.
            return try LibvirtDomainXML.render(spec, libvirtVersion: libvirtVersion, consoleLog: vm.serialLog.path,
                                               dacLabel: getuid() == 0 ? "+0:+0" : nil)
        } catch let error as LaunchError {
            throw VMError(error)
        }
    }

    func define(_ record: VMRecord, in vm: VMDirectory, spec: LaunchSpec) throws {
        let version = LibvirtCapabilities.detect(using: tool.runner, uri: uri)?.version
        let uuid = (try? virsh(["domuuid", record.name.rawValue], timeout: 30))?.trimmingCharacters(in: .whitespacesAndNewlines)
        let xml = try Self.domainXML(spec, in: vm, libvirtVersion: version, uuid: uuid?.isEmpty == false ? uuid : nil)
        try AtomicFile.write(Data(xml.utf8), to: vm.domainXML, mode: 0o600)
        try virsh(["define", vm.domainXML.path])
    }

    func start(_ record: VMRecord, in vm: VMDirectory, spec: LaunchSpec) throws -> Int32? {
        try define(record, in: vm, spec: spec)
        try virsh(["start", record.name.rawValue])
        return nil
    }

    func state(_ record: VMRecord, in vm: VMDirectory) -> VMRuntimeState {
        guard let output = try? tool.capture(["virsh", "-c", uri, "domstate", record.name.rawValue], timeout: 30) else {
            return VMRuntimeState(running: false, detail: "virsh is not installed")
        }
        guard output.status == 0 else {
            let line = output.stderr.split(separator: "\n").first.map(String.init) ?? "virsh domstate failed"
            return VMRuntimeState(running: false, detail: "unknown to libvirt (\(line))")
        }
        let detail = output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return VMRuntimeState(running: detail != "shut off" && detail != "crashed", detail: detail)
    }

    func stop(_ record: VMRecord, in vm: VMDirectory, force: Bool, timeout: Double) throws -> String? {
        let name = record.name.rawValue
        guard state(record, in: vm).running else { return nil }
        if !force {
            _ = try? virsh(["shutdown", name])
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                if !state(record, in: vm).running { return nil }
                usleep(200_000)
            }
        }
        guard state(record, in: vm).running else { return nil }
        try virsh(["destroy", name])
        return "\(force ? "--force" : "the guest did not power off within \(Int(timeout)) s of virsh shutdown"); virsh destroy"
    }

    func undefine(_ record: VMRecord, in vm: VMDirectory) throws {
        let name = record.name.rawValue
        guard exists(name) else { return }
        if state(record, in: vm).running { try virsh(["destroy", name]) }
        let flags = record.firmware.kind == .ovmfPflash ? ["--nvram"] : []
        try virsh(["undefine", name] + flags)
    }
}
