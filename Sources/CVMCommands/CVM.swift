import ArgumentParser
import Foundation

/// The root of the command tree. Each subcommand lives in its own file.
public struct CVM: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "cvm",
        abstract: "CVMKit: from zero to SEV-SNP. Check hosts, predict and verify measurements, launch and benchmark confidential guests.",
        discussion: """
        Exit status: 0 success; 1 a check or verification said no; 2 bad input or usage; \
        3 this host cannot do what was asked (for example SEV on a host without SEV).
        """,
        version: CVMVersion.string,
        subcommands: [
            HostCommand.self,
            PolicyCommand.self,
            RunCommand.self,
            VMCommand.self,
            ImageCommand.self,
            AttestCommand.self,
            MeasureCommand.self, IDBlockCommand.self,
            BenchCommand.self,
        ]
    )

    public init() {}
}

public enum CVMVersion {
    public static let string = "0.1.0"
}

/// Entry point shared by the executable and the tests: parses, runs, and maps every error to one line
/// on standard error and the documented exit status. Never traps on bad input.
public enum CVMMain {
    public static func run(_ arguments: [String]) async -> Int32 {
        do {
            var command = try CVM.parseAsRoot(AttestationTargetResolution.rewriteArguments(arguments))
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            return 0
        } catch let failure as CLIFailure {
            if !failure.message.isEmpty { printError("cvm: \(failure.message)") }
            return failure.exitCode
        } catch let exit as ExitCode {
            return exit.rawValue
        } catch {
            let code = CVM.exitCode(for: error)
            let message = CVM.fullMessage(for: error)
            if code == .success {
                if !message.isEmpty { print(message) }
                return 0
            }
            if isArgumentParserError(error) {
                printError(oneLineUsageError(message))
                return 2
            }
            printError("cvm: error: \(String(describing: error))")
            return 2
        }
    }

    /// swift-argument-parser's usage errors span several lines (error, usage, help pointer); a bad
    /// input gets one line: the error, and where the help is.
    static func oneLineUsageError(_ message: String) -> String {
        let lines = message.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        let first = lines.first.map { $0.hasPrefix("Error: ") ? String($0.dropFirst(7)) : $0 } ?? "invalid usage"
        let help = lines.first { $0.hasPrefix("See '") && $0.contains("--help") }
            .map { "; s" + $0.dropFirst().replacingOccurrences(of: " for more information.", with: "") } ?? ""
        return "cvm: error: \(first)\(help)"
    }

    private static func isArgumentParserError(_ error: Error) -> Bool {
        if error is ValidationError { return true }
        let typeName = String(reflecting: type(of: error))
        return typeName.hasPrefix("ArgumentParser.")
    }
}

/// An error that carries its exit status: 1 said no, 2 bad input, 3 the environment cannot do it.
public struct CLIFailure: Error, CustomStringConvertible {
    public let message: String
    public let exitCode: Int32

    public static func no(_ message: String) -> CLIFailure { CLIFailure(message: message, exitCode: 1) }
    public static func badInput(_ message: String) -> CLIFailure { CLIFailure(message: message, exitCode: 2) }
    public static func unsupportedHere(_ message: String) -> CLIFailure { CLIFailure(message: message, exitCode: 3) }
    public var description: String { message }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Pretty, key-sorted JSON for every `--json` output, so shapes are stable and diffable.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    let data = try encoder.encode(value)
    print(String(decoding: data, as: UTF8.self))
}

/// Runs async work from a synchronous command and waits for it (`cvm run` and its helpers are
/// synchronous; the work runs on the cooperative pool, so this thread may block).
func waitFor<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) throws -> T {
    let outcome = AsyncOutcome<T>()
    let done = DispatchSemaphore(value: 0)
    Task {
        do { outcome.result = .success(try await work()) } catch { outcome.result = .failure(error) }
        done.signal()
    }
    done.wait()
    return try outcome.result!.get()
}

/// The result `waitFor` hands from the task to the waiting thread; the semaphore orders the accesses.
private final class AsyncOutcome<T: Sendable>: @unchecked Sendable {
    var result: Result<T, any Error>?
}
