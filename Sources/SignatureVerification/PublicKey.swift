import Crypto
import Foundation
import _CryptoExtras

/// A certificate's subject public key: RSA (ARK, ASK, ASVK) or EC P-384 (VCEK, VLEK).
public enum PublicKey: Sendable {
    case rsa(_RSA.Signing.PublicKey)
    case p384(P384.Signing.PublicKey)

    /// Verifies `signature` over `message` with the given algorithm; false on any mismatch.
    public func isValidSignature(_ signature: some DataProtocol, for message: some DataProtocol, algorithm: SignatureAlgorithm) -> Bool {
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
