import Foundation
import Testing

/// `cvm vm start` and `vm stop` of the minimal Linux guest under TCG, run the way a harness runs cvm:
/// standard output and error are pipes read to end of file. The daemonized QEMU outlives `vm start`,
/// so it must hold neither pipe, or the reader never sees end of file and hangs; and the stop ends on
/// the ACPI power button, well before its force timeout.
struct VMStartCLITests {
    @Test(.timeLimit(.minutes(15))) func vmStartReturnsToAReaderOfItsPipesAndStopUsesThePowerButton() throws {
        let scratch = try Self.scratch("cvm-vm-start-cli")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let environment = Self.environment(scratch)
        // A command that stays up until the power button: the guest must not exit by itself.
        try Self.createLinuxVM("pipes", running: "echo vm-up-for-stop; exec sleep 3600", in: scratch, environment: environment)
        defer { _ = try? CLIRun.cvm(["vm", "delete", "pipes"], environment: environment) }

        // CLIRun reads both pipes to end of file: a QEMU holding either keeps this call from returning.
        let start = try CLIRun.cvm(["vm", "start", "pipes", "--wait-for", "vm-up-for-stop", "--timeout", "600"], environment: environment)
        try #require(start.status == 0, "\(start.stderr)")
        let pidText = try String(contentsOfFile: scratch.appendingPathComponent("vms/pipes/qemu.pid").path, encoding: .utf8)
        let pid = try #require(Int32(pidText.filter { !$0.isWhitespace }))
        for fd in 0...2 {
            let target = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)")
            #expect(target == "/dev/null", "QEMU's descriptor \(fd) is \(target), not /dev/null")
        }

        let began = Date()
        let stop = try CLIRun.cvm(["vm", "stop", "pipes", "--timeout", "60"], environment: environment)
        let seconds = Date().timeIntervalSince(began)
        #expect(stop.status == 0, "\(stop.stderr)")
        #expect(stop.stdout.contains("the guest powered off"), "\(stop.stdout)")
        #expect(seconds < 30, "vm stop took \(Int(seconds)) s of its 60 s force timeout")
        let status = try CLIRun.cvm(["vm", "status", "pipes", "--json"], environment: environment)
        #expect(status.stdout.contains("\"stopped\""), "\(status.stdout)")
        // vm stop returns once QEMU has exited; init reaps the daemon a moment later.
        let deadline = Date().addingTimeInterval(5)
        while kill(pid, 0) == 0 && Date() < deadline { usleep(100_000) }
        #expect(kill(pid, 0) != 0, "QEMU (pid \(pid)) still runs 5 s after vm stop")
    }

    /// A guest whose command ends powers off by itself; state.json must say so without another `cvm vm`
    /// command looking (the watcher `vm start` leaves records it).
    @Test(.timeLimit(.minutes(15))) func aGuestThatExitsByItselfIsRecordedStoppedWithoutAnotherCommand() throws {
        let scratch = try Self.scratch("cvm-vm-exit-cli")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let environment = Self.environment(scratch)
        try Self.createLinuxVM("exits", running: "echo vm-up-then-exit; sleep 2", in: scratch, environment: environment)
        defer { _ = try? CLIRun.cvm(["vm", "delete", "exits"], environment: environment) }
        let start = try CLIRun.cvm(["vm", "start", "exits", "--wait-for", "vm-up-then-exit", "--timeout", "600"], environment: environment)
        try #require(start.status == 0, "\(start.stderr)")

        let state = scratch.appendingPathComponent("vms/exits/state.json")
        func recorded() -> String? {
            guard let data = FileManager.default.contents(atPath: state.path),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
            return object["status"] as? String
        }
        let deadline = Date().addingTimeInterval(120)
        while recorded() == "running" && Date() < deadline { usleep(200_000) }
        #expect(recorded() == "stopped", "state.json says \(recorded() ?? "nothing") after the guest exited")
    }

    static func scratch(_ prefix: String) throws -> URL {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        return scratch
    }

    static func environment(_ scratch: URL) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["CVM_HOME"] = scratch.path
        return environment
    }

    /// Builds a Linux bundle whose init runs `command`, and creates VM `name` from it under TCG.
    static func createLinuxVM(_ name: String, running command: String, in scratch: URL, environment: [String: String]) throws {
        let encoded = Data(command.utf8).base64EncodedString()
        let bundle = scratch.appendingPathComponent("bundle").path
        let build = try CLIRun.cvm(["image", "build", "linux", "--out", bundle, "--cmdline", "console=ttyS0 panic=-1 cvm.run64=\(encoded)"],
                                   environment: environment)
        try #require(build.status == 0, "\(build.stderr)")
        let create = try CLIRun.cvm(["vm", "create", name, "--bundle", bundle, "--accel", "tcg", "--memory", "512M"], environment: environment)
        try #require(create.status == 0, "\(create.stderr)")
    }
}
