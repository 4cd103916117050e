import Foundation
import HostOS
import Testing
@testable import Launch

@Suite(.serialized) struct SupervisorTests {
    @Test func consoleLinesAndGuestExitCodeReachTheHost() throws {
        let dir = try TestGuest.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (_, bios) = try TestGuest.spec(in: dir, lines: ["hello from the guest", "second line"], exitCode: 7)
        let log = dir.appendingPathComponent("console.log").path
        let result = try QEMUSupervisor.run(TestGuest.arguments(biosPath: bios), options: .init(timeout: 30, consoleLog: log))
        #expect(result.guestExitCode == 7, "\(result.summary)")
        #expect(result.qemuExitStatus == 15)
        #expect(result.console.map(\.text) == ["hello from the guest", "second line"])
        #expect(!result.timedOut && !result.interrupted)
        #expect(try String(contentsOfFile: log, encoding: .utf8) == "hello from the guest\nsecond line\n")
        #expect(result.console.allSatisfy { $0.time >= 0 && $0.time <= result.wallSeconds })
    }

    @Test func exitCodeZeroIsSuccess() throws {
        let dir = try TestGuest.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (_, bios) = try TestGuest.spec(in: dir, lines: [], exitCode: 0)
        let result = try QEMUSupervisor.run(TestGuest.arguments(biosPath: bios), options: .init(timeout: 30))
        #expect(result.guestExitCode == 0)
    }

    @Test func aHungGuestIsStoppedAtTheTimeout() throws {
        let dir = try TestGuest.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (_, bios) = try TestGuest.spec(in: dir, lines: ["spinning"], exitCode: nil)
        let result = try QEMUSupervisor.run(TestGuest.arguments(biosPath: bios), options: .init(timeout: 2))
        #expect(result.timedOut)
        #expect(result.guestExitCode == nil)
        #expect(result.wallSeconds < 10)
        #expect(result.console.first?.text == "spinning")
    }

    @Test func qemuErrorsAreNotMistakenForGuestCodes() throws {
        let result = try QEMUSupervisor.run(["qemu-system-x86_64", "-machine", "no-such-machine"], options: .init(timeout: 30))
        #expect(result.guestExitCode == nil)
        #expect(result.summary.hasPrefix("QEMU failed"))
    }

    @Test func missingQEMUIsAnEnvironmentError() {
        #expect(throws: LaunchError.self) { try QEMUSupervisor.run(["qemu-system-nonexistent"]) }
    }

    @Test func guestExitCodeDecoding() {
        #expect(QEMUSupervisor.guestExitCode(Termination(exitCode: 0, signal: nil), stderr: "") == 0)
        #expect(QEMUSupervisor.guestExitCode(Termination(exitCode: 85, signal: nil), stderr: "") == 42)
        #expect(QEMUSupervisor.guestExitCode(Termination(exitCode: 1, signal: nil), stderr: "") == 0)
        #expect(QEMUSupervisor.guestExitCode(Termination(exitCode: 1, signal: nil), stderr: "qemu-system-x86_64: -bios x: could not load") == nil)
        #expect(QEMUSupervisor.guestExitCode(Termination(exitCode: nil, signal: 9), stderr: "") == nil)
    }
}

@Suite(.serialized) struct QMPTests {
    @Test func handshakeQueryStatusEventsAndQuit() throws {
        let dir = try TestGuest.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (_, bios) = try TestGuest.spec(in: dir, lines: ["qmp guest"], exitCode: nil)
        let socket = dir.appendingPathComponent("qmp.sock").path
        let box = ResultBox()
        let thread = Thread {
            box.set(try? QEMUSupervisor.run(TestGuest.arguments(biosPath: bios, qmpSocket: socket), options: .init(timeout: 30)))
        }
        thread.start()
        let client = try QMPClient(socketPath: socket, timeout: 10)
        #expect(client.qemuVersion.hasPrefix(String((try? qemuMajor()) ?? 0)))
        let status = try client.execute("query-status") as? [String: Any]
        #expect(status?["status"] as? String == "running")
        // No SEV in this guest: query-sev either fails or says it is not enabled; it never hangs.
        if let sev = try? client.execute("query-sev") as? [String: Any] {
            #expect((sev["enabled"] as? Bool) == false || (sev["enabled"] as? Int) == 0)
        }

        try client.execute("stop")
        #expect(client.waitForEvent("STOP", timeout: 5) != nil)
        try? client.execute("quit")
        let deadline = Date().addingTimeInterval(10)
        while box.get() == nil && Date() < deadline { usleep(20_000) }
        let result = try #require(box.get())
        #expect(!result.timedOut)
        #expect(result.console.first?.text == "qmp guest")
    }

    @Test func connectingToNothingFailsWithinTheTimeout() {
        let start = Date()
        #expect(throws: QMPClient.Error.self) { try QMPClient(socketPath: "/nonexistent/qmp.sock", timeout: 0.5) }
        #expect(Date().timeIntervalSince(start) < 5)
    }

    func qemuMajor() throws -> Int {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/qemu-system-x86_64")
        process.arguments = ["--version"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let digits = text.drop { !$0.isNumber }.prefix { $0.isNumber }
        return Int(digits) ?? 0
    }
}

final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: RunResult?
    func set(_ result: RunResult?) { lock.withLock { value = result } }
    func get() -> RunResult? { lock.withLock { value } }
}

@Suite struct GuestPanicTests {
    @Test func aKernelPanicStopsQEMUInsteadOfWaitingForTheTimeout() throws {
        let dir = try TestGuest.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let panic = "Kernel panic - not syncing: System is deadlocked on memory"
        let (_, bios) = try TestGuest.spec(in: dir, lines: ["booting", "[    0.5] " + panic, "Kernel Offset: disabled"], exitCode: nil)
        let result = try QEMUSupervisor.run(TestGuest.arguments(biosPath: bios), options: .init(timeout: 60))
        #expect(result.guestPanic == panic)
        #expect(!result.timedOut && result.guestExitCode == nil)
        #expect(result.wallSeconds < 30)
        #expect(result.summary.contains("reported a fatal error"))
        #expect(result.console.map(\.text).contains("Kernel Offset: disabled"))
    }

    @Test func aPresetsFatalLineEndsARunThatPoweredOffCleanly() throws {
        let dir = try TestGuest.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (_, bios) = try TestGuest.spec(in: dir, lines: ["[    0.1] ERR:  [libukboot] Init function at 0x1000 returned error -12"], exitCode: 0)
        let fatal = [FatalConsoleLine("Init function at", "returned error")]
        let result = try QEMUSupervisor.run(TestGuest.arguments(biosPath: bios), options: .init(timeout: 60, fatalLines: fatal))
        #expect(result.guestPanic == "Init function at 0x1000 returned error -12")
        #expect(result.guestExitCode == nil)
        // The fragments must come in order: "returned error" before "Init function at" is no match.
        #expect(FatalConsoleLine("Init function at", "returned error").match("returned error; Init function at 0x1") == nil)
    }

    @Test func theWordPanicAloneIsNotAPanic() throws {
        let dir = try TestGuest.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (_, bios) = try TestGuest.spec(in: dir, lines: ["panic=-1 on the command line"], exitCode: 4)
        let result = try QEMUSupervisor.run(TestGuest.arguments(biosPath: bios), options: .init(timeout: 60))
        #expect(result.guestPanic == nil)
        #expect(result.guestExitCode == 4)
    }
}
