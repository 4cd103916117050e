import Foundation

/// Debian packages fetched with the system's `apt-get download` (the host's configured mirrors and
/// keys) into a cache directory and unpacked there with `dpkg-deb -x`. Nothing is installed and /boot is
/// never touched.
public struct DebianPackageCache: Sendable {
    public struct Package: Sendable, Equatable {
        public let name: String
        public let version: String
        public let deb: URL
        public let sha256: String
    }

    public let root: URL

    public init(root: URL) {
        self.root = root
    }

    /// $CVM_CACHE, else ~/.cache/cvmkit.
    public static func defaultRoot() -> URL {
        if let explicit = ProcessInfo.processInfo.environment["CVM_CACHE"], !explicit.isEmpty {
            return URL(fileURLWithPath: explicit)
        }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/cvmkit")
    }

    var debsDirectory: URL { root.appendingPathComponent("debs") }
    var unpackedDirectory: URL { root.appendingPathComponent("unpacked") }

    /// The version apt would install, from `apt-cache policy`.
    public func candidateVersion(of package: String) throws -> String? {
        Self.candidate(inPolicy: try policy(package))
    }

    /// `apt-cache policy PACKAGE` as printed; empty when apt does not know the package.
    public func policy(_ package: String) throws -> String {
        try Subprocess.capture(["apt-cache", "policy", package], hint: "an apt-based host (Debian/Ubuntu) is needed").stdout
    }

    /// `apt-cache depends` of a package, without recommends and suggests.
    public func depends(_ package: String) throws -> String {
        try Subprocess.capture(["apt-cache", "depends", "--no-recommends", "--no-suggests", package]).stdout
    }

    /// The Candidate: line of `apt-cache policy` output; nil for "(none)" or an unknown package.
    static func candidate(inPolicy output: String) -> String? {
        for line in output.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("Candidate:") {
                let value = trimmed.dropFirst("Candidate:".count).trimmingCharacters(in: .whitespaces)
                return value == "(none)" ? nil : value
            }
        }
        return nil
    }

    /// The first dependency of `metapackage` whose name starts with `prefix` (linux-image-amd64 ->
    /// linux-image-6.1.0-NN-amd64).
    public func dependency(of metapackage: String, prefix: String) throws -> String {
        guard let name = Self.dependency(inDepends: try depends(metapackage), prefix: prefix) else {
            throw GuestImageError.packageNotFound("apt knows no '\(prefix)*' dependency of \(metapackage) (run apt-get update, or give --kernel-version)")
        }
        return name
    }

    /// The first Depends: line of `apt-cache depends` output whose package starts with `prefix`.
    static func dependency(inDepends output: String, prefix: String) -> String? {
        for line in output.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix("Depends:") else { continue }
            let name = trimmed.dropFirst("Depends:".count).trimmingCharacters(in: .whitespaces)
            if name.hasPrefix(prefix) { return name }
        }
        return nil
    }

    /// The cached .deb of `name` at apt's candidate version, downloading it first if needed. Without a
    /// candidate (no apt lists) a single cached version of the package is used.
    public func fetch(_ name: String, progress: (String) -> Void) throws -> Package {
        try FileManager.default.createDirectory(at: debsDirectory, withIntermediateDirectories: true)
        let candidate = try candidateVersion(of: name)
        if let candidate {
            let cached = debsDirectory.appendingPathComponent(Self.fileName(name, candidate))
            if FileManager.default.fileExists(atPath: cached.path) {
                progress("using cached \(name) \(candidate)")
                return try describe(cached)
            }
            progress("downloading \(name) \(candidate) with apt-get download")
            let scratch = debsDirectory.appendingPathComponent(".download-\(getpid())")
            try? FileManager.default.removeItem(at: scratch)
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: scratch) }
            try Subprocess.run(["apt-get", "download", "\(name)=\(candidate)"], in: scratch)
            let debs = try FileManager.default.contentsOfDirectory(atPath: scratch.path).filter { $0.hasSuffix(".deb") }
            guard debs.count == 1, let file = debs.first else {
                throw GuestImageError.packageNotFound("apt-get download \(name) produced \(debs.count) .deb files")
            }
            try? FileManager.default.removeItem(at: cached)
            try FileManager.default.moveItem(at: scratch.appendingPathComponent(file), to: cached)
            let package = try describe(cached)
            progress("downloaded \(name) \(package.version) (\(Self.megabytes(cached)) MB)")
            return package
        }
        let prefix = name + "_"
        let cached = (try? FileManager.default.contentsOfDirectory(atPath: debsDirectory.path))?
            .filter { $0.hasPrefix(prefix) && $0.hasSuffix(".deb") }.sorted() ?? []
        guard cached.count == 1, let only = cached.first else {
            throw GuestImageError.packageNotFound("apt has no candidate for \(name) and the cache holds \(cached.count) versions of it (run apt-get update, or check the name)")
        }
        progress("apt has no candidate for \(name); using cached \(only)")
        return try describe(debsDirectory.appendingPathComponent(only))
    }

    /// Unpacks `package` once into the cache and returns the directory. Safe when several threads or
    /// processes unpack the same package at once: each extracts into its own scratch directory, and a
    /// finished unpack that another made first is kept, never removed under its readers.
    public func unpack(_ package: Package, progress: (String) -> Void) throws -> URL {
        let target = unpackedDirectory.appendingPathComponent(Self.fileName(package.name, package.version).replacingOccurrences(of: ".deb", with: ""))
        let stamp = target.appendingPathComponent(".cvm-unpacked-sha256")
        func finished() -> Bool { (try? String(contentsOf: stamp, encoding: .utf8)) == package.sha256 }
        if finished() { return target }
        progress("unpacking \(package.name) into \(unpackedDirectory.path)")
        try FileManager.default.createDirectory(at: unpackedDirectory, withIntermediateDirectories: true)
        let scratch = unpackedDirectory.appendingPathComponent(".unpack-\(getpid())-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        try Subprocess.run(["dpkg-deb", "-x", package.deb.path, scratch.path], hint: "apt-get install dpkg")
        try Data(package.sha256.utf8).write(to: scratch.appendingPathComponent(".cvm-unpacked-sha256"))
        if finished() { return target }
        // Only a stale or half-made directory is replaced.
        try? FileManager.default.removeItem(at: target)
        do { try FileManager.default.moveItem(at: scratch, to: target) } catch {
            if finished() { return target }
            throw GuestImageError.io("cannot move the unpacked \(package.name) into \(target.path): \(error.localizedDescription)")
        }
        return target
    }

    private func describe(_ deb: URL) throws -> Package {
        let fields = try Subprocess.run(["dpkg-deb", "-f", deb.path, "Package", "Version"]).split(separator: "\n")
        var values: [String: String] = [:]
        for field in fields {
            let parts = field.split(separator: ":", maxSplits: 1)
            if parts.count == 2 { values[String(parts[0])] = parts[1].trimmingCharacters(in: .whitespaces) }
        }
        guard let name = values["Package"], let version = values["Version"] else {
            throw GuestImageError.packageNotFound("\(deb.path) has no Package/Version fields")
        }
        return Package(name: name, version: version, deb: deb, sha256: try PartDigest.of(fileAt: deb, file: deb.lastPathComponent).sha256)
    }

    static func fileName(_ name: String, _ version: String) -> String {
        "\(name)_\(version.replacingOccurrences(of: ":", with: "%3a")).deb"
    }

    static func megabytes(_ url: URL) -> String {
        let size = ((try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? NSNumber)?.doubleValue ?? 0
        return String(format: "%.1f", size / 1_000_000)
    }
}
