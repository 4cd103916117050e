import Foundation
import Testing

/// scripts/hardware-check on this host, as a user would run it first on an SNP host: without SEV it boots
/// the unikernel in mode none, skips the confidential modes with the host check's blockers, writes the
/// result directory, and exits 3 (nothing confidential could run here).
struct HardwareCheckScriptTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts/hardware-check").path

    @Test(.timeLimit(.minutes(5))) func withoutSEVItRunsModeNoneSkipsTheRestAndExitsThree() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-hardware-check-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [Self.script, "--cvm", CLIRun.executable.path, "--out", out.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 3, "\(output)")
        let summary = try String(contentsOf: out.appendingPathComponent("summary.txt"), encoding: .utf8)
        #expect(summary.contains("none: ran: exit 0, guest detected sev=none, attestation n/a"), "\(summary)")
        for mode in ["sev", "sev-es", "sev-snp"] {
            #expect(summary.contains("\(mode): skipped: "), "\(summary)")
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("\(mode).skipped").path))
        }
        for file in ["environment.txt", "host-check.json", "none.json", "bundle/firmware.fd", "bundle/manifest.json"] {
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(file).path), "missing \(file)")
        }
        let environment = try String(contentsOf: out.appendingPathComponent("environment.txt"), encoding: .utf8)
        #expect(environment.contains("microcode: ") && environment.contains("qemu: QEMU emulator version"), "\(environment)")
    }
}
