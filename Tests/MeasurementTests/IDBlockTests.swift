import Crypto
import Foundation
import Measurement
import SEVABI
import Testing

@Suite struct IDBlockTests {
    static let digest = (0..<48).map { UInt8($0) }

    static func block() throws -> IDBlock {
        try IDBlock(launchDigest: digest, familyID: [UInt8](repeating: 0xAA, count: 16),
                    imageID: [UInt8](repeating: 0xBB, count: 16), guestSVN: 7, policy: try SNPPolicy(rawValue: 0x3_0000))
    }

    /// Independent decoding of AMD's little-endian formats (SNP ABI tables "ECDSA Public Key Format" and
    /// "ECDSA Signature Format").
    static func bigEndian(_ bytes: [UInt8], at offset: Int) -> [UInt8] {
        Array(bytes[offset..<offset + 48].reversed())
    }

    @Test func blockLayout() throws {
        let bytes = try Self.block().bytes
        #expect(bytes.count == 96)
        #expect(Array(bytes[0..<48]) == Self.digest)
        #expect(Array(bytes[0x30..<0x40]) == [UInt8](repeating: 0xAA, count: 16))
        #expect(Array(bytes[0x40..<0x50]) == [UInt8](repeating: 0xBB, count: 16))
        #expect(bytes[0x50..<0x54].littleEndianInteger() as UInt32 == 1)
        #expect(bytes[0x54..<0x58].littleEndianInteger() as UInt32 == 7)
        #expect(bytes[0x58..<0x60].littleEndianInteger() as UInt64 == 0x3_0000)
        #expect(throws: MeasurementError.self) { try IDBlock(launchDigest: [1, 2, 3]) }
    }

    @Test func signaturesVerifyWithSwiftCrypto() throws {
        let idKey = P384.Signing.PrivateKey(), authorKey = P384.Signing.PrivateKey()
        let block = try Self.block()
        let auth = try IDAuthInfo(signing: block, idKey: idKey, authorKey: authorKey)
        let bytes = auth.bytes
        #expect(bytes.count == 4096)
        #expect(bytes[0..<4].littleEndianInteger() as UInt32 == 1)
        #expect(bytes[4..<8].littleEndianInteger() as UInt32 == 1)

        // The ID key as stored: curve 2, then X and Y little-endian.
        #expect(bytes[0x240..<0x244].littleEndianInteger() as UInt32 == 2)
        let storedID = try P384.Signing.PublicKey(rawRepresentation: Self.bigEndian(bytes, at: 0x244) + Self.bigEndian(bytes, at: 0x244 + 72))
        #expect(storedID.rawRepresentation == idKey.publicKey.rawRepresentation)

        let blockSignature = try P384.Signing.ECDSASignature(rawRepresentation: Self.bigEndian(bytes, at: 0x40) + Self.bigEndian(bytes, at: 0x40 + 72))
        #expect(storedID.isValidSignature(blockSignature, for: block.bytes))

        let storedAuthor = try P384.Signing.PublicKey(rawRepresentation: Self.bigEndian(bytes, at: 0x884) + Self.bigEndian(bytes, at: 0x884 + 72))
        let keySignature = try P384.Signing.ECDSASignature(rawRepresentation: Self.bigEndian(bytes, at: 0x680) + Self.bigEndian(bytes, at: 0x680 + 72))
        #expect(storedAuthor.isValidSignature(keySignature, for: Array(bytes[0x240..<0x644])))

        // Key digests: SHA-384 over the 0x404-byte stored key.
        #expect(auth.idKeyDigest == Array(SHA384.hash(data: Array(bytes[0x240..<0x644]))))
        #expect(auth.authorKeyDigest == Array(SHA384.hash(data: Array(bytes[0x880..<0xC84]))))

        // A tampered block no longer verifies.
        var tampered = block.bytes
        tampered[0] ^= 1
        #expect(!storedID.isValidSignature(blockSignature, for: tampered))
    }

    @Test func withoutAuthorKeyTheAuthorFieldsStayZero() throws {
        let auth = try IDAuthInfo(signing: try Self.block(), idKey: P384.Signing.PrivateKey())
        #expect(auth.authorKeyDigest == nil)
        #expect(auth.bytes[4..<8].allSatisfy { $0 == 0 })
        #expect(auth.bytes[0x680..<0x1000].allSatisfy { $0 == 0 })
    }

    @Test func rejectsNonP384Keys() {
        let p256 = P256.Signing.PrivateKey().pemRepresentation
        #expect(throws: MeasurementError.self) { try IDAuthInfo.privateKey(pem: p256, name: "p256") }
        #expect(throws: MeasurementError.self) { try IDAuthInfo.privateKey(pem: "garbage", name: "garbage") }
    }

    static let openssl = ["/usr/bin/openssl", "/usr/local/bin/openssl"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// DER SubjectPublicKeyInfo of a P-384 point (id-ecPublicKey, secp384r1), built by hand.
    static func spki(x: [UInt8], y: [UInt8]) -> [UInt8] {
        try! [UInt8](hex: "3076301006072a8648ce3d020106052b81040022036200") + [0x04] + x + y
    }

    static func derInteger(_ bigEndian: [UInt8]) -> [UInt8] {
        var value = Array(bigEndian.drop { $0 == 0 })
        if value.isEmpty { value = [0] }
        if value[0] & 0x80 != 0 { value.insert(0, at: 0) }
        return [0x02, UInt8(value.count)] + value
    }

    static func pem(_ der: [UInt8], label: String) -> String {
        "-----BEGIN \(label)-----\n" + Data(der).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
            + "\n-----END \(label)-----\n"
    }

    /// openssl checks both signatures from the raw AMD-format bytes; the key comes from openssl itself.
    @Test(.enabled(if: openssl != nil, "openssl not installed"))
    func signaturesVerifyWithOpenSSL() throws {
        let openssl = try #require(Self.openssl)
        let scratch = try ScratchDirectory()
        let idPath = scratch.url.appendingPathComponent("id.pem").path
        let authorPath = scratch.url.appendingPathComponent("author.pem").path
        for path in [idPath, authorPath] {
            let (status, _, err) = try Oracle.run(openssl, ["ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out", path])
            #expect(status == 0, "\(err)")
        }
        let block = try Self.block()
        let auth = try IDAuthInfo(signing: block,
                                  idKey: try IDAuthInfo.privateKey(pem: String(decoding: try readFile(idPath), as: UTF8.self), name: "id"),
                                  authorKey: try IDAuthInfo.privateKey(pem: String(decoding: try readFile(authorPath), as: UTF8.self), name: "author"))
        let bytes = auth.bytes

        // The digest of the key openssl generated, derived from openssl's own public key output.
        let (pubStatus, _, _) = try Oracle.run(openssl, ["ec", "-in", idPath, "-pubout", "-outform", "DER", "-out", idPath + ".pub.der"])
        #expect(pubStatus == 0)
        let spki = try readFile(idPath + ".pub.der")
        let x = Array(spki.suffix(96).prefix(48)), y = Array(spki.suffix(48))
        let amdKey = UInt32(2).littleEndianBytes + Array(x.reversed()) + [UInt8](repeating: 0, count: 24)
            + Array(y.reversed()) + [UInt8](repeating: 0, count: 24 + 880)
        #expect(auth.idKeyDigest == Array(SHA384.hash(data: amdKey)))

        func verify(signatureAt offset: Int, keyAt keyOffset: Int, message: [UInt8], name: String) throws {
            let key = Self.spki(x: Self.bigEndian(bytes, at: keyOffset + 4), y: Self.bigEndian(bytes, at: keyOffset + 76))
            let body = Self.derInteger(Self.bigEndian(bytes, at: offset)) + Self.derInteger(Self.bigEndian(bytes, at: offset + 72))
            let signature = [0x30, UInt8(body.count)] + body
            let keyPath = try scratch.write("\(name).key.pem", Array(Self.pem(key, label: "PUBLIC KEY").utf8))
            let signaturePath = try scratch.write("\(name).sig", signature)
            let messagePath = try scratch.write("\(name).msg", message)
            let (status, out, err) = try Oracle.run(openssl, ["dgst", "-sha384", "-verify", keyPath, "-signature", signaturePath, messagePath])
            #expect(status == 0 && out.contains("Verified OK"), "\(name): \(out) \(err)")
        }
        try verify(signatureAt: 0x40, keyAt: 0x240, message: block.bytes, name: "block")
        try verify(signatureAt: 0x680, keyAt: 0x880, message: Array(bytes[0x240..<0x644]), name: "idkey")
    }

    /// sev-snp-measure's snp-create-id-block builds the same block and the same key digests
    /// (its signatures are randomised, so those are verified above instead).
    @Test(.enabled(if: Oracle.shouldRun, Comment(rawValue: Oracle.missingMessage)))
    func matchesSevSnpMeasureIDBlock() throws {
        let python = try #require(Oracle.python, "\(Oracle.missingMessage)")
        let scratch = try ScratchDirectory()
        let idKey = P384.Signing.PrivateKey(), authorKey = P384.Signing.PrivateKey()
        let idPath = try scratch.write("id.pem", Array(idKey.pemRepresentation.utf8))
        let authorPath = try scratch.write("author.pem", Array(authorKey.pemRepresentation.utf8))
        let script = """
        import base64, sys
        from sevsnpmeasure.id_block import snp_calc_id_block
        print(snp_calc_id_block(bytes.fromhex(sys.argv[1]), sys.argv[2], sys.argv[3]))
        """
        let (status, out, err) = try Oracle.run(python, ["-c", script, Self.digest.hexString, idPath, authorPath])
        #expect(status == 0, "\(err)")
        var fields: [String: String] = [:]
        for line in out.split(separator: "\n") {
            for part in line.split(separator: ",") {
                let pieces = part.split(separator: line.contains(": ") ? ":" : "=", maxSplits: 1)
                if pieces.count == 2 { fields[String(pieces[0])] = pieces[1].trimmingCharacters(in: .whitespaces) }
            }
        }
        // The peer's fixed defaults: zero IDs, version 1, SVN 0, policy 0x30000.
        let block = try IDBlock(launchDigest: Self.digest)
        let auth = try IDAuthInfo(signing: block, idKey: idKey, authorKey: authorKey)
        #expect(fields["id-block"] == Data(block.bytes).base64EncodedString())
        #expect(fields["id_key_hash"] == Data(auth.idKeyDigest).base64EncodedString())
        #expect(fields["author_key"] == Data(try #require(auth.authorKeyDigest)).base64EncodedString())
        // Everything in the auth info except the two signatures is deterministic.
        let theirs = try #require(fields["id-auth"].flatMap { Data(base64Encoded: $0) }.map { [UInt8]($0) })
        #expect(theirs.count == 4096)
        var mine = auth.bytes, other = theirs
        for range in [0x40..<0x240, 0x680..<0x880] {
            mine.replaceSubrange(range, with: [UInt8](repeating: 0, count: range.count))
            other.replaceSubrange(range, with: [UInt8](repeating: 0, count: range.count))
        }
        #expect(mine == other)
    }
}
