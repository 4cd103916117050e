import Foundation
import Testing

/// `cvm measure` and `cvm attest verify` as a user runs them.
struct MeasureCLITests {
    static let ovmf = "/usr/share/ovmf/OVMF.fd"

    @Test func tableRowsEqualSingleMeasurements() throws {
        try #require(FileManager.default.fileExists(atPath: Self.ovmf), "Debian's ovmf package is needed")
        let table = try CLIRun.cvm("measure", "--mode", "sev-snp", "--ovmf", Self.ovmf, "--vcpus", "1-3",
                                   "--vcpu-type", "EPYC-Milan,EPYC-Genoa", "--json")
        #expect(table.status == 0, "\(table.stderr)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(table.stdout.utf8)) as? [[String: Any]])
        #expect(rows.count == 6)
        let pick = try #require(rows.first { $0["vcpus"] as? Int == 3 && $0["vcpuType"] as? String == "EPYC-Genoa" })
        let single = try CLIRun.cvm("measure", "--mode", "sev-snp", "--ovmf", Self.ovmf, "--vcpus", "3", "--vcpu-type", "EPYC-Genoa")
        #expect(single.status == 0)
        #expect(single.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == pick["measurement"] as? String)
        #expect(Set(rows.compactMap { $0["measurement"] as? String }).count == 6, "every combination differs")
    }

    @Test(arguments: [
        ["--mode", "sev-snp", "--ovmf", "/usr/share/OVMF/OVMF_CODE_4M.fd"],
        ["--mode", "sev-snp", "--ovmf", "/usr/share/ovmf/OVMF.fd", "--vcpus", "0"],
        ["--mode", "sev-snp", "--ovmf", "/usr/share/ovmf/OVMF.fd", "--vcpu-type", "EPYC-Nonesuch"],
        ["--mode", "sev-snp", "--ovmf", "/nonexistent.fd"],
        ["--mode", "sev-snp", "--ovmf", "/usr/share/ovmf/OVMF.fd", "--kernel", "/etc/hostname"],
    ])
    func badInputsAreOneLineAndExitTwo(arguments: [String]) throws {
        let run = try CLIRun.cvm(["measure"] + arguments)
        #expect(run.status == 2, "\(run.stdout)\(run.stderr)")
        #expect(run.stderr.hasPrefix("cvm: "))
        #expect(run.stderr.split(separator: "\n").count == 1)
    }
}

struct AttestCLITests {
    static var fixtures: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("AttestationTests/Fixtures/snp")
    }

    @Test func aRealGenoaReportVerifies() throws {
        let dir = Self.fixtures.appendingPathComponent("genoa-v3")
        let run = try CLIRun.cvm("attest", "verify", dir.appendingPathComponent("report.bin").path,
                                 "--vcek", dir.appendingPathComponent("vcek.pem").path)
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        #expect(run.stdout.contains("verdict: PASS"))
    }

    @Test func aFlippedBitIsCaughtAndNamed() throws {
        let dir = Self.fixtures.appendingPathComponent("genoa-v3")
        var report = try Data(contentsOf: dir.appendingPathComponent("report.bin"))
        report[0x90] ^= 0x01 // first byte of MEASUREMENT, inside the signed area
        let tampered = FileManager.default.temporaryDirectory.appendingPathComponent("tampered-\(UUID()).bin")
        try report.write(to: tampered)
        defer { try? FileManager.default.removeItem(at: tampered) }
        let run = try CLIRun.cvm("attest", "verify", tampered.path, "--vcek", dir.appendingPathComponent("vcek.pem").path)
        #expect(run.status == 1)
        #expect(run.stdout.lowercased().contains("signature"))
    }

    @Test func aTruncatedReportIsBadInput() throws {
        let truncated = FileManager.default.temporaryDirectory.appendingPathComponent("short-\(UUID()).bin")
        try Data(repeating: 2, count: 100).write(to: truncated)
        defer { try? FileManager.default.removeItem(at: truncated) }
        let run = try CLIRun.cvm("attest", "show", truncated.path)
        #expect(run.status == 2)
        #expect(run.stderr.hasPrefix("cvm: "))
    }
}
