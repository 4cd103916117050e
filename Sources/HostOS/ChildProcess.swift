import CHostAccess
import Foundation

/// Why a child could not be started.
public struct SpawnError: Error, Sendable, CustomStringConvertible {
    public var executable: String
    public var errno: Int32

    public var description: String { "cannot start \(executable): \(String(cString: strerror(errno)))" }
}

/// How a child ended.
public struct Termination: Sendable, Hashable {
    /// The exit status, nil when a signal killed it.
    public var exitCode: Int32?
    /// The signal that killed it, nil when it exited.
    public var signal: Int32?

    public init(exitCode: Int32?, signal: Int32?) {
        self.exitCode = exitCode
        self.signal = signal
    }

    /// The shell's spelling: the exit status, or 128 + the signal.
    public var status: Int32 { exitCode ?? 128 + (signal ?? 0) }
}

/// A child process started through the one process layer: forked from a thread that lives as long as
/// cvm, with PR_SET_PDEATHSIG(SIGKILL) set before exec so it dies with cvm even on `kill -9`, in a
/// process group of its own so a stop reaches everything it started, and with its output read
/// concurrently so it never blocks on a pipe.
public final class ChildProcess: @unchecked Sendable {
    /// Where the child's standard input comes from.
    public enum Input: Sendable {
        case null
        /// A descriptor of ours (a file opened for reading); the caller keeps and closes it.
        case fileDescriptor(Int32)
        /// A pipe the caller writes through `standardInput` and closes for end of file.
        case pipe
    }

    /// Where one of the child's output streams goes.
    public enum Output: Sendable {
        case discard
        /// Kept in memory up to `limit` bytes (more is read and dropped), returned by `wait`.
        case capture(limit: Int = 16 << 20)
        /// Every chunk as it arrives, on a reader thread.
        case stream(@Sendable (Data) -> Void)
        /// A descriptor of ours (a file opened for writing); the caller keeps and closes it.
        case fileDescriptor(Int32)
        /// A pipe the caller reads through `standardOutput` (standard output only).
        case pipe
    }

    public struct Configuration: Sendable {
        public var executable: String
        /// Arguments after the program name.
        public var arguments: [String]
        /// The whole environment; nil inherits ours.
        public var environment: [String: String]?
        public var directory: String?
        public var standardInput: Input
        public var standardOutput: Output
        public var standardError: Output
        public var newProcessGroup: Bool
        /// Whether the kernel kills the child when cvm dies.
        public var dieWithParent: Bool

        public init(executable: String, arguments: [String] = [], environment: [String: String]? = nil, directory: String? = nil,
                    standardInput: Input = .null, standardOutput: Output = .capture(), standardError: Output = .capture(),
                    newProcessGroup: Bool = true, dieWithParent: Bool = true) {
            self.executable = executable
            self.arguments = arguments
            self.environment = environment
            self.directory = directory
            self.standardInput = standardInput
            self.standardOutput = standardOutput
            self.standardError = standardError
            self.newProcessGroup = newProcessGroup
            self.dieWithParent = dieWithParent
        }
    }

    /// What a finished child left.
    public struct Result: Sendable {
        public var termination: Termination
        public var standardOutput: Data
        public var standardError: Data
        /// True when `wait(timeout:)` stopped it.
        public var timedOut: Bool

        public var stdoutText: String { String(decoding: standardOutput, as: UTF8.self) }
        public var stderrText: String { String(decoding: standardError, as: UTF8.self) }
    }

    public let pid: pid_t
    public let processGroup: pid_t?
    /// The write end of the child's standard input for `Input.pipe`.
    public let standardInput: FileHandle?
    /// The read end of the child's standard output for `Output.pipe`.
    public let standardOutput: FileHandle?

    private let outputDrain: OutputDrain?
    private let errorDrain: OutputDrain?
    private let lock = NSLock()
    private var reaped: Termination?
    private let exited = DispatchSemaphore(value: 0)

    /// How long output may stay open after the child is gone (a grandchild holding the pipe).
    static let drainGrace = 2.0

    /// Starts the child; throws `SpawnError` when it cannot be executed.
    public init(_ configuration: Configuration) throws {
        var parentEnds: [Int32] = []
        var childEnds: [Int32] = []
        func makePipe() throws -> (read: Int32, write: Int32) {
            var fds: [Int32] = [0, 0]
            guard chost_pipe_cloexec(&fds) == 0 else {
                throw SpawnError(executable: configuration.executable, errno: errno)
            }
            return (fds[0], fds[1])
        }
        defer { childEnds.forEach { close($0) } }
        do {
            let nullIn = open("/dev/null", O_RDONLY | O_CLOEXEC)
            let nullOut = open("/dev/null", O_WRONLY | O_CLOEXEC)
            childEnds += [nullIn, nullOut]

            var stdinFD = nullIn
            var inputWrite: Int32?
            switch configuration.standardInput {
            case .null: break
            case .fileDescriptor(let fd): stdinFD = fd
            case .pipe:
                let ends = try makePipe()
                stdinFD = ends.read
                childEnds.append(ends.read)
                parentEnds.append(ends.write)
                inputWrite = ends.write
            }

            var readers: [(fd: Int32, output: Output, slot: Int)] = []
            var outputRead: Int32?
            func target(_ output: Output, slot: Int) throws -> Int32 {
                switch output {
                case .discard: return nullOut
                case .fileDescriptor(let fd): return fd
                case .pipe:
                    guard slot == 0 else { return try target(.capture(), slot: slot) }
                    let ends = try makePipe()
                    childEnds.append(ends.write)
                    parentEnds.append(ends.read)
                    if slot == 0 { outputRead = ends.read }
                    return ends.write
                case .capture, .stream:
                    let ends = try makePipe()
                    childEnds.append(ends.write)
                    parentEnds.append(ends.read)
                    readers.append((ends.read, output, slot))
                    return ends.write
                }
            }
            let stdoutFD = try target(configuration.standardOutput, slot: 0)
            let stderrFD = try target(configuration.standardError, slot: 1)

            let environment = configuration.environment ?? ProcessInfo.processInfo.environment
            let argv = ([configuration.executable] + configuration.arguments).map { strdup($0) } + [nil]
            let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
            defer {
                argv.forEach { free($0) }
                envp.forEach { free($0) }
            }
            let path = strdup(configuration.executable)
            let directory = configuration.directory.map { strdup($0) }
            defer {
                free(path)
                if let directory { free(directory) }
            }
            let request = SpawnRequest(path: path, argv: argv, envp: envp, directory: directory ?? nil,
                                       stdin: stdinFD, stdout: stdoutFD, stderr: stderrFD,
                                       group: configuration.newProcessGroup, deathSignal: configuration.dieWithParent ? SIGKILL : 0)
            let (rc, pid) = SpawnThread.shared.perform { request.spawn() }
            guard rc == 0 else { throw SpawnError(executable: configuration.executable, errno: rc) }

            self.pid = pid
            processGroup = configuration.newProcessGroup ? pid : nil
            standardInput = inputWrite.map { FileHandle(fileDescriptor: $0, closeOnDealloc: true) }
            standardOutput = outputRead.map { FileHandle(fileDescriptor: $0, closeOnDealloc: true) }
            var drains: [OutputDrain?] = [nil, nil]
            for reader in readers {
                switch reader.output {
                case .capture(let limit): drains[reader.slot] = OutputDrain(fileDescriptor: reader.fd, limit: limit, handler: nil)
                case .stream(let handler): drains[reader.slot] = OutputDrain(fileDescriptor: reader.fd, limit: 0, handler: handler)
                default: break
                }
            }
            outputDrain = drains[0]
            errorDrain = drains[1]
        } catch {
            parentEnds.forEach { close($0) }
            throw error
        }
        let pid = self.pid
        let exited = self.exited
        let waiter = Thread {
            // Learn of the exit without reaping, so the pid and group id stay ours while `signal` may use them.
            _ = chost_wait_exit(pid)
            exited.signal()
        }
        waiter.name = "cvm-wait"
        waiter.start()
    }

    /// Sends `number` to the child's process group (or the child alone without one), unless it was reaped.
    public func signal(_ number: Int32) {
        lock.withLock {
            guard reaped == nil else { return }
            if let processGroup { _ = kill(-processGroup, number) } else { _ = kill(pid, number) }
        }
    }

    public var isRunning: Bool {
        if lock.withLock({ reaped != nil }) { return false }
        guard exited.wait(timeout: .now()) == .success else { return true }
        exited.signal()
        return false
    }

    /// Waits up to `seconds` for the child to exit; false when it is still running.
    public func waitForExit(seconds: Double?) -> Bool {
        if lock.withLock({ reaped != nil }) { return true }
        let result = seconds.map { exited.wait(timeout: .now() + $0) } ?? { exited.wait(); return .success }()
        guard result == .success else { return false }
        exited.signal()
        return true
    }

    /// SIGTERM to the group, then SIGKILL to the group when it has not gone within `grace` seconds; waits
    /// until the child has exited.
    public func terminate(grace: Double = 2) {
        signal(SIGTERM)
        if !waitForExit(seconds: grace) {
            signal(SIGKILL)
            _ = waitForExit(seconds: nil)
        }
        // Whatever else the child started in its group goes with it.
        signal(SIGKILL)
    }

    /// Waits for the child (stopping it with `terminate` after `timeout` seconds), reaps it and collects
    /// its captured output.
    public func wait(timeout: Double? = nil) -> Result {
        var timedOut = false
        if !waitForExit(seconds: timeout) {
            timedOut = true
            terminate()
        }
        let termination = reap()
        let out = outputDrain?.finish(within: Self.drainGrace) ?? Data()
        let err = errorDrain?.finish(within: Self.drainGrace) ?? Data()
        return Result(termination: termination, standardOutput: out, standardError: err, timedOut: timedOut)
    }

    /// Reaps the exited child once; later calls return the same termination.
    private func reap() -> Termination {
        _ = waitForExit(seconds: nil)
        return lock.withLock {
            if let reaped { return reaped }
            var code: Int32 = 0
            var number: Int32 = 0
            let termination = chost_reap(pid, &code, &number) == 0
                ? (number != 0 ? Termination(exitCode: nil, signal: number) : Termination(exitCode: code, signal: nil))
                : Termination(exitCode: nil, signal: nil)
            reaped = termination
            return termination
        }
    }

    /// An abandoned child must not outlive its owner.
    deinit {
        if lock.withLock({ reaped == nil }) {
            terminate(grace: 0.5)
            _ = reap()
        }
    }
}

/// The C request with the strings it points to, handed to the spawn thread.
private struct SpawnRequest: @unchecked Sendable {
    var path: UnsafeMutablePointer<CChar>?
    var argv: [UnsafeMutablePointer<CChar>?]
    var envp: [UnsafeMutablePointer<CChar>?]
    var directory: UnsafeMutablePointer<CChar>?
    var stdin: Int32
    var stdout: Int32
    var stderr: Int32
    var group: Bool
    var deathSignal: Int32

    func spawn() -> (Int32, pid_t) {
        var pid: pid_t = 0
        let rc = argv.withUnsafeBufferPointer { argvBuffer in
            envp.withUnsafeBufferPointer { envpBuffer in
                var request = chost_spawn_request(path: path, argv: argvBuffer.baseAddress, envp: envpBuffer.baseAddress,
                                                  directory: directory, stdin_fd: stdin, stdout_fd: stdout, stderr_fd: stderr,
                                                  new_process_group: group ? 1 : 0, parent_death_signal: deathSignal)
                return chost_spawn(&request, &pid)
            }
        }
        return (rc, pid)
    }
}
