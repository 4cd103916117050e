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
        #expect(run.stderr.contains("a pass proves a genuine SEV-SNP guest, not which one"), "no expectation given: \(run.stderr)")
    }

    @Test func anExpectedMeasurementSilencesTheWarning() throws {
        let dir = Self.fixtures.appendingPathComponent("genoa-v3")
        let show = try CLIRun.cvm("attest", "show", dir.appendingPathComponent("report.bin").path, "--json")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any])
        let measurement = try #require(object["measurement"] as? String, "\(show.stdout.prefix(300))")
        let run = try CLIRun.cvm("attest", "verify", dir.appendingPathComponent("report.bin").path,
                                 "--vcek", dir.appendingPathComponent("vcek.pem").path, "--expect-measurement", measurement)
        #expect(run.status == 0 && !run.stderr.contains("not which one"), "\(run.stderr)")
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

/// Hostile inputs to `attest` and `bench` end with one line and exit 2: never a crash, never a pass.
struct AttestBadInputCLITests {
    static func write(_ data: Data, _ name: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID())")
        try data.write(to: url)
        return url
    }

    static var genoa: URL { AttestCLITests.fixtures.appendingPathComponent("genoa-v3") }

    @Test(arguments: ["show", "verify"])
    func unknownReportVersionsAndRandomBytesExitTwo(verb: String) throws {
        var report = try Data(contentsOf: Self.genoa.appendingPathComponent("report.bin"))
        report[0] = 99
        // 1184 bytes from a fixed generator whose first word is not a known version.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let random = Data((0..<1184).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: state >> 56)
        })
        for bytes in [report, random] {
            let file = try Self.write(bytes, "report")
            defer { try? FileManager.default.removeItem(at: file) }
            let extra = verb == "verify" ? ["--vcek", Self.genoa.appendingPathComponent("vcek.pem").path] : []
            let run = try CLIRun.cvm(["attest", verb, file.path] + extra)
            #expect(run.status == 2, "\(run.stdout)\(run.stderr)")
            #expect(run.stderr.contains("known: 2, 3, 4, 5"), "\(run.stderr)")
            #expect(run.stderr.split(separator: "\n").count == 1, "\(run.stderr)")
            #expect(!run.stdout.contains("PASS"))
        }
    }

    @Test func misspeltPolicyKeyIsRefusedAndNamed() throws {
        let policy = try Self.write(Data("mesurement: 00\n".utf8), "policy.yaml")
        defer { try? FileManager.default.removeItem(at: policy) }
        let run = try CLIRun.cvm("attest", "verify", Self.genoa.appendingPathComponent("report.bin").path,
                                 "--vcek", Self.genoa.appendingPathComponent("vcek.pem").path, "--policy", policy.path)
        #expect(run.status == 2, "\(run.stdout)\(run.stderr)")
        #expect(run.stderr.contains("unknown key 'mesurement'"), "\(run.stderr)")
    }

    @Test func deeplyNestedYAMLExitsTwoNotSIGSEGV() throws {
        let deep = "trustedCSPs: " + String(repeating: "[", count: 20000) + String(repeating: "]", count: 20000) + "\n"
        let file = try Self.write(Data(deep.utf8), "deep.yaml")
        defer { try? FileManager.default.removeItem(at: file) }
        let verify = try CLIRun.cvm("attest", "verify", Self.genoa.appendingPathComponent("report.bin").path,
                                    "--vcek", Self.genoa.appendingPathComponent("vcek.pem").path, "--policy", file.path)
        #expect(verify.status == 2, "\(verify.stderr)")
        #expect(verify.stderr.contains("nested more than 64 levels"), "\(verify.stderr)")
        let bench = try CLIRun.cvm("bench", "--config", file.path)
        #expect(bench.status == 2, "\(bench.stderr)")
        #expect(bench.stderr.contains("nested more than 64 levels"), "\(bench.stderr)")
    }

    @Test func truncatedCertificateDoesNotLeakLibraryInternals() throws {
        let pem = try Data(contentsOf: Self.genoa.appendingPathComponent("vcek.pem"))
        let der = try #require(Data(base64Encoded: String(decoding: pem, as: UTF8.self)
            .split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()))
        let file = try Self.write(der.prefix(200), "vcek.der")
        defer { try? FileManager.default.removeItem(at: file) }
        let run = try CLIRun.cvm("attest", "verify", Self.genoa.appendingPathComponent("report.bin").path, "--vcek", file.path)
        #expect(run.status == 2, "\(run.stdout)\(run.stderr)")
        #expect(!run.stderr.contains("ASN1Error") && !run.stderr.contains(".swift"), "\(run.stderr)")
        #expect(run.stderr.contains("truncated"), "\(run.stderr)")
    }
}
