import Foundation

/// Builds the minimal Linux guest bundle: the Debian kernel (apt), busybox-static, cvm-init and the
/// modules for in-guest attestation, packed into a reproducible initramfs.
public struct LinuxGuestBuilder: Sendable {
    public struct Options: Sendable {
        public var output: URL
        /// Kernel release such as "6.1.0-56-amd64" (package linux-image-RELEASE); nil = what the
        /// first kernel metapackage apt offers depends on (`KernelPackageChoice`).
        public var kernelVersion: String?
        public var cache: DebianPackageCache
        public var busybox: URL
        public var initSource: URL?
        public var cmdline: String
        /// Recorded in the manifest (build.tool), e.g. "cvm 0.1.0".
        public var tool: String

        public init(output: URL, kernelVersion: String? = nil, cache: DebianPackageCache = DebianPackageCache(root: DebianPackageCache.defaultRoot()),
                    busybox: URL = URL(fileURLWithPath: "/bin/busybox"), initSource: URL? = nil,
                    cmdline: String = LinuxGuestBuilder.defaultCmdline, tool: String = "cvm") {
            self.output = output
            self.kernelVersion = kernelVersion
            self.cache = cache
            self.busybox = busybox
            self.initSource = initSource
            self.cmdline = cmdline
            self.tool = tool
        }
    }

    public static let defaultCmdline = "console=ttyS0 panic=-1"
    /// In-guest attestation: the SNP guest driver (/dev/sev-guest), the TDX guest driver (/dev/tdx_guest,
    /// configfs-tsm's tdx_guest provider), the configfs TSM report interface (Linux 6.7+, "tsm"; renamed
    /// "tsm_report" later), configfs itself, and the EFI secret area.
    public static let attestationModules = ["sev-guest", "tdx-guest", "tsm", "tsm_report", "configfs", "efi_secret"]
    /// Virtio basics for when the VMM offers them, and the ACPI power button as an input device (button,
    /// evdev: Debian builds both as modules), on which cvm-init powers off (`cvm vm stop`).
    public static let deviceModules = ["virtio_pci", "virtio_console", "virtio_blk", "virtio_net", "virtio_rng", "button", "evdev"]

    /// The default command: a short report of what the guest sees.
    static let summaryScript = """
    echo "cvm-guest: Linux $(uname -r) on $(grep -c ^processor /proc/cpuinfo) vCPU(s), $(awk '/MemTotal/ {print $2}' /proc/meminfo) kB"
    dmesg | grep -i -m1 'memory encryption' || echo "cvm-guest: memory encryption not active"
    if [ -e /dev/sev-guest ]; then echo "cvm-guest: /dev/sev-guest present"; else echo "cvm-guest: /dev/sev-guest absent (not an SEV-SNP guest)"; fi
    """

    public let options: Options

    public init(options: Options) {
        self.options = options
    }

    /// Builds the bundle, reporting each step through `progress`.
    public func build(progress: (String) -> Void = { _ in }) throws -> GuestBundle {
        try GuestBundle.checkReplaceable(options.output)
        let busybox = options.busybox
        guard FileManager.default.fileExists(atPath: busybox.path) else {
            throw GuestImageError.missingTool(busybox.path, hint: "apt-get install busybox-static, or pass --busybox")
        }
        guard let busyboxData = FileManager.default.contents(atPath: busybox.path) else { throw GuestImageError.io("cannot read \(busybox.path)") }
        guard try !ELFFile(bytes: [UInt8](busyboxData), name: busybox.path).isDynamicallyLinked else {
            throw GuestImageError.invalidELF("\(busybox.path) is dynamically linked; the guest needs busybox-static")
        }

        let base = try GuestKernelAndInit(kernelVersion: options.kernelVersion, cache: options.cache, initSource: options.initSource,
                                          scratchPrefix: "cvm-linux", progress: progress)
        defer { base.removeScratch() }
        let kernel = base.kernel, modules = base.modules
        progress("kernel \(kernel.release): \(modules.count) modules (\(modules.map(\.name).joined(separator: ", ")))")

        var tree = InitramfsTree()
        try tree.addFile("bin/busybox", .file(busybox), permissions: 0o755)
        let applets = try Subprocess.run([busybox.path, "--list-full"]).split(separator: "\n").map(String.init)
        for applet in applets where applet != "bin/busybox" && !applet.isEmpty && tree.entry(at: applet) == nil {
            try tree.addSymlink(applet, target: "/bin/busybox")
        }
        try tree.addFile("etc/passwd", .bytes(Array("root:x:0:0:root:/root:/bin/sh\n".utf8)))
        try tree.addFile("etc/group", .bytes(Array("root:x:0:\n".utf8)))
        try tree.addDirectory("root", permissions: 0o700)
        let config = InitConfig(arguments: ["/bin/sh", "-c", Self.summaryScript], shell: "/bin/sh", hostname: "cvm-linux")
        try base.install(into: &tree, config: config)

        progress("packing initramfs: \(tree.count) members (cpio newc, gzip -n -9)")
        let (initrd, summary) = try base.writeInitrd(tree, level: 9)

        let busyboxVersion = try? Subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "busybox-static"])
        let minimumMemory = try kernel.minimumMemoryMiB(initramfsBytes: summary.bytes)
        var versions = try base.versions()
        versions["busybox"] = busyboxVersion.map { "busybox-static \($0)" } ?? "busybox (unpackaged)"
        let manifest = BundleManifest(
            kind: "linux",
            versions: versions,
            boot: .init(minimumMemoryMiB: minimumMemory),
            build: .init(
                command: "cvm image build linux",
                tool: options.tool,
                steps: [
                    base.kernelStep,
                    "gcc -static -Os -s guest/init/\(InitProgram.sourceName)",
                    "initramfs: busybox + applet symlinks, cvm-init, modules with their .modinfo dependencies; cpio newc sorted, mtime 0, sequential inodes; gzip -n -9",
                ],
                inputs: [
                    base.kernelInput,
                    .init(name: "busybox", version: busyboxVersion, sha256: try PartDigest.of(fileAt: busybox, file: "busybox").sha256, origin: busybox.path),
                    try base.initInput(),
                ]),
            modules: modules.map(\.name),
            modulesUnavailable: base.unavailableModules)

        progress("writing bundle \(options.output.path)")
        return try GuestBundle.write(to: options.output, kernel: kernel.image, initrd: initrd, cmdline: options.cmdline, manifest: manifest)
    }

}

/// A Debian kernel unpacked in the package cache: its image and its modules. The OCI builder uses the
/// same kernel and modules as the Linux guest.
public struct LinuxKernel: Sendable {
    public let package: DebianPackageCache.Package
    /// Kernel release, e.g. "6.1.0-56-amd64".
    public let release: String
    /// The bzImage (boot/vmlinuz-RELEASE) in the cache.
    public let image: URL
    public let modules: KernelModuleSet

    /// `release` like "6.1.0-56-amd64" or "6.8.0-151-generic" (package linux-image-RELEASE); nil = what
    /// the first kernel metapackage apt offers depends on (`KernelPackageChoice`). Downloads and
    /// unpacks into the cache when needed.
    public static func fetch(release: String?, cache: DebianPackageCache, progress: (String) -> Void) throws -> LinuxKernel {
        let choice: KernelPackageChoice
        if let release {
            choice = try KernelPackageChoice.given(release: release, policy: cache.policy, depends: cache.depends)
        } else {
            progress("resolving the kernel package (one with configfs-tsm first: \((KernelPackageChoice.metapackages + [KernelPackageChoice.configfsTSMMetapackage]).joined(separator: ", ")))")
            choice = try KernelPackageChoice.choose(policy: cache.policy, depends: cache.depends)
        }
        let package = try cache.fetch(choice.image, progress: progress)
        let unpacked = try cache.unpack(package, progress: progress)
        let modulesRoot = try choice.modules.map { try cache.unpack(try cache.fetch($0, progress: progress), progress: progress) } ?? unpacked
        let boot = unpacked.appendingPathComponent("boot")
        let images = ((try? FileManager.default.contentsOfDirectory(atPath: boot.path)) ?? []).filter { $0.hasPrefix("vmlinuz-") }.sorted()
        guard let image = images.first else { throw GuestImageError.packageNotFound("no boot/vmlinuz-* in \(unpacked.path)") }
        let release = String(image.dropFirst("vmlinuz-".count))
        let modules = try KernelModuleSet(directory: modulesRoot.appendingPathComponent("lib/modules/\(release)"))
        return LinuxKernel(package: package, release: release, image: boot.appendingPathComponent(image), modules: modules)
    }

    /// Guest memory the kernel needs with an initramfs of `initramfsBytes` (uncompressed): kernel, the
    /// compressed and the unpacked initramfs must all fit beside a working system.
    public func minimumMemoryMiB(initramfsBytes: Int) throws -> Int {
        let kernelSize = ((try FileManager.default.attributesOfItem(atPath: image.path))[.size] as? NSNumber)?.intValue ?? 0
        return max(128, (kernelSize + initramfsBytes * 2) / (1 << 20) + 96)
    }

    /// Adds `modules` under PREFIX/lib/modules/RELEASE and returns their absolute guest paths in load
    /// order, as `GuestInit.install` wants them. A container image's root takes them under /.cvm, where
    /// they cannot meet the image's own /lib (often a symbolic link to usr/lib).
    public func install(_ modules: [KernelModuleSet.Module], into tree: inout InitramfsTree, under prefix: String = "") throws -> [String] {
        try modules.map { module in
            let archivePath = "\(prefix.isEmpty ? "" : prefix + "/")lib/modules/\(release)/\(module.relativePath)"
            try tree.addFile(archivePath, .file(self.modules.directory.appendingPathComponent(module.relativePath)))
            return "/" + archivePath
        }
    }
}
