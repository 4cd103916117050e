import Crypto
import Foundation
import SEVABI

/// A bootable guest as a directory: `kernel`, `initrd`, `cmdline` (the exact kernel command line, no
/// trailing newline) and `manifest.json` (what each part's digests are and how the bundle was made).
/// Loading verifies every part against the manifest, so a tampered part is refused.
public struct GuestBundle: Sendable {
    public static let kernelFile = "kernel"
    public static let initrdFile = "initrd"
    public static let cmdlineFile = "cmdline"
    public static let manifestFile = "manifest.json"

    public let directory: URL
    public let manifest: BundleManifest

    public var kernelURL: URL { directory.appendingPathComponent(Self.kernelFile) }
    public var initrdURL: URL { directory.appendingPathComponent(Self.initrdFile) }
    /// Whether the bundle carries an initial ramdisk.
    public var hasInitrd: Bool { manifest.parts[Self.initrdFile] != nil }
    /// The bundle's EFI application, for booting through OVMF (unikernel bundles carry one).
    public var efiKernelURL: URL? {
        manifest.parts["kernel.efi"] == nil ? nil : directory.appendingPathComponent("kernel.efi")
    }
    /// The bundle's kernel as its own firmware, for -bios (unikernel bundles carry one).
    public var firmwareImageURL: URL? {
        manifest.parts["firmware.fd"] == nil ? nil : directory.appendingPathComponent("firmware.fd")
    }
    public var cmdlineURL: URL { directory.appendingPathComponent(Self.cmdlineFile) }
    public var manifestURL: URL { directory.appendingPathComponent(Self.manifestFile) }
    /// The kernel command line the bundle was built with (what `-append` gets unless extended).
    public var cmdline: String { manifest.cmdline }

    /// Reads `manifest.json` and, unless `verify` is false, checks every part's size and digests.
    public static func load(from directory: URL, verify: Bool = true) throws -> GuestBundle {
        let manifestURL = directory.appendingPathComponent(manifestFile)
        guard let data = FileManager.default.contents(atPath: manifestURL.path) else {
            throw GuestImageError.invalidBundle("\(directory.path) has no \(manifestFile)")
        }
        let manifest: BundleManifest
        do {
            manifest = try JSONDecoder().decode(BundleManifest.self, from: data)
        } catch {
            throw GuestImageError.invalidBundle("\(manifestURL.path) is not a bundle manifest (\(Self.describe(error)))")
        }
        guard manifest.format == BundleManifest.formatName else {
            throw GuestImageError.invalidBundle("\(manifestURL.path) has format '\(manifest.format)', expected '\(BundleManifest.formatName)'")
        }
        guard manifest.formatVersion <= BundleManifest.currentFormatVersion else {
            throw GuestImageError.invalidBundle("format version \(manifest.formatVersion) is newer than this cvm understands (\(BundleManifest.currentFormatVersion))")
        }
        // A unikernel bundle is a kernel and its command line; an initrd is optional.
        for name in [kernelFile, cmdlineFile] where manifest.parts[name] == nil {
            throw GuestImageError.invalidBundle("the manifest lists no '\(name)' part")
        }
        let bundle = GuestBundle(directory: directory, manifest: manifest)
        if verify { try bundle.verify() }
        return bundle
    }

    /// Checks each part listed in the manifest: present, same size, same SHA-256 and SHA-384; and that
    /// the cmdline file says what the manifest says.
    public func verify() throws {
        for name in manifest.parts.keys.sorted() {
            guard let expected = manifest.parts[name] else { continue }
            guard !expected.file.isEmpty, !expected.file.contains("/"), expected.file != ".." else {
                throw GuestImageError.invalidBundle("part '\(name)' names a file outside the bundle: \(expected.file)")
            }
            let url = directory.appendingPathComponent(expected.file)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw GuestImageError.invalidBundle("part '\(name)' is missing: \(url.path)")
            }
            let found = try PartDigest.of(fileAt: url, file: expected.file)
            if found.size != expected.size {
                throw GuestImageError.digestMismatch(part: name, algorithm: "size", expected: String(expected.size), found: String(found.size))
            }
            if found.sha256 != expected.sha256 {
                throw GuestImageError.digestMismatch(part: name, algorithm: "SHA-256", expected: expected.sha256, found: found.sha256)
            }
            if found.sha384 != expected.sha384 {
                throw GuestImageError.digestMismatch(part: name, algorithm: "SHA-384", expected: expected.sha384, found: found.sha384)
            }
        }
        let onDisk = String(decoding: try Data(contentsOf: cmdlineURL), as: UTF8.self)
        guard onDisk == manifest.cmdline else {
            throw GuestImageError.invalidBundle("cmdline file and manifest disagree")
        }
    }

    /// Writes a bundle into `directory` (created; an existing bundle there is replaced): copies the
    /// kernel and initrd, writes the cmdline, computes digests and writes the manifest. The directory is
    /// assembled beside the target and renamed into place, so a reader never sees half a bundle.
    public static func write(to directory: URL, kernel: URL, initrd: URL, cmdline: String,
                             manifest template: BundleManifest) throws -> GuestBundle {
        let fileManager = FileManager.default
        let parent = directory.deletingLastPathComponent()
        try fileManager.createDirectory(at: parent, withIntermediateDirectories: true)
        try checkReplaceable(directory)
        let staging = parent.appendingPathComponent(".\(directory.lastPathComponent).partial-\(getpid())")
        try? fileManager.removeItem(at: staging)
        try fileManager.createDirectory(at: staging, withIntermediateDirectories: true)
        do {
            try fileManager.copyItem(at: kernel, to: staging.appendingPathComponent(kernelFile))
            try fileManager.copyItem(at: initrd, to: staging.appendingPathComponent(initrdFile))
            try Data(cmdline.utf8).write(to: staging.appendingPathComponent(cmdlineFile))
            var manifest = template
            manifest.cmdline = cmdline
            manifest.parts = [:]
            for name in [kernelFile, initrdFile, cmdlineFile] {
                manifest.parts[name] = try PartDigest.of(fileAt: staging.appendingPathComponent(name), file: name)
            }
            try manifest.encoded().write(to: staging.appendingPathComponent(manifestFile))
            if fileManager.fileExists(atPath: directory.path) { try fileManager.removeItem(at: directory) }
            try fileManager.moveItem(at: staging, to: directory)
        } catch {
            try? fileManager.removeItem(at: staging)
            throw error
        }
        return try load(from: directory)
    }

    /// Throws unless `directory` is absent, empty or holds a bundle: a builder never replaces anything else.
    public static func checkReplaceable(_ directory: URL) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory) else { return }
        let contents = isDirectory.boolValue ? ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []) : ["(a file)"]
        guard contents.isEmpty || contents.contains(manifestFile) else {
            throw GuestImageError.io("\(directory.path) exists and is not a guest bundle; choose another --out")
        }
    }

    private static func describe(_ error: Error) -> String {
        if case DecodingError.keyNotFound(let key, _) = error { return "missing key '\(key.stringValue)'" }
        if case DecodingError.typeMismatch(_, let context) = error { return "wrong type at \(context.codingPath.map(\.stringValue).joined(separator: "."))" }
        if case DecodingError.dataCorrupted(let context) = error { return context.debugDescription }
        return String(describing: error)
    }
}

/// Size and digests of one bundle part.
public struct PartDigest: Codable, Sendable, Equatable {
    public var file: String
    public var size: Int
    public var sha256: String
    public var sha384: String

    public init(file: String, size: Int, sha256: String, sha384: String) {
        self.file = file
        self.size = size
        self.sha256 = sha256
        self.sha384 = sha384
    }

    /// SHA-256 of `text`'s UTF-8 bytes in hex (what the unikernel prints as cmdline_sha256).
    public static func sha256Hex(of text: String) -> String {
        Array(SHA256.hash(data: Array(text.utf8))).hexString
    }

    /// Streams the file once through both hashes.
    public static func of(fileAt url: URL, file: String) throws -> PartDigest {
        guard let handle = FileHandle(forReadingAtPath: url.path) else {
            throw GuestImageError.io("cannot read \(url.path)")
        }
        defer { try? handle.close() }
        var sha256 = SHA256()
        var sha384 = SHA384()
        var size = 0
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            sha256.update(data: chunk)
            sha384.update(data: chunk)
            size += chunk.count
        }
        return PartDigest(file: file, size: size, sha256: Array(sha256.finalize()).hexString,
                          sha384: Array(sha384.finalize()).hexString)
    }
}
