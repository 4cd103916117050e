import Foundation

/// Errors from reading a tar stream. Every case describes itself in one line.
public enum TarError: Error, Equatable, CustomStringConvertible, Sendable {
    case truncated(offset: Int64, context: String)
    case badChecksum(offset: Int64, stored: Int64, computed: Int64)
    case badNumber(field: String, offset: Int64)
    case negative(field: String, offset: Int64)
    case tooLarge(field: String, value: Int64, limit: Int64, offset: Int64)
    case badPAX(offset: Int64, reason: String)
    case notUTF8(field: String, offset: Int64)
    case unsupportedType(flag: UInt8, name: String, offset: Int64)

    public var description: String {
        switch self {
        case let .truncated(offset, context):
            return "tar stream truncated at byte \(offset) (\(context))"
        case let .badChecksum(offset, stored, computed):
            return "tar header at byte \(offset) has checksum \(stored), computed \(computed): not a tar header or corrupted"
        case let .badNumber(field, offset):
            return "tar header at byte \(offset): field \(field) is not a number"
        case let .negative(field, offset):
            return "tar header at byte \(offset): field \(field) is negative"
        case let .tooLarge(field, value, limit, offset):
            return "tar header at byte \(offset): \(field) \(value) exceeds the limit \(limit)"
        case let .badPAX(offset, reason):
            return "tar PAX header at byte \(offset): \(reason)"
        case let .notUTF8(field, offset):
            return "tar header at byte \(offset): \(field) is not valid UTF-8"
        case let .unsupportedType(flag, name, offset):
            let shown = flag >= 0x20 && flag < 0x7F ? "'\(Character(Unicode.Scalar(flag)))'" : "0x\(String(flag, radix: 16))"
            return "tar entry '\(name)' at byte \(offset) has unsupported type \(shown)"
        }
    }
}

/// Errors from locating, verifying and decoding an image (archive, layout, manifests, config, blobs).
public enum ImageError: Error, Equatable, CustomStringConvertible, Sendable {
    case badSource(String)
    case notFound(String)
    case unrecognisedFormat(String)
    case missingFile(String)
    case badJSON(file: String, reason: String)
    case tooLarge(what: String, size: Int64, limit: Int64)
    case badDigest(String)
    case unsupportedDigestAlgorithm(String)
    case digestMismatch(what: String, expected: String, actual: String)
    case sizeMismatch(what: String, expected: Int64, actual: Int64)
    case noMatchingPlatform(wanted: String, available: [String])
    case noMatchingTag(wanted: String, available: [String])
    case ambiguous(String)
    case unsupportedMediaType(String)
    case unsupportedCompression(what: String, kind: String)
    case toolMissing(tool: String, hint: String)
    case decompressionFailed(tool: String, status: Int32, message: String)
    case layerCountMismatch(layers: Int, diffIDs: Int)
    case tooDeep(String)
    case io(String)

    public var description: String {
        switch self {
        case .badSource(let text): return "bad image source: \(text)"
        case .notFound(let path): return "no such file or directory: \(path)"
        case .unrecognisedFormat(let reason): return "not a Docker or OCI image: \(reason)"
        case .missingFile(let name): return "image is missing \(name)"
        case let .badJSON(file, reason): return "\(file) is not valid: \(reason)"
        case let .tooLarge(what, size, limit): return "\(what) is \(size) bytes, over the limit of \(limit)"
        case .badDigest(let text): return "malformed digest '\(text.prefix(100))'"
        case .unsupportedDigestAlgorithm(let text): return "unsupported digest algorithm in '\(text.prefix(100))' (only sha256)"
        case let .digestMismatch(what, expected, actual): return "\(what): digest mismatch, descriptor says \(expected), content is \(actual)"
        case let .sizeMismatch(what, expected, actual): return "\(what): size mismatch, descriptor says \(expected) bytes, content is \(actual)"
        case let .noMatchingPlatform(wanted, available):
            return "no image for platform \(wanted) in the index (available: \(available.isEmpty ? "none" : available.joined(separator: ", ")))"
        case let .noMatchingTag(wanted, available):
            return "no image tagged '\(wanted)' (available: \(available.isEmpty ? "none" : available.joined(separator: ", ")))"
        case .ambiguous(let text): return text
        case .unsupportedMediaType(let type): return "unsupported media type \(type)"
        case let .unsupportedCompression(what, kind): return "\(what) is \(kind)-compressed; only plain tar, gzip and zstd layers are supported"
        case let .toolMissing(tool, hint): return "\(tool) is needed but not found on PATH (\(hint))"
        case let .decompressionFailed(tool, status, message): return "\(tool) failed with status \(status): \(message)"
        case let .layerCountMismatch(layers, diffIDs): return "image has \(layers) layers but its config lists \(diffIDs) diff_ids"
        case .tooDeep(let what): return "\(what) nests too deeply"
        case .io(let text): return text
        }
    }
}

/// Errors from applying layers: hostile or inconsistent entries and exceeded limits.
/// Every case names the layer (1-based) and the entry.
public enum FlattenError: Error, Equatable, CustomStringConvertible, Sendable {
    case hostilePath(layer: Int, path: String, reason: String)
    case notADirectory(layer: Int, path: String, component: String)
    case symlinkLoop(layer: Int, path: String)
    case hardlinkTargetMissing(layer: Int, path: String, target: String)
    case hardlinkToDirectory(layer: Int, path: String, target: String)
    case limitExceeded(layer: Int, what: String, limit: Int64)
    case contentLimitExceeded(layer: Int, path: String, size: Int64, stored: Int64, limit: Int64)
    case noSpace(layer: Int, path: String, size: Int64, directory: String, available: Int64)
    case layer(index: Int, digest: String, underlying: String)

    public var description: String {
        switch self {
        case let .hostilePath(layer, path, reason): return "layer \(layer): entry '\(path.prefix(200))' rejected: \(reason)"
        case let .notADirectory(layer, path, component): return "layer \(layer): entry '\(path.prefix(200))': '\(component.prefix(200))' is not a directory"
        case let .symlinkLoop(layer, path): return "layer \(layer): entry '\(path.prefix(200))': too many levels of symbolic links"
        case let .hardlinkTargetMissing(layer, path, target): return "layer \(layer): hard link '\(path.prefix(200))' points to '\(target.prefix(200))', which does not exist in the image"
        case let .hardlinkToDirectory(layer, path, target): return "layer \(layer): hard link '\(path.prefix(200))' points to directory '\(target.prefix(200))'"
        case let .limitExceeded(layer, what, limit): return "layer \(layer): \(what) exceeds the limit of \(limit)"
        case let .contentLimitExceeded(layer, path, size, stored, limit):
            return "layer \(layer): '\(path.prefix(200))' (\(size) bytes) would take the image's file content past the limit of \(ByteCount(limit)) (\(stored) bytes stored so far; raise it with --max-image-content)"
        case let .noSpace(layer, path, size, directory, available):
            return "layer \(layer): '\(path.prefix(200))' needs \(ByteCount(size)) in \(directory), which has \(ByteCount(available)) free"
        case let .layer(index, digest, underlying): return "layer \(index) (\(digest)): \(underlying)"
        }
    }
}

/// A byte count for messages: exact bytes, with the binary unit a person reads at a glance.
struct ByteCount: CustomStringConvertible {
    let bytes: Int64
    init(_ bytes: Int64) { self.bytes = bytes }

    var description: String {
        let units: [(Int64, String)] = [(1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")]
        guard let (size, unit) = units.first(where: { bytes >= $0.0 }) else { return "\(bytes) bytes" }
        let value = Double(bytes) / Double(size)
        return "\(bytes) bytes (\(value < 10 ? String(format: "%.1f", value) : String(Int(value.rounded()))) \(unit))"
    }
}
