import Foundation
import HostOS

/// Where archive bytes go. Writers push bytes as they produce them, so nothing is held twice.
public protocol ByteSink: AnyObject {
    func write(_ bytes: UnsafeRawBufferPointer) throws
    /// Flushes and closes; after it the output is complete.
    func finish() throws
}

extension ByteSink {
    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }
}

/// Collects everything in memory (tests and small archives).
public final class MemorySink: ByteSink {
    public private(set) var bytes: [UInt8] = []
    public init() {}
    public func write(_ bytes: UnsafeRawBufferPointer) throws { self.bytes.append(contentsOf: bytes) }
    public func finish() throws {}
}

/// Writes to a file, replacing it.
public final class FileSink: ByteSink {
    private let handle: FileHandle
    public let url: URL

    public init(url: URL) throws {
        self.url = url
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw GuestImageError.io("cannot create \(url.path)")
        }
        handle = try FileHandle(forWritingTo: url)
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        try handle.write(contentsOf: Data(bytes))
    }

    public func finish() throws { try handle.close() }
}

/// Compresses through the system `gzip -n` into a file: no name and mtime 0 in the header, so equal
/// input gives equal output.
public final class GzipFileSink: ByteSink {
    private let child: ChildProcess
    private let input: FileHandle
    private let output: FileHandle
    public let url: URL

    public init(url: URL, level: Int = 9) throws {
        guard let gzip = ProcessRunner.which("gzip") else { throw GuestImageError.missingTool("gzip", hint: "apt-get install gzip") }
        self.url = url
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw GuestImageError.io("cannot create \(url.path)")
        }
        output = try FileHandle(forWritingTo: url)
        // A gzip that dies must surface as a write error, not kill us with SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        do {
            child = try ChildProcess(.init(executable: gzip, arguments: ["-n", "-\(min(max(level, 1), 9))", "-c"],
                                           standardInput: .pipe, standardOutput: .fileDescriptor(output.fileDescriptor),
                                           standardError: .capture(limit: 64 << 10)))
        } catch {
            throw GuestImageError.io("\(error)")
        }
        guard let input = child.standardInput else { throw GuestImageError.io("gzip has no input pipe") }
        self.input = input
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        try input.write(contentsOf: Data(bytes))
    }

    // An archive abandoned before `finish` (an error while writing) leaves no gzip running: a
    // ChildProcess that is released unfinished stops its process group.

    public func finish() throws {
        try input.close()
        let result = child.wait()
        try output.close()
        guard result.termination.exitCode == 0 else {
            throw GuestImageError.toolFailed("gzip", status: result.termination.status, message: result.stderrText)
        }
    }
}
