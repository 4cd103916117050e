import Foundation
import Testing
@testable import OCIImage

/// The podman-built hello image (Tests/OCIImageTests/Fixtures, see NOTICE), in both archive formats.
@Suite struct FixtureTests {
    /// SHA-256 and size of bin/busybox in the first layer, computed by GNU tar and sha256sum.
    static func busyboxOracle(archive: String, layerMember: String, decompress: String) throws -> (hex: String, size: Int) {
        let bytes = try run("bash", ["-c", "tar -xOf '\(archive)' '\(layerMember)' | \(decompress) | tar -xO bin/busybox"])
        return (try sha256Hex(bytes), bytes.count)
    }

    func checkHello(_ image: ContainerImage) throws {
        let execution = image.config.execution
        #expect(execution.env?.contains("GREETING=hello-from-env") == true)
        #expect(execution.workingDir == "/work")
        #expect(execution.entrypoint == ["/bin/sh", "-c"])
        #expect(execution.cmd == ["echo $GREETING; pwd; id"])
        #expect(image.layers.count == 2)
        #expect(image.platform == Platform.linuxAMD64)
    }

    @Test func dockerArchiveFromPodman() throws {
        let path = try fixture("hello-docker-archive.tar")
        let image = try ContainerImage.open(try ImageSource(parsing: "docker-archive:" + path))
        #expect(image.format == .dockerArchive)
        #expect(image.manifestDigest == nil)
        #expect(image.tags == ["localhost/bbtest:1"])
        try checkHello(image)
        let root = try image.flatten()
        // The first layer as manifest.json names it (GNU tar does not follow the layer.tar symlinks).
        let oracle = try Self.busyboxOracle(archive: path, layerMember: "dbada59955e6bc5df18d7f596231aaf4cb9550a76ca8fcb8b9e71f6f9666ffd0.tar", decompress: "cat")
        let busybox = try #require(root.entry(at: "/bin/busybox"))
        guard case .regularFile(let content) = busybox.kind else { Issue.record("busybox is not a file"); return }
        #expect(content.size == Int64(oracle.size))
        #expect(try sha256Hex(try #require(try root.contents(of: busybox))) == oracle.hex)
        #expect(busybox.metadata.mode == 0o755)
        #expect(root.entry(at: "bin/sh")?.kind == .symbolicLink(target: "/bin/busybox"))
    }

    @Test func ociArchiveFromPodmanMatchesDockerArchive() throws {
        let path = try fixture("hello-oci-archive.tar")
        let image = try ContainerImage.open(try ImageSource(parsing: "oci-archive:" + path))
        #expect(image.format == .ociArchive)
        let manifestHex = try run("bash", ["-c", "tar -xOf '\(path)' index.json | grep -o 'sha256:[0-9a-f]*' | head -1"])
        #expect(image.manifestDigest?.description == String(decoding: manifestHex, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        try checkHello(image)
        let docker = try ContainerImage.open(ImageSource(path: try fixture("hello-docker-archive.tar")))
        #expect(image.configDigest == docker.configDigest)
        let root = try image.flatten()
        let other = try docker.flatten()
        #expect(root.entries.map(\.path) == other.entries.map(\.path))
        #expect(root.entries.map(\.kind).count == other.entries.map(\.kind).count)
        let firstLayer = "blobs/sha256/" + (image.layers.first?.digest?.hex ?? "")
        let oracle = try Self.busyboxOracle(archive: path, layerMember: firstLayer, decompress: "gzip -dc")
        let busybox = try #require(root.entry(at: "bin/busybox"))
        #expect(try sha256Hex(try #require(try root.contents(of: busybox))) == oracle.hex)
        // Every name GNU tar lists in the two layers is in the tree.
        for layer in image.layers {
            let names = try run("bash", ["-c", "tar -xOf '\(path)' blobs/sha256/\(layer.digest?.hex ?? "") | gzip -dc | tar -t"])
            for name in String(decoding: names, as: UTF8.self).split(separator: "\n") {
                #expect(root.entry(at: String(name).trimmingCharacters(in: CharacterSet(charactersIn: "/"))) != nil, "\(name)")
            }
        }
    }
}
