import Foundation
import Testing

/// Docker archives made by the tests with GNU tar and sha256sum (independent of the code under test):
/// one layer from a directory tree, a config with the given execution fields, `docker save` layout.
enum OCITestArchive {
    struct Shell {
        let status: Int32
        let output: String
    }

    @discardableResult
    static func shell(_ script: String, in directory: URL) throws -> Shell {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script]
        process.currentDirectoryURL = directory
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Shell(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
    }

    static func temporaryDirectory(_ label: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-oci-cli-\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Writes DIRECTORY/image.tar: `populate` is a shell script run in DIRECTORY/root, `tarArguments`
    /// name what of root goes into the layer (GNU tar, run inside root), `config` the execution fields.
    static func make(in directory: URL, populate: String, tarArguments: String = ".", config: [String: Any]) throws -> URL {
        let root = directory.appendingPathComponent("root")
        let archive = directory.appendingPathComponent("archive")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: archive, withIntermediateDirectories: true)
        let populated = try shell(populate, in: root)
        guard populated.status == 0 else { throw Failure(description: "populate failed: \(populated.output)") }
        let layer = try shell("tar --numeric-owner --owner=0 --group=0 -P -cf ../layer.tar \(tarArguments) && sha256sum ../layer.tar", in: root)
        guard layer.status == 0 else { throw Failure(description: "tar failed: \(layer.output)") }
        let diffID = String(layer.output.prefix(64))
        let configObject: [String: Any] = ["architecture": "amd64", "os": "linux", "config": config,
                                           "rootfs": ["type": "layers", "diff_ids": ["sha256:" + diffID]]]
        let configBytes = try JSONSerialization.data(withJSONObject: configObject, options: [.sortedKeys])
        let configFile = directory.appendingPathComponent("config.json")
        try configBytes.write(to: configFile)
        let configDigest = String(try shell("sha256sum config.json", in: directory).output.prefix(64))
        let manifest = [["Config": configDigest + ".json", "RepoTags": ["cvm-test:1"], "Layers": [diffID + ".tar"]]]
        try JSONSerialization.data(withJSONObject: manifest).write(to: archive.appendingPathComponent("manifest.json"))
        let assembled = try shell("mv ../config.json \(configDigest).json && mv ../layer.tar \(diffID).tar && tar -cf ../image.tar manifest.json \(configDigest).json \(diffID).tar", in: archive)
        guard assembled.status == 0 else { throw Failure(description: "archive failed: \(assembled.output)") }
        return directory.appendingPathComponent("image.tar")
    }

    /// The hello application: Debian's static busybox as /bin/sh, printing its Env and working
    /// directory and exiting with `exitCode`. WorkingDir is not in the image, so the init creates it.
    static func hello(in directory: URL, exitCode: Int) throws -> URL {
        try make(in: directory, populate: "mkdir -p bin && cp /bin/busybox bin/busybox && ln -s busybox bin/sh",
                 config: ["Env": ["GREETING=hello from the image env"], "WorkingDir": "/srv/app",
                          "Entrypoint": ["/bin/sh", "-c"],
                          "Cmd": ["echo \"greeting=$GREETING\"; echo \"cwd=$(pwd)\"; exit \(exitCode)"]])
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static func fixture(_ name: String) -> String {
        repositoryRoot.appendingPathComponent("Tests/GuestImageTests/Fixtures/\(name)").path
    }

    /// The environment of a cvm run with its own bundle cache (the Debian kernel comes from the shared one).
    static func environment(cache: URL) throws -> [String: String] {
        let shared = URL(fileURLWithPath: ProcessInfo.processInfo.environment["CVM_CACHE"] ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/cvmkit").path)
        try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
        for name in ["debs", "unpacked"] {
            try? FileManager.default.createSymbolicLink(at: cache.appendingPathComponent(name), withDestinationURL: shared.appendingPathComponent(name))
        }
        var environment = ProcessInfo.processInfo.environment
        environment["CVM_CACHE"] = cache.path
        return environment
    }
}

/// `cvm image build oci` and the refusals of `cvm run IMAGE`, without booting.
@Suite(.serialized) struct OCIImageCLITests {
    @Test func aHostileImageIsRefusedWithOneLineAndStatus2() throws {
        let directory = try OCITestArchive.temporaryDirectory("hostile")
        defer { try? FileManager.default.removeItem(at: directory) }
        // GNU tar -P keeps the leading ../ of the member name.
        let image = try OCITestArchive.make(in: directory, populate: "mkdir -p a/b && echo pwned > ../passwd",
                                            tarArguments: "../passwd", config: ["Cmd": ["/bin/true"]])
        let run = try CLIRun.cvm(["image", "build", "oci", "docker-archive:" + image.path, "--out", directory.appendingPathComponent("out").path],
                                 environment: try OCITestArchive.environment(cache: directory.appendingPathComponent("cache")))
        #expect(run.status == 2, "\(run.stderr)")
        let lines = run.stderr.split(separator: "\n").filter { $0.hasPrefix("cvm: ") }
        #expect(lines.count == 1, "\(run.stderr)")
        #expect(lines.first?.contains("..") == true, "\(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("out").path))
    }

    @Test func anImageWithNothingToRunIsRefused() throws {
        let directory = try OCITestArchive.temporaryDirectory("nocmd")
        defer { try? FileManager.default.removeItem(at: directory) }
        let image = try OCITestArchive.make(in: directory, populate: "echo x > file", config: ["Env": ["A=1"]])
        let run = try CLIRun.cvm(["image", "build", "oci", image.path, "--out", directory.appendingPathComponent("out").path])
        #expect(run.status == 2)
        #expect(run.stderr.contains("neither Entrypoint nor Cmd"), "\(run.stderr)")
    }

    /// The build prints the measurement status plainly; with the AmdSev firmware it lists the table,
    /// and a dry run of sev-snp boots with kernel-hashes=on and names the expected measurement.
    @Test func buildThenDryRunsSayWhatTheLaunchMeasurementCovers() throws {
        let directory = try OCITestArchive.temporaryDirectory("measured")
        defer { try? FileManager.default.removeItem(at: directory) }
        let image = try OCITestArchive.hello(in: directory, exitCode: 0)
        let environment = try OCITestArchive.environment(cache: directory.appendingPathComponent("cache"))
        let plain = try CLIRun.cvm(["image", "build", "oci", "docker-archive:" + image.path, "--out", directory.appendingPathComponent("plain").path], environment: environment)
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(plain.stdout.contains("kernel, initrd and cmdline are NOT covered by the launch measurement"))

        let amdsev = OCITestArchive.fixture("ovmf_AmdSev_suffix.bin")
        let measured = try CLIRun.cvm(["image", "build", "oci", "docker-archive:" + image.path, "--out", directory.appendingPathComponent("measured").path,
                                       "--firmware", amdsev, "--vcpus", "2", "--vcpu-types", "EPYC-Milan", "--json"], environment: environment)
        #expect(measured.status == 0, "\(measured.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(measured.stdout.utf8)) as? [String: Any])
        let manifest = try #require(object["manifest"] as? [String: Any])
        let record = try #require(manifest["launchMeasurement"] as? [String: Any])
        #expect(record["coversKernelInitrdCmdline"] as? Bool == true)
        let rows = try #require(record["measurements"] as? [[String: Any]])
        let snp = try #require(rows.first { $0["mode"] as? String == "sev-snp" }?["measurement"] as? String)
        #expect(snp.count == 96)

        let dry = try CLIRun.cvm(["run", "docker-archive:" + image.path, "--mode", "sev-snp", "--dry-run", "--firmware", amdsev,
                                  "--vcpus", "2", "--cpu", "EPYC-Milan"], environment: environment)
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stdout.contains("sev-snp-guest") && dry.stdout.contains("kernel-hashes=on"), "\(dry.stdout)")
        #expect(dry.stdout.contains("rdinit=/.cvm/init"))
        #expect(dry.stdout.contains("-chardev stdio,id=app0"), "the app console is the second serial port, on stdio")
        #expect(dry.stderr.contains("expected sev-snp launch measurement (2 vCPU, EPYC-Milan): \(snp)"), "\(dry.stderr)")

        let unmeasured = try CLIRun.cvm(["run", "docker-archive:" + image.path, "--mode", "sev-snp", "--dry-run",
                                         "--firmware", "/usr/share/ovmf/OVMF.fd"], environment: environment)
        #expect(unmeasured.status == 0, "\(unmeasured.stderr)")
        #expect(unmeasured.stdout.contains("sev-snp-guest") && !unmeasured.stdout.contains("kernel-hashes"))
        #expect(unmeasured.stderr.contains("NOT covered by the launch measurement"))
    }

    @Test func aConfidentialRunIsRefusedHereWithTheHostChecksReason() throws {
        let directory = try OCITestArchive.temporaryDirectory("refused")
        defer { try? FileManager.default.removeItem(at: directory) }
        let image = try OCITestArchive.hello(in: directory, exitCode: 0)
        let run = try CLIRun.cvm(["run", "docker-archive:" + image.path, "--mode", "sev-snp"],
                                 environment: try OCITestArchive.environment(cache: directory.appendingPathComponent("cache")))
        #expect(run.status == 3, "\(run.stderr)")
        #expect(run.stderr.contains("SEV-SNP cannot launch on this host"), "\(run.stderr)")
        #expect(!run.stderr.contains("building"), "refused before building")
    }
}
