import ArgumentParser
import Foundation
import GuestImage
import Measurement
import UnikernelCore

extension ImageCommand.Build {
    /// `cvm image build unikernel`: runs Unikernel/build.sh, which needs only the Swift toolchain.
    struct Unikernel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "unikernel",
            abstract: "Build the Embedded Swift unikernel bundle (PVH kernel, EFI application, firmware image, manifest with its launch measurements).",
            discussion: """
            The bundle directory holds `kernel` (PVH ELF for qemu -kernel without firmware), `kernel.efi` \
            (the same kernel as an EFI application for OVMF's -kernel), `firmware.fd` (the same kernel as \
            its own firmware for -bios, command line in fw_cfg file opt/org.cvmkit/cmdline), `cmdline` and \
            `manifest.json`, whose launchMeasurement lists firmware.fd's expected SEV, SEV-ES and SNP digests \
            for --vcpus x --vcpu-types. The same sources and toolchain always give the same bytes.

            Command line words: run=noop|stream|chase|sha256|ep|exits|touch|fault|all (comma list), \
            stream.size=, stream.reps=, chase.size=, chase.steps=, sha256.size=, ep.m=, exits.iters=, \
            touch.pages= (sizes take K, M or G).

            Examples:
              cvm image build unikernel --out uk
              cvm image build unikernel --out uk --linux-workloads \\
                  --cmdline "run=all ep.m=20"
            """
        )

        @Option(name: .long, help: "Bundle directory to write.")
        var out: String = "unikernel-bundle"

        @Option(name: .long, help: "Kernel command line stored in the bundle.")
        var cmdline: String = "run=noop"

        @Flag(name: .long, help: "Also build cvm-workloads, the same workloads as a static Linux binary.")
        var linuxWorkloads = false

        @Option(name: .long, help: "CVMKit source tree holding Unikernel/build.sh (default: found from the current directory or the cvm executable).")
        var source: String?

        @Option(name: .long, help: "Directory with swiftc, clang, ld.lld and lld-link.")
        var toolchain: String = "/opt/swift/usr/bin"

        @Option(name: .long, help: "vCPU counts for the firmware.fd measurement table, comma separated.")
        var vcpus: String = LaunchMeasurementRecord.defaultVCPUCounts.map(String.init).joined(separator: ",")

        @Option(name: .long, help: "vCPU types for the firmware.fd measurement table, comma separated.")
        var vcpuTypes: String = LaunchMeasurementRecord.defaultVCPUTypes.joined(separator: ",")

        @Flag(name: .long, help: "Print the bundle manifest as JSON.")
        var json = false

        func run() async throws {
            // The guest parses its command line with BootOptions; the host compiles the same file, so a
            // line the guest would refuse at boot is refused here, before a build.
            do { _ = try BootOptions.parse(Array(cmdline.utf8)) } catch {
                throw CLIFailure.badInput("--cmdline \"\(cmdline)\": \(error)")
            }
            guard let script = UnikernelBuildScript.locate(source: source) else {
                throw CLIFailure.unsupportedHere("cannot find Unikernel/build.sh; pass --source with the CVMKit source tree")
            }
            if let tool = UnikernelBuild.missingTool(in: toolchain) {
                throw CLIFailure.unsupportedHere("the toolchain at \(toolchain) has no \(tool); pass --toolchain")
            }
            let outURL = URL(fileURLWithPath: out).standardizedFileURL
            let counts = try vcpus.split(separator: ",").map { text -> Int in
                guard let count = Int(text.trimmingCharacters(in: .whitespaces)), (1...LaunchMeasurer.maxVCPUs).contains(count) else {
                    throw CLIFailure.badInput("--vcpus: \(text) is not a vCPU count in 1...\(LaunchMeasurer.maxVCPUs)")
                }
                return count
            }
            let types = try vcpuTypes.split(separator: ",").map { name -> VCPUType in
                do { return try VCPUType(named: name.trimmingCharacters(in: .whitespaces)) } catch {
                    throw CLIFailure.badInput("--vcpu-types: \(error)")
                }
            }
            do {
                try UnikernelBuild.run(script: script, output: outURL, cmdline: cmdline, linuxWorkloads: linuxWorkloads, toolchain: toolchain)
                try UnikernelBuild.recordFirmwareMeasurements(bundle: outURL, vcpuCounts: counts, vcpuTypes: types)
            } catch {
                throw CLIFailure.unsupportedHere("unikernel build failed: \(error)")
            }
            let manifest = outURL.appendingPathComponent("manifest.json")
            guard let data = FileManager.default.contents(atPath: manifest.path) else {
                throw CLIFailure.unsupportedHere("the build wrote no manifest at \(manifest.path)")
            }
            if json {
                print(String(decoding: data, as: UTF8.self), terminator: "")
                return
            }
            print("unikernel bundle: \(outURL.path)")
            for part in try UnikernelBuildScript.parts(manifest: data) {
                print("  \(part.name.padding(toLength: 14, withPad: " ", startingAt: 0)) \(String(part.size).padding(toLength: 8, withPad: " ", startingAt: 0)) sha256 \(part.sha256)")
            }
        }
    }
}

/// Finding Unikernel/build.sh and reading what it wrote.
enum UnikernelBuildScript {
    static let relativePath = "Unikernel/build.sh"

    struct Part: Decodable {
        var name: String { file }
        let file: String
        let size: Int
        let sha256: String
    }

    static func locate(source: String?) -> String? {
        var candidates: [URL] = []
        if let source {
            candidates.append(URL(fileURLWithPath: source))
        } else {
            candidates.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
            candidates.append(URL(fileURLWithPath: CommandLine.arguments.first ?? "").deletingLastPathComponent())
        }
        for start in candidates {
            var directory = start.standardizedFileURL
            for _ in 0..<8 {
                let script = directory.appendingPathComponent(relativePath).path
                if FileManager.default.isExecutableFile(atPath: script) { return script }
                if source != nil { break }
                directory = directory.deletingLastPathComponent()
            }
        }
        return nil
    }

    static func parts(manifest: Data) throws -> [Part] {
        struct Manifest: Decodable { let parts: [String: Part] }
        do {
            return try JSONDecoder().decode(Manifest.self, from: manifest).parts.values.sorted { $0.file < $1.file }
        } catch {
            throw CLIFailure.no("the bundle manifest does not parse: \(error)")
        }
    }
}
