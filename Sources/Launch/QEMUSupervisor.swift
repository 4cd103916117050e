import Dispatch
import Foundation
import HostProbe

/// One line the guest printed on its console, with the host time it arrived.
public struct ConsoleLine: Sendable, Codable, Hashable {
    /// Seconds since QEMU was started.
    public var time: Double
    public var text: String
}

/// How a supervised QEMU run ended.
public struct RunResult: Sendable, Codable {
    public var qemuExitStatus: Int32
    /// The code the guest wrote to isa-debug-exit (QEMU exits with code << 1 | 1), 0 for a clean
    /// power-off, nil when QEMU itself failed or was stopped.
    public var guestExitCode: Int?
    public var timedOut: Bool
    public var interrupted: Bool
    public var wallSeconds: Double
    public var console: [ConsoleLine]
    /// QEMU's own error output (empty on a clean run).
    public var qemuStderr: String
    /// The console line of a Linux kernel panic, when the guest panicked (QEMU is then stopped instead
    /// of letting the guest reboot into the same panic until the timeout).
    public var guestPanic: String?

    /// One line saying how it ended, for people.
    public var summary: String {
        if interrupted { return "interrupted; QEMU stopped" }
        if let guestPanic { return "guest kernel panicked (\(guestPanic)); QEMU stopped" }
        if timedOut { return "timed out after \(String(format: "%.1f", wallSeconds)) s; QEMU stopped" }
        if let code = guestExitCode { return "guest exited with code \(code) after \(String(format: "%.2f", wallSeconds)) s" }
        let reason = qemuStderr.split(separator: "\n").last.map(String.init) ?? "exit status \(qemuExitStatus)"
        return "QEMU failed: \(reason)"
    }
}

/// Starts QEMU, streams its serial console to a log (and optionally the terminal), enforces a timeout,
/// and tears QEMU down on SIGINT/SIGTERM so no guest outlives the command.
public enum QEMUSupervisor {
    public struct Options: Sendable {
        public var timeout: Double?
        public var echoConsole: Bool
        public var consoleLog: String?
        public var environment: [String: String]?

        public init(timeout: Double? = nil, echoConsole: Bool = false, consoleLog: String? = nil, environment: [String: String]? = nil) {
            self.timeout = timeout
            self.echoConsole = echoConsole
            self.consoleLog = consoleLog
            self.environment = environment
        }
    }

    /// Runs `arguments` (binary first) to completion.
    public static func run(_ arguments: [String], options: Options = Options()) throws -> RunResult {
        guard let binary = arguments.first, let executable = ProcessRunner.which(binary) else {
            throw LaunchError.unsupportedHere("\(arguments.first ?? "qemu") is not installed (apt-get install qemu-system-x86)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = Array(arguments.dropFirst())
        if let environment = options.environment { process.environment = environment }
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice

        var logHandle: FileHandle?
        if let path = options.consoleLog {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
            logHandle = FileHandle(forWritingAtPath: path)
        }
        let collector = ConsoleCollector(echo: options.echoConsole, log: logHandle)
        let errors = ByteSink()

        let start = Date()
        collector.start = start
        try process.run()
        let stopper = SignalStopper(process: process)

        let readers = DispatchGroup()
        DispatchQueue.global().async(group: readers) {
            let handle = stdout.fileHandleForReading
            while true {
                let data = handle.availableData
                if data.isEmpty { break }
                collector.append(data)
            }
            collector.finish()
        }
        DispatchQueue.global().async(group: readers) {
            let handle = stderr.fileHandleForReading
            while true {
                let data = handle.availableData
                if data.isEmpty { break }
                errors.append(data)
            }
        }

        var timedOut = false
        let deadline = options.timeout.map { start.addingTimeInterval($0) } ?? .distantFuture
        var panicSeen: Date?
        while process.isRunning {
            if Date() >= deadline {
                timedOut = true
                stopper.stop()
                break
            }
            // A panicking kernel prints its trace within moments, then reboots (panic=-1) or hangs.
            if panicSeen == nil, collector.panicLine != nil { panicSeen = Date() }
            if let panicSeen, Date().timeIntervalSince(panicSeen) > 1 {
                stopper.stop()
                break
            }
            usleep(5_000)
        }
        process.waitUntilExit()
        readers.wait()
        stopper.uninstall()
        try? logHandle?.close()

        let status = process.terminationStatus
        let wall = Date().timeIntervalSince(start)
        let stderrText = errors.text
        let interrupted = stopper.fired
        let panic = timedOut || interrupted ? nil : panicSeen.flatMap { _ in collector.panicLine }
        return RunResult(qemuExitStatus: status,
                         guestExitCode: (timedOut || interrupted || panic != nil) ? nil : guestExitCode(status: status, reason: process.terminationReason, stderr: stderrText),
                         timedOut: timedOut, interrupted: interrupted, wallSeconds: wall,
                         console: collector.lines, qemuStderr: stderrText, guestPanic: panic)
    }

    /// isa-debug-exit makes QEMU exit with (code << 1) | 1; a power-off exits 0. Status 1 is also
    /// QEMU's own failure status, told apart by QEMU's error line on standard error.
    static func guestExitCode(status: Int32, reason: Process.TerminationReason, stderr: String) -> Int? {
        guard reason == .exit else { return nil }
        if status == 0 { return 0 }
        if status == 1 && stderr.contains("qemu-system") { return nil }
        return status & 1 == 1 ? Int(status >> 1) : nil
    }
}

/// Splits console output into timestamped lines, echoing and logging as it goes.
final class ConsoleCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var partial: [UInt8] = []
    private var collected: [ConsoleLine] = []
    private var panic: String?
    private let echo: Bool
    private let log: FileHandle?
    var start = Date()

    init(echo: Bool, log: FileHandle?) {
        self.echo = echo
        self.log = log
    }

    func append(_ data: Data) {
        if echo { FileHandle.standardOutput.write(data) }
        log?.write(data)
        lock.withLock {
            let now = Date().timeIntervalSince(start)
            for byte in data {
                if byte == UInt8(ascii: "\n") {
                    let line = ConsoleLine(time: now, text: Self.clean(partial))
                    if panic == nil, let range = line.text.range(of: "Kernel panic - not syncing") {
                        panic = String(line.text[range.lowerBound...])
                    }
                    collected.append(line)
                    partial.removeAll(keepingCapacity: true)
                } else {
                    partial.append(byte)
                }
            }
        }
    }

    func finish() {
        lock.withLock {
            if !partial.isEmpty {
                collected.append(ConsoleLine(time: Date().timeIntervalSince(start), text: Self.clean(partial)))
                partial.removeAll()
            }
        }
    }

    var lines: [ConsoleLine] { lock.withLock { collected } }
    /// "Kernel panic - not syncing: …" once the guest printed it.
    var panicLine: String? { lock.withLock { panic } }

    static func clean(_ bytes: [UInt8]) -> String {
        String(decoding: bytes.filter { $0 != UInt8(ascii: "\r") }, as: UTF8.self)
    }
}

final class ByteSink: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func append(_ chunk: Data) { lock.withLock { data.append(chunk) } }
    var text: String { lock.withLock { String(decoding: data, as: UTF8.self) } }
}

/// While installed, SIGINT and SIGTERM stop the child instead of killing this process first.
final class SignalStopper: @unchecked Sendable {
    private let process: Process
    private var sources: [DispatchSourceSignal] = []
    private let lock = NSLock()
    private var didFire = false

    init(process: Process) {
        self.process = process
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { [weak self] in
                self?.lock.withLock { self?.didFire = true }
                self?.stop()
            }
            source.resume()
            sources.append(source)
        }
    }

    var fired: Bool { lock.withLock { didFire } }

    /// SIGTERM, then SIGKILL if QEMU has not gone within two seconds.
    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(2)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    func uninstall() {
        for source in sources { source.cancel() }
        sources.removeAll()
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}
