import Foundation
import Testing
@testable import OCIImage

/// Archives and layouts built here, byte by byte, for every format and failure the reader handles.
@Suite struct ImageReaderTests {
    static func baseLayer() -> [UInt8] {
        var tar = TarBuilder()
        tar.directory("bin/")
        tar.file("bin/app", "#!/bin/sh\necho app\n", mode: 0o755)
        tar.file("etc/removed", "r")
        return tar.finished
    }

    static func upperLayer() -> [UInt8] {
        var tar = TarBuilder()
        tar.file("etc/.wh.removed", "")
        tar.file("etc/added", "a")
        return tar.finished
    }

    func checkTree(_ root: RootFileSystem) throws {
        #expect(try root.text("bin/app") == "#!/bin/sh\necho app\n")
        #expect(try root.text("etc/added") == "a")
        #expect(root.entry(at: "etc/removed") == nil)
    }

    func expectError(_ source: String, platform: Platform = .linuxAMD64, contains text: String, flatten: Bool = false,
                     sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            let image = try ContainerImage.open(try ImageSource(parsing: source), platform: platform)
            if flatten { _ = try image.flatten() }
            Issue.record("no error", sourceLocation: sourceLocation)
        } catch {
            let message = String(describing: error)
            #expect(message.contains(text), "\(message)", sourceLocation: sourceLocation)
            #expect(!message.contains("\n"), sourceLocation: sourceLocation)
        }
    }

    @Test func ociLayoutDirectoryWithZstdLayers() throws {
        let layers = [Self.baseLayer(), Self.upperLayer()]
        var builder = ImageBuilder()
        let manifest = try builder.manifest(layers: try layers.map(zstd), uncompressed: layers,
                                            layerMediaType: "application/vnd.oci.image.layer.v1.tar+zstd")
        let directory = try temporaryDirectory()
        try ImageBuilder.write(try builder.files(index: [manifest]), to: directory)
        let image = try ContainerImage.open(try ImageSource(parsing: "oci:" + directory))
        #expect(image.format == .ociLayout)
        #expect(image.manifestDigest?.description == manifest["digest"] as? String)
        #expect(image.config.execution.workingDir == "/srv")
        #expect(image.config.execution.user == "1000:1000")
        try checkTree(try image.flatten())
    }

    @Test func ociArchiveWithGzipAndPlainLayers() throws {
        let layers = [Self.baseLayer(), Self.upperLayer()]
        var builder = ImageBuilder()
        let manifest = try builder.manifest(layers: [try gzip(layers[0]), layers[1]], uncompressed: layers)
        let path = try writeTemporary(ImageBuilder.tar(try builder.files(index: [manifest])))
        let image = try ContainerImage.open(try ImageSource(parsing: "oci-archive:" + path))
        #expect(image.format == .ociArchive)
        try checkTree(try image.flatten())
        // Detected by content, not by name or transport: the same file as a bare path or a wrong prefix.
        #expect(try ContainerImage.open(ImageSource(path: path)).format == .ociArchive)
        #expect(try ContainerImage.open(try ImageSource(parsing: "docker-archive:" + path)).format == .ociArchive)
    }

    @Test func nestedIndexSelectsPlatformAndSkipsAttestations() throws {
        let amd = [Self.baseLayer()]
        var arm = TarBuilder()
        arm.file("arch", "arm64")
        var builder = ImageBuilder()
        var amdManifest = try builder.manifest(layers: try amd.map(gzip), uncompressed: amd)
        amdManifest["platform"] = ["os": "linux", "architecture": "amd64"]
        var armManifest = try builder.manifest(layers: [try gzip(arm.finished)], uncompressed: [arm.finished], architecture: "arm64")
        armManifest["platform"] = ["os": "linux", "architecture": "arm64", "variant": "v8"]
        // An attestation listed first must never be chosen, even though it has no real platform.
        var attestation = try builder.manifest(layers: [], uncompressed: [], architecture: "unknown")
        attestation["platform"] = ["os": "unknown", "architecture": "unknown"]
        attestation["annotations"] = ["vnd.docker.reference.type": "attestation-manifest"]
        let inner: [String: Any] = ["schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                                    "manifests": [attestation, armManifest, amdManifest]]
        var innerDescriptor = try builder.add(ImageBuilder.json(inner))
        innerDescriptor["mediaType"] = "application/vnd.oci.image.index.v1+json"
        innerDescriptor["annotations"] = ["org.opencontainers.image.ref.name": "multi"]
        let path = try writeTemporary(ImageBuilder.tar(try builder.files(index: [innerDescriptor])))

        let image = try ContainerImage.open(try ImageSource(parsing: "oci-archive:\(path):multi"))
        #expect(image.manifestDigest?.description == amdManifest["digest"] as? String)
        #expect(image.platform == Platform.linuxAMD64)
        #expect(try image.flatten().entry(at: "bin/app") != nil)

        let armImage = try ContainerImage.open(ImageSource(path: path), platform: try Platform(parsing: "linux/arm64"))
        #expect(armImage.manifestDigest?.description == armManifest["digest"] as? String)
        #expect(try armImage.flatten().text("arch") == "arm64")

        expectError(path, platform: try Platform(parsing: "linux/s390x"), contains: "available: linux/amd64, linux/arm64/v8")
        expectError("oci-archive:\(path):nosuchtag", contains: "no image tagged 'nosuchtag'")
    }

    @Test func docker25ArchiveIsReadThroughItsIndex() throws {
        let layers = [Self.baseLayer(), Self.upperLayer()]
        var builder = ImageBuilder()
        let manifest = try builder.manifest(layers: layers, uncompressed: layers,
                                            layerMediaType: "application/vnd.oci.image.layer.v1.tar")
        let configHex = builder.blobs.first { String(decoding: $0.value, as: UTF8.self).contains("diff_ids") }?.key ?? ""
        let layerHexes = try layers.map(sha256Hex)
        let legacy = try ImageBuilder.json([["Config": "blobs/sha256/" + configHex, "RepoTags": ["app:1"],
                                             "Layers": layerHexes.map { "blobs/sha256/" + $0 }]])
        let path = try writeTemporary(ImageBuilder.tar(try builder.files(index: [manifest], extra: ["manifest.json": legacy])))
        let image = try ContainerImage.open(try ImageSource(parsing: "docker-archive:" + path))
        #expect(image.format == .dockerArchiveOCI)
        #expect(image.manifestDigest?.description == manifest["digest"] as? String)
        #expect(image.configDigest.hex == configHex)
        try checkTree(try image.flatten())
    }

    @Test func legacyDockerArchiveWithSymlinkedLayers() throws {
        let layers = [Self.baseLayer(), try gzip(Self.upperLayer())]
        let config = try ImageBuilder.json(try ImageBuilder.config(uncompressedLayers: [Self.baseLayer(), Self.upperLayer()]))
        let configHex = try sha256Hex(config)
        let ids = try layers.map(sha256Hex)
        let manifest = try ImageBuilder.json([["Config": configHex + ".json", "RepoTags": ["legacy:latest"],
                                               "Layers": ["v1one/layer.tar", "v1two/layer.tar"]]])
        var tar = TarBuilder()
        tar.file(ids[0] + ".tar", layers[0])
        tar.file("v1two/layer.tar", layers[1])
        tar.file(configHex + ".json", config)
        tar.symlink("v1one/layer.tar", to: "../\(ids[0]).tar")
        tar.file("manifest.json", manifest)
        let path = try writeTemporary(tar.finished)
        let image = try ContainerImage.open(try ImageSource(parsing: "docker-archive:\(path):latest"))
        #expect(image.format == .dockerArchive)
        #expect(image.configDigest.hex == configHex)
        #expect(image.tags == ["legacy:latest"])
        try checkTree(try image.flatten())
    }

    @Test func tamperedLayerFailsItsDigest() throws {
        let layers = [Self.baseLayer()]
        var builder = ImageBuilder()
        let manifest = try builder.manifest(layers: try layers.map(gzip), uncompressed: layers)
        let layerHex = try sha256Hex(try gzip(layers[0]))
        let directory = try temporaryDirectory()
        try ImageBuilder.write(try builder.files(index: [manifest]), to: directory)
        let blob = directory + "/blobs/sha256/" + layerHex
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: blob)))
        bytes[bytes.count - 5] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: blob))
        expectError("oci:" + directory, contains: "digest mismatch, descriptor says sha256:\(layerHex)", flatten: true)
    }

    @Test func tamperedPlainLayerAndWrongDiffIDFail() throws {
        let layers = [Self.baseLayer()]
        var other = TarBuilder()
        other.file("other", "o")
        var builder = ImageBuilder()
        // The descriptor is right, the config's diff_id belongs to another tar.
        let manifest = try builder.manifest(layers: try layers.map(gzip), uncompressed: [other.finished])
        let path = try writeTemporary(ImageBuilder.tar(try builder.files(index: [manifest])))
        expectError(path, contains: "diff_id", flatten: true)
    }

    @Test func tamperedManifestAndWrongSizeFail() throws {
        let layers = [Self.baseLayer()]
        var builder = ImageBuilder()
        var manifest = try builder.manifest(layers: layers, uncompressed: layers)
        manifest["size"] = (manifest["size"] as? Int ?? 0) + 1
        let directory = try temporaryDirectory()
        try ImageBuilder.write(try builder.files(index: [manifest]), to: directory)
        expectError(directory, contains: "size mismatch")

        var second = ImageBuilder()
        let good = try second.manifest(layers: layers, uncompressed: layers)
        let hex = String((good["digest"] as? String ?? "").dropFirst(7))
        if let original = second.blobs[hex] {
            var tampered = original
            if let index = tampered.firstIndex(of: UInt8(ascii: "2")) { tampered[index] = UInt8(ascii: "3") }
            second.blobs[hex] = tampered
        }
        let tamperedDirectory = try temporaryDirectory()
        try ImageBuilder.write(try second.files(index: [good]), to: tamperedDirectory)
        expectError(tamperedDirectory, contains: "digest mismatch")
    }

    @Test func hostileDigestCannotNameAPath() throws {
        let directory = try temporaryDirectory()
        try ImageBuilder.write([("oci-layout", Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8)),
                                ("index.json", Array(#"{"schemaVersion":2,"manifests":[{"digest":"sha256:../../../../etc/passwd","size":1}]}"#.utf8))],
                               to: directory)
        expectError(directory, contains: "malformed digest")
        try ImageBuilder.write([("index.json", Array(#"{"schemaVersion":2,"manifests":[{"digest":"sha512:abcd","size":1}]}"#.utf8))], to: directory)
        expectError(directory, contains: "only sha256")
    }

    @Test func notAnImageIsSaidPlainly() throws {
        let path = try writeTemporary(Array("hello, not a tar".utf8) + [UInt8](repeating: 0x20, count: 600))
        expectError(path, contains: "not a Docker or OCI image")
        let gz = try writeTemporary(try gzip(Self.baseLayer()))
        expectError("docker-archive:" + gz, contains: "gzip-compressed")
        expectError("oci:/nonexistent/dir", contains: "no such file or directory")
        var empty = TarBuilder()
        empty.file("README", "x")
        expectError(try writeTemporary(empty.finished), contains: "neither index.json nor manifest.json")
    }

    @Test func sourceSyntax() throws {
        #expect(try ImageSource(parsing: "oci:/no/such/dir:v1") == ImageSource(transport: .ociLayout, path: "/no/such/dir", reference: "v1"))
        #expect(try ImageSource(parsing: "docker-archive:app.tar") == ImageSource(transport: .dockerArchive, path: "app.tar"))
        let existing = try writeTemporary([], name: "with:colon.tar")
        #expect(try ImageSource(parsing: "oci-archive:\(existing):repo/name:tag") == ImageSource(transport: .ociArchive, path: existing, reference: "repo/name:tag"))
        #expect(try ImageSource(parsing: "oci-archive:\(existing)") == ImageSource(transport: .ociArchive, path: existing))
        #expect(try ImageSource(parsing: "plain.tar") == ImageSource(path: "plain.tar"))
        #expect(throws: ImageError.self) { try ImageSource(parsing: "oci:") }
    }
}
