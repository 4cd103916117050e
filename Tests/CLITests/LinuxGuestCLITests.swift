import Foundation
import Testing

/// The minimal Linux guest, built by `cvm image build linux` and booted by `cvm run` under TCG, as a
/// user would: SeaBIOS and OVMF with the QEMU backend, and a TCG domain through a real libvirtd.
@Suite(.serialized) struct LinuxGuestCLITests {
    static let bundle: Result<String, CLIRunError> = {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-cli-linux-bundle").path
        do {
            let build = try CLIRun.cvm("image", "build", "linux", "--out", out)
            guard build.status == 0 else { return .failure(CLIRunError(message: "bundle build failed: \(build.stderr)")) }
            return .success(out)
        } catch {
            return .failure(CLIRunError(message: "\(error)"))
        }
    }()

    func run(_ extra: [String]) throws -> CLIRun {
        let bundle = try Self.bundle.get()
        return try CLIRun.cvm(["run", bundle, "--accel", "tcg", "--timeout", "300", "--memory", "512M",
                               "--extra-args", "cvm.run=\"echo hello-from-linux; exit 3\""] + extra)
    }

    @Test func seabiosBootReturnsTheCommandsExitCode() throws {
        let run = try run([])
        #expect(run.status == 3, "\(run.stderr)")
        #expect(run.stdout.contains("hello-from-linux"))
        #expect(run.stdout.contains("cvm-init: t="))
        #expect(run.stderr.contains("guest exited with code 3"))
    }

    @Test func ovmfBootReturnsTheCommandsExitCode() throws {
        let run = try run(["--firmware", "ovmf"])
        #expect(run.status == 3, "\(run.stderr)")
        #expect(run.stdout.contains("hello-from-linux"))
    }

    @Test func libvirtTransientDomainBootsAndLeavesNothingBehind() throws {
        let version = try CLIRun.cvm(["host", "check", "--json", "--no-guest-probe"])
        let reachable = !version.stdout.contains("domain capabilities not read")
        if !reachable && ProcessInfo.processInfo.environment["CI"] == nil {
            return // no libvirtd here; CI starts one and then this test must run
        }
        let run = try run(["--backend", "libvirt"])
        #expect(run.status == 3, "\(run.stderr)")
        #expect(run.stdout.contains("hello-from-linux"))
        let list = Process()
        list.executableURL = URL(fileURLWithPath: "/usr/bin/virsh")
        list.arguments = ["-c", "qemu:///system", "list", "--all", "--name"]
        let pipe = Pipe()
        list.standardOutput = pipe
        try list.run()
        let names = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        list.waitUntilExit()
        #expect(!names.contains("cvm-run-"))
    }
}

struct CLIRunError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
