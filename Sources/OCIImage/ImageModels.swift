/// An OS/architecture pair as in OCI image indexes and configs (`linux/amd64`, `linux/arm64/v8`).
public struct Platform: Sendable, Hashable, Codable, CustomStringConvertible {
    public var os: String
    public var architecture: String
    public var variant: String?

    public init(os: String, architecture: String, variant: String? = nil) {
        self.os = os
        self.architecture = architecture
        self.variant = variant
    }

    /// Parses `os/arch[/variant]`.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (2...3).contains(parts.count), parts.allSatisfy({ !$0.isEmpty }) else {
            throw ImageError.badSource("platform '\(text.prefix(60))' is not os/arch[/variant]")
        }
        self.init(os: parts[0], architecture: parts[1], variant: parts.count == 3 ? parts[2] : nil)
    }

    /// The default: the guests CVMKit builds are x86_64 Linux.
    public static let linuxAMD64 = Platform(os: "linux", architecture: "amd64")

    public var description: String { [os, architecture, variant].compactMap { $0 }.joined(separator: "/") }

    /// True when `other` is this platform; a variant is compared only when this one names it.
    func accepts(_ other: Platform) -> Bool {
        guard os == other.os, architecture == other.architecture else { return false }
        guard let variant else { return true }
        return other.variant == variant
    }

    enum CodingKeys: String, CodingKey {
        case os, architecture, variant
    }
}

/// An OCI content descriptor (image-spec descriptor.md).
public struct Descriptor: Sendable, Hashable, Codable {
    public var mediaType: String?
    public var digest: Digest
    public var size: Int64
    public var platform: Platform?
    public var annotations: [String: String]?
}

/// image-spec image-index.md (also Docker's manifest list, which has the same shape).
struct ImageIndex: Decodable {
    var mediaType: String?
    var manifests: [Descriptor]
}

/// image-spec manifest.md (also Docker's schema 2 manifest).
struct ImageManifest: Decodable {
    var mediaType: String?
    var config: Descriptor
    var layers: [Descriptor]
}

/// One entry of a `docker save` manifest.json.
struct DockerArchiveManifestEntry: Decodable {
    var config: String
    var repoTags: [String]?
    var layers: [String]

    enum CodingKeys: String, CodingKey {
        case config = "Config", repoTags = "RepoTags", layers = "Layers"
    }
}

/// The parts of an image configuration (image-spec config.md) that a guest needs.
public struct ImageConfiguration: Sendable, Equatable, Codable {
    /// The `config` object: how the container is run.
    public struct Execution: Sendable, Equatable, Codable {
        public var user: String?
        public var env: [String]?
        public var entrypoint: [String]?
        public var cmd: [String]?
        public var workingDir: String?
        public var stopSignal: String?
        public var labels: [String: String]?

        public init(user: String? = nil, env: [String]? = nil, entrypoint: [String]? = nil, cmd: [String]? = nil,
                    workingDir: String? = nil, stopSignal: String? = nil, labels: [String: String]? = nil) {
            self.user = user
            self.env = env
            self.entrypoint = entrypoint
            self.cmd = cmd
            self.workingDir = workingDir
            self.stopSignal = stopSignal
            self.labels = labels
        }

        enum CodingKeys: String, CodingKey {
            case user = "User", env = "Env", entrypoint = "Entrypoint", cmd = "Cmd", workingDir = "WorkingDir"
            case stopSignal = "StopSignal", labels = "Labels"
        }
    }

    public struct RootFS: Sendable, Equatable, Codable {
        public var type: String?
        public var diffIDs: [Digest]?

        enum CodingKeys: String, CodingKey {
            case type, diffIDs = "diff_ids"
        }
    }

    public var architecture: String?
    public var os: String?
    public var variant: String?
    public var config: Execution?
    public var rootfs: RootFS?

    /// The execution settings with absent ones empty.
    public var execution: Execution { config ?? Execution() }
}

enum MediaType {
    static let ociIndex = "application/vnd.oci.image.index.v1+json"
    static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"

    static func isIndex(_ type: String?) -> Bool { type == ociIndex || type == dockerManifestList }
    static func isManifest(_ type: String?) -> Bool { type == ociManifest || type == dockerManifest }
}
