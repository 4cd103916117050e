import Crypto
import Foundation
import _CryptoExtras

/// A certificate's subject public key: RSA (ARK, ASK, ASVK), EC P-384 (VCEK, VLEK) or EC P-256 (Intel's
/// SGX root, PCK CAs and PCK certificates).
public enum PublicKey: Sendable {
    case rsa(_RSA.Signing.PublicKey)
    case p384(P384.Signing.PublicKey)
    case p256(P256.Signing.PublicKey)

    /// Verifies `signature` over `message` with the given algorithm; false on any mismatch.
    public func isValidSignature(_ signature: some DataProtocol, for message: some DataProtocol, algorithm: SignatureAlgorithm) -> Bool {
        if case let (.p256(key), .ecdsaSHA256) = (self, algorithm) {
            guard let parsed = try? P256.Signing.ECDSASignature(derRepresentation: signature) else { return false }
            return key.isValidSignature(parsed, for: SHA256.hash(data: message))
        }
        let digest = SHA384.hash(data: message)
        switch (self, algorithm) {
        case let (.rsa(key), .rsaPSSSHA384):
            // PSS padding in swift-crypto verifies with a salt as long as the digest: 48 for SHA-384.
            return key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: digest, padding: .PSS)
        case let (.p384(key), .ecdsaSHA384):
            guard let parsed = try? P384.Signing.ECDSASignature(derRepresentation: signature) else { return false }
            return key.isValidSignature(parsed, for: digest)
        default:
            return false
        }
    }
}
