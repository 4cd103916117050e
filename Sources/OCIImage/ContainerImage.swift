import Foundation

/// How the image was stored, as detected from the content.
public enum ImageFormat: String, Sendable, Codable {
    /// `docker save` / `podman save --format docker-archive`: manifest.json naming config and layer files.
    case dockerArchive = "docker-archive"
    /// Docker 25 and later: a docker archive that is also an OCI layout (index.json, oci-layout, blobs/).
    case dockerArchiveOCI = "docker-archive+oci"
    /// A tar of an OCI image layout.
    case ociArchive = "oci-archive"
    /// An OCI image layout directory.
    case ociLayout = "oci"
}

/// One layer of an image and where its bytes are.
public struct ImageLayer: Sendable {
    /// Digest of the blob as stored (compressed); nil in legacy docker archives, which name layers
    /// by path only (they are then verified through `diffID`).
    public let digest: Digest?
    /// Digest of the uncompressed tar, from the config's rootfs.diff_ids.
    public let diffID: Digest?
    /// Stored size in bytes.
    public let size: Int64
    public let mediaType: String?
    let location: BlobLocation

    /// The compression recognised from the blob's first bytes.
    public func compression() throws -> LayerCompression {
        let head = try FileRangeSource(path: location.path, offset: location.offset, length: location.length).read(max: 8)
        return try LayerCompression.detect(head, what: "layer")
    }
}

/// An image read from a docker archive, OCI archive or OCI layout: its identity, config and layers,
/// with every manifest, index and config blob already checked against its descriptor. Layer blobs
/// are checked (digest, size, diff_id) while `flatten` streams them.
public struct ContainerImage: Sendable {
    public let format: ImageFormat
    /// Digest of the manifest; nil for a legacy docker archive, which has none.
    public let manifestDigest: Digest?
    /// Digest of the config blob: the image ID that docker and podman show.
    public let configDigest: Digest
    public let config: ImageConfiguration
    public let layers: [ImageLayer]
    /// The platform of the chosen manifest (from the index or the config).
    public let platform: Platform?
    /// Tags found for the chosen image (ref.name annotations or RepoTags).
    public let tags: [String]

    /// The image digest: the manifest digest when there is a manifest, else the config digest.
    public var digest: Digest { manifestDigest ?? configDigest }

    /// Indexes nest at most this deep (index -> index -> manifest is common; more is hostile).
    static let maxIndexDepth = 4

    /// Reads an image, detecting the format from the content (a directory or tar with index.json is
    /// an OCI layout, Docker 25 archives included; a tar with only manifest.json is a docker archive).
    /// - Parameters:
    ///   - source: the file or directory, with an optional reference choosing among several images.
    ///   - platform: the platform to take from a multi-platform index (default linux/amd64).
    public static func open(_ source: ImageSource, platform: Platform = .linuxAMD64) throws -> ContainerImage {
        let storage = try ImageStorage.open(path: source.path)
        if storage.contains("index.json") {
            return try openOCI(storage, reference: source.reference, platform: platform,
                               format: storage.isArchive ? (storage.contains("manifest.json") ? .dockerArchiveOCI : .ociArchive) : .ociLayout)
        }
        if storage.contains("manifest.json") {
            return try openDockerArchive(storage, reference: source.reference, platform: platform)
        }
        throw ImageError.unrecognisedFormat("\(source.path) has neither index.json nor manifest.json")
    }

    // MARK: OCI layouts

    private static func openOCI(_ storage: ImageStorage, reference: String?, platform: Platform, format: ImageFormat) throws -> ContainerImage {
        let indexBytes = try storage.read(try storage.locate("index.json"), limit: 4 << 20)
        let index = try decodeJSON(ImageIndex.self, from: indexBytes, file: "index.json")
        var candidates = index.manifests
        if let reference {
            candidates = candidates.filter { tagNames($0).contains { $0 == reference || $0.hasSuffix(":" + reference) } }
            guard !candidates.isEmpty else {
                throw ImageError.noMatchingTag(wanted: reference, available: index.manifests.flatMap(tagNames))
            }
        }
        var seen: [String] = []
        guard let (descriptor, manifest, chosenPlatform) = try select(candidates, storage: storage, platform: platform, depth: 0, seen: &seen) else {
            throw ImageError.noMatchingPlatform(wanted: platform.description, available: Array(Set(seen)).sorted())
        }
        let configBytes = try storage.verifiedBlob(manifest.config, what: "config \(manifest.config.digest.short)")
        let config = try decodeJSON(ImageConfiguration.self, from: configBytes, file: "config \(manifest.config.digest.short)")
        if chosenPlatform == nil { try checkPlatform(config, wanted: platform) }
        let diffIDs = try checkedDiffIDs(config, layerCount: manifest.layers.count)
        var layers: [ImageLayer] = []
        for (position, layer) in manifest.layers.enumerated() {
            let location = try storage.locate(storage.blobName(layer.digest))
            guard Int64(clamping: location.length) == layer.size else {
                throw ImageError.sizeMismatch(what: "layer \(position + 1) (\(layer.digest.short))", expected: layer.size, actual: Int64(clamping: location.length))
            }
            layers.append(ImageLayer(digest: layer.digest, diffID: diffIDs?[position], size: layer.size, mediaType: layer.mediaType, location: location))
        }
        return ContainerImage(format: format, manifestDigest: descriptor.digest, configDigest: manifest.config.digest, config: config,
                              layers: layers, platform: chosenPlatform ?? configPlatform(config), tags: tagNames(descriptor))
    }

    private static func tagNames(_ descriptor: Descriptor) -> [String] {
        ["org.opencontainers.image.ref.name", "io.containerd.image.name"].compactMap { descriptor.annotations?[$0] }
    }

    /// BuildKit stores provenance and SBOM attestations as manifests with an unknown/unknown platform
    /// and a `vnd.docker.reference.type: attestation-manifest` annotation; they hold no root file system.
    private static func isAttestation(_ descriptor: Descriptor) -> Bool {
        if descriptor.annotations?["vnd.docker.reference.type"] == "attestation-manifest" { return true }
        if let platform = descriptor.platform, platform.os == "unknown", platform.architecture == "unknown" { return true }
        return false
    }

    /// Chooses a manifest: first descriptors whose platform matches, then those without a platform
    /// (checked later against the config). Nested indexes are followed. The platform is nil when the
    /// descriptor did not give one.
    private static func select(_ descriptors: [Descriptor], storage: ImageStorage, platform: Platform, depth: Int,
                               seen: inout [String]) throws -> (Descriptor, ImageManifest, Platform?)? {
        guard depth <= maxIndexDepth else { throw ImageError.tooDeep("the image index") }
        let usable = descriptors.filter { !isAttestation($0) }
        seen += usable.compactMap { $0.platform?.description }
        let matching = usable.filter { $0.platform.map(platform.accepts) ?? false }
        let unspecified = usable.filter { $0.platform == nil }
        for descriptor in matching + unspecified {
            let what = "manifest \(descriptor.digest.short)"
            let bytes = try storage.verifiedBlob(descriptor, what: what, limit: 4 << 20)
            if try isIndexDocument(descriptor, bytes: bytes, file: what) {
                let nested = try decodeJSON(ImageIndex.self, from: bytes, file: "index \(descriptor.digest.short)")
                if let found = try select(nested.manifests, storage: storage, platform: platform, depth: depth + 1, seen: &seen) {
                    return found
                }
                continue
            }
            let manifest = try decodeJSON(ImageManifest.self, from: bytes, file: what)
            return (descriptor, manifest, descriptor.platform)
        }
        return nil
    }

    private static func isIndexDocument(_ descriptor: Descriptor, bytes: [UInt8], file: String) throws -> Bool {
        if MediaType.isIndex(descriptor.mediaType) { return true }
        if MediaType.isManifest(descriptor.mediaType) { return false }
        struct Probe: Decodable {
            var mediaType: String?
            var manifests: [Descriptor]?
        }
        let probe = try decodeJSON(Probe.self, from: bytes, file: file)
        if let type = descriptor.mediaType ?? probe.mediaType, !MediaType.isIndex(type), !MediaType.isManifest(type) {
            throw ImageError.unsupportedMediaType(type)
        }
        return MediaType.isIndex(probe.mediaType) || probe.manifests != nil
    }

    private static func configPlatform(_ config: ImageConfiguration) -> Platform? {
        guard let os = config.os, let architecture = config.architecture else { return nil }
        return Platform(os: os, architecture: architecture, variant: config.variant)
    }

    private static func checkPlatform(_ config: ImageConfiguration, wanted: Platform) throws {
        guard let found = configPlatform(config), !wanted.accepts(found) else { return }
        throw ImageError.noMatchingPlatform(wanted: wanted.description, available: [found.description])
    }

    private static func checkedDiffIDs(_ config: ImageConfiguration, layerCount: Int) throws -> [Digest]? {
        guard let diffIDs = config.rootfs?.diffIDs else { return nil }
        guard diffIDs.count == layerCount else { throw ImageError.layerCountMismatch(layers: layerCount, diffIDs: diffIDs.count) }
        return diffIDs
    }

    // MARK: Legacy docker archives

    private static func openDockerArchive(_ storage: ImageStorage, reference: String?, platform: Platform) throws -> ContainerImage {
        let bytes = try storage.read(try storage.locate("manifest.json"), limit: 4 << 20)
        let entries = try decodeJSON([DockerArchiveManifestEntry].self, from: bytes, file: "manifest.json")
        let chosen: DockerArchiveManifestEntry
        if let reference {
            guard let match = entries.first(where: { ($0.repoTags ?? []).contains { $0 == reference || $0.hasSuffix(":" + reference) } }) else {
                throw ImageError.noMatchingTag(wanted: reference, available: entries.flatMap { $0.repoTags ?? [] })
            }
            chosen = match
        } else {
            guard let only = entries.first else { throw ImageError.badJSON(file: "manifest.json", reason: "lists no image") }
            guard entries.count == 1 else {
                throw ImageError.ambiguous("the archive holds \(entries.count) images; name one with :TAG (\(entries.flatMap { $0.repoTags ?? [] }.joined(separator: ", ")))")
            }
            chosen = only
        }
        // The config file is named after its digest (<hex>.json, or blobs/sha256/<hex> in Docker 25).
        let configLocation = try storage.locate(chosen.config)
        let configBytes = try storage.read(configLocation)
        let configDigest = Digest.of(configBytes)
        if let named = digestInName(chosen.config), named != configDigest {
            throw ImageError.digestMismatch(what: "config \(chosen.config)", expected: named.description, actual: configDigest.description)
        }
        let config = try decodeJSON(ImageConfiguration.self, from: configBytes, file: "config \(configDigest.short)")
        try checkPlatform(config, wanted: platform)
        let diffIDs = try checkedDiffIDs(config, layerCount: chosen.layers.count)
        var layers: [ImageLayer] = []
        for (position, name) in chosen.layers.enumerated() {
            let location = try storage.locate(name)
            // Only a blobs/sha256/<hex> name is a content digest; <hex>.tar and <id>/layer.tar are not
            // reliably the stored bytes' digest, so those layers are verified by their diff_id.
            let digest = name.hasPrefix("blobs/sha256/") ? digestInName(name) : nil
            layers.append(ImageLayer(digest: digest, diffID: diffIDs?[position], size: Int64(clamping: location.length), mediaType: nil, location: location))
        }
        return ContainerImage(format: .dockerArchive, manifestDigest: nil, configDigest: configDigest, config: config,
                              layers: layers, platform: configPlatform(config), tags: chosen.repoTags ?? [])
    }

    private static func digestInName(_ name: String) -> Digest? {
        var last = Substring(name.split(separator: "/").last ?? "")
        if last.hasSuffix(".json") { last = last.dropLast(5) }
        return try? Digest(hex: String(last))
    }
}

extension ImageStorage {
    var isArchive: Bool { if case .archive = self { return true } else { return false } }
}
