import Foundation
import Testing
@testable import BenchReport

@Suite struct ReportFilesTests {
    /// Writes a synthetic result directory, runs the report writer, and returns the directory.
    func generated(_ results: SyntheticResults = SyntheticResults(), name: String, trailer: String = "") throws -> (URL, BenchSummary) {
        let directory = try temporaryDirectory(name)
        try results.write(to: directory, trailer: trailer)
        return (directory, try BenchReportWriter.write(directory: directory))
    }

    func text(_ directory: URL, _ file: String) throws -> String {
        try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
    }

    @Test func summaryJSONCarriesTheDocumentedFields() throws {
        let results = SyntheticResults()
        let (directory, _) = try generated(results, name: "summary")
        let data = try Data(contentsOf: directory.appendingPathComponent(BenchFiles.summary))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["schema"] as? String == "cvmkit.bench.summary/1")
        #expect(object["emulated"] as? Bool == true)
        #expect(object["emulationLabel"] as? String == "EMULATION (TCG): timings are not hardware figures")
        for field in ["generatedAt", "environment", "plan", "method", "runs", "cells", "overheads", "guestRatios", "skipped", "warnings"] {
            #expect(object[field] != nil, "missing \(field)")
        }
        let runs = try #require(object["runs"] as? [String: Any])
        #expect(runs["ok"] as? Int == results.plan.cells.count * results.repetitions)
        #expect(runs["warmups"] as? Int == results.plan.cells.count * results.warmups)
        let skipped = try #require(object["skipped"] as? [[String: Any]])
        #expect(skipped.count == results.plan.skipped.count)
        #expect(skipped.contains { $0["reason"] as? String == SyntheticResults.snpReason && $0["expectedMeasurement"] as? String == SyntheticResults.expectedMeasurement })

        // The statistics of one cell, against the planted values recomputed here (warm-ups excluded).
        let cells = try #require(object["cells"] as? [[String: Any]])
        #expect(cells.count == results.plan.cells.count)
        let unikernelSev = try #require(cells.first { $0["key"] as? String == "unikernel/sev/1vcpu/256M" })
        let metrics = try #require(unikernelSev["metrics"] as? [[String: Any]])
        let boot = try #require(metrics.first { $0["key"] as? String == "boot.to-ready" })
        let statistics = try #require(boot["statistics"] as? [String: Any])
        let planted = results.records.filter { $0.cell.key == "unikernel/sev/1vcpu/256M" && !$0.warmup }
            .compactMap { $0.metrics.first { $0.key == "boot.to-ready" }?.value }.sorted()
        #expect(statistics["n"] as? Int == results.repetitions)
        // JSONSerialization may round the last bit when it parses; the median itself is exact.
        #expect(abs(try #require(statistics["median"] as? Double) - (planted[4] + planted[5]) / 2) < 1e-15)
        for field in ["mean", "standardDeviation", "meanCI", "medianCI", "coefficientOfVariation", "min", "max"] {
            #expect(statistics[field] != nil, "missing statistics.\(field)")
        }
        let timeline = try #require(unikernelSev["timeline"] as? [[String: Any]])
        #expect(timeline.map { $0["event"] as? String } == ["qemu-start", "firmware", "kernel-entry", "ready", "workload-done", "exit"])
    }

    @Test func timelinePhasesAreDifferencesOfEventMedians() throws {
        let results = SyntheticResults()
        let (_, summary) = try generated(results, name: "timeline")
        let cell = try #require(summary.cells.first { $0.key == "linux/none/1vcpu/256M" })
        let runs = results.records.filter { $0.cell.key == cell.key && !$0.warmup }
        func median(_ event: String) -> Double {
            let values = runs.compactMap { $0.timeline.first { $0.name == event }?.seconds }.sorted()
            return (values[values.count / 2 - 1] + values[values.count / 2]) / 2
        }
        let ready = try #require(cell.timeline.first { $0.event == "ready" })
        #expect(ready.n == results.repetitions && ready.after == "kernel-entry")
        #expect(abs(ready.medianSeconds - median("ready")) < 1e-12)
        #expect(abs(ready.phaseSeconds - (median("ready") - median("kernel-entry"))) < 1e-12)
        #expect(cell.timeline.first?.after == nil && cell.timeline.first?.phaseSeconds == 0)
    }

    @Test func summaryDecodesBackFromItsJSON() throws {
        let (directory, summary) = try generated(name: "roundtrip")
        let decoded = try JSONDecoder().decode(BenchSummary.self, from: Data(contentsOf: directory.appendingPathComponent(BenchFiles.summary)))
        #expect(decoded.cells.map(\.key) == summary.cells.map(\.key))
        #expect(decoded.overheads.count == summary.overheads.count && decoded.skipped == summary.skipped)
        #expect(decoded.plan == summary.plan && decoded.environment == summary.environment)
    }

    @Test func overheadsAreSignAwareAgainstModeNone() throws {
        let (_, summary) = try generated(name: "overhead")
        let boot = try #require(summary.overheads.first { $0.cell.guest == "unikernel" && $0.metric == "boot.to-ready" })
        let stream = try #require(summary.overheads.first { $0.cell.guest == "unikernel" && $0.metric == "stream.triad" })
        // Planted: sev boots 1.5× as long (+50%, worse), sev streams at 0.8× (−20% bandwidth, +20% overhead).
        #expect(boot.cell.mode == "sev" && boot.baselineMode == "none")
        #expect(abs(boot.overheadPercent - 50) < 5)
        #expect(abs(stream.overheadPercent - 20) < 3)
        let bootCI = try #require(boot.overheadCI)
        #expect(bootCI.low < boot.overheadPercent && boot.overheadPercent < bootCI.high && bootCI.low > 35)
        let streamCI = try #require(stream.overheadCI)
        #expect(streamCI.low < stream.overheadPercent && stream.overheadPercent < streamCI.high)
        #expect(summary.overheads.allSatisfy { $0.cell.mode != "none" })

        let ratio = try #require(summary.guestRatios.first { $0.mode == "none" && $0.metric == "boot.to-ready" })
        #expect(ratio.numeratorGuest == "unikernel" && ratio.denominatorGuest == "linux")
        #expect(abs(ratio.ratio - 1.0 / 3) < 0.03 && ratio.numeratorBetter == true)
        #expect(!summary.guestRatios.contains { $0.numeratorGuest == SyntheticResults.hostileGuest })
    }

    /// Boot-path cells of one guest stand side by side; overheads compare modes of the same boot; the
    /// report says how each cell booted and warns when a guest's modes boot different ways.
    @Test func bootPathCellsAreReportedSideBySide() throws {
        var results = SyntheticResults()
        results.guests = [("unikernel", "unikernel"), ("linux", "linux")]
        results.boots = ["firmware", "pvh"]
        results.bootPaths = ["unikernel@firmware/none/1vcpu/256M": "firmware.fd", "unikernel@firmware/sev/1vcpu/256M": "firmware.fd",
                             "unikernel@pvh/none/1vcpu/256M": "pvh+seabios",
                             "linux/none/1vcpu/256M": "kernel+seabios", "linux/sev/1vcpu/256M": "kernel+ovmf"]
        let (directory, summary) = try generated(results, name: "boots")
        let bootOverheads = summary.overheads.filter { $0.metric == "boot.to-ready" && $0.cell.guest == "unikernel" }
        #expect(Set(bootOverheads.compactMap(\.cell.boot)) == ["firmware", "pvh"])
        // The planted sev factor 1.5 within each boot path, not the pvh/firmware factor 2.
        for overhead in bootOverheads { #expect(abs(overhead.overheadPercent - 50) < 8, "\(overhead.cell.key): \(overhead.overheadPercent)") }
        let markdown = try text(directory, BenchFiles.markdown)
        #expect(markdown.contains("| unikernel · firmware boot | firmware.fd | firmware.fd |"))
        #expect(markdown.contains("| unikernel · pvh boot | pvh+seabios |"))
        #expect(markdown.contains("**Boot differs across modes:** linux: none boots kernel+seabios, sev boots kernel+ovmf"))
        #expect(!markdown.contains("Boot differs across modes:** unikernel"))
        let html = try text(directory, BenchFiles.html)
        #expect(html.contains("unikernel · pvh boot"))
        let csv = try text(directory, BenchFiles.csv)
        #expect(csv.contains("unikernel,pvh,pvh+seabios,none,1,256,boot,to-ready,"))
        #expect(summary.guestRatios.contains { $0.numeratorGuest == "unikernel@pvh" })
    }

    @Test func resultsCSVHasOneRowPerCellAndMetric() throws {
        let results = SyntheticResults()
        let (directory, _) = try generated(results, name: "csv")
        let lines = try text(directory, BenchFiles.csv).split(separator: "\n").map(String.init)
        #expect(lines.first == CSVReport.resultsHeader.joined(separator: ","))
        #expect(lines.count == 1 + results.plan.cells.count * 3)
        let row = try #require(lines.first { $0.hasPrefix("linux,,,sev,1,256,stream,triad,MB/s,higher,10,") })
        let fields = row.split(separator: ",", omittingEmptySubsequences: false)
        #expect(fields.count == CSVReport.resultsHeader.count)
        let overhead = try #require(Double(fields[CSVReport.resultsHeader.firstIndex(of: "overhead_pct") ?? 0]))
        #expect(abs(overhead - 20) < 3)
        // The hostile name is quoted (it holds a quote) and protected from spreadsheet formulas.
        #expect(lines.contains { $0.hasPrefix("\"evil<img src=x onerror=alert(1)>\"\"&'\",,,none,") })
        let runs = try text(directory, BenchReportWriter.runsCSV).split(separator: "\n")
        #expect(runs.count == 1 + results.records.count * 3)
    }

    @Test func markdownNamesEverySkippedModeWithItsReasonAndTheEmulationLabel() throws {
        let (directory, _) = try generated(name: "markdown")
        let markdown = try text(directory, BenchFiles.markdown)
        #expect(markdown.contains("EMULATION (TCG): timings are not hardware figures"))
        #expect(markdown.contains("## Not measured"))
        #expect(markdown.contains("- **sev-snp** for unikernel (1 vCPU, 256 MiB): \(SyntheticResults.snpReason)"))
        #expect(markdown.contains("- **sev-es** for linux (1 vCPU, 256 MiB): \(SyntheticResults.esReason)"))
        #expect(markdown.contains("Expected launch measurement: `\(SyntheticResults.expectedMeasurement)`"))
        #expect(markdown.contains("### boot: "))
        #expect(markdown.contains("## Boot timeline"))
        #expect(markdown.contains("## Unikernel vs Linux"))
        #expect(markdown.contains("| sev vs none |"))
        #expect(!markdown.contains("<img"))
    }

    @Test func htmlHasBarsPerModeAndEscapesHostileNames() throws {
        let results = SyntheticResults()
        let (directory, _) = try generated(results, name: "html")
        let html = try text(directory, BenchFiles.html)
        #expect(html.hasPrefix("<!doctype html>"))
        #expect(html.contains("EMULATION (TCG): timings are not hardware figures"))
        // Self-contained: no script, no stylesheet or image fetched from anywhere.
        #expect(!html.contains("<script") && !html.contains("<link") && !html.contains("url(") && !html.contains("src=\""))
        #expect(!html.contains("<img"))
        #expect(html.contains("evil&lt;img src=x onerror=alert(1)&gt;&quot;&amp;&#39;"))
        // One chart per metric; each has one bar per measured mode and guest, and names the skipped modes in its legend.
        let charts = html.components(separatedBy: "<svg class=\"chart\"").dropFirst()
        #expect(charts.count == 3)
        for chart in charts {
            let body = chart.components(separatedBy: "</svg>")[0]
            #expect(count("class=\"bar\" data-mode=\"none\"", in: body) == results.guests.count)
            #expect(count("class=\"bar\" data-mode=\"sev\"", in: body) == results.guests.count)
            #expect(count("class=\"bar\"", in: body) == results.guests.count * results.measuredModes.count)
            #expect(count("class=\"whisker\"", in: body) == results.guests.count * results.measuredModes.count)
            #expect(body.contains(">sev-es not measured</text>") && body.contains(">sev-snp not measured</text>"))
        }
        let timeline = try #require(html.components(separatedBy: "<svg class=\"chart timeline\"").dropFirst().first)
        #expect(count("class=\"phase\"", in: timeline) == results.plan.cells.count * 5)
    }

    @Test func hardwareResultsCarryNoEmulationLabel() throws {
        var results = SyntheticResults()
        results.emulated = false
        let (directory, summary) = try generated(results, name: "kvm")
        #expect(!summary.emulated && summary.emulationLabel == nil)
        #expect(!(try text(directory, BenchFiles.markdown)).contains("EMULATION"))
        #expect(!(try text(directory, BenchFiles.html)).contains("EMULATION"))
    }

    @Test func truncatedLastRunLineIsSkippedWithAWarning() throws {
        let results = SyntheticResults()
        let (_, summary) = try generated(results, name: "truncated", trailer: #"{"schema":"cvmkit.bench.run/1","runID":"unikernel/none/1vcpu/256M/all/r1"#)
        #expect(summary.runs.ok == results.plan.cells.count * results.repetitions)
        #expect(summary.warnings.count == 1)
        #expect(summary.warnings.first?.contains("runs.jsonl:\(results.records.count + 1): skipped an incomplete last line") == true)
    }

    @Test func malformedLineInTheMiddleIsAnErrorNamingTheLine() throws {
        let results = SyntheticResults()
        let directory = try temporaryDirectory("malformed")
        try results.write(to: directory, records: [])
        let encoder = JSONEncoder()
        let lines = try results.records.prefix(3).map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        let log = [lines[0], "{\"schema\": \"cvmkit.bench.run/1\"}", lines[1], lines[2]].joined(separator: "\n") + "\n"
        try log.write(to: directory.appendingPathComponent(BenchFiles.runLog), atomically: true, encoding: .utf8)
        #expect {
            try BenchReportWriter.write(directory: directory)
        } throws: { error in
            guard case .malformedRunLine(_, let line, let reason) = error as? BenchReportError else { return false }
            return line == 2 && reason.contains("runID") && !(error as? BenchReportError)!.description.contains("\n")
        }
    }

    /// Decoder internals (`CodingKeys(stringValue: …)`, "No value associated with key") are not for users.
    @Test func malformedLineReasonsNameTheFieldWithoutDecoderInternals() throws {
        let missing = Data("{\"runID\": \"x\"}\n{}\n".utf8)
        let wrongType = Data("{\"schema\": 5}\n{}\n".utf8)
        for (data, field) in [(missing, "schema"), (wrongType, "schema")] {
            #expect {
                _ = try ResultDirectory.parseRunLog(data, path: "runs.jsonl")
            } throws: { error in
                let text = "\(error)"
                return text.contains("runs.jsonl:1") && text.contains(field) && !text.contains("CodingKeys")
                    && !text.contains("No value associated") && !text.contains("Swift.")
            }
        }
    }

    @Test func missingPlanIsAOneLineError() throws {
        let directory = try temporaryDirectory("missing")
        try SyntheticResults().write(to: directory)
        try FileManager.default.removeItem(at: directory.appendingPathComponent(BenchFiles.plan))
        #expect(throws: BenchReportError.missingFile(directory.appendingPathComponent(BenchFiles.plan).path)) {
            try BenchReportWriter.write(directory: directory)
        }
    }

    @Test func failedRunsAreCountedAndListedButNotMeasured() throws {
        let results = SyntheticResults()
        var records = results.records
        let index = try #require(records.firstIndex { !$0.warmup && $0.cell.key == "linux/sev/1vcpu/256M" })
        records[index].outcome = .timedOut
        records[index].failure = "no ready marker within 120 s"
        let warmup = try #require(records.firstIndex { $0.warmup && $0.cell.key == "linux/sev/1vcpu/256M" })
        records[warmup].outcome = .failed
        records[warmup].failure = "guest exited with status 3"
        let directory = try temporaryDirectory("failed")
        try results.write(to: directory, records: records)
        let summary = try BenchReportWriter.write(directory: directory)
        let cell = try #require(summary.cells.first { $0.key == "linux/sev/1vcpu/256M" })
        #expect(cell.runs.ok == results.repetitions - 1 && cell.runs.timedOut == 1)
        // A failed warm-up is listed (its ID says so) but counted as a warm-up, not as a failed measurement.
        #expect(cell.runs.failed == 0 && cell.runs.warmups == results.warmups)
        #expect(cell.metrics.allSatisfy { $0.statistics.n == results.repetitions - 1 })
        #expect(Set(cell.failures.compactMap(\.failure)) == ["no ready marker within 120 s", "guest exited with status 3"])
        let markdown = try String(contentsOf: directory.appendingPathComponent(BenchFiles.markdown), encoding: .utf8)
        #expect(markdown.contains("timed-out: no ready marker within 120 s"))
    }

    @Test func theReportsCarryTheHostSettingsAndSayWhatTheHostDidNotExpose() throws {
        let (directory, _) = try generated(name: "tuning")
        for file in [BenchFiles.markdown, BenchFiles.html] {
            let report = try text(directory, file)
            for expected in ["Microcode", "0xa0011d1", "mem_encrypt=on kvm_amd.sev=1", "on, active", "madvise", "L3, 262144 KiB",
                             "no SEV firmware status", "CPU governor"] {
                #expect(report.contains(expected), "\(file) lacks \(expected)")
            }
        }
        var old = SyntheticResults()
        old.tuning = nil
        let (before, _) = try generated(old, name: "tuning-old")
        #expect(try !text(before, BenchFiles.markdown).contains("Microcode"), "a directory without the settings reports none")
    }
}
