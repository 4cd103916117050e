import Foundation
@testable import GuestImage

/// Test helpers: temporary directories and running host tools.
enum TestSupport {
    static func temporaryDirectory(_ label: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-guestimage-\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    struct Result {
        let status: Int32
        let output: String
        let timedOut: Bool
    }

    /// Runs a command through /bin/sh with stdout+stderr captured to a file and a hard timeout.
    static func shell(_ script: String, in directory: URL? = nil, timeout: Double = 120) throws -> Result {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-guestimage-log-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        let handle = try FileHandle(forWritingTo: log)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script]
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        if let directory { process.currentDirectoryURL = directory }
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        while process.isRunning {
            if Date() > deadline {
                timedOut = true
                kill(process.processIdentifier, SIGKILL)
                break
            }
            usleep(20_000)
        }
        process.waitUntilExit()
        try handle.close()
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? String(decoding: (try? Data(contentsOf: log)) ?? Data(), as: UTF8.self)
        return Result(status: process.terminationStatus, output: output, timedOut: timedOut)
    }

    static func quote(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    static func sha256(_ url: URL) throws -> String {
        try PartDigest.of(fileAt: url, file: url.lastPathComponent).sha256
    }
}
