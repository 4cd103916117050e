import Certificates
import Crypto
import Foundation
import SNPReport
@testable import RelyingParty

/// Real AMD-signed evidence (copied from ../shared/vectors, see NOTICE) and a relying party set up for it.
enum Vector {
    static func url(_ path: String) -> URL {
        guard let base = Bundle.module.resourceURL else { fatalError("test bundle has no resources") }
        return base.appendingPathComponent("Fixtures").appendingPathComponent(path)
    }

    static func bytes(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: url(path))) }

    static func milanReport() throws -> [UInt8] { try bytes("snp/milan-v2/report.bin") }

    /// A host certificate table (the extended guest request's data) holding `name`'s VCEK.
    static func table(_ name: String) throws -> [UInt8] {
        let file = FileManager.default.fileExists(atPath: url("snp/\(name)/vcek.der").path) ? "vcek.der" : "vcek.pem"
        let vcek = try Certificate(bytes: bytes("snp/\(name)/\(file)"))
        return CertificateTable(entries: [.init(guid: CertificateTable.vcek, data: vcek.der)]).bytes
    }
}

/// The test-only nonce source: every session gets this nonce.
struct FixedNonces: NonceSource {
    static let nonce = Array("cvmkit relying-party test nonce!".utf8)
    func nonce() -> [UInt8] { Self.nonce }
}

/// The test-only binding that lets a real report (whose REPORT_DATA is fixed) pass: for the fixed nonce
/// and this key it expects the report's REPORT_DATA; for anything else, the production binding.
struct VectorBinding: ReportDataBinding {
    let reportData: [UInt8]
    let teePublicKey: [UInt8]
    func expectedReportData(nonce: [UInt8], teePublicKey key: [UInt8]) -> [UInt8] {
        nonce == FixedNonces.nonce && key == teePublicKey ? reportData : SHA512NonceKeyBinding().expectedReportData(nonce: nonce, teePublicKey: key)
    }
}

/// Collects decision lines.
final class DecisionLog: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [Decision] = []
    func append(_ decision: Decision) { lock.withLock { items.append(decision) } }
    var decisions: [Decision] { lock.withLock { items } }
}

/// A relying party that accepts the Milan vector's measurement, with the vector binding for `teeKey`.
struct Harness {
    let party: RelyingParty
    let log = DecisionLog()
    let teeKey = Curve25519.KeyAgreement.PrivateKey()
    let rpKey = Curve25519.KeyAgreement.PrivateKey()
    let report: AttestationReport
    static let secret = Array("the database password".utf8)

    init(coversKernel: Bool = true, allowUncovered: Bool = false, measurements: [[UInt8]]? = nil, timeout: Double = 60,
         allowDebug: Bool = false, clock: @escaping @Sendable () -> Date = { Date() }, maxSessions: Int = 10_000) throws {
        report = try AttestationReport(bytes: Vector.milanReport())
        var policy = RelyingPartyPolicy()
        policy.launches = (measurements ?? [report.measurement]).map {
            AcceptedLaunch(measurement: $0, coversKernel: coversKernel, origin: "test")
        }
        policy.allowUncoveredKernel = allowUncovered
        policy.sessionTimeout = timeout
        policy.chain = .report
        policy.report.allowDebug = allowDebug
        let log = self.log
        party = try RelyingParty(policy: policy, secrets: ["db-password": Self.secret], key: rpKey, nonces: FixedNonces(),
                                 binding: VectorBinding(reportData: report.reportData, teePublicKey: Array(teeKey.publicKey.rawRepresentation)),
                                 maxSessions: maxSessions, clock: clock, log: { log.append($0) })
    }

    var teePublic: [UInt8] { Array(teeKey.publicKey.rawRepresentation) }

    func attestBody(report: [UInt8]? = nil, table: [UInt8]? = nil, key: [UInt8]? = nil, error: String? = nil) throws -> [UInt8] {
        let evidence: KBSProtocol.Evidence
        if let error {
            evidence = KBSProtocol.Evidence(error: error)
        } else {
            evidence = KBSProtocol.Evidence(report: Data(try report ?? Vector.milanReport()).base64EncodedString(),
                                            certs: Data(try table ?? Vector.table("milan-v2")).base64EncodedString())
        }
        let request = KBSProtocol.AttestRequest(teePubkey: .init(x25519: key ?? teePublic), teeEvidence: evidence)
        return Array(try JSONEncoder().encode(request))
    }

    static let authBody = Array(#"{"version":"0.1.0","tee":"snp"}"#.utf8)

    func open(_ reply: Reply, name: String = "db-password") throws -> [UInt8] {
        let sealed = try JSONDecoder().decode(KBSProtocol.SealedResource.self, from: Data(reply.body))
        guard let iv = Base64URL.decode(sealed.iv), let ct = Base64URL.decode(sealed.ciphertext), let tag = Base64URL.decode(sealed.tag) else {
            throw SecretSealing.Failure.badSealedBox
        }
        return try SecretSealing.open(.init(iv: iv, ciphertext: ct, tag: tag), name: name, rpPublic: party.publicKey,
                                      nonce: FixedNonces.nonce, with: teeKey)
    }
}

func errorType(_ reply: Reply) -> String? {
    (try? JSONDecoder().decode(KBSProtocol.ErrorBody.self, from: Data(reply.body)))?.type
}

func errorDetail(_ reply: Reply) -> String {
    (try? JSONDecoder().decode(KBSProtocol.ErrorBody.self, from: Data(reply.body)))?.detail ?? ""
}
