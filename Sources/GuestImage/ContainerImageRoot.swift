import OCIImage

/// Why a container image cannot become a guest.
public enum OCIGuestError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The image config has neither Entrypoint nor Cmd, so the guest would have nothing to run.
    case noCommand(image: String)

    public var description: String {
        switch self {
        case .noCommand(let image):
            return "image \(image) has neither Entrypoint nor Cmd: nothing to run (give the image a CMD or ENTRYPOINT)"
        }
    }
}

extension InitramfsTree {
    /// Adds a flattened container image root. File bytes stay where the image keeps them (inline, or
    /// in its content store, streamed when the archive is written); hard-link groups become newc hard
    /// links; owners, permission bits, device numbers and symlink targets are kept. Entries at or below
    /// `reserved` (the guest's own /.cvm) are left out; returns how many were.
    @discardableResult
    public mutating func addImageRoot(_ root: RootFileSystem, reserving reserved: String) throws -> Int {
        var skipped = 0
        for entry in root.entries {
            if entry.path == reserved || entry.path.hasPrefix(reserved + "/") {
                skipped += 1
                continue
            }
            let kind: InitramfsEntry.Kind
            switch entry.kind {
            case .directory:
                kind = .directory
            case .regularFile(let content):
                if let leader = root.hardLinkTarget(of: entry) {
                    kind = .hardlink(target: leader)
                } else {
                    kind = .regularFile(Self.fileContent(content, store: root.store))
                }
            case .symbolicLink(let target):
                kind = .symlink(target: target)
            case let .characterDevice(major, minor):
                kind = .characterDevice(major: major, minor: minor)
            case let .blockDevice(major, minor):
                kind = .blockDevice(major: major, minor: minor)
            case .fifo:
                kind = .fifo
            }
            let metadata = entry.metadata
            try add(InitramfsEntry(path: entry.path, kind: kind, permissions: metadata.mode, uid: metadata.uid, gid: metadata.gid))
        }
        return skipped
    }

    private static func fileContent(_ content: ContentReference, store: ContentStore) -> FileContent {
        switch content.storage {
        case .inline(let bytes):
            return .bytes(bytes)
        case .stored(let offset):
            return .streamed(StreamedFile(size: Int(content.size), identity: "image-store@\(offset)") { emit in
                try store.forEachChunk(of: content) { try emit($0) }
            })
        }
    }
}

extension InitConfig {
    /// Docker's default PATH, set when the image's Env has none.
    public static let containerPATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// What a container runtime would run: Entrypoint then Cmd, the image's Env (with a default PATH),
    /// WorkingDir and User, the command's stdio on `console`.
    /// - Parameter image: names the image in the error when there is nothing to run.
    public init(container execution: ImageConfiguration.Execution, image: String, console: String) throws {
        let arguments = (execution.entrypoint ?? []) + (execution.cmd ?? [])
        guard !arguments.isEmpty else { throw OCIGuestError.noCommand(image: image) }
        var environment = execution.env ?? []
        if !environment.contains(where: { $0.hasPrefix("PATH=") }) { environment.insert(Self.containerPATH, at: 0) }
        self.init(arguments: arguments, environment: environment,
                  workingDirectory: execution.workingDir.flatMap { $0.isEmpty ? nil : $0 },
                  user: execution.user.flatMap { $0.isEmpty ? nil : $0 },
                  console: console, hostname: "cvm")
    }
}
