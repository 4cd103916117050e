import Foundation

/// Runs helper scripts the tests need (python3 with `cryptography`); scripts run with the python3 on
/// PATH, where it is pip-installed.
enum Subprocess {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-attest-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Runs python3 with a fixture script and waits for it.
    static func python(_ script: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Fixture.url(script).path] + arguments
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw Failure(description: "\(script) exited \(process.terminationStatus)") }
    }
}
