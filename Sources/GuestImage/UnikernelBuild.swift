import Foundation
import HostOS
import Measurement

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

extension UnikernelBuild {
    /// Adds `launchMeasurement` to the bundle's manifest.json: the expected SEV, SEV-ES and SNP
    /// digests of its firmware.fd for every vCPU count × type. The rest of the manifest stays as
    /// build.sh wrote it (sorted keys).
    public static func recordFirmwareMeasurements(bundle: URL, vcpuCounts: [Int], vcpuTypes: [VCPUType]) throws {
        let manifestURL = bundle.appendingPathComponent("manifest.json")
        let record = try LaunchMeasurementRecord.firmwareBoot(image: bundle.appendingPathComponent("firmware.fd"),
                                                              vcpuCounts: vcpuCounts, vcpuTypes: vcpuTypes)
        guard let data = FileManager.default.contents(atPath: manifestURL.path),
              var manifest = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw Failure(reason: "\(manifestURL.path) is not a JSON object")
        }
        manifest["launchMeasurement"] = try JSONSerialization.jsonObject(with: JSONEncoder().encode(record))
        var output = try JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        output.append(0x0a)
        try output.write(to: manifestURL, options: .atomic)
    }
}
