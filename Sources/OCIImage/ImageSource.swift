import Foundation

/// Where an image comes from, in the syntax skopeo and podman use:
/// `docker-archive:FILE[:REF]`, `oci-archive:FILE[:REF]`, `oci:DIR[:REF]`, or a bare path.
/// The transport is only a hint: the format is always detected from the content.
public struct ImageSource: Sendable, Equatable, CustomStringConvertible {
    public enum Transport: String, Sendable {
        case dockerArchive = "docker-archive", ociArchive = "oci-archive", ociLayout = "oci"
    }

    public var transport: Transport?
    public var path: String
    /// A tag or reference naming one image when the archive or layout holds several.
    public var reference: String?

    public init(transport: Transport? = nil, path: String, reference: String? = nil) {
        self.transport = transport
        self.path = path
        self.reference = reference
    }

    /// Parses the source syntax. The reference is whatever follows the first `:` at which the text
    /// before it is an existing path (so both paths with colons and references like `repo/name:tag`
    /// work); when no prefix exists, a last `:SUFFIX` without `/` is taken as the reference.
    public init(parsing text: String) throws {
        var rest = Substring(text)
        var transport: Transport?
        for candidate in [Transport.dockerArchive, .ociArchive, .ociLayout] where rest.hasPrefix(candidate.rawValue + ":") {
            transport = candidate
            rest = rest.dropFirst(candidate.rawValue.count + 1)
            break
        }
        guard !rest.isEmpty else { throw ImageError.badSource("'\(text)' names no file") }
        guard transport != nil, !FileManager.default.fileExists(atPath: String(rest)) else {
            self.init(transport: transport, path: String(rest))
            return
        }
        for colon in rest.indices where rest[colon] == ":" && colon > rest.startIndex {
            let prefix = String(rest[..<colon])
            if FileManager.default.fileExists(atPath: prefix) {
                self.init(transport: transport, path: prefix, reference: String(rest[rest.index(after: colon)...]))
                return
            }
        }
        if let colon = rest.lastIndex(of: ":"), colon > rest.startIndex {
            let suffix = rest[rest.index(after: colon)...]
            if !suffix.isEmpty, !suffix.contains("/") {
                self.init(transport: transport, path: String(rest[..<colon]), reference: String(suffix))
                return
            }
        }
        self.init(transport: transport, path: String(rest))
    }

    public var description: String {
        (transport.map { $0.rawValue + ":" } ?? "") + path + (reference.map { ":" + $0 } ?? "")
    }
}
