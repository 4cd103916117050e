import Foundation
import HostOS
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Layer compression, recognised by the magic bytes at the start of a blob (never by media type).
public enum LayerCompression: String, Sendable, Codable {
    case none, gzip, zstd

    /// gzip: RFC 1952 ID1 ID2 = 1f 8b; zstd: RFC 8878 frame magic 0xFD2FB528 (little-endian);
    /// bzip2 ("BZh") and xz (fd 37 7a 58 5a 00) are recognised only to be refused clearly.
    static func detect(_ prefix: [UInt8], what: String) throws -> LayerCompression {
        if prefix.starts(with: [0x1F, 0x8B]) { return .gzip }
        if prefix.starts(with: [0x28, 0xB5, 0x2F, 0xFD]) { return .zstd }
        if prefix.starts(with: [0x42, 0x5A, 0x68]) { throw ImageError.unsupportedCompression(what: what, kind: "bzip2") }
        if prefix.starts(with: [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) { throw ImageError.unsupportedCompression(what: what, kind: "xz") }
        return .none
    }

    var tool: String { self == .zstd ? "zstd" : "gzip" }
}

/// Decompresses by running `gzip -dc` or `zstd -dc` with a file as standard input and reading its
/// standard output through a pipe, so memory stays at one pipe buffer plus one chunk whatever the
/// layer size. Foundation has no gzip; zlib and libzstd are not needed in-process this way.
final class DecompressorSource: ByteSource {
    private let child: ChildProcess
    private let output: FileHandle
    private let tool: String
    private var finished = false

    init(compression: LayerCompression, input: FileHandle) throws {
        let tool = compression.tool
        guard let executable = ProcessRunner.which(tool) else {
            throw ImageError.toolMissing(tool: tool, hint: tool == "zstd" ? "install the zstd package" : "install the gzip package")
        }
        self.tool = tool
        // Standard error is drained by the process layer: a chatty tool can never block on it.
        do {
            child = try ChildProcess(.init(executable: executable, arguments: ["-dc"], standardInput: .fileDescriptor(input.fileDescriptor),
                                           standardOutput: .pipe, standardError: .capture(limit: 64 << 10)))
        } catch {
            throw ImageError.io("\(error)")
        }
        guard let output = child.standardOutput else { throw ImageError.io("\(tool) has no output pipe") }
        self.output = output
    }

    func read(max: Int) throws -> [UInt8] {
        guard !finished else { return [] }
        var out = [UInt8](repeating: 0, count: max)
        let fd = output.fileDescriptor
        while true {
            let got = out.withUnsafeMutableBytes { raw in systemRead(fd, raw.baseAddress, max) }
            if got < 0 {
                if errno == EINTR { continue }
                throw ImageError.io("reading \(tool) output: \(String(cString: strerror(errno)))")
            }
            if got == 0 {
                try finish()
                return []
            }
            out.removeLast(max - got)
            return out
        }
    }

    /// Waits for the tool and turns a failure status into an error with its first line of stderr.
    private func finish() throws {
        finished = true
        let result = child.wait()
        guard result.termination.exitCode == 0 else {
            let line = result.stderrText.split(separator: "\n").first.map(String.init) ?? "no message"
            throw ImageError.decompressionFailed(tool: tool, status: result.termination.status, message: line)
        }
    }

    // A source dropped before its end (a bad layer) leaves no tool running: a ChildProcess that is
    // released unfinished stops its process group.
}

private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.read(fd, buffer, count)
    #else
    return Darwin.read(fd, buffer, count)
    #endif
}
