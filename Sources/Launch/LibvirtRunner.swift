import Foundation
import HostOS
import HostProbe

/// Runs a `LaunchSpec` once through libvirt: a transient domain created from the rendered XML, the
/// console written by virtlogd to a log, polled until the guest powers off, destroyed on timeout or
/// SIGINT/SIGTERM, and tied to cvm's life by libvirt's autodestroy (`DomainConnection`).
public enum LibvirtRunner {
    public static func run(_ spec: LaunchSpec, uri: String = "qemu:///system", libvirtVersion: DottedVersion?, scratch: URL,
                           timeout: Double, echo: Bool, runner: any CommandRunner = ProcessRunner()) throws -> RunResult {
        let log = scratch.appendingPathComponent("console.log").path
        let label = getuid() == 0 ? "+0:+0" : nil
        let xml = try LibvirtDomainXML.render(spec, libvirtVersion: libvirtVersion, consoleLog: log, dacLabel: label)
        let xmlPath = scratch.appendingPathComponent("domain.xml")
        try Data(xml.utf8).write(to: xmlPath)
        let start = Date()
        guard let virsh = ProcessRunner.which("virsh") else {
            throw LaunchError.unsupportedHere("virsh is not installed (apt-get install libvirt-clients libvirt-daemon-system)")
        }
        let connection = try DomainConnection(virsh: virsh, uri: uri, xml: xmlPath.path)
        defer { connection.close() }
        let interruption = Interruption()
        let subscription = SignalOwner.shared.subscribe { interruption.note($0) }
        defer { subscription.cancel() }
        var timedOut = false
        while true {
            let state = runner.run(["virsh", "-c", uri, "domstate", spec.name], timeout: 20)
            // A transient domain disappears once it stops.
            if state == nil || state?.status != 0 || state?.stdout.contains("shut off") == true { break }
            if interruption.signal != nil {
                _ = runner.run(["virsh", "-c", uri, "destroy", spec.name], timeout: 30)
                break
            }
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
        let interrupted = interruption.signal != nil && !timedOut
        var result = RunResult(qemuExitStatus: 0, guestExitCode: timedOut || interrupted ? nil : exitCode(fromConsole: text), timedOut: timedOut,
                               interrupted: interrupted, wallSeconds: wall, console: lines, qemuStderr: "")
        result.interruptSignal = interrupted ? interruption.signal : nil
        return result
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

/// The virsh connection a transient domain lives on: an interactive virsh runs `create --autodestroy`
/// and keeps its connection open until `close()`; libvirtd destroys an autodestroy domain when the
/// connection that created it closes. virsh is a `ChildProcess`, so the kernel kills it when cvm dies,
/// even by SIGKILL, and the domain goes with it.
final class DomainConnection: @unchecked Sendable {
    private let child: ChildProcess
    private let transcript = Transcript()

    init(virsh: String, uri: String, xml: String, timeout: Double = 60) throws {
        let transcript = self.transcript
        do {
            child = try ChildProcess(.init(executable: virsh, arguments: ["-c", uri], standardInput: .pipe,
                                           standardOutput: .stream { transcript.append($0) }, standardError: .stream { transcript.append($0) }))
        } catch {
            throw LaunchError.unsupportedHere("\(error)")
        }
        // virsh's shell takes a single-quoted word as is; the path is cvm's own scratch directory.
        try? child.standardInput?.write(contentsOf: Data("create --autodestroy '\(xml)'\n".utf8))
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let text = transcript.text
            if text.contains("created from") { return }
            if text.contains("error:") {
                // virsh prints "error: Failed to create domain from FILE", then the reason on its own line.
                usleep(200_000)
                let reasons = transcript.text.split(separator: "\n").filter { $0.hasPrefix("error: ") }.map { $0.dropFirst("error: ".count) }
                close()
                throw LaunchError.unsupportedHere("libvirt refused the domain: \(reasons.joined(separator: ": "))")
            }
            if !child.isRunning {
                close()
                throw LaunchError.unsupportedHere("libvirt refused the domain: virsh ended without creating it")
            }
            if Date() >= deadline {
                close()
                // Not a refusal: libvirtd is slow, most often because it re-probes QEMU on every lookup.
                throw LaunchError.unsupportedHere("libvirt did not create the domain within \(Int(timeout)) s"
                    + " (cvm host check, kvm.device-access, says whether libvirt's QEMU user can open /dev/kvm)")
            }
            usleep(50_000)
        }
    }

    /// Ends virsh (end of input), which closes the connection.
    func close() {
        try? child.standardInput?.close()
        _ = child.wait(timeout: 10)
    }
}

/// Everything virsh printed, in arrival order.
final class Transcript: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func append(_ chunk: Data) { lock.withLock { data.append(chunk) } }
    var text: String { lock.withLock { String(decoding: data, as: UTF8.self) } }
}
