import Foundation
import Testing
@testable import Attestation
@testable import Certificates

/// The CRL and certificates are made in this run by Fixtures/kds/make_crl.py with Python `cryptography`.
struct RevocationTests {
    @Test func crlFromAnotherImplementationParsesVerifiesAndRevokes() throws {
        let dir = try Subprocess.temporaryDirectory()
        try Subprocess.python("kds/make_crl.py", [dir.path])
        func load(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: dir.appendingPathComponent(name))) }
        let ca = try Certificate(der: load("ca.der"))
        let revoked = try Certificate(der: load("revoked.der"))
        let good = try Certificate(der: load("good.der"))
        let crl = try RevocationList(bytes: load("crl.der"))
        #expect(revoked.isSigned(by: ca) && good.isSigned(by: ca))
        #expect(crl.isSigned(by: ca))
        #expect(crl.thisUpdate == Date(timeIntervalSince1970: 1_735_689_600))  // 2025-01-01T00:00:00Z
        #expect(crl.isRevoked(revoked))
        #expect(!crl.isRevoked(good))
        let when = Date(timeIntervalSince1970: 1_736_000_000)
        let bad = crl.check(intermediate: good, leaf: revoked, ark: ca, at: when)
        #expect(!bad.passed && bad.detail.contains("SEV-Revoked"))
        #expect(crl.check(intermediate: good, leaf: good, ark: ca, at: when).passed)
        let milanARK = try AMDRoots.roots(for: .milan).ark
        #expect(!crl.check(intermediate: good, leaf: good, ark: milanARK, at: when).passed)
    }

    @Test func truncatedCRLThrows() throws {
        let dir = try Subprocess.temporaryDirectory()
        try Subprocess.python("kds/make_crl.py", [dir.path])
        let bytes = Array(try Data(contentsOf: dir.appendingPathComponent("crl.der")))
        #expect(throws: CertificateError.self) { try RevocationList(bytes: Array(bytes.prefix(100))) }
    }
}
