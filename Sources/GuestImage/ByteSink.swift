import Foundation

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
    private let process: Process
    private let input: Pipe
    private let output: FileHandle
    private let errorURL: URL
    public let url: URL

    public init(url: URL, level: Int = 9) throws {
        guard let gzip = Subprocess.which("gzip") else { throw GuestImageError.missingTool("gzip", hint: "apt-get install gzip") }
        self.url = url
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw GuestImageError.io("cannot create \(url.path)")
        }
        output = try FileHandle(forWritingTo: url)
        errorURL = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).gzip-stderr")
        _ = FileManager.default.createFile(atPath: errorURL.path, contents: nil)
        input = Pipe()
        // A gzip that dies must surface as a write error, not kill us with SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        process = Process()
        process.executableURL = URL(fileURLWithPath: gzip)
        process.arguments = ["-n", "-\(min(max(level, 1), 9))", "-c"]
        process.standardInput = input
        process.standardOutput = output
        process.standardError = try FileHandle(forWritingTo: errorURL)
        try process.run()
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        try input.fileHandleForWriting.write(contentsOf: Data(bytes))
    }

    /// An archive abandoned before `finish` (an error while writing) must not leave gzip running.
    deinit {
        if process.isRunning {
            try? input.fileHandleForWriting.close()
            process.terminate()
            process.waitUntilExit()
        }
    }

    public func finish() throws {
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        try output.close()
        let message = (try? String(contentsOf: errorURL, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(at: errorURL)
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            throw GuestImageError.toolFailed("gzip", status: process.terminationStatus, message: message)
        }
    }
}
