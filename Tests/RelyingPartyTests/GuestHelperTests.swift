import Crypto
import Foundation
import GuestImage
import SEVABI
import Testing
@testable import RelyingParty

/// guest/init/cvm-attest.c (OpenSSL's libcrypto), compiled here by gcc, against the relying party's
/// swift-crypto: the key agreement and sealing in both directions, the REPORT_DATA binding, and the
/// whole flow over real HTTP.
@Suite(.serialized) struct GuestHelperTests {
    static let helper: URL = {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-attest-test-\(getpid())")
        if !FileManager.default.fileExists(atPath: output.path) {
            do {
                let source = try InitProgram.attestSource(besideInit: InitProgram.locateSource())
                try InitProgram.compileAttestHelper(source: source, to: output)
            } catch {
                Issue.record("cannot build cvm-attest (scripts/install-deps installs gcc and libssl-dev): \(error)")
            }
        }
        return output
    }()

    struct Run {
        var status: Int32
        var stdout: [UInt8]
        var stderr: String
    }

    static func invoke(_ arguments: [String], stdin: [UInt8] = []) throws -> Run {
        let process = Process()
        process.executableURL = helper
        process.arguments = arguments
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(Data(stdin))
        try input.fileHandleForWriting.close()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: Array(out), stderr: String(decoding: err, as: UTF8.self))
    }

    let nonce = Array("a nonce the relying party issued".utf8)

    @Test func whatTheRelyingPartySealsTheGuestOpens() throws {
        let tee = Curve25519.KeyAgreement.PrivateKey(), rp = Curve25519.KeyAgreement.PrivateKey()
        let secret = Array("postgres://app:s3cret@db/app\n\u{0}binary".utf8)
        let sealed = try SecretSealing.seal(secret, name: "db.url", to: Array(tee.publicKey.rawRepresentation), nonce: nonce, by: rp)
        func json(_ s: SecretSealing.Sealed) -> [UInt8] {
            Array(#"{"protected":"x","iv":"\#(Base64URL.encode(s.iv))","ciphertext":"\#(Base64URL.encode(s.ciphertext))","tag":"\#(Base64URL.encode(s.tag))"}"#.utf8)
        }
        let arguments = ["open", "--key", Array(tee.rawRepresentation).hexString, "--rp-key", Array(rp.publicKey.rawRepresentation).hexString,
                         "--nonce", Data(nonce).base64EncodedString(), "--name", "db.url"]
        let opened = try Self.invoke(arguments, stdin: json(sealed))
        #expect(opened.status == 0, "\(opened.stderr)")
        #expect(opened.stdout == secret)
        var tampered = sealed
        tampered.ciphertext[0] ^= 1
        #expect(try Self.invoke(arguments, stdin: json(tampered)).status == 6)
        var renamed = arguments
        renamed[renamed.count - 1] = "other"
        #expect(try Self.invoke(renamed, stdin: json(sealed)).status == 6)
        // A host that knows the guest's public key but not the relying party's private key cannot forge.
        let forger = Curve25519.KeyAgreement.PrivateKey()
        let forged = try SecretSealing.seal(secret, name: "db.url", to: Array(tee.publicKey.rawRepresentation), nonce: nonce, by: forger)
        #expect(try Self.invoke(arguments, stdin: json(forged)).status == 6)
    }

    @Test func whatTheGuestSealsTheRelyingPartyOpens() throws {
        let tee = Curve25519.KeyAgreement.PrivateKey(), rp = Curve25519.KeyAgreement.PrivateKey()
        let message = Array("sealed by the guest".utf8)
        let result = try Self.invoke(["seal", "--key", Array(tee.rawRepresentation).hexString, "--rp-key", Array(rp.publicKey.rawRepresentation).hexString,
                                   "--nonce", Data(nonce).base64EncodedString(), "--name", "note"], stdin: message)
        #expect(result.status == 0, "\(result.stderr)")
        let fields = try JSONDecoder().decode([String: String].self, from: Data(result.stdout))
        let sealed = SecretSealing.Sealed(iv: try #require(Base64URL.decode(fields["iv"] ?? "")),
                                          ciphertext: try #require(Base64URL.decode(fields["ciphertext"] ?? "")),
                                          tag: try #require(Base64URL.decode(fields["tag"] ?? "")))
        #expect(try SecretSealing.open(sealed, name: "note", teePublic: Array(tee.publicKey.rawRepresentation), nonce: nonce, by: rp) == message)
        // (Not nonce + [0]: HMAC zero-pads a short key, so a salt and the salt with a zero byte appended
        // give the same HKDF; the relying party's nonces are always 32 bytes.)
        var otherNonce = nonce
        otherNonce[0] ^= 1
        #expect(throws: SecretSealing.Failure.authentication) {
            try SecretSealing.open(sealed, name: "note", teePublic: Array(tee.publicKey.rawRepresentation), nonce: otherNonce, by: rp)
        }
    }

    @Test func theGuestBindsTheSameReportData() throws {
        let tee = Curve25519.KeyAgreement.PrivateKey()
        let result = try Self.invoke(["report-data", "--key", Array(tee.rawRepresentation).hexString, "--nonce", Data(nonce).base64EncodedString()])
        #expect(result.status == 0)
        let expected = SecretSealing.reportData(nonce: nonce, teePublic: Array(tee.publicKey.rawRepresentation)).hexString
        #expect(String(decoding: result.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == expected)
        #expect(try Self.invoke(["report-data", "--key", "zz", "--nonce", "AAAA"]).status == 2)
        #expect(try Self.invoke(["frobnicate"]).status == 2)
    }

    /// The C helper against the relying party in its own process (RelyingPartyBench serve: the fixed
    /// nonce is bound to the vector's REPORT_DATA, so a real report is accepted for any guest key).
    @Test(.timeLimit(.minutes(2)))
    func theWholeFlowOverHTTPWritesTheSecret0600() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-attest-secrets-\(UUID().uuidString)")
        defer {
            for suffix in ["", "-none", "-forged"] { try? FileManager.default.removeItem(atPath: directory.path + suffix) }
        }
        let reportFile = directory.appendingPathExtension("report"), certsFile = directory.appendingPathExtension("certs")
        try Data(try Vector.milanReport()).write(to: reportFile)
        try Data(try Vector.table("milan-v2")).write(to: certsFile)
        defer { try? FileManager.default.removeItem(at: reportFile); try? FileManager.default.removeItem(at: certsFile) }
        let server = try ServerProcess()
        defer { server.stop() }
        let port = try server.port()
        let key = try #require(KeepAliveClient(port: port)?.send("GET", KBSProtocol.publicKeyPath))
        let rpKey = try #require(Base64URL.decode(try JSONDecoder().decode(KBSProtocol.PublicKey.self, from: Data(key.body)).x)).hexString
        let url = "http://127.0.0.1:\(port)"
        let ok = try Self.invoke(["run", "--url", url, "--rp-key", rpKey, "--secrets", directory.path,
                                  "--report-file", reportFile.path, "--certs-file", certsFile.path])
        // On this host there is neither configfs-tsm nor /dev/sev-guest: the guest says so and is refused.
        let refused = try Self.invoke(["run", "--url", url, "--rp-key", rpKey, "--secrets", directory.path + "-none"])
        // A guest that pinned another relying party's key does not accept this one's secrets.
        let other = Array(Curve25519.KeyAgreement.PrivateKey().publicKey.rawRepresentation).hexString
        let forged = try Self.invoke(["run", "--url", url, "--rp-key", other, "--secrets", directory.path + "-forged",
                                      "--report-file", reportFile.path, "--certs-file", certsFile.path])
        #expect(ok.status == 0, "\(ok.stderr)")
        let file = directory.appendingPathComponent("secret")
        #expect(FileManager.default.contents(atPath: file.path).map(Array.init) == Array("a secret of the benchmark".utf8))
        #expect((try FileManager.default.attributesOfItem(atPath: file.path)[.posixPermissions] as? Int) == 0o600)
        #expect(refused.status == 3)
        #expect(refused.stderr.contains("refused by the relying party: 401 no attestation report: not a confidential guest"))
        #expect(!FileManager.default.fileExists(atPath: directory.path + "-none/secret"))
        #expect(forged.status == 6)
        #expect(!FileManager.default.fileExists(atPath: directory.path + "-forged/secret"))
    }

    @Test func anUnreachableRelyingPartyAndBadArguments() throws {
        let key = String(repeating: "ab", count: 32)
        let unreachable = try Self.invoke(["run", "--url", "http://127.0.0.1:1", "--rp-key", key, "--secrets", "/nonexistent"])
        #expect(unreachable.status == 4)
        #expect(try Self.invoke(["run", "--url", "https://example.com", "--rp-key", key]).status == 2)
        #expect(try Self.invoke(["run", "--url", "http://127.0.0.1:8080", "--rp-key", "abc"]).status == 2)
    }
}
