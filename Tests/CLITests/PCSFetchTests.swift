import CachedFetch
import DCAPQuote
import Foundation
import PCS
import TDXAttestation
import TestServers
import Testing

/// `cvm attest fetch tdx` and the PCS client against a loopback server serving Intel's recorded PCS
/// answers for FMSPC 50806F000000 (Fixtures/pcs, from go-tdx-guest) with the issuer chains of the same
/// answers assembled by hand (Tests/TDXTests/Fixtures/collateral_v4_50806f000000.json).
@Suite(.serialized)
struct PCSFetchTests {
    static let quote = TDXQuoteCLITests.fixture("tdx_prod_quote_SPR_E4.dat")
    static let assembled = TDXQuoteCLITests.fixture("collateral_v4_50806f000000.json")
    /// Inside every answer's validity window (the vectors README verifies these quotes at this time).
    static let recorded = "2023-06-28T08:03:58Z"

    static func recordedTime() throws -> Date { try #require(ISO8601DateFormatter().date(from: recorded)) }

    static func assembledLayout() throws -> QuoteCollateral.Layout {
        try JSONDecoder().decode(QuoteCollateral.Layout.self, from: Data(contentsOf: URL(fileURLWithPath: assembled)))
    }

    /// A PCS (and PCCS) tree: each answer with its issuer chain header; the root CA CRL both as a PCCS
    /// serves it (hex) and as Intel does (DER).
    static func serverTree() throws -> URL {
        let root = try OCITestArchive.temporaryDirectory("pcs-server")
        let layout = try assembledLayout()
        let recordedAnswers = OCITestArchive.repositoryRoot.appendingPathComponent("Tests/CLITests/Fixtures/pcs")
        func place(_ path: String, _ fixture: String, header: (String, String)? = nil) throws {
            let file = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: recordedAnswers.appendingPathComponent(fixture), to: file)
            if let (name, pem) = header {
                let encoded = try #require(pem.addingPercentEncoding(withAllowedCharacters: .alphanumerics))
                try JSONSerialization.data(withJSONObject: [name: encoded]).write(to: file.appendingPathExtension("headers"))
            }
        }
        try place("sgx/certification/v4/pckcrl", "pckcrl", header: ("SGX-PCK-CRL-Issuer-Chain", layout.pck_crl_issuer_chain))
        try place("tdx/certification/v4/tcb", "sample_tcbInfo_response", header: ("TCB-Info-Issuer-Chain", layout.tcb_info_issuer_chain))
        try place("tdx/certification/v4/qe/identity", "sample_qeIdentity_response",
                  header: ("SGX-Enclave-Identity-Issuer-Chain", layout.qe_identity_issuer_chain))
        try place("IntelSGXRootCA.der", "rootcrl.der")
        let der = try Data(contentsOf: recordedAnswers.appendingPathComponent("rootcrl.der"))
        try Data(der.map { String(format: "%02x", $0) }.joined().utf8).write(to: root.appendingPathComponent("sgx/certification/v4/rootcacrl"))
        return root
    }

    static func client(_ server: LoopbackHTTPServer, _ mode: String, cache: URL?, offline: Bool = false, attempts: Int = 3,
                       now: Date) -> PCSClient {
        PCSClient(fetcher: CachedFetcher(baseURL: server.baseURL(mode), cacheDirectory: cache, offline: offline, maxAttempts: attempts,
                                         initialBackoff: 0.05, maxBackoff: 5, timeout: 5), now: now)
    }

    static func platform() throws -> PCKPlatform {
        try PCKPlatform(quote: DCAPQuote(bytes: Array(Data(contentsOf: URL(fileURLWithPath: quote)))))
    }

    /// Both quotes of this FMSPC name it and the Platform CA in their PCK certificates; the paths are the
    /// PCS API v4 ones.
    @Test func theFMSPCAndCAComeFromThePCKCertificate() throws {
        for name in ["tdx_prod_quote_SPR_E4.dat", "tdx_quote_4.dat"] {
            let parsed = try DCAPQuote(bytes: Array(Data(contentsOf: URL(fileURLWithPath: TDXQuoteCLITests.fixture(name)))))
            #expect(try PCKPlatform(quote: parsed) == PCKPlatform(tee: .tdx, fmspc: [0x50, 0x80, 0x6F, 0, 0, 0], ca: .platform))
        }
        let sgx = try DCAPQuote(bytes: Array(Data(contentsOf: URL(fileURLWithPath: TDXQuoteCLITests.fixture("sgx_quote")))))
        #expect(try PCKPlatform(quote: sgx).tee == .sgx)
        #expect(PCS.pckCRLPath(ca: .processor) == "/sgx/certification/v4/pckcrl?ca=processor&encoding=der")
        #expect(PCS.tcbInfoPath(tee: .sgx, fmspc: [0x00, 0xA0, 0x67, 0x11, 0, 0]) == "/sgx/certification/v4/tcb?fmspc=00A067110000")
        #expect(PCS.qeIdentityPath(tee: .tdx) == "/tdx/certification/v4/qe/identity")
        #expect(PCS.baseURL("https://pccs.internal:8081/sgx/certification/v4/") == "https://pccs.internal:8081")
        #expect(PCSClient(fetcher: CachedFetcher(baseURL: PCS.defaultBaseURL + "/", cacheDirectory: nil)).rootCACRL == PCS.intelRootCACRLURL)
        #expect(PCSClient(fetcher: CachedFetcher(baseURL: "http://pccs:8081", cacheDirectory: nil)).rootCACRL == PCS.pccsRootCACRLPath)
    }

    /// The signed object is cut out of the answer byte for byte: spacing, escaped quotes and brackets
    /// inside strings, nested arrays and the key order stay as served.
    @Test func theSignedObjectIsTheBytesServed() throws {
        let signed = #"{ "nextUpdate" : "2030-01-01T00:00:00Z", "note":"a \"}\" ]", "levels":[1,{"b":[2,3]}], "z":1e2 }"#
        let signature = String(repeating: "ab", count: 64)
        let answer = #"{"other":{"tcbInfo":0},  "tcbInfo" :"# + signed + #" , "signature":""# + signature + #""}"#
        let parsed = try SignedAnswer(Array(answer.utf8), member: "tcbInfo")
        #expect(String(decoding: parsed.signedJSON, as: UTF8.self) == signed)
        #expect(parsed.signature == [UInt8](repeating: 0xAB, count: 64))
        #expect(throws: PCS.Failure.self) { try SignedAnswer(Array(answer.utf8), member: "enclaveIdentity") }
        #expect(throws: PCS.Failure.self) { try SignedAnswer(Array(answer.replacingOccurrences(of: signature, with: "abcd").utf8), member: "tcbInfo") }
    }

    /// Every field equals the hand-assembled collateral; the requests carry the quote's FMSPC and CA; a
    /// second fetch asks nothing; at today's date the expired TCB info and QE identity are fetched again,
    /// and offline they are used, marked stale.
    @Test func theFetchedCollateralIsTheAssembledOneAndIsCached() async throws {
        let server = try LoopbackHTTPServer(root: Self.serverTree())
        let cache = try OCITestArchive.temporaryDirectory("pcs-cache")
        let fetched = try await Self.client(server, "ok", cache: cache, now: Self.recordedTime()).collateral(for: Self.platform())
        let expected = try Self.assembledLayout()
        for (got, want) in zip(Mirror(reflecting: fetched.collateral).children, Mirror(reflecting: expected).children) {
            #expect(got.value as? String == want.value as? String, "\(got.label ?? "?") differs")
        }
        #expect(fetched.collateral == expected)
        #expect(server.requests == [
            "/ok/sgx/certification/v4/pckcrl?ca=platform&encoding=der",
            "/ok/tdx/certification/v4/tcb?fmspc=50806F000000",
            "/ok/tdx/certification/v4/qe/identity",
            "/ok/sgx/certification/v4/rootcacrl",
        ])
        #expect(fetched.parts.allSatisfy { !$0.response.fromCache && $0.response.attempts == 1 })

        let again = try await Self.client(server, "ok", cache: cache, now: Self.recordedTime()).collateral(for: Self.platform())
        #expect(again.parts.allSatisfy { $0.response.fromCache })
        let sameFile = again.json == fetched.json
        #expect(sameFile, "the file from the cache equals the first")
        #expect(server.requests.count == 4)

        let today = try await Self.client(server, "ok", cache: cache, now: Date()).collateral(for: Self.platform())
        let refetched = today.parts.filter { !$0.response.fromCache }.map(\.name)
        #expect(refetched.contains("TCB info (FMSPC 50806F000000)") && refetched.contains("QE identity"), "\(refetched)")
        #expect(server.requests.count == 4 + refetched.count)

        let offline = try await Self.client(server, "ok", cache: cache, offline: true, now: Date()).collateral(for: Self.platform())
        #expect(offline.parts.allSatisfy { $0.response.fromCache })
        #expect(offline.parts.filter { $0.response.stale }.map(\.name).contains("TCB info (FMSPC 50806F000000)"))
    }

    /// With the server gone, expired cached answers stand in, marked stale with the reason; with nothing
    /// cached the fetch still fails.
    @Test func anUnreachableServerFallsBackToExpiredCachedAnswers() async throws {
        let server = try LoopbackHTTPServer(root: Self.serverTree())
        let cache = try OCITestArchive.temporaryDirectory("pcs-fallback")
        _ = try await Self.client(server, "ok", cache: cache, now: Self.recordedTime()).collateral(for: Self.platform())
        let gone = PCSClient(fetcher: CachedFetcher(baseURL: "http://127.0.0.1:9", cacheDirectory: cache, maxAttempts: 2,
                                                    initialBackoff: 0.05, maxBackoff: 1, timeout: 3), now: Date())
        let fallback = try await gone.collateral(for: Self.platform())
        let stale = fallback.parts.filter { $0.response.stale }
        #expect(stale.map(\.name).contains("TCB info (FMSPC 50806F000000)") && stale.map(\.name).contains("QE identity"), "\(stale.map(\.name))")
        #expect(stale.allSatisfy { $0.response.unreachable?.contains("127.0.0.1:9") == true && $0.response.attempts == 2 },
                "\(stale.map { $0.response.unreachable ?? "-" })")
        #expect(fallback.collateral == (try Self.assembledLayout()))
        let empty = PCSClient(fetcher: CachedFetcher(baseURL: "http://127.0.0.1:9", cacheDirectory: try OCITestArchive.temporaryDirectory("pcs-none"),
                                                     maxAttempts: 1, timeout: 3), now: Date())
        await #expect(throws: FetchError.self) { _ = try await empty.collateral(for: Self.platform()) }
    }

    @Test func offlineWithAnEmptyCacheFails() async throws {
        let client = PCSClient(fetcher: CachedFetcher(baseURL: "http://127.0.0.1:9", cacheDirectory: try OCITestArchive.temporaryDirectory("pcs-empty"),
                                                      offline: true))
        await #expect(throws: FetchError.offlineMiss(path: "/sgx/certification/v4/pckcrl?ca=platform&encoding=der")) {
            _ = try await client.collateral(for: Self.platform())
        }
    }

    /// Every path answers 429 with Retry-After: 1 once, then the file.
    @Test func rateLimitsAreRetriedAfterRetryAfter() async throws {
        let server = try LoopbackHTTPServer(root: Self.serverTree())
        let start = Date()
        let fetched = try await Self.client(server, "ratelimit", cache: nil, now: Self.recordedTime()).collateral(for: Self.platform())
        #expect(fetched.parts.allSatisfy { $0.response.attempts == 2 })
        #expect(Date().timeIntervalSince(start) >= 3.5, "Retry-After: 1 must be honoured on each of the four paths")
        #expect(server.requests.count == 8)
        #expect(fetched.collateral == (try Self.assembledLayout()))
    }

    /// A body that is not JSON or not DER, or JSON without a usable signature or issuer chain, is
    /// retried and never cached.
    @Test func unusableAnswersAreRetriedAndNeverCached() async throws {
        let server = try LoopbackHTTPServer(root: Self.serverTree())
        let cache = try OCITestArchive.temporaryDirectory("pcs-corrupt")
        do {
            _ = try await Self.client(server, "corrupt", cache: cache, attempts: 2, now: Self.recordedTime()).collateral(for: Self.platform())
            Issue.record("a corrupt PCK CRL must not be accepted")
        } catch let FetchError.gaveUp(_, attempts, last) {
            #expect(attempts == 2 && last.description.contains("not usable"), "\(last)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: cache.path).isEmpty)

        let tcb = server.root.appendingPathComponent("tdx/certification/v4/tcb")
        for tampered in [#"{"tcbInfo":{"nextUpdate":"2023-07-18T08:42:58Z"},"signature":"zz"}"#, #"{"signature":"00"}"#, "{\"tcbInfo\":"] {
            try Data(tampered.utf8).write(to: tcb)
            await #expect(throws: FetchError.self) {
                _ = try await Self.client(server, "ok", cache: cache, attempts: 1, now: Self.recordedTime()).collateral(for: Self.platform())
            }
            let cached = try FileManager.default.contentsOfDirectory(atPath: cache.path)
            #expect(!cached.contains { $0.contains("tcb") }, "\(tampered): \(cached)")
        }
        try Data(contentsOf: OCITestArchive.repositoryRoot.appendingPathComponent("Tests/CLITests/Fixtures/pcs/sample_tcbInfo_response")).write(to: tcb)
        try FileManager.default.removeItem(at: tcb.appendingPathExtension("headers"))
        await #expect(throws: FetchError.self, "an answer without its issuer chain header is refused") {
            _ = try await Self.client(server, "ok", cache: cache, attempts: 1, now: Self.recordedTime()).collateral(for: Self.platform())
        }
    }

    /// Servers from before API v4 send TCB info's issuer chain as SGX-TCB-Info-Issuer-Chain.
    @Test func theOlderTCBInfoChainHeaderIsRead() async throws {
        let root = try Self.serverTree()
        let headers = root.appendingPathComponent("tdx/certification/v4/tcb.headers")
        let current = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: headers)) as? [String: String])
        try JSONSerialization.data(withJSONObject: ["SGX-TCB-Info-Issuer-Chain": current["TCB-Info-Issuer-Chain"]]).write(to: headers)
        let server = try LoopbackHTTPServer(root: root)
        let fetched = try await Self.client(server, "ok", cache: nil, now: Self.recordedTime()).collateral(for: Self.platform())
        #expect(fetched.collateral == (try Self.assembledLayout()))
    }

    /// dcap-qvl's own collateral fetcher (PyPI, scripts/test's .venv-oracle), pointed at the same server
    /// as a PCCS, gets the same nine fields.
    @Test(.enabled(if: Self.oraclePython != nil || ProcessInfo.processInfo.environment["CI"] == "true",
                   "needs dcap-qvl (scripts/test installs it into .venv-oracle)"))
    func dcapQvlFetchesTheSameCollateral() async throws {
        let python = try #require(Self.oraclePython)
        let server = try LoopbackHTTPServer(root: Self.serverTree())
        let ours = try await Self.client(server, "ok", cache: nil, now: Self.recordedTime()).collateral(for: Self.platform())
        // os._exit: after get_collateral, dcap-qvl 0.7.0 crashes (SIGSEGV) in the interpreter's teardown
        // in about half the runs, after its answer is printed; skipping the teardown avoids it.
        let script = """
        import asyncio, os, sys, dcap_qvl
        async def main():
            return await dcap_qvl.get_collateral(sys.argv[1], open(sys.argv[2], "rb").read())
        print(asyncio.run(main()).to_json(), flush=True)
        os._exit(0)
        """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", script, server.baseURL("ok"), Self.quote]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let theirs = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        for child in Mirror(reflecting: ours.collateral).children {
            let label = try #require(child.label)
            #expect(theirs[label] as? String == child.value as? String, "\(label) differs from dcap-qvl's")
        }
    }

    /// dcap-qvl in .venv-oracle (or DCAP_QVL_PYTHON), nil when it cannot import dcap_qvl.
    static let oraclePython: String? = {
        let candidates: [String?] = [ProcessInfo.processInfo.environment["DCAP_QVL_PYTHON"],
                                     OCITestArchive.repositoryRoot.appendingPathComponent(".venv-oracle/bin/python").path]
        return candidates.compactMap { $0 }.first { (path: String) -> Bool in
            guard FileManager.default.isExecutableFile(atPath: path) else { return false }
            let probe = Process()
            probe.executableURL = URL(fileURLWithPath: path)
            probe.arguments = ["-c", "import dcap_qvl"]
            guard (try? probe.run()) != nil else { return false }
            probe.waitUntilExit()
            return probe.terminationStatus == 0
        }
    }()
}
