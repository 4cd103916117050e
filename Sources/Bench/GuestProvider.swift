import BenchReport
import Crypto
import Foundation
import GuestImage
import HostProbe

/// A guest ready to boot: the files, how to form its command line, and what the plan records.
public struct PreparedGuest: Sendable {
    public var spec: GuestSpec
    public var record: BenchGuest
    /// The kernel booted without firmware (PVH ELF or bzImage).
    public var kernel: String
    /// The EFI application OVMF starts in confidential modes (unikernel bundles carry one).
    public var efiKernel: String?
    /// The kernel as its own firmware, for -bios (unikernel bundles carry firmware.fd).
    public var firmwareImage: String?
    public var initrd: String?
    public var cmdline: String
    public var minimumMemoryMiB: Int
    /// Why this guest could not be built here (its cells are then skipped with this reason).
    public var unavailable: String?

    /// The kernel command line of a run of `workloads`: the unikernel reads the workload words itself,
    /// the Linux guest's init runs cvm-workloads with them; other guests boot with their own.
    public func commandLine(workloads: [String], parameters: [String: String]) -> String {
        let words = WorkloadCatalog.guestWords(workloads, parameters: parameters)
        switch spec.kind {
        case .unikernel: return words
        case .linux: return cmdline + " " + GuestInit.runArgument("\(LinuxWorkloadsBundle.guestPath) \(words)")
        case .bundle, .kernel: return cmdline
        }
    }
}

/// Builds or finds each guest of the matrix. Built guests are cached under CACHE/bench (CACHE is
/// $CVM_CACHE, else ~/.cache/cvmkit): the unikernel by a digest of its sources, the Linux guest once.
public struct GuestProvider: Sendable {
    public var cache: URL
    /// The CVMKit source tree (holding Unikernel/build.sh); nil when cvm runs outside it.
    public var sourceTree: URL?
    public var toolchain: String
    /// Rebuild cached guests even when present.
    public var rebuild: Bool
    public var busybox: String

    public init(cache: URL = DebianPackageCache.defaultRoot(), sourceTree: URL?, toolchain: String = "/opt/swift/usr/bin",
                rebuild: Bool = false, busybox: String = "/bin/busybox") {
        self.cache = cache
        self.sourceTree = sourceTree
        self.toolchain = toolchain
        self.rebuild = rebuild
        self.busybox = busybox
    }

    var benchCache: URL { cache.appendingPathComponent("bench") }

    public func prepare(_ specs: [GuestSpec], tool: String, progress: (String) -> Void) throws -> [PreparedGuest] {
        var unikernel: GuestBundle?
        func unikernelBundle() throws -> GuestBundle {
            if let unikernel { return unikernel }
            let bundle = try buildUnikernel(progress: progress)
            unikernel = bundle
            return bundle
        }
        var failures: [BenchError] = []
        let guests = try specs.map { spec -> PreparedGuest in
            do {
                return try prepare(spec, unikernel: unikernelBundle, tool: tool, progress: progress)
            } catch let error as BenchError {
                // A guest this host cannot build is not measured; the others still are.
                guard case .unsupportedHere(let why) = error, specs.count > 1 else { throw error }
                failures.append(error)
                progress("\(spec.name) is not measured: \(why)")
                return PreparedGuest(spec: spec, record: BenchGuest(name: spec.name, kind: spec.kindName,
                                                                    path: "", digests: [:], bootProtocol: ""),
                                     kernel: "", efiKernel: nil, initrd: nil, cmdline: "", minimumMemoryMiB: 0,
                                     unavailable: "the guest could not be built here: \(why)")
            }
        }
        if failures.count == specs.count, let first = failures.first { throw first }
        return guests
    }

    func prepare(_ spec: GuestSpec, unikernel unikernelBundle: () throws -> GuestBundle, tool: String,
                 progress: (String) -> Void) throws -> PreparedGuest {
        switch spec.kind {
        case .unikernel:
            let bundle = try unikernelBundle()
            return try prepared(spec, bundle: bundle, kind: "unikernel")
        case .linux:
            let workloads = try unikernelBundle().directory.appendingPathComponent(LinuxWorkloadsBundle.binaryName)
            let bundle = try buildLinux(workloads: workloads, tool: tool, progress: progress)
            return try prepared(spec, bundle: bundle, kind: "linux")
        case .bundle(let path):
            let bundle: GuestBundle
            do { bundle = try GuestBundle.load(from: URL(fileURLWithPath: path).standardizedFileURL) } catch {
                throw BenchError.badInput("guest \(spec.name): \(error)")
            }
            return try prepared(spec, bundle: bundle, kind: "bundle")
        case let .kernel(path, initrd, cmdline):
            let kernel = URL(fileURLWithPath: path).standardizedFileURL
            guard FileManager.default.isReadableFile(atPath: kernel.path) else { throw BenchError.badInput("guest \(spec.name): cannot read kernel \(path)") }
            let initrdURL = initrd.map { URL(fileURLWithPath: $0).standardizedFileURL }
            if let initrdURL, !FileManager.default.isReadableFile(atPath: initrdURL.path) {
                throw BenchError.badInput("guest \(spec.name): cannot read initrd \(initrdURL.path)")
            }
            let line = cmdline ?? "console=ttyS0 panic=-1"
            var digests = ["kernel": try Self.sha256(kernel), "cmdline": Self.sha256(Data(line.utf8))]
            if let initrdURL { digests["initrd"] = try Self.sha256(initrdURL) }
            let record = BenchGuest(name: spec.name, kind: "kernel", path: kernel.path, digests: digests,
                                    bootProtocol: Self.isELF(kernel) ? "pvh" : "linux")
            return PreparedGuest(spec: spec, record: record, kernel: kernel.path, efiKernel: nil, initrd: initrdURL?.path,
                                 cmdline: line, minimumMemoryMiB: 16)
        }
    }

    func prepared(_ spec: GuestSpec, bundle: GuestBundle, kind: String) throws -> PreparedGuest {
        var digests: [String: String] = [:]
        for (name, part) in bundle.manifest.parts { digests[name] = part.sha256 }
        let record = BenchGuest(name: spec.name, kind: kind, path: bundle.directory.path, digests: digests,
                                bootProtocol: bundle.manifest.boot.protocolName)
        return PreparedGuest(spec: spec, record: record, kernel: bundle.kernelURL.path, efiKernel: bundle.efiKernelURL?.path,
                             firmwareImage: bundle.firmwareImageURL?.path, initrd: bundle.hasInitrd ? bundle.initrdURL.path : nil, cmdline: bundle.cmdline,
                             minimumMemoryMiB: bundle.manifest.boot.minimumMemoryMiB)
    }

    /// The cached unikernel's PVH kernel, for the KVM check; nil before anything built it.
    public func cachedUnikernelKernel() -> String? {
        newestCached(prefix: "unikernel-")?.kernelURL.path
    }

    // MARK: Unikernel

    /// Files whose content decides the unikernel's bytes (what Unikernel/build.sh compiles).
    static func unikernelSources(in tree: URL) -> [URL] {
        var files: [URL] = []
        let directories = ["Sources/UnikernelCore", "Unikernel/Kernel", "Unikernel/Boot", "Unikernel/EFI", "Unikernel/include", "Unikernel/workloads-linux"]
        for directory in directories {
            let url = tree.appendingPathComponent(directory)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
            files += names.sorted().map { url.appendingPathComponent($0) }
        }
        return files + [tree.appendingPathComponent("Unikernel/build.sh")]
    }

    func buildUnikernel(progress: (String) -> Void) throws -> GuestBundle {
        guard let tree = sourceTree, FileManager.default.isExecutableFile(atPath: tree.appendingPathComponent("Unikernel/build.sh").path) else {
            // Outside the source tree, the newest cached build will do.
            if !rebuild, let cached = newestCached(prefix: "unikernel-") { return cached }
            throw BenchError.unsupportedHere("cannot find Unikernel/build.sh to build the unikernel; run cvm bench from the CVMKit source tree")
        }
        var hasher = SHA256()
        for file in Self.unikernelSources(in: tree) {
            hasher.update(data: Data(file.path.dropFirst(tree.path.count).utf8))
            hasher.update(data: FileManager.default.contents(atPath: file.path) ?? Data())
        }
        let key = hasher.finalize().map { String(format: "%02x", $0) }.joined().prefix(16)
        let target = benchCache.appendingPathComponent("unikernel-\(key)")
        if !rebuild, let bundle = try? GuestBundle.load(from: target),
           FileManager.default.fileExists(atPath: target.appendingPathComponent(LinuxWorkloadsBundle.binaryName).path) {
            return bundle
        }
        if let tool = UnikernelBuild.missingTool(in: toolchain) {
            throw BenchError.unsupportedHere("the Swift toolchain at \(toolchain) has no \(tool); it is needed to build the unikernel")
        }
        progress("building the unikernel and cvm-workloads (Unikernel/build.sh, about a minute)")
        let staging = benchCache.appendingPathComponent(".unikernel-\(key).partial-\(getpid())")
        try? FileManager.default.removeItem(at: staging)
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
        do {
            try UnikernelBuild.run(script: tree.appendingPathComponent("Unikernel/build.sh").path, output: staging,
                                   linuxWorkloads: true, toolchain: toolchain)
        } catch {
            try? FileManager.default.removeItem(at: staging)
            throw BenchError.unsupportedHere("unikernel build failed: \(error)")
        }
        try replace(target, with: staging)
        do { return try GuestBundle.load(from: target) } catch { throw BenchError.unsupportedHere("the unikernel build wrote no valid bundle: \(error)") }
    }

    func newestCached(prefix: String) -> GuestBundle? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: benchCache.path)) ?? []
        let candidates = names.filter { $0.hasPrefix(prefix) }.map { benchCache.appendingPathComponent($0) }
        let dated = candidates.compactMap { url -> (Date, URL)? in
            guard let date = (try? FileManager.default.attributesOfItem(atPath: url.path))?[.modificationDate] as? Date else { return nil }
            return (date, url)
        }
        return dated.sorted { $0.0 > $1.0 }.lazy.compactMap { try? GuestBundle.load(from: $0.1) }.first
    }

    func replace(_ target: URL, with staging: URL) throws {
        let fileManager = FileManager.default
        if fileManager.fileExists(atPath: target.path) { try fileManager.removeItem(at: target) }
        do { try fileManager.moveItem(at: staging, to: target) } catch {
            // Another bench finished the same build first: its result is as good as ours.
            try? fileManager.removeItem(at: staging)
            guard fileManager.fileExists(atPath: target.path) else { throw BenchError.io("cannot move \(staging.path) to \(target.path): \(error.localizedDescription)") }
        }
    }

    // MARK: Linux

    func buildLinux(workloads: URL, tool: String, progress: (String) -> Void) throws -> GuestBundle {
        let base = benchCache.appendingPathComponent("linux-base")
        let baseBundle: GuestBundle
        if !rebuild, let cached = try? GuestBundle.load(from: base) {
            baseBundle = cached
        } else {
            progress("building the Linux guest (cvm image build linux into \(base.path))")
            let options = LinuxGuestBuilder.Options(output: base, cache: DebianPackageCache(root: cache),
                                                    busybox: URL(fileURLWithPath: busybox),
                                                    initSource: sourceTree?.appendingPathComponent("guest/init/\(InitProgram.sourceName)"), tool: tool)
            do {
                baseBundle = try LinuxGuestBuilder(options: options).build { progress("linux: \($0)") }
            } catch let error as GuestImageError {
                throw BenchError.unsupportedHere("cannot build the Linux guest: \(error)")
            }
        }
        return try LinuxWorkloadsBundle.make(base: baseBundle, workloads: workloads, cacheDirectory: benchCache, rebuild: rebuild)
    }

    static func sha256(_ url: URL) throws -> String {
        guard let data = FileManager.default.contents(atPath: url.path) else { throw BenchError.badInput("cannot read \(url.path)") }
        return sha256(data)
    }

    static func sha256(_ data: Data) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    static func isELF(_ url: URL) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: url.path) else { return false }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: 4)) == Data([0x7f, 0x45, 0x4c, 0x46])
    }
}
