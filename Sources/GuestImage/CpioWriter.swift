import Foundation

/// Streams a cpio archive in the SVR4 "newc" format (magic 070701, no checksum), the format the Linux
/// kernel unpacks as an initramfs. Members are written in the order given; ordering, inode numbering
/// and hardlink grouping are decided by `InitramfsTree`.
///
/// Each member is a 110-byte ASCII header (magic + 13 eight-digit hex fields: ino, mode, uid, gid,
/// nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check), then the name
/// with its NUL, padded to a multiple of 4, then the data, padded to a multiple of 4. The archive ends
/// with a member named "TRAILER!!!"; the whole is padded to 512 bytes as GNU cpio does.
public final class CpioWriter {
    public struct Header: Sendable, Equatable {
        public var inode: UInt32
        public var mode: UInt32
        public var uid: UInt32
        public var gid: UInt32
        public var linkCount: UInt32
        public var fileSize: UInt32
        public var rdevMajor: UInt32
        public var rdevMinor: UInt32

        public init(inode: UInt32, mode: UInt32, uid: UInt32 = 0, gid: UInt32 = 0, linkCount: UInt32 = 1,
                    fileSize: UInt32 = 0, rdevMajor: UInt32 = 0, rdevMinor: UInt32 = 0) {
            self.inode = inode
            self.mode = mode
            self.uid = uid
            self.gid = gid
            self.linkCount = linkCount
            self.fileSize = fileSize
            self.rdevMajor = rdevMajor
            self.rdevMinor = rdevMinor
        }
    }

    public static let magic = "070701"
    public static let trailerName = "TRAILER!!!"
    static let chunkSize = 1 << 16

    private let sink: ByteSink
    public private(set) var bytesWritten = 0
    public private(set) var membersWritten = 0

    public init(sink: ByteSink) {
        self.sink = sink
    }

    /// Writes one member whose data (if any) is in memory.
    public func append(name: String, header: Header, data: [UInt8] = []) throws {
        guard data.count == Int(header.fileSize) else {
            throw GuestImageError.invalidEntry(path: name, reason: "header says \(header.fileSize) bytes, data has \(data.count)")
        }
        try writeHeader(name: name, header: header)
        try emit(data)
        try pad()
    }

    /// Writes one member whose data is streamed from a file, exactly `header.fileSize` bytes of it.
    public func append(name: String, header: Header, contentsOf url: URL) throws {
        try writeHeader(name: name, header: header)
        guard let handle = FileHandle(forReadingAtPath: url.path) else {
            throw GuestImageError.io("cannot read \(url.path)")
        }
        defer { try? handle.close() }
        var remaining = Int(header.fileSize)
        while remaining > 0 {
            let chunk = try handle.read(upToCount: min(remaining, Self.chunkSize)) ?? Data()
            guard !chunk.isEmpty else {
                throw GuestImageError.io("\(url.path) shrank while being archived (\(remaining) bytes missing)")
            }
            try chunk.withUnsafeBytes { try sink.write($0) }
            bytesWritten += chunk.count
            remaining -= chunk.count
        }
        try pad()
    }

    /// Writes one member whose data comes from `file`'s producer, which must deliver `header.fileSize` bytes.
    public func append(name: String, header: Header, streaming file: StreamedFile) throws {
        try writeHeader(name: name, header: header)
        var remaining = Int(header.fileSize)
        try file.produce { chunk in
            guard chunk.count <= remaining else {
                throw GuestImageError.invalidEntry(path: name, reason: "content is longer than its \(header.fileSize) bytes")
            }
            try emit(chunk)
            remaining -= chunk.count
        }
        guard remaining == 0 else {
            throw GuestImageError.invalidEntry(path: name, reason: "content ended \(remaining) bytes short of \(header.fileSize)")
        }
        try pad()
    }

    /// Writes the trailer, pads to 512 bytes and finishes the sink.
    public func finish() throws {
        try writeHeader(name: Self.trailerName, header: Header(inode: 0, mode: 0, linkCount: 1))
        let blockPadding = (512 - bytesWritten % 512) % 512
        try emit([UInt8](repeating: 0, count: blockPadding))
        try sink.finish()
    }

    private func writeHeader(name: String, header: Header) throws {
        let nameBytes = Array(name.utf8)
        guard !nameBytes.isEmpty, !nameBytes.contains(0) else {
            throw GuestImageError.invalidEntry(path: name, reason: "a member name must be non-empty and contain no NUL")
        }
        let fields: [UInt32] = [
            header.inode, header.mode, header.uid, header.gid, header.linkCount,
            0, // mtime: always 0, for reproducibility
            header.fileSize,
            0, 0, // devmajor, devminor of the archived file system: not recorded
            header.rdevMajor, header.rdevMinor,
            UInt32(nameBytes.count + 1),
            0, // check: only used by the "crc" variant
        ]
        var out = Array(Self.magic.utf8)
        out.reserveCapacity(110 + nameBytes.count + 4)
        for field in fields { out.append(contentsOf: Self.hex8(field)) }
        out.append(contentsOf: nameBytes)
        out.append(0)
        try emit(out)
        try pad()
        membersWritten += 1
    }

    private func emit(_ bytes: [UInt8]) throws {
        guard !bytes.isEmpty else { return }
        try sink.write(bytes)
        bytesWritten += bytes.count
    }

    private func pad() throws {
        try emit([UInt8](repeating: 0, count: (4 - bytesWritten % 4) % 4))
    }

    /// Eight upper-case hex digits, as GNU cpio and the kernel's gen_init_cpio write them.
    static func hex8(_ value: UInt32) -> [UInt8] {
        let digits = Array("0123456789ABCDEF".utf8)
        return (0..<8).reversed().map { digits[Int((value >> (UInt32($0) * 4)) & 0xF)] }
    }
}
