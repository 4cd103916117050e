import Foundation

/// What every guest on the Debian kernel shares (`LinuxGuestBuilder`, `OCIGuestBuilder`): the kernel
/// with the attestation and device modules (dependencies included), cvm-init compiled for it in a
/// scratch directory, and at the end the modules and init installed, the tree sealed and packed.
struct GuestKernelAndInit {
    let kernel: LinuxKernel
    let modules: [KernelModuleSet.Module]
    let unavailableModules: [String]
    let initSource: URL
    let initBinary: URL
    /// Scratch directory for the init binary and the initrd; `removeScratch()` deletes it.
    let scratch: URL

    /// Fetches the kernel and compiles the init; `scratchPrefix` names the temporary directory.
    init(kernelVersion: String?, cache: DebianPackageCache, initSource explicit: URL?, scratchPrefix: String,
         progress: (String) -> Void) throws {
        kernel = try LinuxKernel.fetch(release: kernelVersion, cache: cache, progress: progress)
        let closure = try kernel.modules.closure(of: LinuxGuestBuilder.attestationModules + LinuxGuestBuilder.deviceModules)
        modules = closure.0
        unavailableModules = closure.1
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("\(scratchPrefix)-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        do {
            initSource = try InitProgram.locateSource(explicit: explicit)
            progress("compiling \(initSource.lastPathComponent) (gcc -static -Os)")
            initBinary = scratch.appendingPathComponent("init")
            try InitProgram.compile(source: initSource, to: initBinary)
        } catch {
            try? FileManager.default.removeItem(at: scratch)
            throw error
        }
    }

    func removeScratch() {
        try? FileManager.default.removeItem(at: scratch)
    }

    /// Adds the modules (under `prefix`) and the init with `config` at `initPath`, then the completion marker.
    func install(into tree: inout InitramfsTree, config: InitConfig, under prefix: String = "", initPath: String = "init") throws {
        let modulePaths = try kernel.install(modules, into: &tree, under: prefix)
        try GuestInit.install(into: &tree, initBinary: initBinary, config: config, modulePaths: modulePaths, initPath: initPath)
        try GuestInit.seal(&tree)
    }

    /// Packs `tree` into scratch/initrd with gzip at `level`.
    func writeInitrd(_ tree: InitramfsTree, level: Int) throws -> (url: URL, summary: WriteSummary) {
        let url = scratch.appendingPathComponent("initrd")
        return (url, try tree.write(to: try GzipFileSink(url: url, level: level)))
    }

    /// The manifest's versions both builders record.
    func versions() throws -> [String: String] {
        ["kernel": kernel.release, "kernelPackage": "\(kernel.package.name) \(kernel.package.version)",
         "init": GuestInit.version, "compiler": try InitProgram.compilerVersion()]
    }

    var kernelStep: String { "apt-get download \(kernel.package.name)=\(kernel.package.version); dpkg-deb -x into the cache" }

    var kernelInput: BundleManifest.Input {
        .init(name: kernel.package.name, version: kernel.package.version, sha256: kernel.package.sha256, origin: "apt-get download (host apt sources)")
    }

    func initInput() throws -> BundleManifest.Input {
        .init(name: InitProgram.sourceName, version: GuestInit.version, sha256: try PartDigest.of(fileAt: initSource, file: InitProgram.sourceName).sha256,
              origin: "guest/init/\(InitProgram.sourceName)")
    }
}
