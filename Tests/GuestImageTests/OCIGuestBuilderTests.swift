import Foundation
import Measurement
import OCIImage
import Testing
@testable import GuestImage

/// `OCIGuestBuilder` on the podman-built hello image (Fixtures/hello-docker-archive.tar, see NOTICE):
/// what lands in the initramfs, reproducibility, the manifest, and the expected launch measurements
/// against sev-snp-measure. Builds use the Debian kernel from the shared package cache.
enum OCIFixtures {
    static func path(_ name: String) throws -> String {
        guard let url = Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil) else {
            throw GuestImageError.io("fixture \(name) missing")
        }
        return url.path
    }

    /// Builds into a fresh temporary directory, or into `out` (replaced).
    static func build(_ source: String = "docker-archive:hello-docker-archive.tar", firmware: String? = nil, label: String, out fixed: URL? = nil) throws -> GuestBundle {
        let out = try fixed ?? TestSupport.temporaryDirectory("oci-\(label)").appendingPathComponent("bundle")
        let (transport, name) = (source.prefix { $0 != ":" }, source.drop { $0 != ":" }.dropFirst())
        var options = OCIGuestBuilder.Options(output: out, source: try ImageSource(parsing: "\(transport):" + path(String(name))))
        options.firmware = firmware.map { URL(fileURLWithPath: $0) }
        options.vcpuCounts = [1, 2]
        options.vcpuTypes = [try VCPUType(named: "EPYC-v4"), try VCPUType(named: "EPYC-Milan")]
        return try OCIGuestBuilder(options: options).build()
    }

    /// sev-snp-measure from $SEV_SNP_MEASURE (set by scripts/test) or the package's .venv-oracle.
    static let sevSNPMeasure: String? = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return [ProcessInfo.processInfo.environment["SEV_SNP_MEASURE"], root.appendingPathComponent(".venv-oracle/bin/sev-snp-measure").path]
            .compactMap { $0 }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()
}

// One fixed place, replaced on each run, so repeated runs leave nothing behind.
private let helloBundle = Result {
    try OCIFixtures.build(label: "hello", out: FileManager.default.temporaryDirectory.appendingPathComponent("cvm-guestimage-oci-hello-bundle"))
}

@Suite(.serialized) struct OCIGuestBuilderTests {
    static func bundle() throws -> GuestBundle { try helloBundle.get() }

    /// The initrd unpacked by GNU cpio: the image's files byte for byte (GNU tar reads the same layer
    /// as the oracle), our init and config under /.cvm, the completion marker last.
    @Test func theInitrdHoldsTheImageRootAndTheInitUnderDotCVM() throws {
        let bundle = try Self.bundle()
        let scratch = try TestSupport.temporaryDirectory("oci-unpack")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let archive = try OCIFixtures.path("hello-docker-archive.tar")
        let listing = try TestSupport.shell("gzip -dc \(bundle.initrdURL.path) | cpio -t --quiet", in: scratch)
        #expect(listing.status == 0, "\(listing.output)")
        let names = listing.output.split(separator: "\n").map(String.init)
        #expect(names.last == GuestInit.completionPath)
        for name in ["bin/busybox", "bin/sh", ".cvm/init", ".cvm/config", ".cvm/modules", "dev/console"] {
            #expect(names.contains(name), "\(name) missing")
        }
        #expect(!names.contains("work"), "podman's layers lack WORKDIR /work; the init creates it at run time")
        #expect(!names.contains("init"), "the image root keeps its own /init slot free")
        #expect(names.contains { $0.hasPrefix(".cvm/lib/modules/") && $0.hasSuffix("/sev-guest.ko") })

        let layer = "dbada59955e6bc5df18d7f596231aaf4cb9550a76ca8fcb8b9e71f6f9666ffd0.tar"
        let fromTar = try TestSupport.shell("tar -xOf '\(archive)' \(layer) | tar -xO bin/busybox | sha256sum")
        let fromCpio = try TestSupport.shell("gzip -dc \(bundle.initrdURL.path) | cpio -i --quiet --to-stdout bin/busybox | sha256sum", in: scratch)
        #expect(fromTar.output.prefix(64) == fromCpio.output.prefix(64))
        let verbose = try TestSupport.shell("gzip -dc \(bundle.initrdURL.path) | cpio -tv --quiet", in: scratch)
        #expect(verbose.output.contains("-> /bin/busybox"), "bin/sh stays a symlink")

        let config = try TestSupport.shell("gzip -dc \(bundle.initrdURL.path) | cpio -i --quiet --to-stdout .cvm/config", in: scratch).output
        #expect(config.contains("argv /bin/sh\nargv -c\nargv echo $GREETING; pwd; id\n"))
        #expect(config.contains("env GREETING=hello-from-env"))
        #expect(config.contains("workdir /work"))
        #expect(config.contains("console ttyS1"))
        #expect(bundle.cmdline.split(separator: " ").contains("rdinit=/.cvm/init"))
    }

    @Test func twoBuildsGiveByteIdenticalInitrdsAndManifests() throws {
        let first = try Self.bundle()
        let second = try OCIFixtures.build(label: "hello-again")
        defer { try? FileManager.default.removeItem(at: second.directory.deletingLastPathComponent()) }
        for file in [GuestBundle.kernelFile, GuestBundle.initrdFile, GuestBundle.cmdlineFile, GuestBundle.manifestFile] {
            #expect(try TestSupport.sha256(first.directory.appendingPathComponent(file)) == TestSupport.sha256(second.directory.appendingPathComponent(file)), "\(file) differs")
        }
    }

    /// podman wrote the same image as a docker archive (plain layers) and as an OCI archive (gzip
    /// layers, another image digest): the root file systems, and so the initrds, are the same bytes.
    @Test func theSameImageInBothArchiveFormatsGivesTheSameInitrd() throws {
        let docker = try Self.bundle()
        let oci = try OCIFixtures.build("oci-archive:hello-oci-archive.tar", label: "hello-oci")
        defer { try? FileManager.default.removeItem(at: oci.directory.deletingLastPathComponent()) }
        #expect(oci.manifest.image?.format == "oci-archive")
        #expect(oci.manifest.image?.digest != docker.manifest.image?.digest)
        #expect(try TestSupport.sha256(oci.initrdURL) == TestSupport.sha256(docker.initrdURL))
    }

    /// The image digest of a legacy docker archive is its config digest: sha256sum of the config file.
    @Test func theManifestRecordsTheImageAndSaysTheKernelIsNotCoveredWithoutFirmware() throws {
        let manifest = try Self.bundle().manifest
        let archive = try OCIFixtures.path("hello-docker-archive.tar")
        let configDigest = try TestSupport.shell("tar -xOf '\(archive)' 72e4ada497c67a59fc45d68fa08c4df5ac6543f64826114539036d90515514cb.json | sha256sum").output.prefix(64)
        let image = try #require(manifest.image)
        #expect(image.digest == "sha256:" + configDigest)
        #expect(image.source == "docker-archive:hello-docker-archive.tar")
        #expect(image.entrypoint == ["/bin/sh", "-c"] && image.cmd == ["echo $GREETING; pwd; id"])
        #expect(manifest.kind == "oci")
        #expect(manifest.boot.appConsole == "ttyS1" && manifest.boot.console == "ttyS0")
        #expect(manifest.build.inputs.first?.sha256 == String(configDigest))
        let measurement = try #require(manifest.launchMeasurement)
        #expect(!measurement.coversKernelInitrdCmdline)
        #expect(measurement.statement.contains("NOT covered"))
        #expect(measurement.measurements.isEmpty)
    }

    /// Debian's OVMF has SEV metadata but no kernel-hashes table: nothing it measures covers the kernel.
    @Test func firmwareWithoutTheHashesTableIsReportedAsNotCovering() throws {
        let record = try LaunchMeasurementRecord.expected(
            firmware: URL(fileURLWithPath: try OCIFixtures.path("ovmf_OvmfX64_suffix.bin")),
            kernel: PartDigest(file: "kernel", size: 0, sha256: String(repeating: "0", count: 64), sha384: ""),
            initrd: PartDigest(file: "initrd", size: 0, sha256: String(repeating: "1", count: 64), sha384: ""),
            cmdline: "console=ttyS0", vcpuCounts: [1], vcpuTypes: [try VCPUType(named: "EPYC-v4")])
        #expect(!record.coversKernelInitrdCmdline)
        #expect(record.statement.contains("NOT covered") && record.statement.contains("no SEV kernel-hashes table"))
        #expect(record.firmware?.file == "ovmf_OvmfX64_suffix.bin")
    }

    /// Every row of the manifest's table, recomputed by sev-snp-measure in this run from the bundle's
    /// own kernel, initrd and cmdline files.
    @Test(.enabled(if: OCIFixtures.sevSNPMeasure != nil, "sev-snp-measure not found (SEV_SNP_MEASURE or .venv-oracle)"))
    func expectedMeasurementsMatchSevSnpMeasure() throws {
        let firmware = try OCIFixtures.path("ovmf_AmdSev_suffix.bin")
        let bundle = try OCIFixtures.build(firmware: firmware, label: "measured")
        defer { try? FileManager.default.removeItem(at: bundle.directory.deletingLastPathComponent()) }
        let record = try #require(bundle.manifest.launchMeasurement)
        #expect(record.coversKernelInitrdCmdline)
        #expect(record.measurements.count == 1 + 4 + 4, "sev once, sev-es and snp for 2 counts × 2 types")
        let oracle = try #require(OCIFixtures.sevSNPMeasure)
        for row in record.measurements {
            var arguments = ["--mode", row.mode == "sev-snp" ? "snp" : row.mode == "sev-es" ? "seves" : "sev", "--ovmf", firmware,
                             "--kernel", bundle.kernelURL.path, "--initrd", bundle.initrdURL.path, "--append", bundle.cmdline]
            if let vcpus = row.vcpus, let type = row.vcpuType { arguments += ["--vcpus", String(vcpus), "--vcpu-type", type] }
            let result = try TestSupport.shell(([oracle] + arguments).map(TestSupport.quote).joined(separator: " "))
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.trimmingCharacters(in: .whitespacesAndNewlines) == row.measurement, "\(row.mode) \(row.vcpus ?? 0) \(row.vcpuType ?? "")")
        }
        #expect(record.measurement(mode: "sev-snp", vcpus: 2, vcpuType: "epyc-milan") == record.measurements.first { $0.mode == "sev-snp" && $0.vcpus == 2 && $0.vcpuType == "EPYC-Milan" }?.measurement)
    }
}

/// The pieces without a kernel: image config to init config, the reserved /.cvm, streamed files, and
/// manifests written before these fields existed.
@Suite struct OCIGuestPieceTests {
    @Test func anImageWithNeitherEntrypointNorCmdIsRefused() {
        #expect(throws: OCIGuestError.noCommand(image: "sha256:abc")) {
            try InitConfig(container: .init(env: ["A=1"]), image: "sha256:abc", console: "ttyS1")
        }
    }

    @Test func entrypointThenCmdWithADefaultPathAndUnsetFieldsLeftOut() throws {
        let config = try InitConfig(container: .init(user: "", env: ["A=1"], entrypoint: ["/app"], cmd: ["--flag", "x y"], workingDir: ""),
                                    image: "i", console: "ttyS1")
        #expect(config.arguments == ["/app", "--flag", "x y"])
        #expect(config.environment == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "A=1"])
        #expect(config.user == nil && config.workingDirectory == nil && config.console == "ttyS1")
        let own = try InitConfig(container: .init(user: "1000:1000", env: ["PATH=/opt/bin"], cmd: ["run"], workingDir: "/srv"), image: "i", console: "ttyS1")
        #expect(own.environment == ["PATH=/opt/bin"])
        #expect(own.user == "1000:1000" && own.workingDirectory == "/srv")
    }

    /// A layer made by GNU tar with its own /.cvm: those entries give way to the guest's.
    @Test func theImagesOwnDotCVMIsLeftOut() throws {
        let scratch = try TestSupport.temporaryDirectory("oci-reserved")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let made = try TestSupport.shell("mkdir -p root/.cvm root/etc && echo evil > root/.cvm/config && echo ok > root/etc/x && tar --numeric-owner -C root -cf layer.tar .cvm etc", in: scratch)
        #expect(made.status == 0, "\(made.output)")
        let root = try RootFileSystem.flatten(layerFiles: [scratch.appendingPathComponent("layer.tar").path])
        var tree = InitramfsTree()
        #expect(try tree.addImageRoot(root, reserving: OCIGuestBuilder.reservedDirectory) == 2)
        #expect(tree.entry(at: ".cvm/config") == nil)
        #expect(tree.entry(at: "etc/x")?.kind == .regularFile(.bytes(Array("ok\n".utf8))))
    }

    @Test func aStreamedFileThatDeliversTheWrongSizeFailsTheArchive() throws {
        var tree = InitramfsTree()
        try tree.addFile("short", .streamed(StreamedFile(size: 10, identity: "short") { emit in try emit([1, 2, 3]) }))
        #expect(throws: GuestImageError.self) { try tree.write(to: MemorySink()) }
        var long = InitramfsTree()
        try long.addFile("long", .streamed(StreamedFile(size: 2, identity: "long") { emit in try emit([1, 2, 3]) }))
        #expect(throws: GuestImageError.self) { try long.write(to: MemorySink()) }
    }

    @Test func aStreamedFileIsWrittenLikeTheSameBytesInMemory() throws {
        let bytes = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        var streamed = InitramfsTree()
        try streamed.addFile("data", .streamed(StreamedFile(size: bytes.count, identity: "d") { emit in
            for start in stride(from: 0, to: bytes.count, by: 4096) { try emit(Array(bytes[start..<min(start + 4096, bytes.count)])) }
        }))
        var inMemory = InitramfsTree()
        try inMemory.addFile("data", .bytes(bytes))
        let first = MemorySink(), second = MemorySink()
        try streamed.write(to: first)
        try inMemory.write(to: second)
        #expect(first.bytes == second.bytes)
    }

    /// A manifest without `image` and `launchMeasurement` (every bundle made before them) still loads,
    /// and a manifest that has neither encodes without the keys.
    @Test func manifestsWithoutTheNewFieldsStayReadable() throws {
        let manifest = BundleManifest(kind: "linux", versions: [:], boot: .init(minimumMemoryMiB: 128),
                                      build: .init(command: "c", tool: "t", steps: [], inputs: []))
        let text = String(decoding: try manifest.encoded(), as: UTF8.self)
        #expect(!text.contains("\"image\"") && !text.contains("launchMeasurement"))
        let decoded = try JSONDecoder().decode(BundleManifest.self, from: Data(text.utf8))
        #expect(decoded == manifest)
    }
}
