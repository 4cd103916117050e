import Foundation

/// The modules of one unpacked kernel (`lib/modules/RELEASE`), indexed by name, with dependencies read
/// from each module's `.modinfo` "depends=" field (the same data depmod turns into modules.dep;
/// Debian's package ships no modules.dep, depmod writes it at install time).
public struct KernelModuleSet: Sendable {
    public struct Module: Sendable, Equatable {
        /// Canonical name: '-' written as '_', as the kernel does.
        public let name: String
        /// Path below the modules directory, e.g. "kernel/fs/configfs/configfs.ko".
        public let relativePath: String
        public let depends: [String]
    }

    public let directory: URL
    private let paths: [String: String]
    /// Modules shipped compressed (Debian's 6.12 packages use .ko.xz): decompressed beside themselves, in
    /// the package cache, the first time one is needed, so the guest's finit_module gets a plain ELF.
    private let compressedPaths: [String: String]
    private let builtin: Set<String>

    public static func canonical(_ name: String) -> String {
        name.replacingOccurrences(of: "-", with: "_")
    }

    public init(directory: URL) throws {
        self.directory = directory
        let root = directory.appendingPathComponent("kernel")
        guard let enumerator = FileManager.default.enumerator(atPath: root.path) else {
            throw GuestImageError.io("no kernel modules under \(root.path)")
        }
        var paths: [String: String] = [:]
        var compressed: [String: String] = [:]
        while let item = enumerator.nextObject() as? String {
            let file = (item as NSString).lastPathComponent
            if item.hasSuffix(".ko") {
                paths[Self.canonical(String(file.dropLast(3)))] = "kernel/" + item
            } else if let suffix = Self.compressionSuffixes.first(where: { item.hasSuffix(".ko" + $0) }) {
                compressed[Self.canonical(String(file.dropLast(3 + suffix.count)))] = "kernel/" + item
            }
        }
        self.paths = paths
        self.compressedPaths = compressed.filter { paths[$0.key] == nil }
        let builtinList = (try? String(contentsOf: directory.appendingPathComponent("modules.builtin"), encoding: .utf8)) ?? ""
        builtin = Set(builtinList.split(separator: "\n").map { line in
            Self.canonical(String((line as NSString).lastPathComponent).replacingOccurrences(of: ".ko", with: ""))
        })
    }

    public func isBuiltin(_ name: String) -> Bool { builtin.contains(Self.canonical(name)) }
    public func hasModule(_ name: String) -> Bool { paths[Self.canonical(name)] != nil || compressedPaths[Self.canonical(name)] != nil }

    static let compressionSuffixes = [".xz", ".zst", ".gz"]

    /// The plain .ko of a compressed module, decompressed once with xz, zstd or gzip (kept beside it).
    func decompressed(_ relative: String) throws -> String {
        let source = directory.appendingPathComponent(relative)
        guard let suffix = Self.compressionSuffixes.first(where: { relative.hasSuffix($0) }) else { return relative }
        let plainRelative = String(relative.dropLast(suffix.count))
        let plain = directory.appendingPathComponent(plainRelative)
        if FileManager.default.fileExists(atPath: plain.path) { return plainRelative }
        let partial = plain.path + ".partial"
        switch suffix {
        case ".xz": try Subprocess.run(["sh", "-c", "xz -dc -- \"$1\" > \"$2\"", "sh", source.path, partial], hint: "apt-get install xz-utils")
        case ".zst": try Subprocess.run(["zstd", "-d", "-q", "-f", source.path, "-o", partial], hint: "apt-get install zstd")
        default: try Subprocess.run(["sh", "-c", "gzip -dc -- \"$1\" > \"$2\"", "sh", source.path, partial], hint: "apt-get install gzip")
        }
        guard rename(partial, plain.path) == 0 else { throw GuestImageError.io("cannot write \(plain.path)") }
        return plainRelative
    }

    public func module(named name: String) throws -> Module {
        let canonicalName = Self.canonical(name)
        let relative: String
        if let plain = paths[canonicalName] {
            relative = plain
        } else if let packed = compressedPaths[canonicalName] {
            relative = try decompressed(packed)
        } else {
            throw GuestImageError.moduleNotFound(name)
        }
        let url = directory.appendingPathComponent(relative)
        guard let data = FileManager.default.contents(atPath: url.path) else { throw GuestImageError.io("cannot read \(url.path)") }
        let info = try ELFFile(bytes: [UInt8](data), name: relative).modinfo()
        let depends = info.filter { $0.key == "depends" }
            .flatMap { $0.value.split(separator: ",").map { Self.canonical(String($0)) } }
        return Module(name: canonicalName, relativePath: relative, depends: depends)
    }

    /// The modules to load for `wanted`, dependencies first. Names the kernel has built in are left out;
    /// names it has neither built in nor as modules are returned in `unavailable`.
    public func closure(of wanted: [String]) throws -> (modules: [Module], unavailable: [String]) {
        var ordered: [Module] = []
        var done: Set<String> = []
        var unavailable: [String] = []
        func visit(_ name: String, path: [String]) throws {
            let key = Self.canonical(name)
            guard !done.contains(key), !isBuiltin(key) else { return }
            guard !path.contains(key) else {
                throw GuestImageError.invalidELF("module dependency cycle: \((path + [key]).joined(separator: " -> "))")
            }
            let module = try self.module(named: key)
            for dependency in module.depends { try visit(dependency, path: path + [key]) }
            done.insert(key)
            ordered.append(module)
        }
        for name in wanted {
            if hasModule(name) {
                try visit(name, path: [])
            } else if !isBuiltin(name) {
                unavailable.append(name)
            }
        }
        return (ordered, unavailable)
    }
}
