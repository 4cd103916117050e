import Foundation
import HostOS

/// Runs the standard tools the builders rely on (apt-get, dpkg-deb, gcc, busybox) through the process
/// layer, with the builders' errors.
enum Subprocess {
    struct Output {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    /// Runs `arguments` and returns its output whatever the status.
    static func capture(_ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:],
                        hint: String = "") throws -> Output {
        guard let tool = arguments.first else { throw GuestImageError.io("empty command") }
        let merged = environment.isEmpty ? nil : ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let runner = ProcessRunner(environment: merged, directory: directory?.path)
        let result: ChildProcess.Result?
        do { result = try runner.result(arguments, timeout: nil) } catch { throw GuestImageError.io("\(error)") }
        guard let result else { throw GuestImageError.missingTool(tool, hint: hint.isEmpty ? "not on PATH" : hint) }
        return Output(status: result.termination.status, stdout: result.stdoutText, stderr: result.stderrText)
    }

    /// Runs `arguments` and throws unless it exits with status 0.
    @discardableResult
    static func run(_ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:],
                    hint: String = "") throws -> String {
        let output = try capture(arguments, in: directory, environment: environment, hint: hint)
        guard output.status == 0 else {
            throw GuestImageError.toolFailed(arguments.prefix(2).joined(separator: " "), status: output.status,
                                             message: output.stderr.isEmpty ? output.stdout : output.stderr)
        }
        return output.stdout
    }
}
