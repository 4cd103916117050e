import Foundation

/// A finished child process.
public struct CommandOutput: Sendable, Hashable, Codable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public var timedOut: Bool

    public init(status: Int32, stdout: String, stderr: String, timedOut: Bool = false) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
        self.timedOut = timedOut
    }
}

/// Runs host programs; nil when the program is not installed.
public protocol CommandRunner: Sendable {
    func run(_ arguments: [String], timeout: Double) -> CommandOutput?
}

/// Runs programs found on PATH to completion through `ChildProcess`: output captured concurrently,
/// the child's process group stopped at the timeout.
public struct ProcessRunner: CommandRunner {
    /// The whole environment of the child; nil inherits ours.
    public var environment: [String: String]?
    public var directory: String?

    public init(environment: [String: String]? = nil, directory: String? = nil) {
        self.environment = environment
        self.directory = directory
    }

    /// The absolute path of `name` on PATH (or `name` itself when it contains a slash and exists).
    public static func which(_ name: String) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        let directories = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin"]
        for directory in directories where !directory.isEmpty {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    public func run(_ arguments: [String], timeout: Double) -> CommandOutput? {
        guard let result = try? result(arguments, timeout: timeout) else { return nil }
        return CommandOutput(status: result.termination.status, stdout: result.stdoutText, stderr: result.stderrText,
                             timedOut: result.timedOut)
    }

    /// The child's whole result; nil when `arguments[0]` is not installed, `SpawnError` when it cannot start.
    public func result(_ arguments: [String], timeout: Double?) throws -> ChildProcess.Result? {
        guard let first = arguments.first, let executable = Self.which(first) else { return nil }
        let child = try ChildProcess(.init(executable: executable, arguments: Array(arguments.dropFirst()),
                                           environment: environment, directory: directory))
        return child.wait(timeout: timeout)
    }
}
