import Foundation
import Testing

struct PolicyCLITests {
    @Test func decodeSNPDefaultNamesSMTAndTheReservedBit() throws {
        let run = try CLIRun.cvm("policy", "decode", "--snp", "0x30000")
        #expect(run.status == 0)
        #expect(run.stdout.contains("[x] SMT"))
        #expect(run.stdout.contains("[x] RESERVED_17"))
        #expect(run.stdout.contains("[ ] DEBUG"))
    }

    @Test func decodeSEVSeedPolicyAsJSON() throws {
        let run = try CLIRun.cvm("policy", "decode", "--sev", "0x07", "--json")
        #expect(run.status == 0)
        let object = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
        let flags = (object?["flags"] as? [[String: Any]]) ?? []
        let set = flags.filter { $0["set"] as? Bool == true }.compactMap { $0["name"] as? String }
        #expect(set == ["NODBG", "NOKS", "ES"])
        #expect(object?["kind"] as? String == "sev")
    }

    @Test(arguments: ["0x10000", "0x4000030000", "0x30000ffffffff", "nonsense"])
    func invalidSNPValuesAreRejectedOnOneLine(value: String) throws {
        let run = try CLIRun.cvm("policy", "decode", "--snp", value)
        #expect(run.status == 2)
        #expect(run.stdout.isEmpty)
        #expect(run.stderr.hasPrefix("cvm: "))
        #expect(run.stderr.split(separator: "\n").count == 1)
    }

    @Test func encodeRoundTripsThroughDecode() throws {
        let encoded = try CLIRun.cvm("policy", "encode", "--snp", "--flags", "SMT,SINGLE_SOCKET")
        #expect(encoded.status == 0)
        let value = encoded.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(value == "0x130000")
        let decoded = try CLIRun.cvm("policy", "decode", value)
        #expect(decoded.stdout.contains("[x] SINGLE_SOCKET"))
    }

    @Test func debugPolicyWarns() throws {
        let run = try CLIRun.cvm("policy", "encode", "--snp", "--flags", "DEBUG")
        #expect(run.status == 0)
        #expect(run.stderr.contains("warning: DEBUG"))
    }

    @Test func unknownCommandIsAUsageError() throws {
        let run = try CLIRun.cvm("no-such-command")
        #expect(run.status == 2)
        #expect(run.stderr.split(separator: "\n").count == 1, "\(run.stderr)")
    }

    /// The help promises decimal or 0x-prefixed hex, so a sign, another base or padding is bad input,
    /// on one line that names the value.
    @Test(arguments: ["-1", "+5", "0b101", " 5", "5 ", "1_000"])
    func decodeAcceptsOnlyDecimalOrHex(value: String) throws {
        let run = try CLIRun.cvm("policy", "decode", value)
        #expect(run.status == 2)
        #expect(run.stdout.isEmpty)
        #expect(run.stderr.split(separator: "\n").count == 1, "\(run.stderr)")
        #expect(run.stderr.contains("not a policy value: '\(value)'"), "\(run.stderr)")
    }

    @Test func decodeOfAMissingValueIsOneLine() throws {
        let run = try CLIRun.cvm("policy", "decode", "--snp")
        #expect(run.status == 2)
        #expect(run.stderr.split(separator: "\n").count == 1, "\(run.stderr)")
    }
}

/// Small bad inputs of `measure` and `image build unikernel`: the message says what is wrong.
struct SmallBadInputCLITests {
    @Test func vcpuRangeOverTheLimitSaysTheLimit() throws {
        let run = try CLIRun.cvm("measure", "--mode", "sev-snp", "--ovmf", "/usr/share/ovmf/OVMF.fd",
                                 "--vcpus", "1-99999", "--vcpu-type", "EPYC-Milan")
        #expect(run.status == 2, "\(run.stderr)")
        #expect(run.stderr.contains("over the limit of 4096"), "\(run.stderr)")
        #expect(!run.stderr.contains("not a number"), "\(run.stderr)")
    }

    /// The guest would refuse stream.reps=100000 at boot (1...1000); the build refuses it first.
    @Test(arguments: ["run=stream stream.reps=100000", "run=nosuch", "color=blue"])
    func unikernelCommandLineIsCheckedAtBuildTime(cmdline: String) throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("uk-\(UUID())")
        let run = try CLIRun.cvm("image", "build", "unikernel", "--out", out.path, "--cmdline", cmdline)
        #expect(run.status == 2, "\(run.stderr)")
        #expect(run.stderr.split(separator: "\n").count == 1, "\(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }
}
