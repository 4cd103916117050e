import Dispatch
import Foundation
import HostOS

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
    /// The console line by which the guest kernel reported a fatal error: a Linux panic, or a line its
    /// preset names fatal (QEMU is then stopped instead of letting the guest reboot into the same
    /// failure, hang until the timeout, or power off as if it had succeeded).
    public var guestPanic: String?
    /// The signal (SIGINT or SIGTERM) that interrupted the run; cvm then exits 128 + it.
    public var interruptSignal: Int32?

    /// One line saying how it ended, for people.
    public var summary: String {
        if interrupted { return "interrupted; QEMU stopped" }
        if let guestPanic { return "guest kernel reported a fatal error (\(guestPanic)); QEMU stopped" }
        if timedOut { return "timed out after \(String(format: "%.1f", wallSeconds)) s; QEMU stopped" }
        if let code = guestExitCode { return "guest exited with code \(code) after \(String(format: "%.2f", wallSeconds)) s" }
        let reason = qemuStderr.split(separator: "\n").last.map(String.init) ?? "exit status \(qemuExitStatus)"
        return "QEMU failed: \(reason)"
    }
}

/// Starts QEMU, streams its serial console to a log (and optionally the terminal), enforces a timeout,
/// and tears QEMU down on SIGINT/SIGTERM (heard through the one `SignalOwner`) so no guest outlives the
/// command. QEMU runs as a `ChildProcess`: its own process group, killed by the kernel if cvm dies.
public enum QEMUSupervisor {
    public struct Options: Sendable {
        public var timeout: Double?
        public var echoConsole: Bool
        public var consoleLog: String?
        public var environment: [String: String]?
        /// QEMU's QMP socket, when it has one: a stop asks QEMU to `quit` there before any signal.
        public var qmpSocket: String?
        /// Console lines that end the run as a guest failure, beyond Linux's panic line (the preset's).
        public var fatalLines: [FatalConsoleLine]

        public init(timeout: Double? = nil, echoConsole: Bool = false, consoleLog: String? = nil, environment: [String: String]? = nil,
                    qmpSocket: String? = nil, fatalLines: [FatalConsoleLine] = []) {
            self.fatalLines = fatalLines
            self.timeout = timeout
            self.echoConsole = echoConsole
            self.consoleLog = consoleLog
            self.environment = environment
            self.qmpSocket = qmpSocket
        }
    }

    /// Runs `arguments` (binary first) to completion.
    public static func run(_ arguments: [String], options: Options = Options()) throws -> RunResult {
        guard let binary = arguments.first, let executable = ProcessRunner.which(binary) else {
            throw LaunchError.unsupportedHere("\(arguments.first ?? "qemu") is not installed (apt-get install qemu-system-x86)")
        }
        var logHandle: FileHandle?
        if let path = options.consoleLog {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
            logHandle = FileHandle(forWritingAtPath: path)
        }
        defer { try? logHandle?.close() }
        let collector = ConsoleCollector(echo: options.echoConsole, log: logHandle, fatal: [.linuxPanic] + options.fatalLines)
        let interruption = Interruption()
        // Subscribed before QEMU starts: a signal from now on stops it, one caught earlier stops it at once.
        let subscription = SignalOwner.shared.subscribe { interruption.note($0) }
        defer { subscription.cancel() }

        let start = Date()
        collector.start = start
        let child: ChildProcess
        do {
            child = try ChildProcess(.init(executable: executable, arguments: Array(arguments.dropFirst()), environment: options.environment,
                                           standardOutput: .stream { collector.append($0) }, standardError: .capture(limit: 1 << 20)))
        } catch {
            throw LaunchError.unsupportedHere("\(error)")
        }

        var timedOut = false
        let deadline = options.timeout.map { start.addingTimeInterval($0) } ?? .distantFuture
        var panicSeen: Date?
        while !child.waitForExit(seconds: 0.05) {
            if interruption.signal != nil {
                stop(child, qmpSocket: options.qmpSocket)
                break
            }
            if Date() >= deadline {
                timedOut = true
                stop(child, qmpSocket: options.qmpSocket)
                break
            }
            // A failing kernel prints its trace within moments, then reboots (panic=-1), hangs or powers off.
            if panicSeen == nil, collector.fatalLine != nil { panicSeen = Date() }
            if let panicSeen, Date().timeIntervalSince(panicSeen) > 1 {
                stop(child, qmpSocket: options.qmpSocket)
                break
            }
        }
        let result = child.wait()
        collector.finish()

        let wall = Date().timeIntervalSince(start)
        let stderrText = result.stderrText
        let signal = interruption.signal
        let interrupted = signal != nil && !timedOut
        // Also when QEMU exited before the loop saw the line: a Unikraft init failure powers off at once.
        let panic = timedOut || interrupted ? nil : collector.fatalLine
        var run = RunResult(qemuExitStatus: result.termination.status,
                            guestExitCode: (timedOut || interrupted || panic != nil) ? nil : guestExitCode(result.termination, stderr: stderrText),
                            timedOut: timedOut, interrupted: interrupted, wallSeconds: wall,
                            console: collector.lines, qemuStderr: stderrText, guestPanic: panic)
        run.interruptSignal = interrupted ? signal : nil
        return run
    }

    /// QMP `quit` when QEMU has a QMP socket, then SIGTERM and SIGKILL to its process group.
    static func stop(_ child: ChildProcess, qmpSocket: String?) {
        if let qmpSocket, let client = try? QMPClient(socketPath: qmpSocket, timeout: 1) {
            _ = try? client.execute("quit")
            if child.waitForExit(seconds: 2) { return }
        }
        child.terminate(grace: 2)
    }

    /// isa-debug-exit makes QEMU exit with (code << 1) | 1; a power-off exits 0. Status 1 is also
    /// QEMU's own failure status, told apart by QEMU's error line on standard error.
    static func guestExitCode(_ termination: Termination, stderr: String) -> Int? {
        guard let status = termination.exitCode else { return nil }
        if status == 0 { return 0 }
        if status == 1 && stderr.contains("qemu-system") { return nil }
        return status & 1 == 1 ? Int(status >> 1) : nil
    }
}

/// The signal that asked for a stop, set from the signal owner's thread.
final class Interruption: @unchecked Sendable {
    private let lock = NSLock()
    private var number: Int32?

    func note(_ signal: Int32) { lock.withLock { if number == nil { number = signal } } }
    var signal: Int32? { lock.withLock { number } }
}

/// Splits console output into timestamped lines, echoing and logging as it goes.
final class ConsoleCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var partial: [UInt8] = []
    private var collected: [ConsoleLine] = []
    private var fatalMatch: String?
    private let fatal: [FatalConsoleLine]
    private let echo: Bool
    private let log: FileHandle?
    var start = Date()

    init(echo: Bool, log: FileHandle?, fatal: [FatalConsoleLine]) {
        self.echo = echo
        self.log = log
        self.fatal = fatal
    }

    func append(_ data: Data) {
        if echo { FileHandle.standardOutput.write(data) }
        log?.write(data)
        lock.withLock {
            let now = Date().timeIntervalSince(start)
            for byte in data {
                if byte == UInt8(ascii: "\n") {
                    let line = ConsoleLine(time: now, text: Self.clean(partial))
                    if fatalMatch == nil { fatalMatch = fatal.lazy.compactMap { $0.match(line.text) }.first }
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
    /// The first fatal line the guest printed, from its first fragment on.
    var fatalLine: String? { lock.withLock { fatalMatch } }

    static func clean(_ bytes: [UInt8]) -> String {
        String(decoding: bytes.filter { $0 != UInt8(ascii: "\r") }, as: UTF8.self)
    }
}
