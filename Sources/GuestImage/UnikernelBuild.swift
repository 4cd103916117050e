import Foundation
import HostOS

/// Unikernel/build.sh, run the one way both `cvm image build unikernel` and the bench's guest provider
/// build the Embedded Swift unikernel: through /bin/sh with the toolchain in CVM_SWIFT_TOOLCHAIN.
public enum UnikernelBuild {
    /// What build.sh needs from the toolchain directory.
    public static let toolchainTools = ["swiftc", "clang", "ld.lld", "lld-link", "llvm-objcopy"]

    /// Why a build did not produce a bundle: the script's last line of error output, or its status.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var reason: String
        public var description: String { reason }
    }

    /// The first tool `toolchain` lacks, nil when it has them all.
    public static func missingTool(in toolchain: String) -> String? {
        toolchainTools.first { !FileManager.default.isExecutableFile(atPath: toolchain + "/" + $0) }
    }

    /// Runs `script` into the bundle directory `output`; throws `Failure` unless it exits 0 in time.
    public static func run(script: String, output: URL, cmdline: String? = nil, linuxWorkloads: Bool, toolchain: String,
                           timeout: Double = 1800) throws {
        var arguments = ["/bin/sh", script]
        if let cmdline { arguments += ["--cmdline", cmdline] }
        if linuxWorkloads { arguments.append("--linux-workloads") }
        arguments.append(output.path)
        var environment = ProcessInfo.processInfo.environment
        environment["CVM_SWIFT_TOOLCHAIN"] = toolchain
        let result: ChildProcess.Result?
        do { result = try ProcessRunner(environment: environment).result(arguments, timeout: timeout) } catch {
            throw Failure(reason: "\(error)")
        }
        guard let result else { throw Failure(reason: "cannot start /bin/sh") }
        if result.timedOut { throw Failure(reason: "timed out after \(Int(timeout)) s") }
        guard result.termination.exitCode == 0 else {
            throw Failure(reason: result.stderrText.split(separator: "\n").last.map(String.init) ?? "exit status \(result.termination.status)")
        }
    }
}
