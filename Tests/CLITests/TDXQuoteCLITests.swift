import Foundation
import Testing

/// `cvm attest verify QUOTE` and `cvm attest rtmr replay` as a user runs them, on the real Intel vectors
/// in Tests/TDXTests/Fixtures.
struct TDXQuoteCLITests {
    static func fixture(_ name: String) -> String {
        OCITestArchive.repositoryRoot.appendingPathComponent("Tests/TDXTests/Fixtures/\(name)").path
    }

    @Test func aTDXQuoteIsRecognisedAndVerified() throws {
        let pass = try CLIRun.cvm(["attest", "verify", Self.fixture("tdx_quote"), "--at", "2025-07-04T10:16:31Z"])
        #expect(pass.status == 0, "\(pass.stdout)\(pass.stderr)")
        #expect(pass.stdout.contains("quote: version 4, TD 1.0 report"))
        #expect(pass.stdout.contains("verdict: PASS"))
        #expect(pass.stderr.contains("no --collateral"))
        let withCollateral = try CLIRun.cvm(["attest", "verify", Self.fixture("tdx_quote"), "--at", "2025-07-04T10:16:31Z",
                                             "--collateral", Self.fixture("tdx_quote_collateral.json")])
        #expect(withCollateral.status == 0, "\(withCollateral.stdout)\(withCollateral.stderr)")
        #expect(withCollateral.stdout.contains("pass  tcb-info ") && withCollateral.stdout.contains("pass  revocation"))
        let expired = try CLIRun.cvm(["attest", "verify", Self.fixture("tdx_quote"), "--at", "2025-07-21T00:00:00Z",
                                      "--collateral", Self.fixture("tdx_quote_collateral.json")])
        #expect(expired.status == 1)
        #expect(expired.stdout.contains("TCBInfo expired"))
        // dcap-qvl: ConfigurationAndSWHardeningNeeded with INTEL-SA-00289 and INTEL-SA-00615 (vectors README).
        let sgx = ["attest", "verify", Self.fixture("sgx_quote"), "--at", "2025-07-04T10:28:44Z", "--collateral", Self.fixture("sgx_quote_collateral.json")]
        let strict = try CLIRun.cvm(sgx)
        #expect(strict.status == 1)
        #expect(strict.stdout.contains("FAIL  tcb-level            ConfigurationAndSWHardeningNeeded (advisories INTEL-SA-00289, INTEL-SA-00615)"), "\(strict.stdout)")
        #expect(try CLIRun.cvm(sgx + ["--accept-tcb-status", "ConfigurationAndSWHardeningNeeded"]).status == 0)
        #expect(try CLIRun.cvm(sgx + ["--accept-tcb-status", "Bogus"]).status == 2)
        let v5 = try CLIRun.cvm(["attest", "verify", Self.fixture("quote_v5_sample.dat"), "--at", "2026-03-05T10:50:03Z", "--json"])
        #expect(v5.status == 0, "\(v5.stderr)")
        #expect(v5.stdout.contains("\"quote-signature\""))
        let debug = try CLIRun.cvm(["attest", "verify", Self.fixture("tdx_quote_4.dat"), "--at", "2023-06-28T08:03:58Z"])
        #expect(debug.status == 1)
        #expect(debug.stdout.contains("FAIL  td-attributes"))
        #expect(try CLIRun.cvm(["attest", "verify", Self.fixture("tdx_quote_4.dat"), "--at", "2023-06-28T08:03:58Z", "--allow-debug"]).status == 0)
        let mrtd = try CLIRun.cvm(["attest", "verify", Self.fixture("tdx_quote"), "--at", "2025-07-04T10:16:31Z", "--expect-mrtd", String(repeating: "00", count: 48)])
        #expect(mrtd.status == 1)
        #expect(mrtd.stdout.contains("FAIL  mrtd"))
    }

    /// A quote policy file (YAML) with the quote's own MRTD and RTMR0, read here at the offsets of Intel's
    /// TD 1.0 body (header 48 bytes; TEE_TCB_SVN at 0, MRTD at 136, RTMR0 at 328): it passes; a changed
    /// RTMR fails; a minimum TEE_TCB_SVN above the quote's in one component fails naming it; unknown
    /// keys and wrong lengths are one line and exit 2.
    @Test func aQuotePolicyFileAndTheMinimumTEETCBSVN() throws {
        let directory = try OCITestArchive.temporaryDirectory("quote-policy")
        defer { try? FileManager.default.removeItem(at: directory) }
        let quote = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.fixture("tdx_quote"))))
        func hex(_ offset: Int, _ count: Int) -> String { quote[48 + offset..<48 + offset + count].map { String(format: "%02x", $0) }.joined() }
        let mrtd = hex(136, 48), rtmr0 = hex(328, 48), svn = hex(0, 16)
        func run(_ yaml: String, _ extra: [String] = []) throws -> (Int32, String, String) {
            let file = directory.appendingPathComponent("policy-\(UUID().uuidString).yaml")
            try yaml.write(to: file, atomically: true, encoding: .utf8)
            let result = try CLIRun.cvm(["attest", "verify", Self.fixture("tdx_quote"), "--at", "2025-07-04T10:16:31Z", "--policy", file.path] + extra)
            return (result.status, result.stdout, result.stderr)
        }
        let good = try run("mrtd: \(mrtd)\nrtmr0: \(rtmr0)\nminimumTeeTcbSvn: \(svn)\n")
        #expect(good.0 == 0, "\(good.1)\(good.2)")
        #expect(good.1.contains("pass  mrtd") && good.1.contains("pass  rtmr0") && good.1.contains("pass  tee-tcb-svn"))
        #expect(!good.2.contains("no expected MRTD"), "the file's MRTD counts as expected")
        var wrongRTMR = Array(rtmr0)
        wrongRTMR[0] = wrongRTMR[0] == "0" ? "1" : "0"
        let bad = try run("rtmr0: \(String(wrongRTMR))\n")
        #expect(bad.0 == 1 && bad.1.contains("FAIL  rtmr0"), "\(bad.1)")
        // One SVN component above the quote's: component 1 (the second byte) is named.
        var raised = Array(quote[48..<64])
        raised[1] = raised[1] &+ 1
        let higher = raised.map { String(format: "%02x", $0) }.joined()
        let below = try run("{}", ["--min-tee-tcb-svn", higher])
        #expect(below.0 == 1 && below.1.contains("FAIL  tee-tcb-svn") && below.1.contains("component(s) 1"), "\(below.1)")
        for broken in ["bogus: 1\n", "mrtd: abcd\n", "rtmr0: zz\n", "acceptTcbStatus: [Nope]\n"] {
            let refused = try run(broken)
            #expect(refused.0 == 2, "\(broken): \(refused.2)")
            #expect(refused.2.split(separator: "\n").count == 1, "\(broken): \(refused.2)")
        }
        #expect(try run("bogus: 1\n").2.contains("known keys: mrtd"))
        #expect(try CLIRun.cvm(["attest", "verify", Self.fixture("tdx_quote"), "--min-tee-tcb-svn", "00"]).status == 2)
    }

    /// scripts/test's oracle venv (Python `cryptography` for Tests/TDXTests/Oracles/rebuild_pki.py).
    static let oraclePython: String? = {
        [ProcessInfo.processInfo.environment["DCAP_QVL_PYTHON"],
         OCITestArchive.repositoryRoot.appendingPathComponent(".venv-oracle/bin/python").path]
            .compactMap { $0 }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    /// `--root-ca` with a PKI rebuilt under a fresh root (rebuild_pki.py): the quote passes with that root
    /// trusted and a warning, fails against the pinned Intel root, and with the PCK leaf's serial in the
    /// PCK CRL fails on revocation alone.
    @Test(.enabled(if: oraclePython != nil || ProcessInfo.processInfo.environment["CI"] == "true", "needs scripts/test's .venv-oracle"))
    func aTestRootIsTrustedOnlyWhenNamedAndARevokedPCKFails() throws {
        let python = try #require(Self.oraclePython)
        let directory = try OCITestArchive.temporaryDirectory("rebuilt-pki")
        defer { try? FileManager.default.removeItem(at: directory) }
        func rebuild(_ revoke: String) throws -> URL {
            let out = directory.appendingPathComponent(revoke)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: python)
            process.arguments = [OCITestArchive.repositoryRoot.appendingPathComponent("Tests/TDXTests/Oracles/rebuild_pki.py").path,
                                 Self.fixture("tdx_quote"), Self.fixture("tdx_quote_collateral.json"), out.path, "--revoke", revoke]
            try process.run()
            process.waitUntilExit()
            try #require(process.terminationStatus == 0)
            return out
        }
        func verify(_ pki: URL, root: Bool) throws -> CLIRun {
            try CLIRun.cvm(["attest", "verify", pki.appendingPathComponent("quote").path, "--at", "2025-07-04T10:16:31Z",
                            "--collateral", pki.appendingPathComponent("collateral.json").path]
                           + (root ? ["--root-ca", pki.appendingPathComponent("root.der").path] : []))
        }
        let good = try rebuild("none")
        let trusted = try verify(good, root: true)
        #expect(trusted.status == 0, "\(trusted.stdout)\(trusted.stderr)")
        #expect(trusted.stderr.contains("--root-ca: trusting the given root CA"))
        #expect(trusted.stdout.contains("pass  revocation"))
        let pinned = try verify(good, root: false)
        #expect(pinned.status == 1)
        #expect(pinned.stdout.contains("FAIL  root "))
        let revoked = try verify(try rebuild("pck"), root: true)
        #expect(revoked.status == 1)
        #expect(revoked.stdout.contains("FAIL  revocation") && revoked.stdout.contains("revoked"), "\(revoked.stdout)")
        #expect(revoked.stdout.split(separator: "\n").filter { $0.drop(while: { $0 == " " }).hasPrefix("FAIL ") }.count == 1, "only the revocation fails: \(revoked.stdout)")
        let notACertificate = try CLIRun.cvm(["attest", "verify", good.appendingPathComponent("quote").path,
                                              "--root-ca", good.appendingPathComponent("collateral.json").path])
        #expect(notACertificate.status == 2)
        #expect(notACertificate.stderr.split(separator: "\n").count == 1, "\(notACertificate.stderr)")
    }

    @Test func badQuotesGiveOneLineAndExitTwo() throws {
        let directory = try OCITestArchive.temporaryDirectory("quote")
        defer { try? FileManager.default.removeItem(at: directory) }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: Self.fixture("tdx_quote")))
        let cases: [(String, Data)] = [
            ("truncated", bytes.prefix(700)),
            ("length-past-end", { var d = bytes; d.replaceSubrange(632..<636, with: [0xFF, 0xFF, 0xFF, 0x00]); return d }()),
            ("version-9", { var d = bytes; d[0] = 9; d[2] = 2; return d }()),
        ]
        for (name, data) in cases {
            let file = directory.appendingPathComponent(name)
            try data.write(to: file)
            let run = try CLIRun.cvm(["attest", "verify", file.path])
            #expect(run.status == 2, "\(name): \(run.stderr)")
            #expect(run.stderr.split(separator: "\n").count == 1, "\(name): \(run.stderr)")
        }
    }

    @Test func theEventLogReplaysToTheQuotesRTMRs() throws {
        let replay = try CLIRun.cvm(["attest", "rtmr", "replay", Self.fixture("ccel/ccel_data.dat"), "--json"])
        #expect(replay.status == 0, "\(replay.stderr)")
        let output = try JSONSerialization.jsonObject(with: Data(replay.stdout.utf8)) as? [String: Any]
        let rtmrs = try #require(output?["rtmr"] as? [String])
        #expect(output?["events"] as? Int == 43)
        // The log in the shape `cvm measure --mode tdx --json` predicts: the fixed RTMR1 events of a real
        // TDVF match the predicted ones, digest for digest.
        let log = try #require(output?["log"] as? [[String: Any]])
        #expect(log.count == 43)
        let actions = log.filter { $0["rtmr"] as? Int == 1 && $0["type"] as? String == "EV_EFI_ACTION" }
        #expect(actions.compactMap { $0["description"] as? String } == ["Calling EFI Application from Boot Option",
                                                                       "Exit Boot Services Invocation", "Exit Boot Services Returned with Success"])
        let kernel = OCITestArchive.repositoryRoot.appendingPathComponent("Fuzz/seeds/kernel/bzimage-pe.bin").path
        let predicted = try CLIRun.cvm(["measure", "--mode", "tdx", "--firmware", "/usr/share/ovmf/OVMF.fd", "--kernel", kernel, "--json"])
        if predicted.status == 0, let events = (try JSONSerialization.jsonObject(with: Data(predicted.stdout.utf8)) as? [String: Any])?["events"] as? [[String: Any]] {
            for action in actions {
                let same = events.first { $0["description"] as? String == action["description"] as? String }
                #expect(same?["digest"] as? String == action["digest"] as? String, "\(action)")
            }
        } else if FileManager.default.fileExists(atPath: "/usr/share/ovmf/OVMF.fd") {
            Issue.record("cvm measure failed: \(predicted.stderr)")
        }
        let listed = try CLIRun.cvm(["attest", "rtmr", "replay", Self.fixture("ccel/ccel_data.dat"), "--events"])
        #expect(listed.stdout.contains("rtmr1 EV_EFI_ACTION 77a0dab2312b4e1e… Calling EFI Application from Boot Option"), "\(listed.stdout)")
        // The replayed values are what the quote from the same TD must carry: verify it with them.
        var arguments = ["attest", "verify", Self.fixture("ccel/cos-113-tdx-quote.dat"), "--allow-debug", "--at", "2024-06-01T00:00:00Z"]
        for index in 0..<3 { arguments += ["--expect-rtmr", "\(index)=\(rtmrs[index])"] }
        let verify = try CLIRun.cvm(arguments)
        #expect(verify.stdout.contains("pass  rtmr0") && verify.stdout.contains("pass  rtmr1") && verify.stdout.contains("pass  rtmr2"), "\(verify.stdout)")
        let bad = try CLIRun.cvm(["attest", "rtmr", "replay", Self.fixture("tdx_quote")])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("not a TCG Spec ID Event03") || bad.stderr.contains("truncated"), "\(bad.stderr)")
    }
}
