import Foundation
import HostOS
import HostProbe

/// Asks QEMU itself which CPUID features a CPU model really offers under an accelerator: QEMU starts
/// paused (-S) with the model, and QMP reads the realised vCPU's feature properties, which QEMU has
/// already filtered to what the accelerator implements (TCG drops RDSEED, for example, with a warning).
public enum CPUFeatureProbe {
    public enum Failure: Error, Equatable, CustomStringConvertible, Sendable {
        case cannotStart(String)
        case noAnswer(String)

        public var description: String {
            switch self {
            case .cannotStart(let why): return "cannot start QEMU for the CPU probe: \(why)"
            case .noAnswer(let why): return "QEMU's CPU probe gave no answer: \(why)"
            }
        }
    }

    /// Feature → offered; nil for a name this QEMU does not know.
    public static func offered(_ features: [String], cpuModel: String, accelerator: Accelerator, machine: String = "q35",
                               qemuBinary: String = "qemu-system-x86_64", timeout: Double = 15) throws -> [String: Bool?] {
        var commands = [#"{"execute":"qmp_capabilities"}"#]
        for feature in features {
            commands.append(#"{"execute":"qom-get","arguments":{"path":"/machine/unattached/device[0]","property":"\#(feature)"}}"#)
        }
        commands.append(#"{"execute":"quit"}"#)
        let (output, errors) = try runQMP(commands: commands, arguments: [
            "-machine", machine, "-accel", accelerator.rawValue, "-cpu", cpuModel, "-m", "32M",
            "-nodefaults", "-display", "none", "-no-user-config", "-S", "-qmp", "stdio",
        ], qemuBinary: qemuBinary, timeout: timeout)
        let answers = parseAnswers(output)
        guard answers.count >= features.count + 1 else {
            let last = errors.split(whereSeparator: \.isNewline).last.map(String.init) ?? "no output"
            throw Failure.noAnswer("\(answers.count) of \(features.count + 1) replies (\(last))")
        }
        var result: [String: Bool?] = [:]
        for (index, feature) in features.enumerated() {
            result[feature] = answers[index + 1]
        }
        return result
    }

    /// The replies in command order: the Bool a qom-get returned, nil for an error or a non-Bool value.
    static func parseAnswers(_ output: String) -> [Bool?] {
        var answers: [Bool?] = []
        for line in output.split(whereSeparator: \.isNewline) {  // QMP ends lines with \r\n, one Character
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { continue }
            if object["error"] != nil {
                answers.append(nil)
            } else if let value = object["return"] {
                answers.append(value as? Bool)
            }
        }
        return answers
    }

    static func runQMP(commands: [String], arguments: [String], qemuBinary: String, timeout: Double) throws -> (String, String) {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-cpuprobe-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let input = scratch.appendingPathComponent("in")
        try Data((commands.joined(separator: "\n") + "\n").utf8).write(to: input)
        guard let executable = ProcessRunner.which(qemuBinary) else { throw Failure.cannotStart("\(qemuBinary) not found") }
        let inHandle = try FileHandle(forReadingFrom: input)
        defer { try? inHandle.close() }
        let result: ChildProcess.Result
        do {
            result = try ChildProcess(.init(executable: executable, arguments: arguments,
                                            standardInput: .fileDescriptor(inHandle.fileDescriptor))).wait(timeout: timeout)
        } catch {
            throw Failure.cannotStart("\(error)")
        }
        if result.timedOut { throw Failure.noAnswer("timed out after \(Int(timeout)) s") }
        return (result.stdoutText, result.stderrText)
    }
}
