import Crypto
import Foundation

/// Report signatures for one endorsement key. The first verification uses swift-crypto; from the second
/// on, the key's comb table is built once (a few milliseconds) and every later report costs a fraction
/// of a generic verification. Both paths take the same decisions (P384VerifierTests).
public final class ReportSignatureVerifier: @unchecked Sendable {
    private let key: P384.Signing.PublicKey?
    private let lock = NSLock()
    private var uses = 0
    private var fixedKey: P384FixedKeyVerifier?

    public init(_ key: PublicKey) {
        if case .p384(let p384) = key { self.key = p384 } else { self.key = nil }
    }

    /// Whether (r, s), 48-byte big-endian integers, sign SHA-384(signed).
    public func isValid(r: [UInt8], s: [UInt8], signed: [UInt8]) -> Bool {
        guard let key else { return false }
        let hash = SHA384.hash(data: signed)
        lock.lock()
        uses += 1
        if uses == 2, fixedKey == nil { fixedKey = P384FixedKeyVerifier(x963: Array(key.x963Representation)) }
        let fast = fixedKey
        lock.unlock()
        if let fast { return fast.isValidSignature(r: r, s: s, digest: Array(hash)) }
        guard let signature = try? P384.Signing.ECDSASignature(rawRepresentation: r + s) else { return false }
        return key.isValidSignature(signature, for: hash)
    }
}
