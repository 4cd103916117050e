import Foundation
import Testing

/// `cvm vm stop` of the minimal Linux guest under TCG: cvm-init powers off on the ACPI power button,
/// so the stop ends well before its force timeout and says the guest powered off.
struct VMPowerButtonCLITests {
    @Test(.timeLimit(.minutes(15))) func linuxGuestPowersOffOnTheACPIPowerButton() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-vm-powerbutton-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        var environment = ProcessInfo.processInfo.environment
        environment["CVM_HOME"] = scratch.path
        // A command that stays up until the power button: the guest must not exit by itself.
        let command = Data("echo vm-up-for-stop; exec sleep 3600".utf8).base64EncodedString()
        let bundle = scratch.appendingPathComponent("bundle").path
        let build = try CLIRun.cvm(["image", "build", "linux", "--out", bundle, "--cmdline", "console=ttyS0 panic=-1 cvm.run64=\(command)"],
                                   environment: environment)
        try #require(build.status == 0, "\(build.stderr)")
        let create = try CLIRun.cvm(["vm", "create", "pb", "--bundle", bundle, "--accel", "tcg", "--memory", "512M"], environment: environment)
        try #require(create.status == 0, "\(create.stderr)")
        defer { _ = try? CLIRun.cvm(["vm", "delete", "pb"], environment: environment) }
        let start = try CLIRun.cvm(["vm", "start", "pb", "--wait-for", "vm-up-for-stop", "--timeout", "600"], environment: environment)
        try #require(start.status == 0, "\(start.stderr)")

        let began = Date()
        let stop = try CLIRun.cvm(["vm", "stop", "pb", "--timeout", "60"], environment: environment)
        let seconds = Date().timeIntervalSince(began)
        #expect(stop.status == 0, "\(stop.stderr)")
        #expect(stop.stdout.contains("the guest powered off"), "\(stop.stdout)")
        #expect(seconds < 30, "vm stop took \(Int(seconds)) s of its 60 s force timeout")
        let log = try String(contentsOfFile: scratch.appendingPathComponent("vms/pb/serial.log").path, encoding: .utf8)
        #expect(log.contains("power-button status=watching"))
        #expect(log.contains("power-button status=pressed"))
        let status = try CLIRun.cvm(["vm", "status", "pb", "--json"], environment: environment)
        #expect(status.stdout.contains("\"stopped\""))
    }
}
