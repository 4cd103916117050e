import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs helper scripts the tests need (python3 with `cryptography`, the loopback KDS stand-in).
enum Subprocess {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-attest-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// The system python3 starts fast (the stand-in server needs nothing else); scripts that need
    /// `cryptography` run with the python3 on PATH, where it is pip-installed.
    static var systemPython3: URL {
        let system = URL(fileURLWithPath: "/usr/bin/python3")
        return FileManager.default.isExecutableFile(atPath: system.path) ? system : URL(fileURLWithPath: "/usr/bin/env")
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

/// The KDS stand-in (Fixtures/kds/kds_server.py) on a free loopback port, serving `root`.
final class LoopbackKDS {
    let process = Process()
    let port: Int
    let root: URL

    init(root: URL) throws {
        self.root = root
        let output = Pipe()
        let python = Subprocess.systemPython3
        process.executableURL = python
        process.arguments = (python.path == "/usr/bin/env" ? ["python3"] : []) + [Fixture.url("kds/kds_server.py").path, root.path]
        process.standardOutput = output
        try process.run()
        var line = Data()
        while !line.contains(0x0A) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        guard let port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            process.terminate()
            throw Subprocess.Failure(description: "the KDS stand-in did not report a port")
        }
        self.port = port
    }

    func baseURL(_ mode: String) -> String { "http://127.0.0.1:\(port)/\(mode)" }

    var requests: [String] {
        let text = (try? String(contentsOf: root.appendingPathComponent("requests.log"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map(String.init)
    }

    deinit {
        // SIGKILL: a child spawned from a libdispatch thread may have SIGTERM blocked.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
