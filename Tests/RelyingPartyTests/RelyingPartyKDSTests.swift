import Certificates
import Crypto
import Foundation
import KDS
import SNPReport
import Testing
@testable import RelyingParty

/// The chain from KDS instead of the guest's certificate table: a real Genoa report whose VCEK sits in
/// the KDS cache, read in offline mode (no network), and an offline miss refused with the reason.
@Suite struct RelyingPartyKDSTests {
    func party(cache: URL, chain: ChainSource) throws -> (RelyingParty, AttestationReport, Curve25519.KeyAgreement.PrivateKey) {
        let report = try AttestationReport(bytes: Vector.bytes("snp/genoa-v3/report.bin"))
        let tee = Curve25519.KeyAgreement.PrivateKey()
        var policy = RelyingPartyPolicy()
        policy.launches = [AcceptedLaunch(measurement: report.measurement, coversKernel: true, origin: "test")]
        policy.chain = chain
        let party = try RelyingParty(policy: policy, secrets: ["s": [1, 2, 3]], key: Curve25519.KeyAgreement.PrivateKey(),
                                     nonces: FixedNonces(),
                                     binding: VectorBinding(reportData: report.reportData, teePublicKey: Array(tee.publicKey.rawRepresentation)),
                                     kds: KDSClient(cacheDirectory: cache, offline: true))
        return (party, report, tee)
    }

    func body(_ report: AttestationReport, tee: Curve25519.KeyAgreement.PrivateKey, table: [UInt8]? = nil) throws -> [UInt8] {
        let evidence = KBSProtocol.Evidence(report: Data(try Vector.bytes("snp/genoa-v3/report.bin")).base64EncodedString(),
                                            certs: table.map { Data($0).base64EncodedString() })
        return Array(try JSONEncoder().encode(KBSProtocol.AttestRequest(teePubkey: .init(x25519: Array(tee.publicKey.rawRepresentation)), teeEvidence: evidence)))
    }

    @Test func theVCEKComesFromTheKDSCacheOffline() async throws {
        let cache = FileManager.default.temporaryDirectory.appendingPathComponent("rp-kds-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: cache) }
        try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
        let (party, report, tee) = try party(cache: cache, chain: .kds)
        let product = try #require(report.product)
        let missing = party.auth(body: Harness.authBody)
        let miss = await party.attest(body: try body(report, tee: tee), session: missing.session)
        #expect(miss.status == 401)
        #expect(errorDetail(miss).hasPrefix("KDS: "), "\(errorDetail(miss))")

        let vcek = try Certificate(bytes: Vector.bytes("snp/genoa-v3/vcek.pem"))
        let file = try #require(KDSClient(cacheDirectory: cache).cacheFile(for: KDS.vcekPath(for: report, product: product)))
        try Data(vcek.der).write(to: file)
        let auth = party.auth(body: Harness.authBody)
        let reply = await party.attest(body: try body(report, tee: tee), session: auth.session)
        #expect(reply.status == 200, "\(errorDetail(reply))")
    }

    @Test func chainReportRefusesEvidenceWithoutATable() async throws {
        let cache = FileManager.default.temporaryDirectory.appendingPathComponent("rp-kds-\(UUID().uuidString)")
        let (party, report, tee) = try party(cache: cache, chain: .report)
        let auth = party.auth(body: Harness.authBody)
        let reply = await party.attest(body: try body(report, tee: tee), session: auth.session)
        #expect(reply.status == 401)
        #expect(errorDetail(reply).contains("certificate table holds no VCEK"), "\(errorDetail(reply))")
    }
}
