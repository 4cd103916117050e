import Foundation
import TestServers
import Testing

/// `cvm attest fetch tdx` as a user runs it, against the loopback PCS of PCSFetchTests.
@Suite(.serialized)
struct AttestFetchTDXCLITests {
    static func fetch(_ server: LoopbackHTTPServer, _ mode: String, out: URL, cache: URL, _ extra: [String] = []) throws -> CLIRun {
        try CLIRun.cvm(["attest", "fetch", "tdx", PCSFetchTests.quote, "--base-url", server.baseURL(mode), "--out", out.path,
                        "--cache", cache.path, "--at", PCSFetchTests.recorded, "--attempts", "2", "--max-backoff", "1"] + extra)
    }

    /// The check lines of `cvm attest verify` (status and every pass/FAIL line) with a collateral file.
    static func verify(_ collateral: String) throws -> (Int32, [Substring]) {
        let run = try CLIRun.cvm(["attest", "verify", PCSFetchTests.quote, "--at", PCSFetchTests.recorded, "--collateral", collateral])
        return (run.status, run.stdout.split(separator: "\n").filter { $0.hasPrefix("pass") || $0.hasPrefix("FAIL") })
    }

    @Test func theFetchedFileVerifiesLikeTheAssembledOneAndTheSecondFetchIsCached() throws {
        let server = try LoopbackHTTPServer(root: PCSFetchTests.serverTree())
        let out = try OCITestArchive.temporaryDirectory("pcs-out")
        let cache = try OCITestArchive.temporaryDirectory("pcs-cli-cache")
        let first = try Self.fetch(server, "ok", out: out, cache: cache)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("TCB info (FMSPC 50806F000000) from PCS after 1 attempt(s)"), "\(first.stdout)")
        let written = out.appendingPathComponent("collateral.json").path
        let ours = try Self.verify(written)
        let assembled = try Self.verify(PCSFetchTests.assembled)
        #expect(ours.0 == assembled.0 && ours.1 == assembled.1, "\(ours) vs \(assembled)")
        #expect(!ours.1.isEmpty)
        // dcap-qvl: "No matching TCB level found" for this quote (the vectors README): a real verdict, not a parse failure.
        #expect(ours.1.contains { $0.hasPrefix("FAIL  tcb-level") }, "\(ours.1)")
        #expect(ours.1.contains { $0.hasPrefix("pass  tcb-info ") })

        let again = try Self.fetch(server, "ok", out: out, cache: cache)
        #expect(again.status == 0 && again.stdout.components(separatedBy: "from cache").count == 5, "\(again.stdout)")
        #expect(server.requests.count == 4)

        let offlineToday = try CLIRun.cvm(["attest", "fetch", "tdx", PCSFetchTests.quote, "--offline", "--base-url", server.baseURL("ok"),
                                          "--out", out.path, "--cache", cache.path])
        #expect(offlineToday.status == 0, "\(offlineToday.stderr)")
        #expect(offlineToday.stderr.contains("warning: the cached TCB info (FMSPC 50806F000000) is past its nextUpdate"), "\(offlineToday.stderr)")
    }

    /// The root CA CRL from Intel's URL form (DER at an absolute URL) gives the same file.
    @Test func theRootCACRLFromAURL() throws {
        let server = try LoopbackHTTPServer(root: PCSFetchTests.serverTree())
        let out = try OCITestArchive.temporaryDirectory("pcs-out")
        let run = try Self.fetch(server, "ok", out: out, cache: OCITestArchive.temporaryDirectory("pcs-cli-cache"),
                                 ["--root-ca-crl", server.baseURL("ok") + "/IntelSGXRootCA.der"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(server.requests.last == "/ok/IntelSGXRootCA.der")
        let written = try JSONDecoder().decode([String: String].self, from: Data(contentsOf: out.appendingPathComponent("collateral.json")))
        let assembled = try JSONDecoder().decode([String: String].self, from: Data(contentsOf: URL(fileURLWithPath: PCSFetchTests.assembled)))
        #expect(written == assembled)
    }

    /// Bad input, and a server that only sends garbage, is one line and exit 2; an empty cache offline
    /// is one line and exit 3, as for KDS.
    @Test func failuresAreOneLine() throws {
        let server = try LoopbackHTTPServer(root: PCSFetchTests.serverTree())
        let out = try OCITestArchive.temporaryDirectory("pcs-out")
        let cache = try OCITestArchive.temporaryDirectory("pcs-cli-cache")
        let notAQuote = out.appendingPathComponent("not-a-quote")
        try Data("hello".utf8).write(to: notAQuote)
        var noChain = try Data(contentsOf: URL(fileURLWithPath: PCSFetchTests.quote))
        let marker = Data("-----BEGIN CERTIFICATE-----".utf8)
        let first = try #require(noChain.range(of: marker))
        noChain.replaceSubrange(first.lowerBound..<first.lowerBound + 5, with: Data("=====".utf8))
        let damaged = out.appendingPathComponent("no-chain")
        try noChain.write(to: damaged)
        for path in [notAQuote.path, damaged.path] {
            let run = try CLIRun.cvm(["attest", "fetch", "tdx", path, "--base-url", server.baseURL("ok"), "--out", out.path, "--no-cache"])
            #expect(run.status == 2, "\(path): \(run.stderr)")
            #expect(run.stderr.split(separator: "\n").count == 1, "\(path): \(run.stderr)")
        }
        let offline = try Self.fetch(server, "ok", out: out, cache: cache, ["--offline"])
        #expect(offline.status == 3 && offline.stderr.contains("offline and not in the cache"), "\(offline.stderr)")
        #expect(offline.stderr.split(separator: "\n").count == 1)
        let corrupt = try Self.fetch(server, "corrupt", out: out, cache: cache)
        #expect(corrupt.status == 2 && corrupt.stderr.contains("not usable"), "\(corrupt.stderr)")
        #expect(corrupt.stderr.split(separator: "\n").count == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: cache.path).isEmpty)
        #expect(server.requests.allSatisfy { !$0.hasPrefix("/ok/") }, "bad quotes ask nothing")
    }
}
