import Foundation

/// Runs the built `cvm` executable as a user would and captures what it prints.
struct CLIRun {
    let status: Int32
    let stdout: String
    let stderr: String

    static var executable: URL {
        // The test bundle sits next to the products: .build/<triple>/debug/CVMKitPackageTests.xctest
        var directory = Bundle.main.bundleURL
        for candidate in [Bundle.main.bundleURL, URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()] {
            directory = candidate
            while directory.path != "/" {
                let cvm = directory.appendingPathComponent("cvm")
                if FileManager.default.isExecutableFile(atPath: cvm.path) { return cvm }
                directory.deleteLastPathComponent()
            }
        }
        return URL(fileURLWithPath: "/nonexistent/cvm")
    }

    static func cvm(_ arguments: String...) throws -> CLIRun {
        try cvm(arguments)
    }

    static func cvm(_ arguments: [String], environment: [String: String]? = nil) throws -> CLIRun {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let environment { process.environment = environment }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes before waiting, so large outputs cannot block the child.
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return CLIRun(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }
}
