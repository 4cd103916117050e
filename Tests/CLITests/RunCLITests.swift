import Foundation
import HostProbe
import Testing

@Suite(.serialized) struct RunCLITests {
    static func guest(lines: [String], exitCode: UInt8?) throws -> (dir: URL, bios: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-run-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let bios = dir.appendingPathComponent("guest.bios").path
        try Data(QEMUGuestProbe.biosImage(printing: lines, exitCode: exitCode)).write(to: URL(fileURLWithPath: bios))
        return (dir, bios)
    }

    @Test func theGuestsExitCodeBecomesCvmsExitStatus() throws {
        let (dir, bios) = try Self.guest(lines: ["guest says hi"], exitCode: 5)
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try CLIRun.cvm("run", "--firmware", "bios:\(bios)", "--accel", "tcg", "--timeout", "30")
        #expect(run.status == 5, "\(run.stderr)")
        #expect(run.stdout.contains("guest says hi"))
        #expect(run.stderr.contains("not protected"))
        #expect(run.stderr.contains("TCG"))
        #expect(run.stderr.contains("guest exited with code 5"))
    }

    @Test func jsonResultCarriesTheConsoleWithTimes() throws {
        let (dir, bios) = try Self.guest(lines: ["one", "two"], exitCode: 0)
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try CLIRun.cvm("run", "--firmware", "bios:\(bios)", "--accel", "tcg", "--timeout", "30", "--json")
        #expect(run.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let result = try #require(object["result"] as? [String: Any])
        #expect(result["guestExitCode"] as? Int == 0)
        #expect((result["console"] as? [[String: Any]])?.compactMap { $0["text"] as? String } == ["one", "two"])
        #expect(object["accelerator"] as? String == "tcg")
    }

    @Test func aGuestKernelPanicExits125WithThePanicLine() throws {
        let (dir, bios) = try Self.guest(lines: ["Kernel panic - not syncing: VFS: Unable to mount root fs"], exitCode: nil)
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try CLIRun.cvm("run", "--firmware", "bios:\(bios)", "--accel", "tcg", "--timeout", "90", "--quiet")
        #expect(run.status == 125, "\(run.stderr)")
        #expect(run.stderr.contains("guest kernel reported a fatal error (Kernel panic - not syncing: VFS: Unable to mount root fs)"))
        #expect(!Self.qemuRunning(with: bios))
    }

    @Test func sigintStopsTheGuestAndLeavesNoQEMU() throws {
        let (dir, bios) = try Self.guest(lines: ["spinning"], exitCode: nil)
        defer { try? FileManager.default.removeItem(at: dir) }
        let process = Process()
        process.executableURL = CLIRun.executable
        process.arguments = ["run", "--firmware", "bios:\(bios)", "--accel", "tcg", "--quiet"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Wait until QEMU is up (it holds the BIOS path on its command line).
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline && !Self.qemuRunning(with: bios) { usleep(50_000) }
        #expect(Self.qemuRunning(with: bios))
        usleep(300_000)
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        #expect(process.terminationStatus == 130)
        #expect(!Self.qemuRunning(with: bios))
    }

    static func qemuRunning(with marker: String) -> Bool {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for pid in entries where pid.allSatisfy(\.isNumber) {
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { continue }
            let text = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
            if text.contains("qemu-system") && text.contains(marker) {
                // A zombie has no command line; anything listed here is alive.
                return true
            }
        }
        return false
    }

    /// A file with only a Linux setup header: enough for a dry run or a host refusal (a BIOS image is no kernel).
    static func linuxKernel(in dir: URL) throws -> String {
        var bytes = [UInt8](repeating: 0, count: 4096)
        bytes.replaceSubrange(0x202..<0x208, with: [0x48, 0x64, 0x72, 0x53, 0x0F, 0x02])
        let path = dir.appendingPathComponent("vmlinuz").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func dryRunPrintsTheSNPCommandForAnotherHost() throws {
        let (dir, _) = try Self.guest(lines: [], exitCode: 0)
        defer { try? FileManager.default.removeItem(at: dir) }
        let bios = try Self.linuxKernel(in: dir)
        let run = try CLIRun.cvm("run", "--kernel", bios, "--mode", "sev-snp", "--vcpus", "2", "--cbitpos", "51", "--dry-run")
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.hasPrefix("qemu-system-x86_64 "))
        #expect(run.stdout.contains("-accel kvm"))
        #expect(run.stdout.contains("sev-snp-guest,id=sev0,cbitpos=51,reduced-phys-bits=1,policy=0x30000"))
        #expect(run.stdout.contains("memory-backend-memfd"))
    }

    @Test func dryRunWithLibvirtPrintsDomainXML() throws {
        let (dir, _) = try Self.guest(lines: [], exitCode: 0)
        defer { try? FileManager.default.removeItem(at: dir) }
        let bios = try Self.linuxKernel(in: dir)
        let run = try CLIRun.cvm("run", "--kernel", bios, "--mode", "sev", "--policy", "0x07", "--backend", "libvirt", "--dry-run")
        #expect(run.status == 2, "policy 0x07 has the ES bit: --mode sev must refuse it")
        #expect(run.stderr.contains("use --mode sev-es"), "\(run.stderr)")
        let es = try CLIRun.cvm("run", "--kernel", bios, "--mode", "sev-es", "--policy", "0x07", "--backend", "libvirt", "--dry-run")
        #expect(es.status == 0, "\(es.stderr)")
        #expect(es.stdout.contains("<launchSecurity type='sev'>"))
        #expect(es.stdout.contains("<policy>0x0007</policy>"))
    }

    @Test func aConfidentialModeThisHostCannotRunIsRefusedWithReasons() throws {
        let check = try CLIRun.cvm("host", "check", "--mode", "sev", "--no-guest-probe")
        try #require(check.status == 1, "this host can run SEV; the refusal path is not testable here")
        let (dir, _) = try Self.guest(lines: [], exitCode: 0)
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try CLIRun.cvm("run", "--kernel", try Self.linuxKernel(in: dir), "--mode", "sev")
        #expect(run.status == 3)
        #expect(run.stderr.contains("SEV cannot launch on this host"))
        #expect(run.stderr.contains("--dry-run"))
    }

    @Test(arguments: [["--kernel", "/nonexistent/kernel"], ["--memory", "lots"], []])
    func badInputIsExitTwo(arguments: [String]) throws {
        let (dir, bios) = try Self.guest(lines: [], exitCode: 0)
        defer { try? FileManager.default.removeItem(at: dir) }
        var args = ["run"] + arguments
        if arguments.first == "--memory" { args += ["--firmware", "bios:\(bios)"] }
        let run = try CLIRun.cvm(args)
        #expect(run.status == 2, "\(run.stderr)")
        #expect(run.stderr.hasPrefix("cvm: "))
    }
}
