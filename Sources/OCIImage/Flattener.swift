/// Limits for applying layers; every one is checked before the work it bounds.
public struct FlattenLimits: Sendable, Equatable {
    public var tar = TarLimits()
    /// Most tar entries over all layers.
    public var maxEntries: Int = 2_000_000
    /// Most bytes written to the content store (overwritten files still count). The flattened files
    /// become an initramfs that the guest unpacks into its RAM, so an image much past a few GiB cannot
    /// boot anyway, while a gzip layer of 10 MB can claim 10 GiB (and /tmp is often tmpfs, i.e. RAM):
    /// see docs/OCI.md, "Limits". `--max-image-content` raises it.
    public var maxStoredBytes: Int64 = FlattenLimits.defaultMaxStoredBytes
    public static let defaultMaxStoredBytes: Int64 = 4 << 30
    /// Files up to this size stay in memory...
    public var inlineThreshold: Int = 16 << 10
    /// ...until inline content reaches this total; then everything goes to the store.
    public var maxInlineBytes: Int64 = 64 << 20
    /// Symbolic links followed while resolving one path (Linux uses 40).
    public var maxSymlinkHops: Int = 40
    /// Where the content store's unlinked temporary file is made (default: the temporary directory).
    public var storeDirectory: String?

    public init() {}
}

/// Applies layers to an in-memory tree with the OCI image-spec layer semantics
/// (image-spec/layer.md "Applying Changesets"):
/// - `.wh.NAME` removes NAME as it was in lower layers; `.wh..wh..opq` removes every lower child of
///   its directory; entries of the same layer survive whatever their order in the tar.
///   Other `.wh..wh.` names (AUFS bookkeeping) are ignored.
/// - A non-directory replaces whatever was at its path, a directory included (the subtree goes);
///   a directory replaces a non-directory; a directory over a directory merges and takes the new metadata.
/// - Hard links share content and get a common `hardLinkGroup`; the target must already exist in
///   the tree (this or a lower layer) and must not be a directory.
/// - Missing parents are created as 0755 root-owned directories with time 0.
///
/// Hostile input, decided once and documented in docs/OCI.md:
/// - Sanitised: leading `/` and `./` are stripped (absolute names mean image-root-relative, as in
///   Docker and containerd); empty and `.` components are dropped.
/// - Rejected with an error: any `..` component in an entry name or hard-link target; a component
///   over 255 bytes; a hard link to a missing entry or a directory; an empty symlink target; a path
///   through a non-directory; more than `maxSymlinkHops` links; any limit exceeded.
/// - Symbolic links are stored verbatim. When a later entry's parent path goes through one, it is
///   resolved inside the image root as a chroot would (`..` at the root stays at the root, absolute
///   targets start at the image root), the same rule as containerd's; so a link to `/` or to
///   `../../..` can only lead back into the image, never outside it.
final class Flattener {
    private final class Node {
        enum Kind {
            case directory([String: Node])
            case file(ContentReference)
            case symlink(String)
            case character(UInt32, UInt32)
            case block(UInt32, UInt32)
            case fifo
        }
        var kind: Kind
        var metadata: RootFileSystem.Metadata
        /// The layer that last wrote this node (created it explicitly or implicitly, or replaced it).
        var layer: Int
        let inode: Int

        init(kind: Kind, metadata: RootFileSystem.Metadata, layer: Int, inode: Int) {
            self.kind = kind
            self.metadata = metadata
            self.layer = layer
            self.inode = inode
        }

        var isDirectory: Bool { if case .directory = kind { return true } else { return false } }

        var children: [String: Node] {
            get { if case .directory(let children) = kind { return children } else { return [:] } }
            set { kind = .directory(newValue) }
        }
    }

    private let limits: FlattenLimits
    private let store: ContentStore
    private let root: Node
    private var nextInode = 1
    private var entriesSeen = 0
    private var inlineBytes: Int64 = 0

    init(limits: FlattenLimits) throws {
        self.limits = limits
        self.store = try ContentStore(directory: limits.storeDirectory, limit: limits.maxStoredBytes)
        self.root = Node(kind: .directory([:]), metadata: .implicitDirectory, layer: 0, inode: 0)
    }

    private func makeInode() -> Int {
        defer { nextInode += 1 }
        return nextInode
    }

    struct PathRejection: Error { let reason: String }

    /// Splits an entry name into components (sanitising and rejecting as documented above).
    static func components(of name: String) throws(PathRejection) -> [String] {
        var parts: [String] = []
        for part in name.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." { throw PathRejection(reason: "path contains a '..' component") }
            if part.utf8.count > 255 { throw PathRejection(reason: "a path component is longer than 255 bytes") }
            parts.append(String(part))
        }
        return parts
    }

    private func components(_ name: String, layer: Int, entry: String) throws -> [String] {
        do { return try Flattener.components(of: name) } catch {
            throw FlattenError.hostilePath(layer: layer, path: entry, reason: error.reason)
        }
    }

    /// Applies one layer, entry by entry, as the tar stream delivers them.
    func apply(layer: Int, tar: TarReader) throws {
        while let entry = try tar.next() {
            entriesSeen += 1
            guard entriesSeen <= limits.maxEntries else {
                throw FlattenError.limitExceeded(layer: layer, what: "number of entries", limit: Int64(limits.maxEntries))
            }
            try apply(entry, layer: layer, tar: tar)
        }
    }

    private func apply(_ entry: TarEntry, layer: Int, tar: TarReader) throws {
        let parts = try components(entry.path, layer: layer, entry: entry.path)
        let metadata = RootFileSystem.Metadata(mode: entry.mode, uid: entry.uid, gid: entry.gid, mtime: entry.mtime)
        guard let name = parts.last else {
            guard entry.type == .directory else {
                throw FlattenError.hostilePath(layer: layer, path: entry.path, reason: "the image root can only be a directory")
            }
            root.metadata = metadata
            return
        }
        let parentParts = Array(parts.dropLast())

        if name.hasPrefix(".wh.") {
            try applyWhiteout(name: name, parentParts: parentParts, layer: layer, entry: entry)
            return
        }

        guard let parent = try resolveDirectory(parentParts, create: true, layer: layer, entry: entry.path) else { return }
        let existing = parent.children[name]
        let node: Node
        switch entry.type {
        case .directory:
            if let existing, existing.isDirectory {
                existing.metadata = metadata
                existing.layer = layer
                return
            }
            node = Node(kind: .directory([:]), metadata: metadata, layer: layer, inode: makeInode())
        case .regular:
            node = Node(kind: .file(try readContent(entry, layer: layer, tar: tar)), metadata: metadata, layer: layer, inode: makeInode())
        case .symbolicLink:
            guard !entry.linkTarget.isEmpty else {
                throw FlattenError.hostilePath(layer: layer, path: entry.path, reason: "symbolic link with an empty target")
            }
            node = Node(kind: .symlink(entry.linkTarget), metadata: metadata, layer: layer, inode: makeInode())
        case .characterDevice:
            node = Node(kind: .character(entry.deviceMajor, entry.deviceMinor), metadata: metadata, layer: layer, inode: makeInode())
        case .blockDevice:
            node = Node(kind: .block(entry.deviceMajor, entry.deviceMinor), metadata: metadata, layer: layer, inode: makeInode())
        case .fifo:
            node = Node(kind: .fifo, metadata: metadata, layer: layer, inode: makeInode())
        case .hardLink:
            let targetParts = try components(entry.linkTarget, layer: layer, entry: entry.path)
            guard let targetName = targetParts.last,
                  let targetParent = try resolveDirectory(Array(targetParts.dropLast()), create: false, layer: layer, entry: entry.path),
                  let target = targetParent.children[targetName] else {
                throw FlattenError.hardlinkTargetMissing(layer: layer, path: entry.path, target: entry.linkTarget)
            }
            guard !target.isDirectory else {
                throw FlattenError.hardlinkToDirectory(layer: layer, path: entry.path, target: entry.linkTarget)
            }
            if target === existing { return }
            node = Node(kind: target.kind, metadata: target.metadata, layer: layer, inode: target.inode)
        }
        parent.children[name] = node
    }

    private func applyWhiteout(name: String, parentParts: [String], layer: Int, entry: TarEntry) throws {
        guard let parent = try resolveDirectory(parentParts, create: false, layer: layer, entry: entry.path) else { return }
        if name == ".wh..wh..opq" {
            parent.children = parent.children.filter { keepAfterWhiteout($0.value, layer: layer) }
            return
        }
        if name.hasPrefix(".wh..wh.") { return }
        let hidden = String(name.dropFirst(4))
        guard !hidden.isEmpty, hidden != ".", hidden != ".." else {
            throw FlattenError.hostilePath(layer: layer, path: entry.path, reason: "whiteout names no entry")
        }
        if let victim = parent.children[hidden], !keepAfterWhiteout(victim, layer: layer) {
            parent.children[hidden] = nil
        }
    }

    /// Removes what lower layers put under `node`, keeping anything this layer wrote; returns false
    /// when nothing of `node` is left.
    private func keepAfterWhiteout(_ node: Node, layer: Int) -> Bool {
        guard node.isDirectory else { return node.layer >= layer }
        node.children = node.children.filter { keepAfterWhiteout($0.value, layer: layer) }
        return node.layer >= layer || !node.children.isEmpty
    }

    /// Walks `parts` from the root, following symbolic links inside the root (see the type's doc),
    /// creating missing directories when `create` is set; nil when something is missing otherwise.
    private func resolveDirectory(_ parts: [String], create: Bool, layer: Int, entry: String) throws -> Node? {
        var stack: [Node] = [root]
        var pending = Array(parts.reversed())
        var hops = 0
        while let part = pending.popLast() {
            if part.isEmpty || part == "." { continue }
            if part == ".." {
                if stack.count > 1 { stack.removeLast() }
                continue
            }
            guard let directory = stack.last else { return nil }
            guard let child = directory.children[part] else {
                guard create else { return nil }
                guard part.utf8.count <= 255 else {
                    throw FlattenError.hostilePath(layer: layer, path: entry, reason: "a symbolic link leads to a component longer than 255 bytes")
                }
                let made = Node(kind: .directory([:]), metadata: .implicitDirectory, layer: layer, inode: makeInode())
                directory.children[part] = made
                stack.append(made)
                continue
            }
            switch child.kind {
            case .directory:
                stack.append(child)
            case .symlink(let target):
                hops += 1
                guard hops <= limits.maxSymlinkHops else { throw FlattenError.symlinkLoop(layer: layer, path: entry) }
                if target.hasPrefix("/") { stack = [root] }
                pending.append(contentsOf: target.split(separator: "/").map(String.init).reversed())
            default:
                throw FlattenError.notADirectory(layer: layer, path: entry, component: part)
            }
        }
        return stack.last
    }

    private func readContent(_ entry: TarEntry, layer: Int, tar: TarReader) throws -> ContentReference {
        if entry.size <= Int64(limits.inlineThreshold), inlineBytes + entry.size <= limits.maxInlineBytes {
            inlineBytes += entry.size
            return ContentReference(size: entry.size, storage: .inline(try tar.readAllContent()))
        }
        // Both checks come before a byte is written, so a bomb costs nothing but its header.
        guard let offset = store.reserve(entry.size) else {
            throw FlattenError.contentLimitExceeded(layer: layer, path: entry.path, size: entry.size, stored: store.size, limit: store.limit)
        }
        if let available = store.freeBytes(), entry.size > available {
            throw FlattenError.noSpace(layer: layer, path: entry.path, size: entry.size, directory: store.directory, available: available)
        }
        var position = offset
        try tar.readContent { chunk in
            try store.write(chunk, at: position)
            position += Int64(chunk.count)
        }
        return ContentReference(size: entry.size, storage: .stored(offset: offset))
    }

    /// The finished tree as a value: depth first, siblings in byte order of their names.
    func finish() -> RootFileSystem {
        var linkCounts: [Int: Int] = [:]
        countFiles(root, into: &linkCounts)
        var groups: [Int: Int] = [:]
        var entries: [RootFileSystem.Entry] = []
        emit(root, prefix: "", linkCounts: linkCounts, groups: &groups, into: &entries)
        return RootFileSystem(root: root.metadata, entries: entries, store: store)
    }

    private func countFiles(_ node: Node, into counts: inout [Int: Int]) {
        for child in node.children.values {
            switch child.kind {
            case .file: counts[child.inode, default: 0] += 1
            case .directory: countFiles(child, into: &counts)
            default: break
            }
        }
    }

    private func emit(_ node: Node, prefix: String, linkCounts: [Int: Int], groups: inout [Int: Int], into entries: inout [RootFileSystem.Entry]) {
        let names = node.children.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        for name in names {
            guard let child = node.children[name] else { continue }
            let path = prefix.isEmpty ? name : prefix + "/" + name
            let kind: RootFileSystem.Kind
            var group: Int?
            switch child.kind {
            case .directory: kind = .directory
            case .file(let content):
                kind = .regularFile(content)
                if linkCounts[child.inode, default: 0] > 1 {
                    if groups[child.inode] == nil { groups[child.inode] = groups.count + 1 }
                    group = groups[child.inode]
                }
            case .symlink(let target): kind = .symbolicLink(target: target)
            case .character(let major, let minor): kind = .characterDevice(major: major, minor: minor)
            case .block(let major, let minor): kind = .blockDevice(major: major, minor: minor)
            case .fifo: kind = .fifo
            }
            entries.append(RootFileSystem.Entry(path: path, kind: kind, metadata: child.metadata, hardLinkGroup: group))
            if child.isDirectory { emit(child, prefix: path, linkCounts: linkCounts, groups: &groups, into: &entries) }
        }
    }
}
