import Foundation
import UnikernelCore

/// How a bundle boots, as data: the argv `cvm run` would use for each path.
struct UnikernelBoot {
    enum Path { case pvh, ovmf, firmware }

    static let qemu = "/usr/bin/qemu-system-x86_64"
    static let ovmfCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
    static let ovmfVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"

    var bundle: URL
    var path: Path
    /// Nil on the firmware path leaves out the fw_cfg command-line file.
    var cmdline: String?
    var memoryMiB = 256
    var vcpus = 1

    var arguments: [String] {
        var argv = ["-accel", "tcg", "-M", "q35", "-m", String(memoryMiB), "-smp", String(vcpus),
                    "-nodefaults", "-nographic", "-no-reboot", "-serial", "stdio",
                    "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
        switch path {
        case .pvh:
            argv += ["-kernel", bundle.appendingPathComponent("kernel").path]
        case .ovmf:
            argv += ["-drive", "if=pflash,format=raw,unit=0,readonly=on,file=\(Self.ovmfCode)",
                     "-drive", "if=pflash,format=raw,unit=1,snapshot=on,file=\(Self.ovmfVars)",
                     "-kernel", bundle.appendingPathComponent("kernel.efi").path]
        case .firmware:
            // QEMU's option syntax doubles a comma inside a value.
            argv += ["-bios", bundle.appendingPathComponent("firmware.fd").path]
            if let cmdline { argv += ["-fw_cfg", "name=opt/org.cvmkit/cmdline,string=" + cmdline.replacingOccurrences(of: ",", with: ",,")] }
            return argv
        }
        return argv + ["-append", cmdline ?? ""]
    }
}

/// What a run printed and how it ended.
struct RunOutput {
    var exitCode: Int32
    var timedOut: Bool
    var output: String
    var seconds: Double

    /// `cvmuk <kind> k=v ...` lines as dictionaries, with the kind under "kind".
    var records: [[String: String]] {
        output.split(whereSeparator: \.isNewline).compactMap { line in
            guard let start = line.range(of: "cvmuk ") else { return nil }
            var record: [String: String] = [:]
            let words = line[start.upperBound...].split(separator: " ")
            record["kind"] = words.first.map(String.init)
            for word in words.dropFirst() {
                let pair = word.split(separator: "=", maxSplits: 1)
                if pair.count == 2 { record[String(pair[0])] = String(pair[1]) }
            }
            return record
        }
    }

    /// The kernel's `cvmuk memory` lines: usable RAM at or above `floor`, as (base, end).
    func usableMemory(above floor: UInt64) -> [[UInt64]] {
        records.filter { $0["kind"] == "memory" && $0["type"] == "usable" }
            .compactMap { record -> [UInt64]? in
                guard let base = record["base"].flatMap(UInt64.init), let end = record["end"].flatMap(UInt64.init),
                      end > floor else { return nil }
                return [max(base, floor), end]
            }
            .sorted { $0[0] < $1[0] }
    }

    func results(_ workload: String) -> [[String: String]] {
        records.filter { $0["kind"] == "result" && $0["workload"] == workload }
    }

    var guestStatus: GuestExitStatus? { GuestExitStatus(qemuExitCode: exitCode) }
}

enum Runner {
    /// Runs a program to completion or `timeout` seconds, whichever comes first; stdout and stderr merged.
    static func run(_ executable: String, _ arguments: [String], timeout: Double) throws -> RunOutput {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        let started = Date()
        try process.run()
        let deadline = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: deadline)
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        deadline.cancel()
        let seconds = Date().timeIntervalSince(started)
        return RunOutput(exitCode: process.terminationStatus, timedOut: process.terminationReason == .uncaughtSignal && seconds >= timeout,
                         output: String(decoding: data, as: UTF8.self), seconds: seconds)
    }

    static func boot(_ boot: UnikernelBoot, timeout: Double) throws -> RunOutput {
        try run(UnikernelBoot.qemu, boot.arguments, timeout: timeout)
    }
}

/// One build of the bundle per test process, into a temporary directory.
enum BuiltBundle {
    static let sourceRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let directory: Result<URL, BuildFailure> = build(into: FileManager.default.temporaryDirectory
        .appendingPathComponent("cvmuk-test-\(getpid())"), linux: true)

    struct BuildFailure: Error, CustomStringConvertible {
        var description: String
    }

    static func build(into directory: URL, linux: Bool) -> Result<URL, BuildFailure> {
        let script = sourceRoot.appendingPathComponent("Unikernel/build.sh").path
        do {
            let output = try Runner.run("/bin/sh", [script] + (linux ? ["--linux-workloads"] : []) + [directory.path], timeout: 600)
            guard output.exitCode == 0 else { return .failure(BuildFailure(description: output.output)) }
            return .success(directory)
        } catch {
            return .failure(BuildFailure(description: "\(error)"))
        }
    }
}
