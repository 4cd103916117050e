// RelyingPartyBench: the relying party's throughput, for bench/relying-party/run.sh (not part of cvm).
//   RelyingPartyBench in-process REPORT CERT N   N sessions (auth → attest → resource) in process
//   RelyingPartyBench serve REPORT CERT PORT [IDLE]  the same relying party over HTTP until killed
//                                          (the HTTP tests run it too: in its own process its request tasks
//                                          cannot be starved by tests that block Swift's cooperative threads)
// A real report's REPORT_DATA is fixed, so the nonce is fixed and the binding maps it to the report's
// (a benchmark seam, as in the tests); every other step is the production path: JSON, base64, the
// certificate table, the chain (checked once, then cached), the report signature and policy, the
// accepted measurement, sealing the secret.
import Certificates
import Crypto
import Foundation
import RelyingParty
import RelyingPartyServer
import SNPReport

struct FixedNonce: NonceSource {
    static let value = [UInt8](repeating: 0x42, count: 32)
    func nonce() -> [UInt8] { Self.value }
}

struct ReportBinding: ReportDataBinding {
    let reportData: [UInt8]
    func expectedReportData(nonce: [UInt8], teePublicKey: [UInt8]) -> [UInt8] { reportData }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("RelyingPartyBench: \(message)\n".utf8))
    exit(2)
}

let arguments = CommandLine.arguments
guard arguments.count == 5 || arguments.count == 6 else { fail("usage: RelyingPartyBench in-process|serve REPORT CERT N|PORT [IDLE_SECONDS]") }
guard let reportBytes = FileManager.default.contents(atPath: arguments[2]).map(Array.init),
      let certBytes = FileManager.default.contents(atPath: arguments[3]).map(Array.init),
      let count = Int(arguments[4]) else { fail("cannot read the report or certificate") }
let report = try AttestationReport(bytes: reportBytes)
let certificate = try Certificate(bytes: certBytes)
let table = CertificateTable(entries: [.init(guid: CertificateTable.vcek, data: certificate.der)]).bytes
var policy = RelyingPartyPolicy()
policy.launches = [AcceptedLaunch(measurement: report.measurement, coversKernel: true, origin: "bench")]
policy.chain = .report
let party = try RelyingParty(policy: policy, secrets: ["secret": Array("a secret of the benchmark".utf8)],
                             key: Curve25519.KeyAgreement.PrivateKey(), nonces: FixedNonce(),
                             binding: ReportBinding(reportData: report.reportData), maxSessions: 1_000_000)

switch arguments[1] {
case "in-process":
    let teeKey = Curve25519.KeyAgreement.PrivateKey()
    let attestBody = Array(try JSONEncoder().encode(KBSProtocol.AttestRequest(
        teePubkey: .init(x25519: Array(teeKey.publicKey.rawRepresentation)),
        teeEvidence: .init(report: Data(reportBytes).base64EncodedString(), certs: Data(table).base64EncodedString()))))
    let authBody = Array(#"{"version":"0.1.0","tee":"snp"}"#.utf8)
    func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }
    @Sendable func session() async -> Bool {
        let auth = party.auth(body: authBody)
        let attested = await party.attest(body: attestBody, session: auth.session)
        return attested.status == 200 && party.resource(name: "secret", session: auth.session).status == 200
    }
    // One warm-up session checks the chain and builds the report key's tables.
    guard await session() else { fail("the warm-up session did not pass") }
    let wallStart = Date(), cpuStart = cpuSeconds()
    var ok = 0
    for _ in 0..<count where await session() { ok += 1 }
    let wall = Date().timeIntervalSince(wallStart), cpu = cpuSeconds() - cpuStart
    guard ok == count else { fail("only \(ok) of \(count) sessions passed") }
    print(String(format: "sessions=%d seconds=%.3f per_second=%.1f per_cpu_second=%.1f", count, wall, Double(count) / wall, Double(count) / cpu))
case "serve":
    let idle = arguments.count == 6 ? Double(arguments[5]) ?? 30 : 30
    let server = RelyingPartyServer(party: party, host: "127.0.0.1", port: count, idleTimeout: .milliseconds(Int(idle * 1000)), maxConnections: 4096)
    try await server.run { port in FileHandle.standardOutput.write(Data("listening \(port)\n".utf8)) }
default:
    fail("usage: RelyingPartyBench in-process|serve REPORT CERT N|PORT")
}
