/// An image's root file system after all layers are applied: the value a later stage turns into an
/// initramfs. Entries are ordered parents before children, siblings by the bytes of their names,
/// so the order is reproducible. Nothing of it exists on the host file system: metadata is in
/// memory and file bytes are inline (small files) or in the unlinked `ContentStore` file.
public struct RootFileSystem: Sendable {
    /// Ownership, permissions and time of one entry. `mode` holds the permission bits including
    /// set-uid, set-gid and sticky (0o7777); the type is in `Kind`.
    public struct Metadata: Sendable, Hashable, Codable {
        public var mode: UInt32
        public var uid: UInt32
        public var gid: UInt32
        /// Seconds since the epoch.
        public var mtime: Int64

        public init(mode: UInt32, uid: UInt32 = 0, gid: UInt32 = 0, mtime: Int64 = 0) {
            self.mode = mode
            self.uid = uid
            self.gid = gid
            self.mtime = mtime
        }

        /// What a missing parent directory gets: 0755, root-owned, time 0.
        public static let implicitDirectory = Metadata(mode: 0o755)
    }

    public enum Kind: Sendable, Hashable {
        case directory
        case regularFile(ContentReference)
        case symbolicLink(target: String)
        case characterDevice(major: UInt32, minor: UInt32)
        case blockDevice(major: UInt32, minor: UInt32)
        case fifo
    }

    public struct Entry: Sendable, Hashable {
        /// Relative to the root, without a leading slash: `bin/sh`.
        public let path: String
        public let kind: Kind
        public let metadata: Metadata
        /// Regular files that are hard links of one another share a group number (1, 2, ...);
        /// nil for a file with a single name.
        public let hardLinkGroup: Int?

        public init(path: String, kind: Kind, metadata: Metadata, hardLinkGroup: Int? = nil) {
            self.path = path
            self.kind = kind
            self.metadata = metadata
            self.hardLinkGroup = hardLinkGroup
        }

        public var isDirectory: Bool { if case .directory = kind { return true } else { return false } }
    }

    /// The root directory's own metadata (a layer may set it with a `./` entry).
    public let root: Metadata
    public let entries: [Entry]
    /// Holds the bytes of files whose content is `.stored`.
    public let store: ContentStore
    private let index: [String: Int]
    private let groupLeaders: [Int: String]

    public init(root: Metadata, entries: [Entry], store: ContentStore) {
        self.root = root
        self.entries = entries
        self.store = store
        var index: [String: Int] = [:]
        index.reserveCapacity(entries.count)
        var leaders: [Int: String] = [:]
        for (position, entry) in entries.enumerated() {
            index[entry.path] = position
            if let group = entry.hardLinkGroup, leaders[group] == nil { leaders[group] = entry.path }
        }
        self.index = index
        self.groupLeaders = leaders
    }

    /// For the second and later names of a hard-linked file (in entry order), the path of the first
    /// one; nil for the first name and for files with a single name. Archive writers that encode hard
    /// links as "another name for PATH" use this.
    public func hardLinkTarget(of entry: Entry) -> String? {
        guard let group = entry.hardLinkGroup, let leader = groupLeaders[group], leader != entry.path else { return nil }
        return leader
    }

    /// The entry at `path` (leading `/` optional), without following symbolic links.
    public func entry(at path: String) -> Entry? {
        var key = Substring(path)
        while key.hasPrefix("/") { key = key.dropFirst() }
        return index[String(key)].map { entries[$0] }
    }

    /// A regular file's bytes; nil for anything else.
    public func contents(of entry: Entry) throws -> [UInt8]? {
        guard case .regularFile(let content) = entry.kind else { return nil }
        return try store.bytes(of: content)
    }

    /// Number of entries (the root not counted).
    public var entryCount: Int { entries.count }

    /// Bytes of regular-file content, each hard-link group counted once.
    public var regularFileBytes: Int64 {
        var seen = Set<Int>()
        var total: Int64 = 0
        for entry in entries {
            guard case .regularFile(let content) = entry.kind else { continue }
            if let group = entry.hardLinkGroup, !seen.insert(group).inserted { continue }
            total += content.size
        }
        return total
    }
}
