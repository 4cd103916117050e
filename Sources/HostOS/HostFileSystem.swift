import Foundation

/// What the calling process may do with a path.
public enum PathAccess: String, Sendable, Codable {
    case missing, noAccess = "no-access", readOnly = "read-only", readWrite = "read-write"
}

/// Owner, group and permission bits of a file (symbolic links followed).
public struct FileOwnership: Sendable, Hashable, Codable {
    public var uid: UInt32
    public var gid: UInt32
    /// The permission bits, e.g. 0o660.
    public var mode: UInt32

    public init(uid: UInt32, gid: UInt32, mode: UInt32) {
        self.uid = uid
        self.gid = gid
        self.mode = mode
    }
}

/// Read-only view of the host's files (sysfs, /dev, /proc, firmware images).
public protocol HostFileSystem: Sendable {
    func text(at path: String) -> String?
    func access(_ path: String) -> PathAccess
    /// Names in a directory, sorted; empty when it does not exist.
    func list(_ directory: String) -> [String]
    /// Size of a regular file, nil when it does not exist.
    func size(of path: String) -> Int?
    /// `length` bytes starting at `offset`; nil when unreadable or out of range.
    func bytes(at path: String, offset: Int, length: Int) -> [UInt8]?
    /// The same value for two paths that name one file (symbolic links resolved).
    func identity(of path: String) -> String
    /// Owner, group and mode; nil when the path does not exist.
    func ownership(of path: String) -> FileOwnership?
}

extension HostFileSystem {
    public func identity(of path: String) -> String { path }
    public func ownership(of path: String) -> FileOwnership? { nil }
}

/// The real file system.
public struct LocalFileSystem: HostFileSystem {
    public init() {}

    public func text(at path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    public func access(_ path: String) -> PathAccess {
        guard FileManager.default.fileExists(atPath: path) else { return .missing }
        if Glibc.access(path, R_OK | W_OK) == 0 { return .readWrite }
        if Glibc.access(path, R_OK) == 0 { return .readOnly }
        return .noAccess
    }

    public func list(_ directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }

    public func identity(of path: String) -> String {
        URL(fileURLWithPath: path).resolvingSymlinksInPath().path
    }

    /// Follows symbolic links, as distributions link firmware variants to one file.
    public func size(of path: String) -> Int? {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int(info.st_size)
    }

    public func ownership(of path: String) -> FileOwnership? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return FileOwnership(uid: info.st_uid, gid: info.st_gid, mode: UInt32(info.st_mode) & 0o7777)
    }

    public func bytes(at path: String, offset: Int, length: Int) -> [UInt8]? {
        guard offset >= 0, length >= 0, let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        do {
            try handle.seek(toOffset: UInt64(offset))
            let data = try handle.read(upToCount: length) ?? Data()
            return data.count == length ? [UInt8](data) : nil
        } catch {
            return nil
        }
    }
}
