import Foundation
import Testing

/// scripts/check-programs (run by .ci/run) on a copy of the scripts beside a tree of our own making: a
/// program invoked from the Swift sources but missing from its table must fail the check. The tree has
/// no "/usr/bin/env" call, so the discovery's earlier patterns find nothing; the check once stopped
/// listing at the first such empty pattern and passed everything after it.
struct CheckProgramsTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func runCheck(swiftSource: String) throws -> (status: Int32, output: String) {
        let tree = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-check-programs-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: tree) }
        for folder in ["scripts", "Sources/Tool", "Tests", "Unikernel", ".ci"] {
            try FileManager.default.createDirectory(at: tree.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        for script in ["check-programs", "install-deps"] {
            try FileManager.default.copyItem(at: Self.packageRoot.appendingPathComponent("scripts/\(script)"),
                                             to: tree.appendingPathComponent("scripts/\(script)"))
        }
        try "#!/bin/sh\necho built\n".write(to: tree.appendingPathComponent("Unikernel/build.sh"), atomically: true, encoding: .utf8)
        try "#!/usr/bin/env bash\nbash scripts/check-programs\n".write(to: tree.appendingPathComponent(".ci/run"), atomically: true, encoding: .utf8)
        try swiftSource.write(to: tree.appendingPathComponent("Sources/Tool/Tool.swift"), atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [tree.appendingPathComponent("scripts/check-programs").path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func anUnlistedProgramFailsTheCheck() throws {
        let result = try runCheck(swiftSource: "let output = runner.run([\"cvm-unlisted-tool\", \"--version\"])\n")
        #expect(result.status == 1, "\(result.output)")
        #expect(result.output.contains("'cvm-unlisted-tool' is invoked but not in scripts/check-programs' table"), "\(result.output)")
    }

    @Test func anAbsolutePathToAnUnlistedProgramFailsTheCheck() throws {
        let result = try runCheck(swiftSource: "let tool = \"/usr/bin/cvm-unlisted-path\"\n")
        #expect(result.status == 1 && result.output.contains("'cvm-unlisted-path'"), "\(result.output)")
    }

    @Test func listedProgramsPass() throws {
        let result = try runCheck(swiftSource: "let output = runner.run([\"qemu-img\", \"info\"])\n")
        #expect(result.status == 0, "\(result.output)")
    }
}
