import Foundation
import Testing

/// No guest outlives cvm: `kill -9` of `cvm run` leaves no QEMU and no libvirt domain, and a polite
/// signal tears the guest down with the exit status the shell expects (128 + the signal).
@Suite(.serialized) struct ProcessLifetimeCLITests {
    /// Starts `cvm run` with a spinning BIOS guest and waits until its QEMU is up.
    static func startRun(_ extra: [String] = [], bios: String, until ready: (Process) -> Bool) throws -> Process {
        let process = Process()
        process.executableURL = CLIRun.executable
        process.arguments = ["run", "--firmware", "bios:\(bios)", "--accel", "tcg", "--quiet", "--timeout", "600"] + extra
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline && process.isRunning && !ready(process) { usleep(50_000) }
        return process
    }

    /// Waits up to `seconds` for `condition`; the kernel delivers the parent-death signal at once, QEMU
    /// needs a moment to be reaped by init.
    static func eventually(_ seconds: Double = 10, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(100_000)
        }
        return condition()
    }

    @Test func killMinus9OfCvmRunLeavesNoQEMU() throws {
        let (dir, bios) = try RunCLITests.guest(lines: ["spinning"], exitCode: nil)
        defer { try? FileManager.default.removeItem(at: dir) }
        let process = try Self.startRun(bios: bios) { _ in RunCLITests.qemuRunning(with: bios) }
        #expect(RunCLITests.qemuRunning(with: bios))
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(Self.eventually { !RunCLITests.qemuRunning(with: bios) }, "QEMU outlived a kill -9 of cvm run")
    }

    @Test(arguments: [(SIGTERM, Int32(143)), (SIGINT, Int32(130))])
    func aSignalStopsTheGuestWithTheShellsStatus(signal: Int32, status: Int32) throws {
        let (dir, bios) = try RunCLITests.guest(lines: ["spinning"], exitCode: nil)
        defer { try? FileManager.default.removeItem(at: dir) }
        let process = try Self.startRun(bios: bios) { _ in RunCLITests.qemuRunning(with: bios) }
        #expect(RunCLITests.qemuRunning(with: bios))
        usleep(300_000)
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit)
        #expect(process.terminationStatus == status)
        #expect(!RunCLITests.qemuRunning(with: bios))
    }

    static func virsh(_ arguments: [String]) -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/virsh")
        process.arguments = ["-c", "qemu:///system"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return "" }
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return text
    }

    @Test func killMinus9OfALibvirtRunLeavesNoDomain() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/virsh"),
              Self.virsh(["uri"]).hasPrefix("qemu:///system") else {
            if ProcessInfo.processInfo.environment["CI"] != nil { Issue.record("libvirtd is not reachable") }
            return // no libvirtd here; CI starts one and then this test must run
        }
        let (dir, bios) = try RunCLITests.guest(lines: ["spinning"], exitCode: nil)
        defer { try? FileManager.default.removeItem(at: dir) }
        let process = try Self.startRun(["--backend", "libvirt"], bios: bios) { cvm in
            Self.virsh(["list", "--name"]).split(separator: "\n").contains { $0 == "cvm-run-\(cvm.processIdentifier)" }
        }
        let name = "cvm-run-\(process.processIdentifier)"
        #expect(Self.virsh(["list", "--name"]).split(separator: "\n").contains { $0 == name }, "the domain never ran")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(Self.eventually(30) { !Self.virsh(["list", "--all", "--name"]).contains(name) },
                "domain \(name) outlived a kill -9 of cvm run --backend libvirt")
        #expect(!RunCLITests.qemuRunning(with: bios))
    }
}
