import BenchReport
import Foundation
import GuestImage
import HostOS
import HostProbe
import SEVABI
import Testing
@testable import Bench

enum BenchFixture {
    /// The CVMKit checkout holding Unikernel/build.sh.
    static let sourceTree = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func options(guests: [GuestSpec] = [.unikernel], modes: [ConfidentialMode], workloads: [String], reps: Int, warmups: Int) -> BenchOptions {
        var options = BenchOptions()
        options.guests = guests
        options.modes = modes
        options.workloads = workloads
        options.repetitions = reps
        options.warmups = warmups
        options.accelerator = .tcg
        options.timeoutSeconds = 120
        return options
    }

    static func session(_ options: BenchOptions, directory: URL) -> BenchSession {
        var session = BenchSession(options: options, directory: directory,
                                   provider: GuestProvider(cache: DebianPackageCache.defaultRoot(), sourceTree: sourceTree))
        session.command = "swift test (BenchTests)"
        return session
    }

    static func temporaryDirectory(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("cvm-bench-test-\(name)-\(UUID().uuidString.prefix(8))")
    }

    static func logLines(_ directory: URL) throws -> [Data] {
        let data = try Data(contentsOf: directory.appendingPathComponent(BenchFiles.runLog))
        return data.split(separator: 0x0A).map { Data($0) }
    }
}

/// Real boots of the unikernel under TCG (about half a second each).
@Suite(.serialized) struct EngineTests {
    @Test func runRecordsOnDiskAndSkippedModes() throws {
        let directory = BenchFixture.temporaryDirectory("schema")
        defer { try? FileManager.default.removeItem(at: directory) }
        let options = BenchFixture.options(modes: [.none, .sevSNP], workloads: ["boot", "sha256"], reps: 2, warmups: 1)
        // A recorded host whose SNP is disabled in the BIOS: the sev-snp cells are skipped on every test machine.
        let host = try RecordedHost.load(path: BenchFixture.sourceTree.appendingPathComponent("Tests/HostProbeTests/Fixtures/hosts/genoa-snp-disabled.json").path)
        var session = BenchFixture.session(options, directory: directory)
        session.hostSources = host.sources
        let result = try session.run()
        #expect(!result.outcome.interrupted)
        #expect(result.outcome.executed.count == 3)

        // Every line of the run log is one complete record with the required fields.
        let required = ["schema", "runID", "cell", "workloads", "repetition", "warmup", "startedAt", "outcome", "guestExitCode",
                        "wallSeconds", "timeline", "metrics", "accelerator"]
        let lines = try BenchFixture.logLines(directory)
        #expect(lines.count == 3)
        var ids = Set<String>()
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: line) as? [String: Any])
            for key in required { #expect(object[key] != nil, "missing \(key)") }
            let record = try JSONDecoder().decode(BenchRunRecord.self, from: line)
            #expect(record.schema == BenchSchema.run)
            #expect(ids.insert(record.runID).inserted)
            #expect(record.runID.hasPrefix(record.cell.key + "/boot+sha256/"))
            #expect(record.outcome == .ok, "\(record.failure ?? "")")
            #expect(record.accelerator == "tcg")
            #expect(record.guestExitCode == 0)
            #expect(ISO8601DateFormatter().date(from: record.startedAt) != nil)
            #expect(record.timeline.map(\.name) == ["qemu-start", "firmware", "kernel-entry", "ready", "workload-done", "exit"])
            let times = record.timeline.map(\.seconds)
            #expect(times == times.sorted(), "timeline out of order: \(times)")
            #expect(times.first == 0)
            #expect(times.last == record.wallSeconds)
            let keys = Set(record.metrics.map(\.key))
            #expect(keys.isSuperset(of: ["boot.to-kernel", "boot.to-ready", "boot.to-exit", "sha256.throughput"]))
            #expect(record.guestTimeline?.map(\.name).contains("workload-start") == true)
        }
        let records = try lines.map { try JSONDecoder().decode(BenchRunRecord.self, from: $0) }
        #expect(records.filter(\.warmup).map(\.runID) == ["unikernel@firmware/none/1vcpu/256M/boot+sha256/w1"])

        // sev-snp is not runnable here: skipped with the host check's reason, never booted.
        let plan = try JSONDecoder().decode(BenchPlan.self, from: Data(contentsOf: directory.appendingPathComponent(BenchFiles.plan)))
        var checkOptions = HostChecker.Options()
        checkOptions.probeQEMUGuests = false
        let verdict = HostChecker(sources: host.sources, options: checkOptions).run().verdict(for: .sevSNP)
        try #require(!verdict.ready, "the recording is of a host with SNP disabled")
        do {
            let skipped = try #require(plan.skipped.first { $0.cell.mode == "sev-snp" })
            #expect(skipped.reason.hasPrefix("SEV-SNP cannot launch on this host: "))
            #expect(skipped.reason.contains(try #require(verdict.blockers.first)))
            #expect(!skipped.reason.contains("\n"))
            #expect(plan.cells.map(\.mode) == ["none"])
            #expect(records.allSatisfy { $0.cell.mode == "none" })
            let environment = try JSONDecoder().decode(BenchEnvironment.self, from: Data(contentsOf: directory.appendingPathComponent(BenchFiles.environment)))
            #expect(environment.modeVerdicts["sev-snp"]?.hasPrefix("not ready: ") == true)
            #expect(environment.modeVerdicts["none"] == "ready")
            #expect(environment.emulated)
            // Every mode of the unikernel boots its firmware.fd: that image is what SNP would measure.
            #expect(skipped.cell.boot == "firmware")
            try checkExpectedMeasurement(skipped, firmware: plan.guests.first.map { $0.path + "/firmware.fd" })
        }
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("console/unikernel@firmware_none_1vcpu_256M_boot+sha256_r1.log").path))
    }

    /// The skipped cell's expected measurement against sev-snp-measure (the test oracle, computed now).
    func checkExpectedMeasurement(_ skipped: SkippedCell, firmware: String?) throws {
        let oracle = ProcessInfo.processInfo.environment["SEV_SNP_MEASURE"]
            ?? BenchFixture.sourceTree.appendingPathComponent(".venv-oracle/bin/sev-snp-measure").path
        try #require(FileManager.default.isExecutableFile(atPath: oracle), "sev-snp-measure is needed (scripts/test installs it into .venv-oracle)")
        let firmware = try #require(firmware, "no firmware image for the skipped cell")
        let expected = try #require(skipped.expectedMeasurement, "\(skipped.measurementNote ?? "no note")")
        // firmware.fd, like the system OVMF, has no kernel-hashes table: only the image and the vCPUs are measured.
        try #require(!FirmwareDiscovery.inspect(firmware, files: LocalFileSystem()).hasKernelHashesTable, "\(firmware) has the kernel-hashes table")
        #expect(skipped.measurementNote?.contains("not measured") == true, "\(skipped.measurementNote ?? "")")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: oracle)
        process.arguments = ["--mode", "snp", "--vcpus", "\(skipped.cell.vcpus)", "--vcpu-type", "EPYC-v4", "--ovmf", firmware]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(text.trimmingCharacters(in: .whitespacesAndNewlines) == expected)
    }

    @Test func resumeRunsOnlyWhatIsMissing() throws {
        let directory = BenchFixture.temporaryDirectory("resume")
        defer { try? FileManager.default.removeItem(at: directory) }
        let options = BenchFixture.options(modes: [.none], workloads: ["boot"], reps: 4, warmups: 0)

        // Stop after two runs, as Ctrl-C would between boots.
        var first = BenchFixture.session(options, directory: directory)
        let cancellation = first.cancellation
        let seen = Counter()
        first.onRecord = { _ in if seen.increment() == 2 { cancellation.cancel() } }
        let interrupted = try first.run()
        #expect(interrupted.outcome.interrupted)
        #expect(interrupted.outcome.executed.count == 2)
        #expect(try BenchFixture.logLines(directory).count == 2)
        // The reports are written from what exists.
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent(BenchFiles.summary).path))

        // A run killed while writing leaves a torn last line; resume cuts it off.
        let log = try FileHandle(forWritingTo: directory.appendingPathComponent(BenchFiles.runLog))
        try log.seekToEnd()
        try log.write(contentsOf: Data("{\"schema\":\"cvmkit.bench.run/1\",\"runID\":\"unikernel@pvh/none/1vcpu/256M/bo".utf8))
        try log.close()

        let resumed = try BenchFixture.session(options, directory: directory).run()
        #expect(resumed.resumed)
        #expect(resumed.outcome.alreadyDone == 2)
        #expect(resumed.outcome.executed.count == 2)
        #expect(!resumed.outcome.interrupted)
        let records = try BenchFixture.logLines(directory).map { try JSONDecoder().decode(BenchRunRecord.self, from: $0) }
        let ids = records.map(\.runID)
        #expect(ids.count == 4)
        #expect(Set(ids).count == 4)
        #expect(Set(ids) == Set((1...4).map { "unikernel@pvh/none/1vcpu/256M/boot/r\($0)" }))
        // The first two records are the ones from before the interruption, unchanged.
        #expect(Array(records.prefix(2)) == interrupted.outcome.executed)

        // Nothing left: a third invocation runs nothing.
        let again = try BenchFixture.session(options, directory: directory).run()
        #expect(again.outcome.executed.isEmpty)
        #expect(again.outcome.alreadyDone == 4)
    }

    @Test func aGuestThatCannotBeBuiltIsSkippedWithTheReason() throws {
        let directory = BenchFixture.temporaryDirectory("unbuildable")
        let cache = BenchFixture.temporaryDirectory("cache")
        defer {
            try? FileManager.default.removeItem(at: directory)
            try? FileManager.default.removeItem(at: cache)
        }
        // A cache holding the current unikernel but no Linux guest, and no busybox to build one with.
        let current = try #require(GuestProvider(sourceTree: BenchFixture.sourceTree).prepare([.unikernel], tool: "test") { _ in }.first)
        let unikernelDirectory = URL(fileURLWithPath: current.record.path)
        try FileManager.default.createDirectory(at: cache.appendingPathComponent("bench"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: unikernelDirectory, to: cache.appendingPathComponent("bench/\(unikernelDirectory.lastPathComponent)"))
        let options = BenchFixture.options(guests: [.unikernel, .linux], modes: [.none], workloads: ["boot"], reps: 1, warmups: 0)
        var session = BenchFixture.session(options, directory: directory)
        session.provider = GuestProvider(cache: cache, sourceTree: BenchFixture.sourceTree, busybox: "/nonexistent/busybox")
        let result = try session.run()
        let skipped = try #require(result.plan.skipped.first { $0.cell.guest == "linux" })
        #expect(skipped.reason.hasPrefix("the guest could not be built here: "))
        #expect(skipped.reason.contains("/nonexistent/busybox"))
        #expect(result.outcome.executed.map(\.cell.guest) == ["unikernel"])
        #expect(result.outcome.executed.allSatisfy { $0.outcome == .ok })
    }

    @Test func linuxGuestRunsTheSameWorkloads() throws {
        let directory = BenchFixture.temporaryDirectory("linux")
        defer { try? FileManager.default.removeItem(at: directory) }
        let options = BenchFixture.options(guests: [.linux], modes: [.none], workloads: ["boot", "sha256"], reps: 1, warmups: 0)
        let result = try BenchFixture.session(options, directory: directory).run()
        let record = try #require(result.outcome.executed.first)
        #expect(record.outcome == .ok, "\(record.failure ?? "")")
        #expect(record.metrics.contains { $0.key == "sha256.throughput" && $0.unit == "MB/s" })
        let names = record.guestTimeline?.map(\.name) ?? []
        #expect(names.contains("init-start") && names.contains("run-start"))
        let times = record.timeline.map(\.seconds)
        #expect(times == times.sorted())
        #expect(record.timeline.map(\.name) == ["qemu-start", "firmware", "kernel-entry", "ready", "workload-done", "exit"])
        // The guest ran cvm-workloads with the unikernel's words.
        let console = try String(contentsOf: directory.appendingPathComponent("console/linux_none_1vcpu_256M_boot+sha256_r1.log"), encoding: .utf8)
        #expect(console.contains(WorkloadCatalog.guestWords(["boot", "sha256"], parameters: [:])))
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func increment() -> Int { lock.withLock { value += 1; return value } }
}
