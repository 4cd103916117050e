import Foundation
import HostProbe

/// Runs a `LaunchSpec` once through libvirt: a transient domain created from the rendered XML, the
/// console written by virtlogd to a log, polled until the guest powers off, destroyed on timeout.
public enum LibvirtRunner {
    public static func run(_ spec: LaunchSpec, uri: String = "qemu:///system", libvirtVersion: DottedVersion?, scratch: URL,
                           timeout: Double, echo: Bool, runner: any CommandRunner = ProcessRunner()) throws -> RunResult {
        let log = scratch.appendingPathComponent("console.log").path
        let label = getuid() == 0 ? "+0:+0" : nil
        let xml = try LibvirtDomainXML.render(spec, libvirtVersion: libvirtVersion, consoleLog: log, dacLabel: label)
        let xmlPath = scratch.appendingPathComponent("domain.xml")
        try Data(xml.utf8).write(to: xmlPath)
        let start = Date()
        guard let created = runner.run(["virsh", "-c", uri, "create", xmlPath.path], timeout: 60) else {
            throw LaunchError.unsupportedHere("virsh is not installed (apt-get install libvirt-clients libvirt-daemon-system)")
        }
        guard created.status == 0 else {
            throw LaunchError.unsupportedHere("libvirt refused the domain: \(created.stderr.split(separator: "\n").first ?? "virsh create failed")")
        }
        var timedOut = false
        while true {
            let state = runner.run(["virsh", "-c", uri, "domstate", spec.name], timeout: 20)
            // A transient domain disappears once it stops.
            if state == nil || state?.status != 0 || state?.stdout.contains("shut off") == true { break }
            if Date().timeIntervalSince(start) > timeout {
                timedOut = true
                _ = runner.run(["virsh", "-c", uri, "destroy", spec.name], timeout: 30)
                break
            }
            usleep(100_000)
        }
        let wall = Date().timeIntervalSince(start)
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        if echo { FileHandle.standardOutput.write(Data(text.utf8)) }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
            ConsoleLine(time: wall, text: String($0).filter { $0 != "\r" })
        }
        return RunResult(qemuExitStatus: 0, guestExitCode: timedOut ? nil : exitCode(fromConsole: text), timedOut: timedOut,
                         interrupted: false, wallSeconds: wall, console: lines, qemuStderr: "")
    }

    /// libvirt does not pass QEMU's exit status on; the init's last marker carries the code instead.
    static func exitCode(fromConsole text: String) -> Int? {
        for line in text.split(separator: "\n").reversed() {
            guard let range = line.range(of: " poweroff code=") else { continue }
            return Int(line[range.upperBound...].prefix { $0.isNumber || $0 == "-" })
        }
        return nil
    }
}
