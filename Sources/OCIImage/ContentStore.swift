import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a regular file's bytes are: small files inline, larger ones in the content store.
public struct ContentReference: Sendable, Hashable {
    public enum Storage: Sendable, Hashable {
        case inline([UInt8])
        /// `size` bytes at `offset` of the image's `ContentStore`.
        case stored(offset: Int64)
    }

    public let size: Int64
    public let storage: Storage

    public init(size: Int64, storage: Storage) {
        self.size = size
        self.storage = storage
    }

    public static let empty = ContentReference(size: 0, storage: .inline([]))
}

/// An append-only spill file for file contents: one temporary file, unlinked as soon as it is
/// created, so it never shows up as extracted files and disappears with the process. Writes happen
/// while layers are applied; afterwards it is read-only and reads (pread) are safe from any thread.
public final class ContentStore: @unchecked Sendable {
    private let fd: Int32
    private let lock = NSLock()
    private var written: Int64 = 0
    /// The most bytes the store accepts (content of files later overwritten still counts).
    public let limit: Int64
    /// The directory holding the (unlinked) store file.
    public let directory: String

    /// Creates the store in `directory` (default: the temporary directory).
    public init(directory: String? = nil, limit: Int64) throws {
        let folder = directory ?? NSTemporaryDirectory()
        var template = Array((folder.hasSuffix("/") ? folder : folder + "/").utf8CString.dropLast())
        template.append(contentsOf: Array("cvm-oci-content-XXXXXX".utf8CString))
        let fd = template.withUnsafeMutableBufferPointer { buffer in mkstemp(buffer.baseAddress!) }
        guard fd >= 0 else { throw ImageError.io("cannot create a content store in \(folder): \(String(cString: strerror(errno)))") }
        let path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        unlink(path)
        self.fd = fd
        self.limit = limit
        self.directory = folder
    }

    deinit { close(fd) }

    /// Bytes written so far.
    public var size: Int64 { lock.withLock { written } }

    /// Reserves `size` bytes at the end of the store; throws when the limit would be passed.
    func reserve(_ size: Int64) -> Int64? {
        lock.withLock {
            guard size >= 0, size <= limit - written else { return nil }
            defer { written += size }
            return written
        }
    }

    /// Bytes an unprivileged writer may still add to the store's file system (statvfs f_bavail), or nil
    /// when the file system does not say.
    func freeBytes() -> Int64? {
        var info = statvfs()
        guard fstatvfs(fd, &info) == 0 else { return nil }
        let (bytes, overflow) = Int64(info.f_bavail).multipliedReportingOverflow(by: Int64(info.f_frsize))
        return overflow ? Int64.max : bytes
    }

    func write(_ bytes: ArraySlice<UInt8>, at offset: Int64) throws {
        var done = 0
        while done < bytes.count {
            let result = bytes.withUnsafeBytes { raw in pwrite(fd, raw.baseAddress! + done, raw.count - done, off_t(offset) + off_t(done)) }
            if result < 0 {
                if errno == EINTR { continue }
                throw ImageError.io("cannot write the content store: \(String(cString: strerror(errno)))")
            }
            done += result
        }
    }

    /// Calls `body` with the file's bytes in order, at most `chunkSize` at a time.
    public func forEachChunk(of content: ContentReference, chunkSize: Int = 1 << 20, _ body: ([UInt8]) throws -> Void) throws {
        switch content.storage {
        case .inline(let bytes):
            if !bytes.isEmpty { try body(bytes) }
        case .stored(let offset):
            var position: Int64 = 0
            while position < content.size {
                let count = Int(min(Int64(chunkSize), content.size - position))
                var chunk = [UInt8](repeating: 0, count: count)
                var done = 0
                while done < count {
                    let got = chunk.withUnsafeMutableBytes { raw in pread(fd, raw.baseAddress! + done, count - done, off_t(offset + position) + off_t(done)) }
                    if got < 0 && errno == EINTR { continue }
                    guard got > 0 else { throw ImageError.io("cannot read the content store at \(offset + position)") }
                    done += got
                }
                position += Int64(count)
                try body(chunk)
            }
        }
    }

    /// The whole file; for large files prefer `forEachChunk`.
    public func bytes(of content: ContentReference) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Int(content.size))
        try forEachChunk(of: content) { out.append(contentsOf: $0) }
        return out
    }
}
