import Foundation
import Testing

/// scripts/demo-confidential-container on this host: it builds the image, makes the relying party's
/// key, builds a bundle that attests to it, starts the relying party, and stops at the SEV-SNP launch
/// with the host check's reason (exit 3), having started no guest.
struct DemoScriptTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts/demo-confidential-container").path

    @Test(.timeLimit(.minutes(5))) func withoutSNPItRunsEveryStepUpToTheLaunchAndExitsThree() throws {
        let work = try OCITestArchive.temporaryDirectory("demo")
        defer { try? FileManager.default.removeItem(at: work) }
        var environment = try OCITestArchive.environment(cache: work.appendingPathComponent("cache"))
        environment["CVM"] = CLIRun.executable.path
        environment["PORT"] = String(freeLoopbackPort())
        environment["WEB"] = String(freeLoopbackPort())
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [Self.script, work.appendingPathComponent("demo").path]
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 3, "\(output.suffix(3000))")
        for step in ["== 1.", "== 2.", "== 3.", "== 4.", "== 5."] { #expect(output.contains(step), "\(step) missing") }
        #expect(output.contains("SEV-SNP cannot launch on this host"), "\(output.suffix(2000))")
        #expect(output.contains("demo: stopped at the launch"))
        #expect(output.contains("cvm attest serve: listening on"))
        let key = work.appendingPathComponent("demo/relying-party.key").path
        #expect((try FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as? Int) == 0o600)
        let manifest = try String(contentsOfFile: work.appendingPathComponent("demo/bundle/manifest.json").path, encoding: .utf8)
        #expect(manifest.contains("attestation.url"), "the bundle attests to the relying party")
        #expect(!output.contains("== 6."), "no page without a guest")
    }
}
