import Foundation

/// The bytes of a regular file: in memory, or streamed from a file or a producer when the archive is written.
public enum FileContent: Sendable, Equatable {
    case bytes([UInt8])
    case file(URL)
    case streamed(StreamedFile)
}

/// File bytes handed over in chunks while the archive is written (for example from a container image's
/// content store), so a large file is never held in memory.
public struct StreamedFile: Sendable, Equatable {
    public let size: Int
    /// Names the bytes for equality, e.g. "image-store@OFFSET".
    public let identity: String
    let produce: @Sendable (_ emit: ([UInt8]) throws -> Void) throws -> Void

    /// `produce` must call `emit` with exactly `size` bytes in total, in order.
    public init(size: Int, identity: String, produce: @escaping @Sendable (_ emit: ([UInt8]) throws -> Void) throws -> Void) {
        self.size = size
        self.identity = identity
        self.produce = produce
    }

    public static func == (lhs: StreamedFile, rhs: StreamedFile) -> Bool {
        lhs.size == rhs.size && lhs.identity == rhs.identity
    }
}

/// One path in an initramfs and what it is.
public struct InitramfsEntry: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case directory
        case regularFile(FileContent)
        case symlink(target: String)
        case characterDevice(major: UInt32, minor: UInt32)
        case blockDevice(major: UInt32, minor: UInt32)
        case fifo
        /// Another name for the regular file at `target` (a path in the same tree).
        case hardlink(target: String)
    }

    public var path: String
    public var kind: Kind
    /// Permission bits (0o7777); the file type comes from `kind`.
    public var permissions: UInt32
    public var uid: UInt32
    public var gid: UInt32

    public init(path: String, kind: Kind, permissions: UInt32, uid: UInt32 = 0, gid: UInt32 = 0) {
        self.path = path
        self.kind = kind
        self.permissions = permissions & 0o7777
        self.uid = uid
        self.gid = gid
    }
}

/// A file tree to be written as a reproducible initramfs: members sorted by path (byte order, so a
/// directory always precedes its contents), mtime 0, inode numbers assigned sequentially in that order
/// (hardlinks share their file's number, newc style), missing parent directories created 0755 root.
public struct InitramfsTree: Sendable {
    public private(set) var entries: [String: InitramfsEntry] = [:]
    /// Members written after the sorted ones, in the order added (for example a completion marker).
    public private(set) var finalEntries: [InitramfsEntry] = []

    public init() {}

    public var count: Int { entries.count + finalEntries.count }

    /// Canonical member name: no leading "/" or "./", no empty, "." or ".." components.
    public static func normalize(_ path: String) throws -> String {
        var components: [Substring] = []
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            if component == "." { continue }
            guard component != ".." else {
                throw GuestImageError.invalidEntry(path: path, reason: "'..' components are not allowed")
            }
            components.append(component)
        }
        guard !components.isEmpty else { throw GuestImageError.invalidEntry(path: path, reason: "empty path") }
        guard !path.utf8.contains(0) else { throw GuestImageError.invalidEntry(path: path, reason: "NUL in path") }
        return components.joined(separator: "/")
    }

    /// Adds or replaces `entry`, creating missing parent directories.
    public mutating func add(_ entry: InitramfsEntry) throws {
        var entry = entry
        entry.path = try Self.normalize(entry.path)
        if case .hardlink(let target) = entry.kind { entry.kind = .hardlink(target: try Self.normalize(target)) }
        var parent = entry.path
        while let slash = parent.lastIndex(of: "/") {
            parent = String(parent[..<slash])
            if let existing = entries[parent] {
                guard existing.kind == .directory else {
                    throw GuestImageError.invalidEntry(path: entry.path, reason: "parent '\(parent)' is not a directory")
                }
                break
            }
            entries[parent] = InitramfsEntry(path: parent, kind: .directory, permissions: 0o755)
        }
        entries[entry.path] = entry
    }

    public mutating func addDirectory(_ path: String, permissions: UInt32 = 0o755, uid: UInt32 = 0, gid: UInt32 = 0) throws {
        try add(InitramfsEntry(path: path, kind: .directory, permissions: permissions, uid: uid, gid: gid))
    }

    public mutating func addFile(_ path: String, _ content: FileContent, permissions: UInt32 = 0o644, uid: UInt32 = 0, gid: UInt32 = 0) throws {
        try add(InitramfsEntry(path: path, kind: .regularFile(content), permissions: permissions, uid: uid, gid: gid))
    }

    public mutating func addSymlink(_ path: String, target: String, uid: UInt32 = 0, gid: UInt32 = 0) throws {
        try add(InitramfsEntry(path: path, kind: .symlink(target: target), permissions: 0o777, uid: uid, gid: gid))
    }

    /// Adds a member written after all sorted members, whose parents must already be in the tree.
    public mutating func addFinal(_ entry: InitramfsEntry) throws {
        var entry = entry
        entry.path = try Self.normalize(entry.path)
        if case .hardlink = entry.kind {
            throw GuestImageError.invalidEntry(path: entry.path, reason: "a final member cannot be a hardlink")
        }
        finalEntries.append(entry)
    }

    public func entry(at path: String) -> InitramfsEntry? {
        guard let key = try? Self.normalize(path) else { return nil }
        return entries[key]
    }

    /// Writes the archive (sorted members, then final members, then the trailer) and finishes the sink.
    /// Returns the member count (trailer excluded) and the uncompressed archive size.
    @discardableResult
    public func write(to sink: ByteSink, firstInode: UInt32 = 1) throws -> WriteSummary {
        let writer = CpioWriter(sink: sink)
        let sorted = entries.values.sorted { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
        let links = try resolveHardlinks()

        var subdirectories: [String: UInt32] = [:]
        for entry in sorted where entry.kind == .directory {
            if let slash = entry.path.lastIndex(of: "/") { subdirectories[String(entry.path[..<slash]), default: 0] += 1 }
        }

        var inodes: [String: UInt32] = [:]
        var nextInode = firstInode
        func inode(for key: String) -> UInt32 {
            if let known = inodes[key] { return known }
            inodes[key] = nextInode
            nextInode += 1
            return inodes[key] ?? 0
        }
        for entry in sorted {
            let fileKey = links.fileOf[entry.path] ?? entry.path
            let number = inode(for: fileKey)
            if let group = links.groups[fileKey], group.count > 1 {
                // newc hardlinks: every name carries the shared inode and link count; only the last name
                // in archive order carries the data.
                guard let fileEntry = entries[fileKey], case .regularFile(let content) = fileEntry.kind else { continue }
                let isLast = group.last == entry.path
                try writeMember(writer, name: entry.path, entry: fileEntry, inode: number, linkCount: UInt32(group.count),
                                content: isLast ? content : .bytes([]))
            } else {
                let linkCount: UInt32 = entry.kind == .directory ? 2 + (subdirectories[entry.path] ?? 0) : 1
                try writeMember(writer, name: entry.path, entry: entry, inode: number, linkCount: linkCount, content: nil)
            }
        }
        for entry in finalEntries {
            try writeMember(writer, name: entry.path, entry: entry, inode: nextInode, linkCount: entry.kind == .directory ? 2 : 1, content: nil)
            nextInode += 1
        }
        try writer.finish()
        return WriteSummary(members: writer.membersWritten - 1, bytes: writer.bytesWritten)
    }

    /// Maps every name of a hardlinked file to the file's own path, and each file to its names in
    /// archive order. A hardlink must lead (possibly through other hardlinks) to a regular file.
    private func resolveHardlinks() throws -> (fileOf: [String: String], groups: [String: [String]]) {
        var fileOf: [String: String] = [:]
        var groups: [String: [String]] = [:]
        for entry in entries.values {
            guard case .hardlink = entry.kind else { continue }
            var target = entry.path
            var seen: Set<String> = [target]
            while let current = entries[target], case .hardlink(let next) = current.kind {
                guard seen.insert(next).inserted else {
                    throw GuestImageError.invalidEntry(path: entry.path, reason: "hardlink loop")
                }
                target = next
            }
            guard let file = entries[target], case .regularFile = file.kind else {
                throw GuestImageError.invalidEntry(path: entry.path, reason: "hardlink target '\(target)' is not a regular file in the archive")
            }
            fileOf[entry.path] = target
            groups[target, default: [target]].append(entry.path)
        }
        for key in groups.keys {
            groups[key]?.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        }
        return (fileOf, groups)
    }

    private func writeMember(_ writer: CpioWriter, name: String, entry: InitramfsEntry, inode: UInt32, linkCount: UInt32,
                             content override: FileContent?) throws {
        var header = CpioWriter.Header(inode: inode, mode: entry.permissions, uid: entry.uid, gid: entry.gid, linkCount: linkCount)
        switch entry.kind {
        case .directory:
            header.mode |= 0o040000
            try writer.append(name: name, header: header)
        case .regularFile(let stored):
            header.mode |= 0o100000
            switch override ?? stored {
            case .bytes(let bytes):
                header.fileSize = try Self.size32(bytes.count, name)
                try writer.append(name: name, header: header, data: bytes)
            case .file(let url):
                let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
                let size = (attributes[.size] as? NSNumber)?.intValue ?? 0
                header.fileSize = try Self.size32(size, name)
                try writer.append(name: name, header: header, contentsOf: url)
            case .streamed(let file):
                header.fileSize = try Self.size32(file.size, name)
                try writer.append(name: name, header: header, streaming: file)
            }
        case .symlink(let target):
            header.mode |= 0o120000
            let bytes = Array(target.utf8)
            header.fileSize = try Self.size32(bytes.count, name)
            try writer.append(name: name, header: header, data: bytes)
        case let .characterDevice(major, minor):
            header.mode |= 0o020000
            header.rdevMajor = major
            header.rdevMinor = minor
            try writer.append(name: name, header: header)
        case let .blockDevice(major, minor):
            header.mode |= 0o060000
            header.rdevMajor = major
            header.rdevMinor = minor
            try writer.append(name: name, header: header)
        case .fifo:
            header.mode |= 0o010000
            try writer.append(name: name, header: header)
        case .hardlink:
            throw GuestImageError.invalidEntry(path: name, reason: "unresolved hardlink")
        }
    }

    private static func size32(_ size: Int, _ name: String) throws -> UInt32 {
        guard let value = UInt32(exactly: size) else {
            throw GuestImageError.invalidEntry(path: name, reason: "\(size) bytes is more than newc's 4 GiB limit")
        }
        return value
    }
}

/// What `InitramfsTree.write` produced.
public struct WriteSummary: Sendable, Equatable {
    public let members: Int
    /// Uncompressed archive size including the trailer and padding.
    public let bytes: Int
}
