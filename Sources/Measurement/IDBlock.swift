import Crypto
import SEVABI

/// The SNP ID block (SNP ABI 56860, table "ID Block Structure", 96 bytes) a guest owner passes to
/// SNP_LAUNCH_FINISH: the firmware refuses the launch unless the launch digest and policy match.
public struct IDBlock: Sendable, Equatable {
    public static let size = 0x60

    public var launchDigest: [UInt8]
    public var familyID: [UInt8]
    public var imageID: [UInt8]
    /// Structure version; 1 is the only one defined.
    public var version: UInt32 = 1
    public var guestSVN: UInt32
    public var policy: SNPPolicy

    public init(launchDigest: [UInt8], familyID: [UInt8] = [UInt8](repeating: 0, count: 16),
                imageID: [UInt8] = [UInt8](repeating: 0, count: 16), guestSVN: UInt32 = 0,
                policy: SNPPolicy = .default) throws {
        guard launchDigest.count == 48 else {
            throw MeasurementError.invalidLength(field: "launch digest", expected: 48, found: launchDigest.count)
        }
        guard familyID.count == 16 else { throw MeasurementError.invalidLength(field: "family ID", expected: 16, found: familyID.count) }
        guard imageID.count == 16 else { throw MeasurementError.invalidLength(field: "image ID", expected: 16, found: imageID.count) }
        self.launchDigest = launchDigest
        self.familyID = familyID
        self.imageID = imageID
        self.guestSVN = guestSVN
        self.policy = policy
    }

    /// 0x00 LD (48) ‖ 0x30 FAMILY_ID (16) ‖ 0x40 IMAGE_ID (16) ‖ 0x50 VERSION u32 ‖ 0x54 GUEST_SVN u32 ‖ 0x58 POLICY u64.
    public var bytes: [UInt8] {
        launchDigest + familyID + imageID + version.littleEndianBytes + guestSVN.littleEndianBytes
            + policy.rawValue.littleEndianBytes
    }
}

/// An ECDSA P-384 public key in AMD's format (SNP ABI table "ECDSA Public Key Format", 0x404 bytes):
/// u32 curve (2 = P-384) ‖ QX (72 bytes, little-endian) ‖ QY (72 bytes, little-endian) ‖ reserved.
public enum SNPPublicKey {
    public static let size = 0x404
    public static let curveP384: UInt32 = 2

    public static func bytes(_ key: P384.Signing.PublicKey) -> [UInt8] {
        let raw = Array(key.rawRepresentation) // X ‖ Y, big-endian, 48 bytes each
        var out = curveP384.littleEndianBytes
        out += littleEndianField(raw[0..<48], width: 72)
        out += littleEndianField(raw[48..<96], width: 72)
        return out + [UInt8](repeating: 0, count: size - out.count)
    }

    /// SHA-384 of the AMD-format key: what an attestation report shows as ID_KEY_DIGEST or AUTHOR_KEY_DIGEST.
    public static func digest(_ key: P384.Signing.PublicKey) -> [UInt8] {
        Array(SHA384.hash(data: bytes(key)))
    }

    static func littleEndianField(_ bigEndian: ArraySlice<UInt8>, width: Int) -> [UInt8] {
        Array(bigEndian.reversed()) + [UInt8](repeating: 0, count: width - bigEndian.count)
    }
}

/// An ECDSA P-384 signature in AMD's format (SNP ABI table "ECDSA Signature Format", 0x200 bytes):
/// R (72 bytes, little-endian) ‖ S (72 bytes, little-endian) ‖ reserved.
public enum SNPSignature {
    public static let size = 0x200

    public static func bytes(_ signature: P384.Signing.ECDSASignature) -> [UInt8] {
        let raw = Array(signature.rawRepresentation) // R ‖ S, big-endian, 48 bytes each
        let out = SNPPublicKey.littleEndianField(raw[0..<48], width: 72) + SNPPublicKey.littleEndianField(raw[48..<96], width: 72)
        return out + [UInt8](repeating: 0, count: size - out.count)
    }
}

/// The ID authentication information (SNP ABI table "ID Authentication Information Structure", 4096
/// bytes): the ID key's signature over the ID block, the ID key, and optionally the author key's
/// signature over the ID key and the author key.
public struct IDAuthInfo: Sendable {
    public static let size = 0x1000
    static let algorithmECDSAP384SHA384: UInt32 = 1
    static let blockSignatureOffset = 0x040
    static let idKeyOffset = 0x240
    static let idKeySignatureOffset = 0x680
    static let authorKeyOffset = 0x880

    public let bytes: [UInt8]
    public let idKeyDigest: [UInt8]
    /// Nil when no author key signs the ID key (QEMU author-key-enabled=off).
    public let authorKeyDigest: [UInt8]?

    public init(signing block: IDBlock, idKey: P384.Signing.PrivateKey, authorKey: P384.Signing.PrivateKey? = nil) throws {
        var out = [UInt8](repeating: 0, count: Self.size)
        func put(_ bytes: [UInt8], at offset: Int) { out.replaceSubrange(offset..<offset + bytes.count, with: bytes) }
        let idPublic = SNPPublicKey.bytes(idKey.publicKey)
        put(Self.algorithmECDSAP384SHA384.littleEndianBytes, at: 0)
        put(SNPSignature.bytes(try idKey.signature(for: block.bytes)), at: Self.blockSignatureOffset)
        put(idPublic, at: Self.idKeyOffset)
        if let authorKey {
            put(Self.algorithmECDSAP384SHA384.littleEndianBytes, at: 4)
            put(SNPSignature.bytes(try authorKey.signature(for: idPublic)), at: Self.idKeySignatureOffset)
            put(SNPPublicKey.bytes(authorKey.publicKey), at: Self.authorKeyOffset)
            authorKeyDigest = SNPPublicKey.digest(authorKey.publicKey)
        } else {
            authorKeyDigest = nil
        }
        bytes = out
        idKeyDigest = SNPPublicKey.digest(idKey.publicKey)
    }

    /// Loads an EC P-384 private key from PEM (SEC 1 "EC PRIVATE KEY" or PKCS #8 "PRIVATE KEY").
    public static func privateKey(pem: String, name: String) throws -> P384.Signing.PrivateKey {
        do {
            return try P384.Signing.PrivateKey(pemRepresentation: pem)
        } catch {
            throw MeasurementError.invalidKey("\(name) is not an unencrypted EC P-384 private key in PEM")
        }
    }
}
