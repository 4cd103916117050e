@testable import Attestation
@testable import Certificates
@testable import SNPReport
@testable import SignatureVerification
import Crypto
import Foundation
import Testing

/// The fixed-key ECDSA P-384 verifier must take exactly the decisions swift-crypto (BoringSSL) takes.
@Suite struct P384VerifierTests {
    /// A deterministic byte stream so a failure can be replayed.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static func bytes(_ count: Int, _ rng: inout SplitMix) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }

    @Test func curveConstantsAreConsistent() {
        // G is on the curve, and n·G is the point at infinity while (n-1)·G is not.
        #expect(P384Curve.contains(x: P384Curve.generatorX, y: P384Curve.generatorY))
        #expect(!P384Curve.contains(x: P384Curve.generatorX, y: P384Curve.generatorX))
        let n = P384Curve.order.modulus
        var sum = JacobianPoint.infinity
        P384FixedKeyVerifier.generatorTable.accumulate(n, into: &sum)
        #expect(sum.isInfinity)
        var almost = JacobianPoint.infinity
        P384FixedKeyVerifier.generatorTable.accumulate(U384.subtract(n, U384([1, 0, 0, 0, 0, 0])).0, into: &almost)
        #expect(!almost.isInfinity)
    }

    @Test func modularInverseRoundTrips() {
        var rng = SplitMix(state: 7)
        for modulus in [P384Curve.field, P384Curve.order] {
            for _ in 0..<20 {
                var value = U384(bigEndian: Self.bytes(48, &rng))!
                if !U384.less(value, modulus.modulus) { value = U384.subtract(value, modulus.modulus).0 }
                if value.isZero { continue }
                let m = modulus.toMontgomery(value)
                #expect(modulus.fromMontgomery(modulus.multiply(m, modulus.invert(m))) == U384([1, 0, 0, 0, 0, 0]))
            }
        }
    }

    @Test func agreesWithSwiftCryptoOnValidAndTamperedSignatures() throws {
        var rng = SplitMix(state: 0x5EED)
        for keyIndex in 0..<4 {
            let key = P384.Signing.PrivateKey()
            let verifier = try #require(P384FixedKeyVerifier(x963: Array(key.publicKey.x963Representation)))
            for messageIndex in 0..<25 {
                let message = Self.bytes(64 + messageIndex, &rng)
                let digest = SHA384.hash(data: message)
                let signature = try key.signature(for: digest)
                var raw = Array(signature.rawRepresentation)
                let digestBytes = Array(digest)
                #expect(verifier.isValidSignature(r: Array(raw[0..<48]), s: Array(raw[48..<96]), digest: digestBytes),
                        "key \(keyIndex) message \(messageIndex)")
                // Flip one bit of r, s or the digest: both verifiers must refuse.
                let position = Int.random(in: 0..<(96 * 8), using: &rng)
                raw[position / 8] ^= UInt8(1 << (position % 8))
                let ours = verifier.isValidSignature(r: Array(raw[0..<48]), s: Array(raw[48..<96]), digest: digestBytes)
                let theirs = (try? P384.Signing.ECDSASignature(rawRepresentation: raw)).map { key.publicKey.isValidSignature($0, for: digest) } ?? false
                #expect(ours == theirs && !ours)
                var otherDigest = digestBytes
                otherDigest[Int.random(in: 0..<48, using: &rng)] ^= 0x10
                #expect(!verifier.isValidSignature(r: Array(signature.rawRepresentation.prefix(48)),
                                                   s: Array(signature.rawRepresentation.suffix(48)), digest: otherDigest))
            }
            // A signature of another key never verifies.
            let other = P384.Signing.PrivateKey()
            let digest = SHA384.hash(data: [1, 2, 3])
            let foreign = Array(try other.signature(for: digest).rawRepresentation)
            #expect(!verifier.isValidSignature(r: Array(foreign[0..<48]), s: Array(foreign[48..<96]), digest: Array(digest)))
        }
    }

    @Test func refusesOutOfRangeScalarsAndBadKeys() throws {
        let key = P384.Signing.PrivateKey()
        let verifier = try #require(P384FixedKeyVerifier(x963: Array(key.publicKey.x963Representation)))
        let digest = Array(SHA384.hash(data: [0]))
        let zero = [UInt8](repeating: 0, count: 48)
        let ones = [UInt8](repeating: 0xFF, count: 48)
        var n = [UInt8](repeating: 0, count: 48)
        let order = P384Curve.order.modulus
        for i in 0..<48 { n[47 - i] = UInt8(truncatingIfNeeded: order.limbs[i / 8] >> UInt64(8 * (i % 8))) }
        for (r, s) in [(zero, ones), (ones, zero), (n, n), (ones, ones), (Array(zero.dropLast()), n)] {
            #expect(!verifier.isValidSignature(r: r, s: s, digest: digest))
        }
        var x963 = Array(key.publicKey.x963Representation)
        x963[96] ^= 1
        #expect(P384FixedKeyVerifier(x963: x963) == nil)
        #expect(P384FixedKeyVerifier(x963: Array(x963.prefix(50))) == nil)
    }
}

/// A chain reused for many reports switches to the precomputed key after the first report; real AMD
/// reports must verify on both paths and tampered ones fail on both.
@Suite struct ReusedChainTests {
    @Test(arguments: Fixture.cases)
    func realReportsVerifyOnBothPathsAndTamperingFails(name: String) throws {
        let report = try Fixture.report(name)
        let product = try ReportVerifier.resolveProduct(report: report, certificate: Fixture.endorsementKey(name), forced: nil)
        let kind: SigningKey = report.signerInfo.signingKey == .vlek ? .vlek : .vcek
        let chain = try VerifiedChain(certificates: CertificateSet(endorsementKey: Fixture.endorsementKey(name)),
                                      product: product, kind: kind, at: Fixture.time(for: name))
        func signatureOK(_ report: AttestationReport) -> Bool {
            ReportVerifier.verify(report: report, chain: chain).checks.contains { $0.name == "report-signature" && $0.passed }
        }
        for round in 0..<3 { #expect(signatureOK(report), "round \(round)") }
        for offset in [0x004, 0x050, 0x1A0, 0x29F, 0x2A0, 0x2F0] {
            var bytes = try Fixture.bytes("snp/\(name)/report.bin")
            bytes[offset] ^= 0x04
            #expect(!signatureOK(try AttestationReport(bytes: bytes)), "offset \(offset)")
        }
        #expect(signatureOK(report))
    }
}
