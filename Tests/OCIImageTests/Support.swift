import Foundation
import Testing
@testable import OCIImage

/// Writes tar bytes by hand (POSIX ustar headers with octal fields), so tests control every field.
struct TarBuilder {
    private(set) var bytes: [UInt8] = []

    static func octal(_ value: Int64, width: Int) -> [UInt8] {
        var digits = Array(String(value, radix: 8).utf8)
        while digits.count < width - 1 { digits.insert(UInt8(ascii: "0"), at: 0) }
        return digits + [0]
    }

    /// One 512-byte header. `rawSize` replaces the size field verbatim (for hostile sizes).
    static func header(name: String, type: Character, size: Int64 = 0, link: String = "", mode: Int64 = 0o644,
                       uid: Int64 = 0, gid: Int64 = 0, mtime: Int64 = 1_700_000_000, major: Int64 = 0, minor: Int64 = 0,
                       prefix: String = "", rawSize: [UInt8]? = nil, corruptChecksum: Bool = false) -> [UInt8] {
        var block = [UInt8](repeating: 0, count: 512)
        func put(_ field: [UInt8], at offset: Int, width: Int) {
            for (index, byte) in field.prefix(width).enumerated() { block[offset + index] = byte }
        }
        put(Array(name.utf8), at: 0, width: 100)
        put(octal(mode, width: 8), at: 100, width: 8)
        put(octal(uid, width: 8), at: 108, width: 8)
        put(octal(gid, width: 8), at: 116, width: 8)
        put(rawSize ?? octal(size, width: 12), at: 124, width: 12)
        put(octal(mtime, width: 12), at: 136, width: 12)
        block[156] = type.asciiValue ?? 0x30
        put(Array(link.utf8), at: 157, width: 100)
        put(Array("ustar\0".utf8), at: 257, width: 6)
        put(Array("00".utf8), at: 263, width: 2)
        put(octal(major, width: 8), at: 329, width: 8)
        put(octal(minor, width: 8), at: 337, width: 8)
        put(Array(prefix.utf8), at: 345, width: 155)
        put(Array("        ".utf8), at: 148, width: 8)
        var sum = block.reduce(0) { $0 + Int64($1) }
        if corruptChecksum { sum += 1 }
        put(octal(sum, width: 7) + [0x20], at: 148, width: 8)
        return block
    }

    mutating func append(_ header: [UInt8], data: [UInt8] = []) {
        bytes += header + data
        bytes += [UInt8](repeating: 0, count: (512 - data.count % 512) % 512)
    }

    mutating func file(_ name: String, _ text: String, mode: Int64 = 0o644, uid: Int64 = 0, gid: Int64 = 0, mtime: Int64 = 1_700_000_000) {
        file(name, Array(text.utf8), mode: mode, uid: uid, gid: gid, mtime: mtime)
    }

    mutating func file(_ name: String, _ data: [UInt8], mode: Int64 = 0o644, uid: Int64 = 0, gid: Int64 = 0, mtime: Int64 = 1_700_000_000) {
        append(Self.header(name: name, type: "0", size: Int64(data.count), mode: mode, uid: uid, gid: gid, mtime: mtime), data: data)
    }

    mutating func directory(_ name: String, mode: Int64 = 0o755, uid: Int64 = 0, gid: Int64 = 0) {
        append(Self.header(name: name, type: "5", mode: mode, uid: uid, gid: gid))
    }

    mutating func symlink(_ name: String, to target: String) {
        append(Self.header(name: name, type: "2", link: target, mode: 0o777))
    }

    mutating func hardlink(_ name: String, to target: String) {
        append(Self.header(name: name, type: "1", link: target))
    }

    mutating func device(_ name: String, character: Bool, major: Int64, minor: Int64, mode: Int64 = 0o666) {
        append(Self.header(name: name, type: character ? "3" : "4", mode: mode, major: major, minor: minor))
    }

    mutating func fifo(_ name: String) {
        append(Self.header(name: name, type: "6"))
    }

    /// A PAX extended header ('x', or 'g' when global) with the given records.
    mutating func pax(_ records: [(String, String)], global: Bool = false) {
        var data: [UInt8] = []
        for (key, value) in records {
            let body = " \(key)=\(value)\n"
            var length = body.utf8.count + 1
            while String(length).count + body.utf8.count != length { length += 1 }
            data += Array("\(length)\(body)".utf8)
        }
        append(Self.header(name: "PaxHeader", type: global ? "g" : "x", size: Int64(data.count)), data: data)
    }

    /// A GNU long name ('L') or long link ('K') record.
    mutating func gnuLong(_ text: String, link: Bool = false) {
        let data = Array(text.utf8) + [0]
        append(Self.header(name: "././@LongLink", type: link ? "K" : "L", size: Int64(data.count)), data: data)
    }

    /// The archive with its two zero end blocks.
    var finished: [UInt8] { bytes + [UInt8](repeating: 0, count: 1024) }
}

/// Runs a command with `input` on standard input and returns its standard output.
func run(_ executable: String, _ arguments: [String], input: [UInt8] = []) throws -> [UInt8] {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let inputPath = directory + "/in", outputPath = directory + "/out"
    _ = FileManager.default.createFile(atPath: inputPath, contents: Data(input))
    _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [executable] + arguments
    process.standardInput = FileHandle(forReadingAtPath: inputPath)
    process.standardOutput = FileHandle(forWritingAtPath: outputPath)
    try process.run()
    process.waitUntilExit()
    #expect(process.terminationStatus == 0, "\(executable) \(arguments) failed")
    return Array(try Data(contentsOf: URL(fileURLWithPath: outputPath)))
}

func gzip(_ bytes: [UInt8]) throws -> [UInt8] { try run("gzip", ["-c", "-n"], input: bytes) }
func zstd(_ bytes: [UInt8]) throws -> [UInt8] { try run("zstd", ["-c", "-q"], input: bytes) }

func sha256Hex(_ bytes: [UInt8]) throws -> String {
    String(decoding: try run("sha256sum", [], input: bytes).prefix(64), as: UTF8.self)
}

func temporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "cvm-oci-test-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func fixture(_ name: String) throws -> String {
    guard let url = Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil) else {
        throw ImageError.notFound(name)
    }
    return url.path
}

/// Builds OCI layouts, OCI archives and Docker archives from layer blobs, computing digests with
/// sha256sum (an independent implementation) so the code under test is not its own oracle.
struct ImageBuilder {
    var blobs: [String: [UInt8]] = [:]

    mutating func add(_ bytes: [UInt8]) throws -> [String: Any] {
        let hex = try sha256Hex(bytes)
        blobs[hex] = bytes
        return ["digest": "sha256:" + hex, "size": bytes.count]
    }

    static func json(_ object: Any) throws -> [UInt8] {
        Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
    }

    /// A config with the given layers' diff_ids (hashes of the uncompressed tars).
    static func config(uncompressedLayers: [[UInt8]], architecture: String = "amd64", env: [String] = ["A=1"]) throws -> [String: Any] {
        [
            "architecture": architecture, "os": "linux",
            "config": ["Env": env, "Entrypoint": ["/bin/app"], "WorkingDir": "/srv", "User": "1000:1000"],
            "rootfs": ["type": "layers", "diff_ids": try uncompressedLayers.map { "sha256:" + (try sha256Hex($0)) }],
        ]
    }

    /// Adds config + layers + manifest; returns the manifest descriptor.
    mutating func manifest(layers: [[UInt8]], uncompressed: [[UInt8]], architecture: String = "amd64",
                           layerMediaType: String = "application/vnd.oci.image.layer.v1.tar+gzip") throws -> [String: Any] {
        let config = try add(Self.json(try Self.config(uncompressedLayers: uncompressed, architecture: architecture)))
        var layerDescriptors: [[String: Any]] = []
        for layer in layers {
            var descriptor = try add(layer)
            descriptor["mediaType"] = layerMediaType
            layerDescriptors.append(descriptor)
        }
        var configDescriptor = config
        configDescriptor["mediaType"] = "application/vnd.oci.image.config.v1+json"
        let manifest: [String: Any] = ["schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                                       "config": configDescriptor, "layers": layerDescriptors]
        var descriptor = try add(Self.json(manifest))
        descriptor["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
        return descriptor
    }

    /// The layout's files: oci-layout, index.json and every blob.
    func files(index: [[String: Any]], extra: [String: [UInt8]] = [:]) throws -> [(String, [UInt8])] {
        var files: [(String, [UInt8])] = [("oci-layout", Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8)),
                                          ("index.json", try Self.json(["schemaVersion": 2, "manifests": index]))]
        for (hex, bytes) in blobs.sorted(by: { $0.key < $1.key }) { files.append(("blobs/sha256/" + hex, bytes)) }
        for (name, bytes) in extra.sorted(by: { $0.key < $1.key }) { files.append((name, bytes)) }
        return files
    }

    static func tar(_ files: [(String, [UInt8])]) -> [UInt8] {
        var tar = TarBuilder()
        for (name, bytes) in files { tar.file(name, bytes) }
        return tar.finished
    }

    static func write(_ files: [(String, [UInt8])], to directory: String) throws {
        for (name, bytes) in files {
            let path = directory + "/" + name
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        }
    }
}

/// Writes bytes to a fresh temporary file and returns its path.
func writeTemporary(_ bytes: [UInt8], name: String = "image.tar") throws -> String {
    let path = try temporaryDirectory() + "/" + name
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
    return path
}

/// Flattens the given layer tars (written to temporary files).
func flatten(_ layers: [[UInt8]], limits: FlattenLimits = FlattenLimits()) throws -> RootFileSystem {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    var paths: [String] = []
    for (index, layer) in layers.enumerated() {
        let path = directory + "/layer\(index)"
        _ = FileManager.default.createFile(atPath: path, contents: Data(layer))
        paths.append(path)
    }
    return try RootFileSystem.flatten(layerFiles: paths, limits: limits)
}

extension RootFileSystem {
    func text(_ path: String) throws -> String? {
        guard let entry = entry(at: path), let bytes = try contents(of: entry) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    var paths: [String] { entries.map(\.path) }
}
