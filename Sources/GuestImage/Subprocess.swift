import Foundation

/// Runs the standard tools the builders rely on (apt-get, dpkg-deb, gcc, busybox). Output goes through
/// temporary files, so a chatty child can never block on a full pipe.
enum Subprocess {
    struct Output {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    static func which(_ name: String) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin"] {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Runs `arguments` and returns its output whatever the status.
    static func capture(_ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:],
                        hint: String = "") throws -> Output {
        guard let tool = arguments.first else { throw GuestImageError.io("empty command") }
        guard let executable = which(tool) else { throw GuestImageError.missingTool(tool, hint: hint.isEmpty ? "not on PATH" : hint) }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-img-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let outURL = scratch.appendingPathComponent("out")
        let errURL = scratch.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let outHandle = try FileHandle(forWritingTo: outURL)
        let errHandle = try FileHandle(forWritingTo: errURL)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = Array(arguments.dropFirst())
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = outHandle
        process.standardError = errHandle
        if let directory { process.currentDirectoryURL = directory }
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        try process.run()
        process.waitUntilExit()
        try? outHandle.close()
        try? errHandle.close()
        let stdout = (try? String(contentsOf: outURL, encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
        let status = process.terminationReason == .exit ? process.terminationStatus : 128 + process.terminationStatus
        return Output(status: status, stdout: stdout, stderr: stderr)
    }

    /// Runs `arguments` and throws unless it exits with status 0.
    @discardableResult
    static func run(_ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:],
                    hint: String = "") throws -> String {
        let output = try capture(arguments, in: directory, environment: environment, hint: hint)
        guard output.status == 0 else {
            throw GuestImageError.toolFailed(arguments.prefix(2).joined(separator: " "), status: output.status,
                                             message: output.stderr.isEmpty ? output.stdout : output.stderr)
        }
        return output.stdout
    }
}
