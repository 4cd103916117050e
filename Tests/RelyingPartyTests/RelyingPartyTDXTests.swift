import Crypto
import Foundation
import Testing
import TDXAttestation
@testable import RelyingParty

/// TDX guests at the relying party: a real Intel-signed TDX quote (the vectors' tdx_quote with its
/// collateral, at the README's time) as the evidence, judged as `cvm attest verify QUOTE` judges it, then
/// the session's binding, the accepted MRTDs and the kernel coverage (RTMR1/RTMR2 pinned or allowed).
@Suite struct RelyingPartyTDXTests {
    static let time = Date(timeIntervalSince1970: 1_751_624_191)  // 2025-07-04T10:16:31Z
    static func quote() throws -> [UInt8] { try Vector.bytes("tdx/tdx_quote") }
    /// Fields of Intel's TD 1.0 body after the 48-byte header: MRTD at 136, RTMR1 at 376, RTMR2 at 424,
    /// REPORTDATA at 520.
    static func field(_ quote: [UInt8], _ offset: Int, _ count: Int) -> [UInt8] { Array(quote[48 + offset..<48 + offset + count]) }

    struct TD {
        let party: RelyingParty
        let teeKey = Curve25519.KeyAgreement.PrivateKey()
        let log = DecisionLog()
        var teePublic: [UInt8] { Array(teeKey.publicKey.rawRepresentation) }

        init(mrtds: [[UInt8]]? = nil, pinKernel: Bool = true, allowUncovered: Bool = false, tdx: Bool = true,
             clock: Date = RelyingPartyTDXTests.time) throws {
            let quote = try RelyingPartyTDXTests.quote()
            var policy = RelyingPartyPolicy()
            if tdx {
                var rules = QuotePolicy()
                if pinKernel {
                    rules.rtmrs[1] = RelyingPartyTDXTests.field(quote, 376, 48)
                    rules.rtmrs[2] = RelyingPartyTDXTests.field(quote, 424, 48)
                }
                policy.tdx = TDXRules(mrtds: mrtds ?? [RelyingPartyTDXTests.field(quote, 136, 48)],
                                      collateral: Vector.url("tdx/tdx_quote_collateral.json").path, quote: rules)
            }
            policy.allowUncoveredKernel = allowUncovered
            let log = self.log
            party = try RelyingParty(policy: policy, secrets: ["db-password": Harness.secret], key: Curve25519.KeyAgreement.PrivateKey(),
                                     nonces: FixedNonces(),
                                     binding: VectorBinding(reportData: RelyingPartyTDXTests.field(quote, 520, 64), teePublicKey: Array(teeKey.publicKey.rawRepresentation)),
                                     clock: { clock }, log: { log.append($0) })
        }

        func attest(_ quote: [UInt8], key: [UInt8]? = nil) async throws -> Reply {
            let auth = party.auth(body: Harness.authBody)
            let session = try #require(auth.session)
            let evidence = KBSProtocol.Evidence(report: Data(quote).base64EncodedString())
            let body = Array(try JSONEncoder().encode(KBSProtocol.AttestRequest(teePubkey: .init(x25519: key ?? teePublic), teeEvidence: evidence)))
            let reply = await party.attest(body: body, session: session)
            if reply.status == 200 { #expect(party.resource(name: "db-password", session: session).status == 200) }
            return reply
        }
    }

    @Test func aGenuineTDIsAttestedAndGetsItsSecret() async throws {
        let td = try TD()
        let reply = try await td.attest(try Self.quote())
        #expect(reply.status == 200, "\(errorDetail(reply))")
        let decision = try #require(td.log.decisions.first { $0.event == "attest" })
        #expect(decision.measurement == Self.field(try Self.quote(), 136, 48).hexString)
    }

    @Test func theTDsRefusalsNameTheirCheck() async throws {
        let quote = try Self.quote()
        // Another key than the one the (fixed) REPORT_DATA binds: the production binding applies.
        let stolen = try await TD().attest(quote, key: Array(Curve25519.KeyAgreement.PrivateKey().publicKey.rawRepresentation))
        #expect(stolen.status == 401 && errorDetail(stolen).contains("report-data"), "\(errorDetail(stolen))")
        let wrongMRTD = try await TD(mrtds: [[UInt8](repeating: 0, count: 48)]).attest(quote)
        #expect(wrongMRTD.status == 401 && errorDetail(wrongMRTD).contains("not one of the 1 the policy accepts"), "\(errorDetail(wrongMRTD))")
        let uncovered = try await TD(pinKernel: false).attest(quote)
        #expect(uncovered.status == 401 && errorDetail(uncovered).contains("RTMR1/RTMR2"), "\(errorDetail(uncovered))")
        #expect(try await TD(pinKernel: false, allowUncovered: true).attest(quote).status == 200)
        let noTDX = try await TD(tdx: false).attest(quote)
        #expect(noTDX.status == 401 && errorDetail(noTDX).contains("accepts no TDX guests"), "\(errorDetail(noTDX))")
        var flipped = quote
        flipped[48 + 200] ^= 1
        let tampered = try await TD().attest(flipped)
        #expect(tampered.status == 401 && errorDetail(tampered).contains("quote-signature"), "\(errorDetail(tampered))")
        // Past the TCB info's nextUpdate the collateral no longer vouches for the platform.
        let late = try await TD(clock: Date(timeIntervalSince1970: 1_753_056_000)).attest(quote)
        #expect(late.status == 401 && errorDetail(late).contains("expired"), "\(errorDetail(late))")
    }

    @Test func tdxPolicyBlocksAreChecked() throws {
        let collateral = Vector.url("tdx/tdx_quote_collateral.json").path
        let good = try RelyingPartyPolicy.load(contentsOf: "tdx:\n  mrtds: [\"\(String(repeating: "ab", count: 48))\"]\n  collateral: \(collateral)\n  quote: {allowDebug: false}\n")
        #expect(good.tdx?.mrtds.count == 1 && good.tdx?.coversKernel == false)
        for (yaml, says) in [("tdx:\n  mrtds: []\n", "tdx.collateral"), ("tdx:\n  collateral: x\n  bogus: 1\n", "tdx.bogus"),
                             ("tdx:\n  collateral: x\n  mrtds: [abcd]\n", "48 bytes"),
                             ("tdx:\n  collateral: x\n  quote: {mrtd: \(String(repeating: "00", count: 48))}\n", "tdx.mrtds")] {
            #expect { try RelyingPartyPolicy.load(contentsOf: yaml) } throws: { "\($0)".contains(says) }
        }
        var missing = RelyingPartyPolicy()
        missing.tdx = TDXRules(mrtds: [], collateral: "/nonexistent/collateral.json")
        #expect { try RelyingParty(policy: missing, secrets: [:], key: Curve25519.KeyAgreement.PrivateKey()) } throws: { "\($0)".contains("tdx.collateral") }
    }
}
