import ArgumentParser
import Foundation
import OCIImage

/// `cvm image inspect SOURCE`: reads a Docker/OCI image, verifies it and flattens its layers in memory.
struct ImageInspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Read a Docker or OCI image, verify its digests and flatten its layers in memory.",
        discussion: """
        SOURCE is docker-archive:FILE[:TAG], oci-archive:FILE[:TAG], oci:DIR[:TAG] or a bare path; the \
        format is detected from the content. Every manifest, config and layer blob is checked against its \
        digest and size; layers (plain tar, gzip or zstd) are applied with OCI whiteout semantics into an \
        in-memory tree, nothing is extracted to disk. Hostile layers are refused (see docs/OCI.md). \
        Examples:
          cvm image inspect docker-archive:hello.tar
          cvm image inspect oci:./layout:latest --platform linux/arm64 --json
        """
    )

    @Argument(help: "The image: docker-archive:FILE, oci-archive:FILE, oci:DIR[:TAG].") var source: String
    @Option(help: "Platform to take from a multi-platform index (os/arch[/variant]).") var platform = "linux/amd64"
    @Flag(help: "Print JSON.") var json = false

    /// The stable `--json` shape.
    struct Report: Codable, Equatable {
        struct Config: Codable, Equatable {
            let env: [String]
            let workingDir: String?
            let user: String?
            let entrypoint: [String]?
            let cmd: [String]?
        }
        struct Layer: Codable, Equatable {
            let digest: String?
            let diffID: String?
            let size: Int64
            let compression: String
        }
        struct Flattened: Codable, Equatable {
            let entries: Int
            let regularFiles: Int
            let directories: Int
            let symbolicLinks: Int
            let regularFileBytes: Int64
        }
        let digest: String
        let manifestDigest: String?
        let configDigest: String
        let format: String
        let platform: String?
        let tags: [String]
        let config: Config
        let layers: [Layer]
        let flattened: Flattened
    }

    static func report(_ image: ContainerImage, root: RootFileSystem) throws -> Report {
        let execution = image.config.execution
        var files = 0, directories = 0, links = 0
        for entry in root.entries {
            switch entry.kind {
            case .regularFile: files += 1
            case .directory: directories += 1
            case .symbolicLink: links += 1
            default: break
            }
        }
        return Report(
            digest: image.digest.description, manifestDigest: image.manifestDigest?.description,
            configDigest: image.configDigest.description, format: image.format.rawValue,
            platform: image.platform?.description, tags: image.tags,
            config: .init(env: execution.env ?? [], workingDir: execution.workingDir, user: execution.user,
                          entrypoint: execution.entrypoint, cmd: execution.cmd),
            layers: try image.layers.map {
                .init(digest: $0.digest?.description, diffID: $0.diffID?.description, size: $0.size, compression: try $0.compression().rawValue)
            },
            flattened: .init(entries: root.entryCount, regularFiles: files, directories: directories, symbolicLinks: links,
                             regularFileBytes: root.regularFileBytes))
    }

    static func render(_ report: Report) -> String {
        func list(_ values: [String]?) -> String {
            guard let values else { return "(not set)" }
            let data = (try? JSONEncoder().encode(values)) ?? Data()
            return String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\\/", with: "/")
        }
        var lines = [
            "image       \(report.digest)",
            "format      \(report.format)\(report.platform.map { ", " + $0 } ?? "")",
            "config      \(report.configDigest)",
        ]
        if !report.tags.isEmpty { lines.append("tags        \(report.tags.joined(separator: ", "))") }
        lines.append("Env         \(report.config.env.isEmpty ? "(none)" : report.config.env.joined(separator: "\n            "))")
        lines.append("WorkingDir  \(report.config.workingDir ?? "(not set)")")
        lines.append("User        \(report.config.user.flatMap { $0.isEmpty ? nil : $0 } ?? "(not set)")")
        lines.append("Entrypoint  \(list(report.config.entrypoint))")
        lines.append("Cmd         \(list(report.config.cmd))")
        lines.append("layers      \(report.layers.count)")
        for (index, layer) in report.layers.enumerated() {
            let name = layer.digest ?? layer.diffID.map { "diff_id " + $0 } ?? "?"
            lines.append("  \(index + 1). \(name)  \(layer.size) bytes, \(layer.compression)")
        }
        let flat = report.flattened
        lines.append("flattened   \(flat.entries) entries (\(flat.regularFiles) files, \(flat.directories) directories, \(flat.symbolicLinks) symlinks), \(flat.regularFileBytes) bytes of file content")
        return lines.joined(separator: "\n")
    }

    func run() throws {
        try mappingImageErrors {
            let image = try ContainerImage.open(try ImageSource(parsing: source), platform: try Platform(parsing: platform))
            let root = try image.flatten()
            let report = try Self.report(image, root: root)
            if json { try printJSON(report) } else { print(Self.render(report)) }
        }
    }
}
