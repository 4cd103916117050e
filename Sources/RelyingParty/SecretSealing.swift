import Crypto
import Foundation
import SEVABI

/// How a released secret travels to the guest: sealed to the X25519 key the guest generated for this
/// session (and bound into its report), by the relying party's own long-term X25519 key.
///
///     shared = X25519(rp_private, tee_public)              (the guest: X25519(tee_private, rp_public))
///     key    = HKDF-SHA256(ikm: shared, salt: nonce, info: "cvmkit-kbs-secret-v1" ‖ tee_public ‖ rp_public), 32 bytes
///     sealed = AES-256-GCM(key, iv: 12 random bytes, aad: "cvmkit-secret:" ‖ NAME, plaintext: secret)
///
/// The guest's key is fresh per session, so each session gets its own key; the relying party's key is
/// pinned in the guest's measured initrd, so only the relying party can have sealed what the guest
/// opens (a host that saw the guest's public key cannot forge a secret).
public enum SecretSealing {
    public static let info = Array("cvmkit-kbs-secret-v1".utf8)
    public static let algorithm = "X25519-HKDF-SHA256"
    public static let encryption = "A256GCM"

    public struct Sealed: Sendable, Equatable {
        public var iv: [UInt8]
        public var ciphertext: [UInt8]
        public var tag: [UInt8]
    }

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case badPublicKey
        case badSealedBox
        case authentication

        public var description: String {
            switch self {
            case .badPublicKey: return "not an X25519 public key (32 bytes)"
            case .badSealedBox: return "sealed secret has a wrong IV or tag length"
            case .authentication: return "the sealed secret does not authenticate (wrong key, name or tampered bytes)"
            }
        }
    }

    static func aad(name: String) -> [UInt8] { Array("cvmkit-secret:\(name)".utf8) }

    static func key(privateKey: Curve25519.KeyAgreement.PrivateKey, peer: [UInt8], nonce: [UInt8],
                    teePublic: [UInt8], rpPublic: [UInt8]) throws -> SymmetricKey {
        let peerKey: Curve25519.KeyAgreement.PublicKey
        do { peerKey = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: peer) } catch { throw Failure.badPublicKey }
        let shared = try privateKey.sharedSecretFromKeyAgreement(with: peerKey)
        return shared.hkdfDerivedSymmetricKey(using: SHA256.self, salt: nonce, sharedInfo: info + teePublic + rpPublic,
                                              outputByteCount: 32)
    }

    /// The relying party's side: seals `secret` named `name` to `teePublic` for the session with `nonce`.
    public static func seal(_ secret: [UInt8], name: String, to teePublic: [UInt8], nonce: [UInt8],
                            by rpKey: Curve25519.KeyAgreement.PrivateKey) throws -> Sealed {
        guard teePublic.count == 32 else { throw Failure.badPublicKey }
        let rpPublic = Array(rpKey.publicKey.rawRepresentation)
        let key = try key(privateKey: rpKey, peer: teePublic, nonce: nonce, teePublic: teePublic, rpPublic: rpPublic)
        let box = try AES.GCM.seal(secret, using: key, authenticating: aad(name: name))
        return Sealed(iv: Array(box.nonce), ciphertext: Array(box.ciphertext), tag: Array(box.tag))
    }

    /// The guest's side (the C helper does the same in guest/init/cvm-attest.c): opens what `seal` made.
    public static func open(_ sealed: Sealed, name: String, rpPublic: [UInt8], nonce: [UInt8],
                            with teeKey: Curve25519.KeyAgreement.PrivateKey) throws -> [UInt8] {
        let teePublic = Array(teeKey.publicKey.rawRepresentation)
        return try open(sealed, name: name, own: teeKey, peer: rpPublic, nonce: nonce, teePublic: teePublic, rpPublic: rpPublic)
    }

    /// The relying party's side of the reverse direction: opens what a guest sealed to it with the same
    /// derivation (the key agreement is symmetric), e.g. the guest side's own test vectors.
    public static func open(_ sealed: Sealed, name: String, teePublic: [UInt8], nonce: [UInt8],
                            by rpKey: Curve25519.KeyAgreement.PrivateKey) throws -> [UInt8] {
        let rpPublic = Array(rpKey.publicKey.rawRepresentation)
        return try open(sealed, name: name, own: rpKey, peer: teePublic, nonce: nonce, teePublic: teePublic, rpPublic: rpPublic)
    }

    static func open(_ sealed: Sealed, name: String, own: Curve25519.KeyAgreement.PrivateKey, peer: [UInt8], nonce: [UInt8],
                     teePublic: [UInt8], rpPublic: [UInt8]) throws -> [UInt8] {
        guard sealed.iv.count == 12, sealed.tag.count == 16 else { throw Failure.badSealedBox }
        let key = try key(privateKey: own, peer: peer, nonce: nonce, teePublic: teePublic, rpPublic: rpPublic)
        do {
            let box = try AES.GCM.SealedBox(nonce: AES.GCM.Nonce(data: sealed.iv), ciphertext: sealed.ciphertext, tag: sealed.tag)
            return Array(try AES.GCM.open(box, using: key, authenticating: aad(name: name)))
        } catch {
            throw Failure.authentication
        }
    }

    /// REPORT_DATA the guest binds: SHA-512(nonce ‖ tee_public), all 64 bytes.
    public static func reportData(nonce: [UInt8], teePublic: [UInt8]) -> [UInt8] {
        Array(SHA512.hash(data: nonce + teePublic))
    }
}

/// The relying party's long-term X25519 key, kept in a file written 0600 (32 raw bytes, hex).
public enum RelyingPartyKey {
    public typealias PrivateKey = Curve25519.KeyAgreement.PrivateKey

    public static func loadOrCreate(at url: URL) throws -> Curve25519.KeyAgreement.PrivateKey {
        if let text = try? String(contentsOf: url, encoding: .utf8) {
            let hex = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard let raw = try? [UInt8](hex: hex), raw.count == 32,
                  let key = try? Curve25519.KeyAgreement.PrivateKey(rawRepresentation: raw) else {
                throw RelyingPartyError.configuration("\(url.path): not a relying-party key (64 hex digits)")
            }
            return key
        }
        let key = Curve25519.KeyAgreement.PrivateKey()
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let created = FileManager.default.createFile(atPath: url.path, contents: Data((Array(key.rawRepresentation).hexString + "\n").utf8),
                                                     attributes: [.posixPermissions: 0o600])
        guard created else { throw RelyingPartyError.configuration("cannot write the relying-party key \(url.path)") }
        return key
    }
}
