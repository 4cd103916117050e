import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A forward-only source of bytes; an empty result means end of stream.
protocol ByteSource: AnyObject {
    func read(max: Int) throws -> [UInt8]
    /// Moves past up to `count` bytes without returning them; returns how many were passed.
    func skip(_ count: Int64) throws -> Int64
}

extension ByteSource {
    func skip(_ count: Int64) throws -> Int64 {
        var left = count
        while left > 0 {
            let chunk = try read(max: Int(min(left, 1 << 20)))
            if chunk.isEmpty { break }
            left -= Int64(chunk.count)
        }
        return count - left
    }
}

/// Reads `length` bytes of a file from `offset` with pread, so nothing else moves its position.
final class FileRangeSource: ByteSource {
    private let fd: Int32
    private var position: UInt64
    private let end: UInt64

    init(path: String, offset: UInt64 = 0, length: UInt64? = nil) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ImageError.io("cannot open \(path): \(String(cString: strerror(errno)))") }
        self.fd = fd
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            close(fd)
            throw ImageError.io("cannot stat \(path)")
        }
        let fileSize = UInt64(max(0, Int64(info.st_size)))
        let wanted = length ?? (fileSize >= offset ? fileSize - offset : 0)
        guard offset <= fileSize, wanted <= fileSize - offset else {
            close(fd)
            throw ImageError.io("\(path): range \(offset)+\(wanted) is past the end of the file (\(fileSize) bytes)")
        }
        position = offset
        end = offset + wanted
    }

    deinit { close(fd) }

    func read(max: Int) throws -> [UInt8] {
        let count = Int(min(UInt64(max), end - position))
        guard count > 0 else { return [] }
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let got = out.withUnsafeMutableBytes { raw in
                pread(fd, raw.baseAddress! + done, count - done, off_t(position) + off_t(done))
            }
            if got < 0 {
                if errno == EINTR { continue }
                throw ImageError.io("read error: \(String(cString: strerror(errno)))")
            }
            if got == 0 { throw ImageError.io("file shrank while being read") }
            done += got
        }
        position += UInt64(count)
        return out
    }

    /// Seeks instead of reading: indexing an archive does not read the layers inside it.
    func skip(_ count: Int64) throws -> Int64 {
        let passed = min(UInt64(max(0, count)), end - position)
        position += passed
        return Int64(passed)
    }
}

/// Buffers a source, counts and optionally hashes every byte that comes out of it.
/// The hash covers the whole stream only after `drain()`.
final class BufferedReader {
    private let source: ByteSource
    private var buffer: [UInt8] = []
    private var index = 0
    private var hasher: SHA256?
    private let chunkSize: Int
    /// Bytes handed to the caller so far.
    private(set) var consumed: Int64 = 0

    init(_ source: ByteSource, hashing: Bool = false, chunkSize: Int = 1 << 20) {
        self.source = source
        self.hasher = hashing ? SHA256() : nil
        self.chunkSize = chunkSize
    }

    /// Makes sure the buffer holds at least one unread byte; false at end of stream.
    private func fill() throws -> Bool {
        if index < buffer.count { return true }
        let chunk = try source.read(max: chunkSize)
        guard !chunk.isEmpty else { return false }
        hasher?.update(data: chunk)
        buffer = chunk
        index = 0
        return true
    }

    /// Up to `max` bytes; empty only at end of stream.
    func readChunk(max: Int) throws -> ArraySlice<UInt8> {
        guard max > 0, try fill() else { return [] }
        let count = min(max, buffer.count - index)
        defer { index += count; consumed += Int64(count) }
        return buffer[index..<index + count]
    }

    /// Up to `count` bytes; `complete` is false when the stream ended first.
    func readExactly(_ count: Int) throws -> (bytes: [UInt8], complete: Bool) {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        while out.count < count {
            let chunk = try readChunk(max: count - out.count)
            if chunk.isEmpty { return (out, false) }
            out.append(contentsOf: chunk)
        }
        return (out, true)
    }

    /// Skips `count` bytes; returns how many were actually skipped. Without hashing, the source
    /// may seek past them instead of reading.
    func skip(_ count: Int64) throws -> Int64 {
        let buffered = Int64(min(Int64(buffer.count - index), max(0, count)))
        index += Int(buffered)
        consumed += buffered
        var left = count - buffered
        if hasher == nil, left > 0 {
            let passed = try source.skip(left)
            consumed += passed
            left -= passed
            return count - left
        }
        while left > 0 {
            let chunk = try readChunk(max: Int(min(left, Int64(chunkSize))))
            if chunk.isEmpty { break }
            left -= Int64(chunk.count)
        }
        return count - left
    }

    /// Reads to the end of the stream (so the hash covers everything) and returns the bytes skipped.
    @discardableResult
    func drain() throws -> Int64 {
        var total: Int64 = 0
        while true {
            let chunk = try readChunk(max: chunkSize)
            if chunk.isEmpty { return total }
            total += Int64(chunk.count)
        }
    }

    /// The digest of everything read from the source; call after `drain()`.
    func digest() -> Digest? {
        guard let hasher else { return nil }
        return Digest(sha256: Array(hasher.finalize()))
    }
}

/// Streams a file range through SHA-256, optionally copying it to `copyTo`. Returns the digest.
func hashFileRange(path: String, offset: UInt64, length: UInt64, copyTo destination: FileHandle? = nil) throws -> Digest {
    let source = try FileRangeSource(path: path, offset: offset, length: length)
    var hasher = SHA256()
    while true {
        let chunk = try source.read(max: 1 << 20)
        if chunk.isEmpty { break }
        hasher.update(data: chunk)
        if let destination {
            do { try destination.write(contentsOf: chunk) } catch {
                throw ImageError.io("cannot write temporary file: \(error.localizedDescription)")
            }
        }
    }
    return Digest(sha256: Array(hasher.finalize()))
}
