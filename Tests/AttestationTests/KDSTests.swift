import Foundation
import Testing
import SEVABI
import CachedFetch
import TestServers
@testable import KDS
@testable import SNPReport

/// KDS against a real HTTP server on 127.0.0.1; nothing leaves the machine.
@Suite(.serialized)
struct KDSTests {
    /// URL shapes from the VCEK/KDS specification (57230), with values from the vectors README.
    @Test func vcekURLsPerGeneration() throws {
        let milan = try Fixture.report("milan-v2")
        #expect(KDS.vcekPath(for: milan, product: .milan)
            == "/vcek/v1/Milan/\(milan.chipID.hexString)?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115")
        let turin = try Fixture.report("turin-v5")
        #expect(KDS.vcekPath(for: turin, product: .turin)
            == "/vcek/v1/Turin/59790fb1c39f35c1?fmcSPL=1&blSPL=1&teeSPL=1&snpSPL=4&ucodeSPL=81")
        #expect(KDS.chainPath(product: .genoa) == "/vcek/v1/Genoa/cert_chain")
        #expect(KDS.crlPath(product: .milan, endorsement: .vlek) == "/vlek/v1/Milan/crl")
    }

    /// Lays out a KDS tree: Milan VCEK by chip id, Genoa cert_chain (ASK then ARK).
    func serverTree() throws -> (URL, AttestationReport) {
        let root = try Subprocess.temporaryDirectory()
        let report = try Fixture.report("milan-v2")
        let vcekDir = root.appendingPathComponent("vcek/v1/Milan")
        try FileManager.default.createDirectory(at: vcekDir, withIntermediateDirectories: true)
        try Data(Fixture.bytes("snp/milan-v2/vcek.der")).write(to: vcekDir.appendingPathComponent(report.chipID.hexString))
        let genoa = root.appendingPathComponent("vcek/v1/Genoa")
        try FileManager.default.createDirectory(at: genoa, withIntermediateDirectories: true)
        let chain = try Fixture.bytes("snp/roots/genoa/ask.pem") + [0x0A] + Fixture.bytes("snp/roots/genoa/ark.pem")
        try Data(chain).write(to: genoa.appendingPathComponent("cert_chain"))
        return (root, report)
    }

    func client(_ server: LoopbackHTTPServer, _ mode: String, cache: URL? = nil, attempts: Int = 3, timeout: TimeInterval = 5) -> KDSClient {
        KDSClient(baseURL: server.baseURL(mode), cacheDirectory: cache, offline: false, maxAttempts: attempts,
                  initialBackoff: 0.05, maxBackoff: 5, timeout: timeout)
    }

    @Test func fetchesTheVCEKAndServesTheSecondRequestFromTheCache() async throws {
        let (root, report) = try serverTree()
        let server = try LoopbackHTTPServer(root: root)
        let cache = try Subprocess.temporaryDirectory()
        let kds = client(server, "ok", cache: cache)
        let (first, response) = try await kds.vcek(for: report, product: .milan)
        #expect(first.der == (try Fixture.bytes("snp/milan-v2/vcek.der")))
        #expect(!response.fromCache && response.attempts == 1)
        let (_, again) = try await kds.vcek(for: report, product: .milan)
        #expect(again.fromCache)
        #expect(server.requests == ["/ok/vcek/v1/Milan/\(report.chipID.hexString)?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115"])
        var offline = kds
        offline.offline = true
        #expect(try await offline.vcek(for: report, product: .milan).1.fromCache)
    }

    @Test func offlineWithoutACachedCopyFails() async throws {
        let report = try Fixture.report("milan-v2")
        let kds = KDSClient(baseURL: "http://127.0.0.1:9", cacheDirectory: try Subprocess.temporaryDirectory(), offline: true)
        await #expect(throws: KDSError.offlineMiss(path: KDS.vcekPath(for: report, product: .milan))) {
            _ = try await kds.vcek(for: report, product: .milan)
        }
    }

    @Test func chainAndCRL() async throws {
        let (root, _) = try serverTree()
        let crlDir = try Subprocess.temporaryDirectory()
        try Subprocess.python("kds/make_crl.py", [crlDir.path])
        try FileManager.default.copyItem(at: crlDir.appendingPathComponent("crl.der"),
                                         to: root.appendingPathComponent("vcek/v1/Milan/crl"))
        let server = try LoopbackHTTPServer(root: root)
        let (chain, _) = try await client(server, "ok").chain(product: .genoa)
        #expect(chain.map(\.subjectCommonName) == ["SEV-Genoa", "ARK-Genoa"])
        let (crl, _) = try await client(server, "ok").crl(product: .milan)
        #expect(crl.revokedSerials == [[0x12, 0x34], [0x01]])
    }

    @Test func notFoundIsNotRetried() async throws {
        let (root, _) = try serverTree()
        let server = try LoopbackHTTPServer(root: root)
        await #expect(throws: KDSError.notFound(url: server.baseURL("ok") + "/vcek/v1/Turin/cert_chain")) {
            _ = try await client(server, "ok").chain(product: .turin)
        }
        #expect(server.requests.count == 1)
    }

    @Test func rateLimitIsRetriedAfterRetryAfter() async throws {
        let (root, report) = try serverTree()
        let server = try LoopbackHTTPServer(root: root)
        let start = Date()
        let (_, response) = try await client(server, "ratelimit").vcek(for: report, product: .milan)
        let elapsed = Date().timeIntervalSince(start)
        #expect(response.attempts == 2)
        #expect(elapsed >= 0.9, "Retry-After: 1 must be honoured (waited \(elapsed) s)")
        #expect(server.requests.count == 2)
    }

    @Test func slowResponsesTimeOutAndAreRetried() async throws {
        let (root, report) = try serverTree()
        let server = try LoopbackHTTPServer(root: root)
        do {
            _ = try await client(server, "slow", attempts: 2, timeout: 1).vcek(for: report, product: .milan)
            Issue.record("a 3 s response must not beat a 1 s timeout")
        } catch let KDSError.gaveUp(_, attempts, _) {
            #expect(attempts == 2)
        }
        let (_, patient) = try await client(server, "slow", attempts: 1, timeout: 10).vcek(for: report, product: .milan)
        #expect(patient.attempts == 1)
    }

    @Test func corruptBodiesAreRetriedAndNeverCached() async throws {
        let (root, report) = try serverTree()
        let server = try LoopbackHTTPServer(root: root)
        let cache = try Subprocess.temporaryDirectory()
        do {
            _ = try await client(server, "corrupt", cache: cache, attempts: 2).vcek(for: report, product: .milan)
            Issue.record("a corrupt body must not be accepted")
        } catch let KDSError.gaveUp(_, attempts, last) {
            #expect(attempts == 2)
            #expect(last.description.contains("not usable"))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: cache.path).isEmpty)
    }

    @Test func serverErrorsGiveUpAfterTheConfiguredAttempts() async throws {
        let (root, _) = try serverTree()
        let server = try LoopbackHTTPServer(root: root)
        await #expect(throws: KDSError.self) { _ = try await client(server, "unavailable", attempts: 3).chain(product: .genoa) }
        #expect(server.requests.count == 3)
    }

    @Test func retryAfterAcceptsSecondsAndHTTPDates() {
        #expect(CachedFetcher.retryAfterSeconds("7") == 7)
        let now = Date(timeIntervalSince1970: 1_700_000_000)  // Tue, 14 Nov 2023 22:13:20 GMT
        #expect(CachedFetcher.retryAfterSeconds("Tue, 14 Nov 2023 22:13:30 GMT", now: now) == 10)
        #expect(CachedFetcher.retryAfterSeconds("soon") == nil)
    }
}
