import Foundation
import HostProbe

/// Runs a VM as a daemonized QEMU: QMP on `qmp.sock`, the serial console on `console.sock` (a client
/// such as `cvm vm console` attaches there) and copied to `serial.log`, the process id in `qemu.pid`.
struct QEMUVMBackend: VMBackend {
    var binary: String
    var tool: VMTool

    func define(_ record: VMRecord, in vm: VMDirectory, spec: LaunchSpec) throws {}

    func start(_ record: VMRecord, in vm: VMDirectory, spec: LaunchSpec) throws -> Int32? {
        for stale in [vm.pidFile, vm.qmpSocket, vm.consoleSocket] { try? FileManager.default.removeItem(at: stale) }
        let spec = Self.daemonSpec(spec, in: vm)
        let capabilities = QEMUCapabilities.detect(using: tool.runner, binary: binary)
        guard capabilities != nil else { throw VMError.unsupportedHere("\(binary) is not installed (apt-get install qemu-system-x86)") }
        let arguments: [String]
        do {
            arguments = try QEMUCommandLine.render(spec, binary: binary, capabilities: capabilities)
        } catch let error as LaunchError {
            throw VMError(error)
        }
        try AtomicFile.write(Data((QEMUCommandLine.shellQuoted(arguments) + "\n").utf8), to: vm.file("qemu.cmdline"))
        let status = try VMDaemonSpawn.run(arguments, log: vm.qemuLog, timeout: 120)
        guard status == 0 else {
            let message = (try? String(contentsOf: vm.qemuLog, encoding: .utf8)) ?? ""
            throw VMError.toolFailed(tool: binary, status: status, message: message)
        }
        guard let pid = Self.readPID(vm) else { throw VMError.io("QEMU started but wrote no pid file at \(vm.pidFile.path)") }
        return pid
    }

    /// The VM's launch as a daemon: QMP and the console on sockets in its directory, everything the
    /// guest prints also in serial.log (whether or not a console client is attached), its pid in qemu.pid.
    static func daemonSpec(_ spec: LaunchSpec, in vm: VMDirectory) -> LaunchSpec {
        var spec = spec
        spec.console = .socket(vm.consoleSocket.path, log: vm.serialLog.path)
        spec.qmpSocket = vm.qmpSocket.path
        spec.namesProcess = true
        spec.daemonPIDFile = vm.pidFile.path
        return spec
    }

    static func readPID(_ vm: VMDirectory) -> Int32? {
        guard let data = FileManager.default.contents(atPath: vm.pidFile.path) else { return nil }
        return Int32(String(decoding: data, as: UTF8.self).filter { !$0.isWhitespace })
    }

    /// True when `pid` is a live (not zombie) QEMU serving this VM's QMP socket: a recycled pid
    /// belonging to another program is not mistaken for the VM.
    static func isOurQEMU(_ pid: Int32, vm: VMDirectory) -> Bool {
        guard pid > 0, kill(pid, 0) == 0 || errno == EPERM else { return false }
        if let stat = FileManager.default.contents(atPath: "/proc/\(pid)/stat"),
           let close = stat.lastIndex(of: UInt8(ascii: ")")), close + 2 < stat.count, stat[close + 2] == UInt8(ascii: "Z") {
            return false
        }
        guard let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
        return cmdline.split(separator: 0).contains { String(decoding: $0, as: UTF8.self).contains(vm.qmpSocket.path) }
    }

    func state(_ record: VMRecord, in vm: VMDirectory) -> VMRuntimeState {
        guard let pid = Self.readPID(vm) ?? record.pid, Self.isOurQEMU(pid, vm: vm) else {
            return VMRuntimeState(running: false, detail: "shut off")
        }
        let detail: String
        if let client = try? QMPClient(socketPath: vm.qmpSocket.path, timeout: 5),
           let reply = try? client.execute("query-status") as? [String: Any], let status = reply["status"] as? String {
            detail = status
        } else {
            detail = "running (QMP not answering)"
        }
        return VMRuntimeState(running: true, detail: detail, pid: pid)
    }

    func stop(_ record: VMRecord, in vm: VMDirectory, force: Bool, timeout: Double) throws -> String? {
        guard let pid = Self.readPID(vm) ?? record.pid, Self.isOurQEMU(pid, vm: vm) else { return nil }
        let why = force ? "--force" : "the guest did not power off within \(Int(timeout)) s of the ACPI power button"
        if !force, let client = try? QMPClient(socketPath: vm.qmpSocket.path, timeout: 5) {
            _ = try? client.execute("system_powerdown")
            if Self.waitForExit(pid, vm: vm, timeout: timeout) { cleanUp(vm); return nil }
        }
        defer { cleanUp(vm) }
        if let client = try? QMPClient(socketPath: vm.qmpSocket.path, timeout: 5) {
            _ = try? client.execute("quit")
            if Self.waitForExit(pid, vm: vm, timeout: 10) { return "\(why); QEMU quit over QMP" }
        }
        kill(pid, SIGTERM)
        if Self.waitForExit(pid, vm: vm, timeout: 5) { return "\(why); QEMU ended with SIGTERM" }
        kill(pid, SIGKILL)
        guard Self.waitForExit(pid, vm: vm, timeout: 5) else { throw VMError.io("QEMU (pid \(pid)) survived SIGKILL") }
        return "\(why); QEMU killed with SIGKILL"
    }

    static func waitForExit(_ pid: Int32, vm: VMDirectory, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while isOurQEMU(pid, vm: vm) {
            guard Date() < deadline else { return false }
            usleep(50_000)
        }
        return true
    }

    func cleanUp(_ vm: VMDirectory) {
        for stale in [vm.pidFile, vm.qmpSocket, vm.consoleSocket] { try? FileManager.default.removeItem(at: stale) }
    }

    func undefine(_ record: VMRecord, in vm: VMDirectory) throws {}
}
