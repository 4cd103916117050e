import Certificates
import Crypto
import Foundation
import SNPReport
import Testing
@testable import RelyingParty

/// The relying party's decisions, in process, on a real AMD-signed Milan report.
@Suite struct RelyingPartyFlowTests {
    func session(_ h: Harness) throws -> String {
        let reply = h.party.auth(body: Harness.authBody)
        #expect(reply.status == 200)
        let challenge = try JSONDecoder().decode(KBSProtocol.Challenge.self, from: Data(reply.body))
        #expect(Data(base64Encoded: challenge.nonce).map(Array.init) == FixedNonces.nonce)
        return try #require(reply.session)
    }

    @Test func genuineReportIsAttestedAndTheSecretOpensOnlyWithTheGuestKey() async throws {
        let h = try Harness()
        let id = try session(h)
        let attested = await h.party.attest(body: try h.attestBody(), session: id)
        #expect(attested.status == 200, "\(errorDetail(attested))")
        let answer = try JSONDecoder().decode(KBSProtocol.AttestResponse.self, from: Data(attested.body))
        #expect(answer.resources == ["db-password"])
        let resource = h.party.resource(name: "db-password", session: id)
        #expect(resource.status == 200)
        #expect(try h.open(resource) == Harness.secret)
        // Another key, or the secret's bytes under another name, do not open.
        let sealed = try JSONDecoder().decode(KBSProtocol.SealedResource.self, from: Data(resource.body))
        let box = SecretSealing.Sealed(iv: Base64URL.decode(sealed.iv)!, ciphertext: Base64URL.decode(sealed.ciphertext)!, tag: Base64URL.decode(sealed.tag)!)
        #expect(throws: SecretSealing.Failure.authentication) {
            try SecretSealing.open(box, name: "db-password", rpPublic: h.party.publicKey, nonce: FixedNonces.nonce, with: Curve25519.KeyAgreement.PrivateKey())
        }
        #expect(throws: SecretSealing.Failure.authentication) {
            try SecretSealing.open(box, name: "other", rpPublic: h.party.publicKey, nonce: FixedNonces.nonce, with: h.teeKey)
        }
        #expect(!String(decoding: resource.body, as: UTF8.self).contains("database password"))
        let events = h.log.decisions.map { "\($0.event):\($0.decision)" }
        #expect(events == ["auth:allow", "attest:allow", "resource:allow"])
        #expect(h.log.decisions[1].measurement == h.report.measurement.hexString)
    }

    @Test func aNonceIsUsedOnceAndAReportForAnotherNonceFails() async throws {
        let h = try Harness()
        let id = try session(h)
        #expect(await h.party.attest(body: try h.attestBody(), session: id).status == 200)
        let replay = await h.party.attest(body: try h.attestBody(), session: id)
        #expect(replay.status == 401)
        #expect(errorType(replay) == "NonceReused")
        // The same report under another guest key: the binding SHA-512(nonce ‖ key) no longer matches.
        let other = try session(h)
        let stolen = await h.party.attest(body: try h.attestBody(key: Array(Curve25519.KeyAgreement.PrivateKey().publicKey.rawRepresentation)), session: other)
        #expect(stolen.status == 401)
        #expect(h.log.decisions.last?.failedChecks?.contains("report-data") == true)
        #expect(h.party.resource(name: "db-password", session: other).status == 401)
    }

    @Test func wrongMeasurementIsRefusedAndNothingIsReleased() async throws {
        let h = try Harness(measurements: [[UInt8](repeating: 0xAB, count: 48)])
        let id = try session(h)
        let reply = await h.party.attest(body: try h.attestBody(), session: id)
        #expect(reply.status == 401)
        #expect(errorDetail(reply).contains("is not one of the 1 the policy accepts"))
        #expect(h.log.decisions.last?.failedChecks == ["measurement"])
        let resource = h.party.resource(name: "db-password", session: id)
        #expect(resource.status == 401)
        #expect(!String(decoding: resource.body, as: UTF8.self).contains("iv"))
    }

    @Test func anEmptyPolicyAcceptsNoGuest() async throws {
        let h = try Harness(measurements: [])
        let id = try session(h)
        let reply = await h.party.attest(body: try h.attestBody(), session: id)
        #expect(reply.status == 401)
        #expect(errorDetail(reply).contains("accepts no measurement"))
    }

    @Test func debugPolicyAndTamperedReportsAreRefused() async throws {
        let h = try Harness()
        var debug = try Vector.milanReport()
        debug[0x0A] |= 1 << 3   // POLICY bit 19 (DEBUG): the 64-bit policy is at 0x08, so byte 0x0A bit 3
        let id = try session(h)
        let reply = await h.party.attest(body: try h.attestBody(report: debug), session: id)
        #expect(reply.status == 401)
        let failed = h.log.decisions.last?.failedChecks ?? []
        #expect(failed.contains("report-signature"))
        #expect(failed.contains("guest-policy"))
        #expect(errorDetail(reply).contains("DEBUG is set and not allowed"))

        var tampered = try Vector.milanReport()
        tampered[0x90] ^= 0x01   // a measurement bit
        let second = try session(h)
        #expect(await h.party.attest(body: try h.attestBody(report: tampered), session: second).status == 401)
        #expect(h.log.decisions.last?.failedChecks?.contains("report-signature") == true)

        let truncated = Array(try Vector.milanReport().prefix(600))
        let third = try session(h)
        let short = await h.party.attest(body: try h.attestBody(report: truncated), session: third)
        #expect(short.status == 401)
        #expect(errorDetail(short).contains("unreadable"))
    }

    @Test func aChainOfAnotherChipIsRefused() async throws {
        let h = try Harness()
        let id = try session(h)
        let reply = await h.party.attest(body: try h.attestBody(table: Vector.table("genoa-v3")), session: id)
        #expect(reply.status == 401)
        let failed = h.log.decisions.last?.failedChecks ?? []
        #expect(!failed.isEmpty)
        #expect(h.party.resource(name: "db-password", session: id).status == 401)
    }

    @Test func evidenceWithoutAReportSaysWhy() async throws {
        let h = try Harness()
        let id = try session(h)
        let reply = await h.party.attest(body: try h.attestBody(error: "not a confidential guest: no /dev/sev-guest"), session: id)
        #expect(reply.status == 401)
        #expect(errorDetail(reply) == "no attestation report: not a confidential guest: no /dev/sev-guest")
    }

    @Test func guestsWhoseKernelIsNotMeasuredNeedThePolicysConsent() async throws {
        let refusing = try Harness(coversKernel: false)
        let id = try session(refusing)
        let reply = await refusing.party.attest(body: try refusing.attestBody(), session: id)
        #expect(reply.status == 401)
        #expect(errorDetail(reply).contains("kernel, initrd and cmdline not covered"))
        let allowing = try Harness(coversKernel: false, allowUncovered: true)
        let other = try session(allowing)
        #expect(await allowing.party.attest(body: try allowing.attestBody(), session: other).status == 200)
    }

    @Test func malformedRequestsAndUnknownSessionsAndSecrets() async throws {
        let h = try Harness()
        #expect(h.party.auth(body: Array("{".utf8)).status == 400)
        #expect(h.party.auth(body: Array(#"{"version":"0.1.0","tee":"tdx"}"#.utf8)).status == 400)
        let id = try session(h)
        #expect(await h.party.attest(body: Array("[1,2]".utf8), session: id).status == 400)
        #expect(await h.party.attest(body: Array(#"{"tee-pubkey":{"kty":"OKP","crv":"X25519","x":"AAAA"},"tee-evidence":{}}"#.utf8), session: id).status == 400)
        #expect(await h.party.attest(body: try h.attestBody(), session: nil).status == 401)
        #expect(await h.party.attest(body: try h.attestBody(), session: "no-such-session").status == 401)
        let fresh = try session(h)
        #expect(await h.party.attest(body: try h.attestBody(), session: fresh).status == 200)
        #expect(h.party.resource(name: "missing", session: fresh).status == 404)
        #expect(h.party.resource(name: "../db-password", session: fresh).status == 404)
        #expect(h.party.resource(name: "db-password", session: nil).status == 401)
        // Every decision was logged as one parseable JSON line, none of them carrying the secret.
        for decision in h.log.decisions {
            let line = decision.jsonLine
            #expect(!line.contains("\n"))
            #expect(try JSONDecoder().decode(Decision.self, from: Data(line.utf8)) == decision)
            #expect(!line.contains("database password"))
        }
    }

    @Test func sessionsExpire() async throws {
        let clock = TestClock()
        let h = try Harness(timeout: 30, clock: { clock.now })
        let id = try session(h)
        clock.advance(31)
        let late = await h.party.attest(body: try h.attestBody(), session: id)
        #expect(late.status == 401)
        #expect(errorType(late) == "SessionExpired")
        let second = try session(h)
        #expect(await h.party.attest(body: try h.attestBody(), session: second).status == 200)
        clock.advance(31)
        #expect(errorType(h.party.resource(name: "db-password", session: second)) == "SessionExpired")
    }

    @Test func aFloodOfSessionsIsBounded() throws {
        let clock = TestClock()
        let h = try Harness(timeout: 10, clock: { clock.now }, maxSessions: 50)
        for _ in 0..<50 { #expect(h.party.auth(body: Harness.authBody).status == 200) }
        #expect(h.party.auth(body: Harness.authBody).status == 503)
        clock.advance(11)
        #expect(h.party.auth(body: Harness.authBody).status == 200)
        #expect(h.party.openSessions == 1)
    }

    @Test func policyFilesRefuseWhatWouldWeakenThem() throws {
        let good = try RelyingPartyPolicy.load(contentsOf: """
            measurements: [\(String(repeating: "ab", count: 48))]
            chain: kds
            offline: true
            sessionTimeout: 5
            report:
              allowDebug: false
              vmpl: 0
            """)
        #expect(good.launches.count == 1)
        #expect(good.chain == .kds)
        #expect(good.report.vmpl == 0)
        #expect(throws: (any Error).self) { try RelyingPartyPolicy.load(contentsOf: "mesurements: []") }
        #expect(throws: (any Error).self) { try RelyingPartyPolicy.load(contentsOf: "report:\n  allowDebugg: true") }
        #expect(throws: (any Error).self) { try RelyingPartyPolicy.load(contentsOf: "measurements: [abcd]") }
        #expect(throws: (any Error).self) { try RelyingPartyPolicy.load(contentsOf: "sessionTimeout: 0") }
        #expect(throws: (any Error).self) {
            try RelyingPartyPolicy.load(contentsOf: "report:\n  reportData: \(String(repeating: "00", count: 64))")
        }
        #expect(throws: (any Error).self) { try RelyingPartyPolicy.load(contentsOf: "chain: whatever") }
    }

    @Test func theProductionBindingIsSHA512OfNonceAndKey() {
        let nonce = [UInt8](repeating: 7, count: 32), key = [UInt8](repeating: 9, count: 32)
        #expect(SHA512NonceKeyBinding().expectedReportData(nonce: nonce, teePublicKey: key) == Array(SHA512.hash(data: nonce + key)))
        #expect(RandomNonces().nonce() != RandomNonces().nonce())
    }

    @Test func theKeyFileIsCreated0600AndReadBack() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rp-key-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("rp.key")
        let first = try RelyingPartyKey.loadOrCreate(at: file)
        let mode = try FileManager.default.attributesOfItem(atPath: file.path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try RelyingPartyKey.loadOrCreate(at: file).rawRepresentation == first.rawRepresentation)
        try Data("not a key".utf8).write(to: file)
        #expect(throws: RelyingPartyError.self) { try RelyingPartyKey.loadOrCreate(at: file) }
    }
}

final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var current = Date()
    var now: Date { lock.withLock { current } }
    func advance(_ seconds: TimeInterval) { lock.withLock { current += seconds } }
}

@Suite struct RelyingPartyEncodingTests {
    @Test func timestampsAreRFC3339InUTC() {
        #expect(RelyingParty.timestamp(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00Z")
        #expect(RelyingParty.timestamp(Date(timeIntervalSince1970: 1_796_306_209.9)) == formatRFC3339(Date(timeIntervalSince1970: 1_796_306_209)))
    }

    @Test func base64URLTakesBothAlphabetsAndRefusesTheRest() {
        let bytes: [UInt8] = [0xfb, 0xff, 0xbf, 0x00, 0x01]
        #expect(Base64URL.decode(Base64URL.encode(bytes)) == bytes)
        #expect(Base64URL.decode(Data(bytes).base64EncodedString()) == bytes)
        #expect(Base64URL.encode(bytes) == "-_-_AAE")
        #expect(Base64URL.decode("not base64!") == nil)
        #expect(Base64URL.decode("") == [])
    }
}
