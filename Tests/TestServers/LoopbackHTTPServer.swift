import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The stand-in for AMD KDS and Intel PCS (kds_server.py) on a free loopback port, serving the files
/// under `root` (with the headers of a `NAME.headers` JSON file beside a file) and logging every
/// request's path and query to root/requests.log. Nothing leaves the machine.
public final class LoopbackHTTPServer {
    let process = Process()
    public let port: Int
    public let root: URL

    public init(root: URL) throws {
        self.root = root
        let output = Pipe()
        // The system python3 starts fast; the server needs nothing beyond the standard library.
        let system = URL(fileURLWithPath: "/usr/bin/python3")
        let python = FileManager.default.isExecutableFile(atPath: system.path) ? system : URL(fileURLWithPath: "/usr/bin/env")
        guard let script = Bundle.module.url(forResource: "kds_server", withExtension: "py") else {
            throw Failure(description: "kds_server.py is missing from the TestServers bundle")
        }
        process.executableURL = python
        process.arguments = (python.path == "/usr/bin/env" ? ["python3"] : []) + [script.path, root.path]
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
            throw Failure(description: "the loopback server did not report a port")
        }
        self.port = port
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// The base URL of one behaviour (ok, ratelimit, slow, corrupt, unavailable; see kds_server.py).
    public func baseURL(_ mode: String) -> String { "http://127.0.0.1:\(port)/\(mode)" }

    public var requests: [String] {
        let text = (try? String(contentsOf: root.appendingPathComponent("requests.log"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map(String.init)
    }

    deinit {
        // SIGKILL: a child spawned from a libdispatch thread may have SIGTERM blocked.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
