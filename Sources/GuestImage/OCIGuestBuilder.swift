import Foundation
import Measurement
import OCIImage

/// Builds a guest bundle from a Docker or OCI image: the Linux guest's kernel and modules, and an
/// initramfs holding the image's flattened root plus cvm-init at /.cvm/init (booted with
/// `rdinit=/.cvm/init`, so the image's own /init, if any, stays untouched). The init runs the image's
/// Entrypoint + Cmd with its Env, WorkingDir and User, the command's stdio on ttyS1, the kernel log on
/// ttyS0, and hands the exit code to the host.
///
/// Memory stays bounded: the image is flattened into metadata plus a content store file, and the
/// archive streams each large file from that store through gzip; no file is held in memory twice.
public struct OCIGuestBuilder: Sendable {
    public struct Options: Sendable {
        public var output: URL
        public var source: ImageSource
        public var platform: Platform
        /// Kernel release such as "6.1.0-56-amd64"; nil = what `KernelPackageChoice` picks.
        public var kernelVersion: String?
        public var cache: DebianPackageCache
        public var initSource: URL?
        /// Kernel command line; `rdinit=/.cvm/init` is added when it names no rdinit.
        public var cmdline: String
        /// An OVMF image: with the SEV kernel-hashes table, the manifest gets the expected launch digests.
        public var firmware: URL?
        public var vcpuCounts: [Int]
        public var vcpuTypes: [VCPUType]
        public var limits: FlattenLimits
        public var gzipLevel: Int
        /// Recorded in the manifest (build.tool), e.g. "cvm 0.1.0".
        public var tool: String
        /// A relying party to attest to before the container starts (cvm-attest in /.cvm/attest).
        public var attestation: AttestationTarget?

        public init(output: URL, source: ImageSource, platform: Platform = .linuxAMD64, kernelVersion: String? = nil,
                    cache: DebianPackageCache = DebianPackageCache(root: DebianPackageCache.defaultRoot()), initSource: URL? = nil,
                    cmdline: String = OCIGuestBuilder.defaultCmdline, firmware: URL? = nil,
                    vcpuCounts: [Int] = LaunchMeasurementRecord.defaultVCPUCounts,
                    vcpuTypes: [VCPUType] = LaunchMeasurementRecord.defaultVCPUTypes.compactMap { try? VCPUType(named: $0) },
                    limits: FlattenLimits = FlattenLimits(), gzipLevel: Int = 6, tool: String = "cvm") {
            self.output = output
            self.source = source
            self.platform = platform
            self.kernelVersion = kernelVersion
            self.cache = cache
            self.initSource = initSource
            self.cmdline = cmdline
            self.firmware = firmware
            self.vcpuCounts = vcpuCounts
            self.vcpuTypes = vcpuTypes
            self.limits = limits
            self.gzipLevel = gzipLevel
            self.tool = tool
        }
    }

    /// The guest's own directory in the root; an image's entries there are left out.
    public static let reservedDirectory = ".cvm"
    public static let initPath = ".cvm/init"
    public static let attestPath = ".cvm/attest"
    public static let kernelConsole = "ttyS0"
    public static let applicationConsole = "ttyS1"
    public static let defaultCmdline = "console=ttyS0 panic=-1 rdinit=/.cvm/init"

    /// `cmdline` with `rdinit=/.cvm/init` added unless it already names an rdinit.
    public static func bundleCmdline(_ cmdline: String) -> String {
        let words = cmdline.split(separator: " ")
        if words.contains(where: { $0.hasPrefix("rdinit=") }) { return cmdline }
        return (words.map(String.init) + ["rdinit=/" + initPath]).joined(separator: " ")
    }

    /// The source as recorded in the manifest: transport, file name and reference, no directories.
    public static func sourceLabel(_ source: ImageSource) -> String {
        let name = URL(fileURLWithPath: source.path).lastPathComponent
        return (source.transport.map { $0.rawValue + ":" } ?? "") + name + (source.reference.map { ":" + $0 } ?? "")
    }

    public let options: Options

    public init(options: Options) {
        self.options = options
    }

    /// Builds the bundle, reporting each step through `progress`.
    public func build(progress: (String) -> Void = { _ in }) throws -> GuestBundle {
        try GuestBundle.checkReplaceable(options.output)
        progress("reading \(options.source)")
        let image = try ContainerImage.open(options.source, platform: options.platform)
        let execution = image.config.execution
        var config = try InitConfig(container: execution, image: image.digest.description, console: Self.applicationConsole)
        config.attestation = options.attestation
        progress("image \(image.digest) (\(image.format.rawValue)): flattening \(image.layers.count) layer(s) in memory")
        let root = try image.flatten(limits: options.limits)

        let base = try GuestKernelAndInit(kernelVersion: options.kernelVersion, cache: options.cache, initSource: options.initSource,
                                          scratchPrefix: "cvm-oci", progress: progress)
        defer { base.removeScratch() }
        let kernel = base.kernel

        var tree = InitramfsTree()
        let dropped = try tree.addImageRoot(root, reserving: Self.reservedDirectory)
        if dropped > 0 { progress("left out the image's own /\(Self.reservedDirectory) (\(dropped) entries): reserved for the guest's init") }
        var attestInput: BundleManifest.Input?
        if let target = options.attestation {
            let source = try InitProgram.attestSource(besideInit: base.initSource)
            let helper = base.scratch.appendingPathComponent("attest")
            progress("compiling \(source.lastPathComponent) (gcc -static -Os, libcrypto): attests to \(target.url) before the container starts")
            try InitProgram.compileAttestHelper(source: source, to: helper)
            try tree.addFile(Self.attestPath, .file(helper), permissions: 0o755)
            attestInput = .init(name: InitProgram.attestSourceName, version: GuestInit.version,
                                sha256: try PartDigest.of(fileAt: source, file: InitProgram.attestSourceName).sha256,
                                origin: "guest/init/\(InitProgram.attestSourceName)")
        }
        try base.install(into: &tree, config: config, under: Self.reservedDirectory, initPath: Self.initPath)
        progress("packing initramfs: \(tree.count) members, \(root.regularFileBytes) bytes of image files (cpio newc, gzip -n -\(options.gzipLevel))")
        let (initrd, summary) = try base.writeInitrd(tree, level: options.gzipLevel)

        let cmdline = Self.bundleCmdline(options.cmdline)
        let measurement: LaunchMeasurementRecord
        if let firmware = options.firmware {
            progress("expected launch measurements with \(firmware.lastPathComponent)")
            measurement = try LaunchMeasurementRecord.expected(
                firmware: firmware, kernel: try PartDigest.of(fileAt: kernel.image, file: GuestBundle.kernelFile),
                initrd: try PartDigest.of(fileAt: initrd, file: GuestBundle.initrdFile), cmdline: cmdline,
                vcpuCounts: options.vcpuCounts, vcpuTypes: options.vcpuTypes)
        } else {
            measurement = .notCovered("no firmware with the SEV kernel-hashes table was given (--firmware OVMF built from OvmfPkg/AmdSev)")
        }
        let sourceLabel = Self.sourceLabel(options.source)
        var manifest = BundleManifest(
            kind: "oci",
            versions: try base.versions(),
            boot: .init(console: Self.kernelConsole, appConsole: Self.applicationConsole,
                        minimumMemoryMiB: try kernel.minimumMemoryMiB(initramfsBytes: summary.bytes)),
            build: .init(
                command: "cvm image build oci",
                tool: options.tool,
                steps: [
                    "read \(image.format.rawValue) \(sourceLabel): index, manifest, config and every layer verified against their digests",
                    "flatten \(image.layers.count) layer(s) in memory (OCI whiteouts, hard links, owners and modes kept)",
                    base.kernelStep,
                    "gcc -static -Os -s guest/init/\(InitProgram.sourceName) -> /\(Self.initPath)",
                    "initramfs: image root + /.cvm (init, config, modules); cpio newc sorted, mtime 0, sequential inodes; gzip -n -\(options.gzipLevel)",
                ] + (options.attestation.map { ["gcc -static -Os -s guest/init/\(InitProgram.attestSourceName) -lcrypto -> /\(Self.attestPath); attests to \($0.url) (key \($0.relyingPartyKey.prefix(16))…) before the container starts"] } ?? []),
                inputs: [
                    .init(name: "image", version: image.tags.first, sha256: image.digest.hex, origin: sourceLabel),
                    base.kernelInput,
                    try base.initInput(),
                ] + (attestInput.map { [$0] } ?? [])),
            modules: base.modules.map(\.name),
            modulesUnavailable: base.unavailableModules,
            image: ContainerImageRecord(
                digest: image.digest.description, manifestDigest: image.manifestDigest?.description,
                configDigest: image.configDigest.description, format: image.format.rawValue, platform: image.platform?.description,
                source: sourceLabel, tags: image.tags, entrypoint: execution.entrypoint, cmd: execution.cmd,
                env: config.environment, workingDir: config.workingDirectory, user: config.user,
                entries: root.entryCount, fileBytes: root.regularFileBytes),
            launchMeasurement: measurement)
        if let target = options.attestation {
            manifest.annotations["attestation.url"] = target.url
            manifest.annotations["attestation.relyingPartyKey"] = target.relyingPartyKey
        }

        progress("writing bundle \(options.output.path)")
        return try GuestBundle.write(to: options.output, kernel: kernel.image, initrd: initrd, cmdline: cmdline, manifest: manifest)
    }
}
