import BenchReport
import Foundation
import Testing

/// `cvm bench` through the built executable, as a user runs it.
@Suite(.serialized) struct BenchCLITests {
    static var executable: URL? {
        // The test bundle sits beside the products (.build-x/<triple>/debug/CVMKitPackageTests.xctest).
        for start in [Bundle.main.bundleURL, URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()] {
            var directory = start
            while directory.path != "/" {
                let cvm = directory.appendingPathComponent("cvm")
                if FileManager.default.isExecutableFile(atPath: cvm.path) { return cvm }
                directory.deleteLastPathComponent()
            }
        }
        return nil
    }

    static func cvm(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        guard let executable else { throw CLIMissing() }
        process.executableURL = executable
        process.arguments = arguments
        process.currentDirectoryURL = BenchFixture.sourceTree
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }

    @Test func benchWritesAResultDirectory() throws {
        let directory = BenchFixture.temporaryDirectory("cli")
        defer { try? FileManager.default.removeItem(at: directory) }
        let run = try Self.cvm(["bench", "--guests", "unikernel", "--modes", "none,sev", "--workloads", "boot,stream",
                                "--reps", "2", "--warmups", "0", "--accel", "tcg", "--param", "stream.size=1M",
                                "--out", directory.path, "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        for file in [BenchFiles.environment, BenchFiles.plan, BenchFiles.runLog, BenchFiles.summary, BenchFiles.csv,
                     BenchFiles.markdown, BenchFiles.html] {
            #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent(file).path), "missing \(file)")
        }
        let json = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect(json["executed"] as? Int == 2)
        #expect(json["interrupted"] as? Bool == false)
        #expect(json["emulated"] as? Bool == true)
        // Progress goes to standard error, plain lines when it is not a terminal.
        #expect(run.stderr.contains("[1/2] unikernel@firmware/none/1vcpu/256M boot+stream rep 1"))
        let records = try BenchFixture.logLines(directory).map { try JSONDecoder().decode(BenchRunRecord.self, from: $0) }
        #expect(records.count == 2)
        #expect(records.allSatisfy { $0.outcome == .ok && $0.metrics.contains { $0.key == "stream.triad" } })
        let plan = try JSONDecoder().decode(BenchPlan.self, from: Data(contentsOf: directory.appendingPathComponent(BenchFiles.plan)))
        #expect(plan.workloadParameters?["stream.size"] == "1M")
        // Under TCG the working sets stay as given, and the plan and the progress say why.
        #expect(plan.workingSetNote?.contains("emulation (TCG)") == true && run.stderr.contains("working sets: emulation (TCG)"))

        // The same command again resumes and finds nothing to do; another plan is refused (exit 2).
        let again = try Self.cvm(["bench", "--guests", "unikernel", "--modes", "none,sev", "--workloads", "boot,stream",
                                  "--reps", "2", "--warmups", "0", "--accel", "tcg", "--param", "stream.size=1M", "--out", directory.path])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.contains("0 runs now"))
        let other = try Self.cvm(["bench", "--guests", "unikernel", "--modes", "none", "--workloads", "boot", "--reps", "3",
                                  "--accel", "tcg", "--out", directory.path])
        #expect(other.status == 2)
        #expect(other.stderr.contains("holds results of another plan"))
        #expect(other.stderr.split(separator: "\n").filter { $0.hasPrefix("cvm: ") }.count == 1)
    }

    /// QEMU processes whose QMP socket path names this cvm process (`/tmp/cvm-bench-PID-…`).
    static func guests(of pid: Int32) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { candidate in
            guard let data = FileManager.default.contents(atPath: "/proc/\(candidate)/cmdline") else { return false }
            let text = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            return text.contains("qemu-system") && text.contains("/tmp/cvm-bench-\(pid)-")
        }
    }

    @Test func sigintWhileAGuestRunsStopsCleanly() throws {
        let directory = BenchFixture.temporaryDirectory("sigint")
        defer { try? FileManager.default.removeItem(at: directory) }
        // Wait for one finished run and a guest running now, then interrupt cvm alone (not its QEMU).
        let process = try BenchLifetimeCLITests.startBench(directory)
        let signalled = process.isRunning && !Self.guests(of: process.processIdentifier).isEmpty
        if signalled { kill(process.processIdentifier, SIGINT) }
        #expect(signalled)
        let stopDeadline = Date().addingTimeInterval(30)
        while process.isRunning && Date() < stopDeadline { usleep(50_000) }
        #expect(!process.isRunning)
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        #expect(process.terminationStatus == 130)
        #expect(Self.guests(of: process.processIdentifier).isEmpty)
        // The log keeps the finished runs, every line whole; the reports were written from them.
        let records = try BenchFixture.logLines(directory).map { try JSONDecoder().decode(BenchRunRecord.self, from: $0) }
        #expect(!records.isEmpty && records.count < 50)
        #expect(records.allSatisfy { $0.outcome == .ok })
        for file in [BenchFiles.summary, BenchFiles.markdown, BenchFiles.html] {
            #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent(file).path), "missing \(file)")
        }
    }

    @Test func badFlagsAreOneLineExitTwo() throws {
        let run = try Self.cvm(["bench", "--modes", "none,sev-xx", "--out", "/nonexistent/never"])
        #expect(run.status == 2)
        #expect(run.stderr == "cvm: unknown mode 'sev-xx' (expected none, sev, sev-es, sev-snp, tdx)\n")
        let config = BenchFixture.temporaryDirectory("config.yaml")
        try Data("reps: 3\nwarp: 9\n".utf8).write(to: config)
        defer { try? FileManager.default.removeItem(at: config) }
        let bad = try Self.cvm(["bench", "--config", config.path])
        #expect(bad.status == 2)
        #expect(bad.stderr.hasPrefix("cvm: \(config.lastPathComponent):2: unknown key 'warp'"))
    }
}

struct CLIMissing: Error, CustomStringConvertible {
    var description: String { "the cvm executable is not built next to the tests" }
}

/// No QEMU outlives `cvm bench`, and SIGTERM is told from SIGINT by the exit status.
@Suite(.serialized) struct BenchLifetimeCLITests {
    /// Starts a bench of many short unikernel runs and returns once one run is logged and a guest runs.
    static func startBench(_ directory: URL) throws -> Process {
        let process = Process()
        guard let executable = BenchCLITests.executable else { throw CLIMissing() }
        process.executableURL = executable
        process.arguments = ["bench", "--guests", "unikernel", "--modes", "none", "--workloads", "boot,stream,chase",
                             "--param", "stream.size=4M", "--param", "chase.size=8M", "--reps", "50", "--warmups", "0", "--accel", "tcg", "--out", directory.path]
        process.currentDirectoryURL = BenchFixture.sourceTree
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(180)
        while Date() < deadline && process.isRunning {
            let lines = (try? BenchFixture.logLines(directory).count) ?? 0
            if lines >= 1 && !BenchCLITests.guests(of: process.processIdentifier).isEmpty { break }
            usleep(50_000)
        }
        return process
    }

    @Test func killMinus9OfCvmBenchLeavesNoQEMU() throws {
        let directory = BenchFixture.temporaryDirectory("kill9")
        defer { try? FileManager.default.removeItem(at: directory) }
        let process = try Self.startBench(directory)
        let pid = process.processIdentifier
        #expect(!BenchCLITests.guests(of: pid).isEmpty, "no guest was running")
        kill(pid, SIGKILL)
        process.waitUntilExit()
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline && !BenchCLITests.guests(of: pid).isEmpty { usleep(100_000) }
        #expect(BenchCLITests.guests(of: pid).isEmpty, "QEMU outlived a kill -9 of cvm bench")
    }

    @Test func sigtermWhileAGuestRunsExits143WithReports() throws {
        let directory = BenchFixture.temporaryDirectory("sigterm")
        defer { try? FileManager.default.removeItem(at: directory) }
        let process = try Self.startBench(directory)
        let pid = process.processIdentifier
        #expect(!BenchCLITests.guests(of: pid).isEmpty, "no guest was running")
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
        #expect(process.terminationReason == .exit)
        #expect(process.terminationStatus == 143)
        #expect(BenchCLITests.guests(of: pid).isEmpty)
        for file in [BenchFiles.summary, BenchFiles.markdown] {
            #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent(file).path), "missing \(file)")
        }
    }
}
