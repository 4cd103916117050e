import AttestationPolicy
import Certificates
import Foundation
import Testing
@testable import DCAPQuote
@testable import TDXAttestation

/// A revoked serial in a CRL we build. Intel's CA keys are not ours, so Oracles/rebuild_pki.py (Python
/// `cryptography`) rebuilds the PKI of the real v4 quote under a fresh root on every run: new PCK CA and
/// PCK leaf (carrying the real leaf's SGX extension), the QE report re-signed, TCB info and QE identity
/// re-signed, and both CRLs, with the PCK leaf's serial (or the PCK CA's) listed when asked. The same
/// inputs then go to our verifier with that root trusted and to dcap-qvl's verify_with_root_ca.
@Suite struct RevocationListTests {
    static let time = Date(timeIntervalSince1970: 1_751_624_191)
    static let rebuildScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Oracles/rebuild_pki.py").path

    struct Rebuilt {
        let directory: URL
        let quote: DCAPQuote
        let collateral: QuoteCollateral
        let root: Certificate
        var quotePath: String { directory.appendingPathComponent("quote").path }
        var collateralPath: String { directory.appendingPathComponent("collateral.json").path }
        var rootPath: String { directory.appendingPathComponent("root.der").path }
    }

    static func rebuild(revoke: String) throws -> Rebuilt {
        let python = try #require(TDXFixture.oraclePython, "scripts/test's .venv-oracle (dcap-qvl, cryptography) is needed")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-pki-\(revoke)-\(UUID().uuidString)")
        let (status, _) = try TDXFixture.oracleRun(python, [rebuildScript, TDXFixture.url("tdx_quote").path,
                                                            TDXFixture.url("tdx_quote_collateral.json").path, directory.path, "--revoke", revoke])
        try #require(status == 0, "rebuild_pki.py failed")
        let read = { (name: String) in Array(try Data(contentsOf: directory.appendingPathComponent(name))) }
        return Rebuilt(directory: directory, quote: try DCAPQuote(bytes: read("quote")),
                       collateral: try QuoteCollateral(json: read("collateral.json")), root: try Certificate(bytes: read("root.der")))
    }

    static func checks(_ rebuilt: Rebuilt) throws -> [Check] {
        let chain = try Certificate.parseBundle(rebuilt.quote.pckChainPEM)
        return QuoteVerifier.verify(rebuilt.quote, at: time, root: rebuilt.root).checks
            + CollateralVerifier.checks(pckChain: chain, collateral: rebuilt.collateral, at: time, root: rebuilt.root)
            + [QuoteVerifier.tcbLevelCheck(rebuilt.quote, pck: try PCKExtensions(try #require(chain.first)), collateral: rebuilt.collateral)]
    }

    static let needsOracle: Comment = "needs dcap-qvl and cryptography (scripts/test installs them into .venv-oracle)"

    @Test(.enabled(if: TDXFixture.oraclePython != nil || ProcessInfo.processInfo.environment["CI"] == "true", needsOracle),
          arguments: ["none", "pck", "ca"])
    func aRevokedSerialIsRefusedAsDcapQvlRefusesIt(revoke: String) throws {
        let rebuilt = try Self.rebuild(revoke: revoke)
        defer { try? FileManager.default.removeItem(at: rebuilt.directory) }
        let failures = try Self.checks(rebuilt).filter { !$0.passed }
        let oracle = try TDXFixture.oracle(["verify", rebuilt.quotePath, rebuilt.collateralPath, "1751624191", rebuilt.rootPath])
        switch revoke {
        case "none":
            // Every other check still holds under the rebuilt PKI: only a revocation can make it fail.
            #expect(failures.isEmpty, "\(failures)")
            #expect(oracle["ok"] as? Bool == true, "dcap-qvl: \(oracle)")
            #expect(oracle["status"] as? String == "UpToDate")
        default:
            #expect(failures.map(\.name) == ["revocation"], "\(failures)")
            let leaf = try #require(try Certificate.parseBundle(rebuilt.quote.pckChainPEM).first)
            let named = revoke == "pck" ? leaf.subjectCommonName : try Certificate.parseBundle(rebuilt.quote.pckChainPEM)[1].subjectCommonName
            #expect(failures.first?.detail.contains(try #require(named)) == true, "\(failures)")
            #expect(oracle["ok"] as? Bool == false, "dcap-qvl accepted a revoked chain")
            #expect((oracle["error"] as? String)?.contains("CertRevoked") == true, "\(oracle)")
        }
    }

    /// Intel's pinned root is not the rebuilt one: without the override every chain check fails, so a
    /// test PKI can never pass by default.
    @Test(.enabled(if: TDXFixture.oraclePython != nil || ProcessInfo.processInfo.environment["CI"] == "true", needsOracle))
    func aForeignRootIsRefusedUnlessTrusted() throws {
        let rebuilt = try Self.rebuild(revoke: "none")
        defer { try? FileManager.default.removeItem(at: rebuilt.directory) }
        let pinned = QuoteVerifier.verify(rebuilt.quote, at: Self.time)
        #expect(Set(pinned.failures.map(\.name)).isSuperset(of: ["root", "pck-ca"]), "\(pinned.failures)")
        let chain = try Certificate.parseBundle(rebuilt.quote.pckChainPEM)
        let collateral = CollateralVerifier.checks(pckChain: chain, collateral: rebuilt.collateral, at: Self.time)
        #expect(Set(collateral.filter { !$0.passed }.map(\.name)) == ["tcb-info", "qe-identity", "root-crl"])
        #expect(IntelRoot.name(of: rebuilt.root).contains("not Intel's"))
    }
}
