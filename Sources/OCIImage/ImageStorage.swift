import Foundation

/// A byte range of a file holding one blob: a whole file in a layout directory, or a member's data
/// inside an archive.
struct BlobLocation: Sendable {
    var path: String
    var offset: UInt64
    var length: UInt64
    var isWholeFile: Bool
    /// The name inside the image, for messages.
    var name: String
}

/// The files of an image, in a tar archive or a directory, addressed by relative name.
/// Archive members are indexed once (name, data offset, size); their data is read in place.
/// Symbolic and hard links between members (podman's `layer.tar -> ../<id>.tar`) are followed inside
/// the archive only; a link leaving it is an error.
enum ImageStorage {
    struct Member {
        var type: TarEntryType
        var offset: Int64
        var size: Int64
        var linkTarget: String
    }

    case archive(path: String, members: [String: Member])
    case directory(path: String)

    static let maxMembers = 200_000

    static func open(path: String) throws -> ImageStorage {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw ImageError.notFound(path) }
        if isDirectory.boolValue { return .directory(path: path) }
        let head = try FileRangeSource(path: path).read(max: 8)
        if let kind = try? LayerCompression.detect(head, what: path), kind != .none {
            throw ImageError.unrecognisedFormat("\(path) is a \(kind.rawValue)-compressed file; decompress it first (\(kind.tool) -d)")
        }
        let reader = TarReader(BufferedReader(try FileRangeSource(path: path)))
        var members: [String: Member] = [:]
        do {
            while let entry = try reader.next() {
                guard members.count < maxMembers else { throw ImageError.tooLarge(what: "\(path) member count", size: Int64(members.count), limit: Int64(maxMembers)) }
                guard let name = normalise(entry.path) else { continue }
                members[name] = Member(type: entry.type, offset: entry.dataOffset, size: entry.size, linkTarget: entry.linkTarget)
            }
        } catch let error as TarError {
            if members.isEmpty { throw ImageError.unrecognisedFormat("\(path) is neither a directory nor a tar archive (\(error))") }
            throw ImageError.io("\(path): \(error)")
        }
        return .archive(path: path, members: members)
    }

    /// Lexically normalised relative name; nil when it is the root or climbs out of it.
    static func normalise(_ name: String) -> String? {
        var parts: [Substring] = []
        for part in name.split(separator: "/") {
            if part == "." { continue }
            if part == ".." {
                guard !parts.isEmpty else { return nil }
                parts.removeLast()
                continue
            }
            parts.append(part)
        }
        return parts.isEmpty ? nil : parts.joined(separator: "/")
    }

    var description: String {
        switch self {
        case .archive(let path, _), .directory(let path): return path
        }
    }

    func contains(_ name: String) -> Bool { (try? locate(name)) != nil }

    /// Finds a file by name; throws `missingFile` when absent.
    func locate(_ name: String) throws -> BlobLocation {
        switch self {
        case let .directory(root):
            guard let relative = ImageStorage.normalise(name) else { throw ImageError.missingFile(name) }
            let full = root + "/" + relative
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: full),
                  attributes[.type] as? FileAttributeType == .typeRegular,
                  let size = (attributes[.size] as? NSNumber)?.uint64Value else {
                throw ImageError.missingFile(name)
            }
            return BlobLocation(path: full, offset: 0, length: size, isWholeFile: true, name: relative)
        case let .archive(path, members):
            guard var current = ImageStorage.normalise(name) else { throw ImageError.missingFile(name) }
            for _ in 0..<16 {
                guard let member = members[current] else { throw ImageError.missingFile(current) }
                switch member.type {
                case .regular:
                    return BlobLocation(path: path, offset: UInt64(member.offset), length: UInt64(member.size), isWholeFile: false, name: current)
                case .symbolicLink:
                    let base = current.split(separator: "/").dropLast().joined(separator: "/")
                    let joined = member.linkTarget.hasPrefix("/") ? member.linkTarget : (base.isEmpty ? "" : base + "/") + member.linkTarget
                    guard let next = ImageStorage.normalise(joined) else {
                        throw ImageError.unrecognisedFormat("archive member \(current) links outside the archive")
                    }
                    current = next
                case .hardLink:
                    guard let next = ImageStorage.normalise(member.linkTarget) else {
                        throw ImageError.unrecognisedFormat("archive member \(current) links outside the archive")
                    }
                    current = next
                default:
                    throw ImageError.missingFile(current)
                }
            }
            throw ImageError.tooDeep("archive member links from \(name)")
        }
    }

    /// A small file's bytes (JSON documents), refusing anything over `limit`.
    func read(_ location: BlobLocation, limit: Int64 = 16 << 20) throws -> [UInt8] {
        guard location.length <= UInt64(limit) else {
            throw ImageError.tooLarge(what: location.name, size: Int64(clamping: location.length), limit: limit)
        }
        let source = try FileRangeSource(path: location.path, offset: location.offset, length: location.length)
        let reader = BufferedReader(source)
        let (bytes, complete) = try reader.readExactly(Int(location.length))
        guard complete else { throw ImageError.io("\(location.name) is shorter than its header says") }
        return bytes
    }

    func blobName(_ digest: Digest) -> String { "blobs/sha256/\(digest.hex)" }

    /// A blob's bytes, checked against the descriptor's size and digest.
    func verifiedBlob(_ descriptor: Descriptor, what: String, limit: Int64 = 16 << 20) throws -> [UInt8] {
        let location = try locate(blobName(descriptor.digest))
        guard Int64(clamping: location.length) == descriptor.size else {
            throw ImageError.sizeMismatch(what: what, expected: descriptor.size, actual: Int64(clamping: location.length))
        }
        let bytes = try read(location, limit: limit)
        let actual = Digest.of(bytes)
        guard actual == descriptor.digest else {
            throw ImageError.digestMismatch(what: what, expected: descriptor.digest.description, actual: actual.description)
        }
        return bytes
    }
}

func decodeJSON<T: Decodable>(_ type: T.Type, from bytes: [UInt8], file: String) throws -> T {
    do {
        return try JSONDecoder().decode(T.self, from: Data(bytes))
    } catch let error as ImageError {
        throw error
    } catch let DecodingError.keyNotFound(key, context) {
        throw ImageError.badJSON(file: file, reason: "missing \(path(context.codingPath + [key]))")
    } catch let DecodingError.typeMismatch(_, context) {
        throw ImageError.badJSON(file: file, reason: "wrong type at \(path(context.codingPath))")
    } catch let DecodingError.valueNotFound(_, context) {
        throw ImageError.badJSON(file: file, reason: "null at \(path(context.codingPath))")
    } catch {
        throw ImageError.badJSON(file: file, reason: "not JSON")
    }
}

private func path(_ keys: [CodingKey]) -> String {
    keys.isEmpty ? "top level" : keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
}
