import BenchReport
import Foundation
import Testing

/// `cvm bench report` and `cvm bench compare` as a user runs them, on small hand-made result directories.
@Suite struct BenchReportCLITests {
    /// A result directory with one guest, modes none and sev-snp (skipped), `boot.to-ready` values given.
    func resultDirectory(_ name: String, bootSeconds: [Double], extraLines: String = "") throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-bench-cli-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let cell = BenchCell(guest: "unikernel", mode: "none", vcpus: 1, memoryMiB: 256)
        let skipped = SkippedCell(cell: BenchCell(guest: "unikernel", mode: "sev-snp", vcpus: 1, memoryMiB: 256),
                                  reason: "no SEV-SNP on this host")
        let plan = BenchPlan(guests: [BenchGuest(name: "unikernel", kind: "unikernel", path: "/g", digests: [:], bootProtocol: "pvh")],
                             modes: ["none", "sev-snp"], workloads: ["boot"], vcpus: [1], memoryMiB: [256], repetitions: bootSeconds.count,
                             warmups: 0, cells: [cell], skipped: [skipped], timeoutSeconds: 60)
        let environment = BenchEnvironment(hostname: "h", cpuModel: "cpu", cpuCount: 2, memoryMiB: 1024, kernelRelease: "6.1",
                                           accelerator: "tcg", qemuVersion: nil, ovmf: nil, ovmfSHA256: nil, libvirtVersion: nil,
                                           cvmVersion: "0.1.0", command: "cvm bench", startedAt: "2026-11-27T00:00:00Z",
                                           modeVerdicts: ["none": "ready", "sev-snp": "not ready"])
        let encoder = JSONEncoder()
        try encoder.encode(environment).write(to: directory.appendingPathComponent(BenchFiles.environment))
        try encoder.encode(plan).write(to: directory.appendingPathComponent(BenchFiles.plan))
        var log = ""
        for (index, seconds) in bootSeconds.enumerated() {
            let record = BenchRunRecord(
                runID: "\(cell.key)/boot/r\(index + 1)", cell: cell, workloads: ["boot"], repetition: index + 1, warmup: false,
                startedAt: "2026-11-27T00:00:00Z", outcome: .ok, guestExitCode: 0, wallSeconds: seconds,
                timeline: [TimelineEvent(name: "ready", seconds: seconds, source: "guest-marker")],
                metrics: [BenchMetric(workload: "boot", name: "to-ready", value: seconds, unit: "s", better: .lowerIsBetter)],
                accelerator: "tcg")
            log += String(decoding: try encoder.encode(record), as: UTF8.self) + "\n"
        }
        try (log + extraLines).write(to: directory.appendingPathComponent(BenchFiles.runLog), atomically: true, encoding: .utf8)
        return directory
    }

    @Test func reportWritesTheFiveOutputs() throws {
        let directory = try resultDirectory("report", bootSeconds: [0.50, 0.52, 0.49, 0.51, 0.50, 0.53])
        let result = try CLIRun.cvm("bench", "report", directory.path)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasPrefix("EMULATION (TCG): timings are not hardware figures"))
        for file in ["summary.json", "results.csv", "runs.csv", "report.md", "report.html"] {
            #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent(file).path), "\(file)")
            #expect(result.stdout.contains("wrote \(directory.appendingPathComponent(file).path)"))
        }
        let markdown = try String(contentsOf: directory.appendingPathComponent("report.md"), encoding: .utf8)
        #expect(markdown.contains("**sev-snp** for unikernel (1 vCPU, 256 MiB): no SEV-SNP on this host"))
    }

    @Test func reportJSONIsTheSummary() throws {
        let directory = try resultDirectory("json", bootSeconds: [0.5, 0.6, 0.7])
        let result = try CLIRun.cvm("bench", "report", directory.path, "--json")
        #expect(result.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["schema"] as? String == "cvmkit.bench.summary/1")
    }

    @Test func truncatedLastLineIsAWarningNotAnError() throws {
        let directory = try resultDirectory("truncated", bootSeconds: [0.5, 0.6, 0.7], extraLines: #"{"schema":"cvmkit.bench.ru"#)
        let result = try CLIRun.cvm("bench", "report", directory.path)
        #expect(result.status == 0)
        #expect(result.stderr.contains("cvm: warning: ") && result.stderr.contains("runs.jsonl:4: skipped an incomplete last line"))
    }

    @Test func malformedMiddleLineExitsTwoWithTheLineNumber() throws {
        let directory = try resultDirectory("malformed", bootSeconds: [0.5], extraLines: "not json\n{}\n")
        let result = try CLIRun.cvm("bench", "report", directory.path)
        #expect(result.status == 2)
        #expect(result.stderr.hasPrefix("cvm: ") && result.stderr.contains("runs.jsonl:2: not a run record"))
        #expect(result.stderr.split(separator: "\n").count == 1)
    }

    @Test func reportOfAMissingDirectoryExitsTwo() throws {
        let result = try CLIRun.cvm("bench", "report", "/nonexistent/cvm-results")
        #expect(result.status == 2)
        #expect(result.stderr.contains("environment.json: no such file"))
    }

    @Test func compareFlagsAPlantedDifference() throws {
        let a = try resultDirectory("a", bootSeconds: [0.50, 0.51, 0.49, 0.50, 0.52, 0.50, 0.49, 0.51])
        let b = try resultDirectory("b", bootSeconds: [0.65, 0.66, 0.64, 0.65, 0.67, 0.65, 0.64, 0.66])
        let result = try CLIRun.cvm("bench", "compare", a.path, b.path)
        #expect(result.status == 0)
        #expect(result.stdout.contains("unikernel/none/1vcpu/256M") && result.stdout.contains("* B worse"))
        let json = try CLIRun.cvm("bench", "compare", a.path, b.path, "--json", "--alpha", "0.01")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let entries = try #require(object["entries"] as? [[String: Any]])
        #expect(entries.count == 1 && entries.first?["significant"] as? Bool == true)
        #expect(object["alpha"] as? Double == 0.01)
        #expect(object["correction"] as? String == "holm" && object["comparisons"] as? Int == 1)
        let bh = try CLIRun.cvm("bench", "compare", a.path, b.path, "--correction", "bh")
        #expect(bh.status == 0 && bh.stdout.contains("Benjamini–Hochberg"), "\(bh.stdout)")
    }

    @Test func compareRejectsAnUnknownCorrection() throws {
        let a = try resultDirectory("correction", bootSeconds: [0.5, 0.6])
        let result = try CLIRun.cvm("bench", "compare", a.path, a.path, "--correction", "bonferoni")
        #expect(result.status == 2 && result.stderr.contains("bonferoni"), "\(result.stderr)")
    }

    @Test func compareRejectsAnAlphaOutsideZeroOne() throws {
        let a = try resultDirectory("alpha", bootSeconds: [0.5, 0.6])
        let result = try CLIRun.cvm("bench", "compare", a.path, a.path, "--alpha", "1.5")
        #expect(result.status == 2)
    }
}
