import Foundation
import Testing
import SEVABI
@testable import Attestation

/// The vector from ../shared/vectors/README.md (virtee/sevctl tik1.bin).
struct LegacySEVTests {
    static let blob = "lswbxWxI9gckya16JQvdFtpYmNO4b+3inAPpqsgoBI7DE/q1EcIWsVBbGy6pkDxA"
    static let digest = "c64bd101fc9a4a2ce0a27c408d9200911f139a895469b04a40a6fa2890830d23"

    @Test func theVectorVerifies() throws {
        let measure = try LegacySEVLaunchMeasure(blob: Array(Self.blob.utf8))
        #expect(measure.mnonce.hexString == "c313fab511c216b1505b1b2ea9903c40")
        let check = try measure.verify(tik: Fixture.bytes("sev-legacy/tik1.bin"), apiMajor: 1, apiMinor: 40, build: 40,
                                       policy: 0x03, launchDigest: [UInt8](hex: Self.digest))
        #expect(check.passed)
    }

    @Test func anyDifferentInputFails() throws {
        let measure = try LegacySEVLaunchMeasure(blob: Array(Self.blob.utf8))
        let tik = try Fixture.bytes("sev-legacy/tik1.bin")
        let digest = try [UInt8](hex: Self.digest)
        #expect(try !measure.verify(tik: tik, apiMajor: 1, apiMinor: 40, build: 40, policy: 0x01, launchDigest: digest).passed)
        #expect(try !measure.verify(tik: tik, apiMajor: 1, apiMinor: 40, build: 41, policy: 0x03, launchDigest: digest).passed)
        var other = digest
        other[0] ^= 1
        #expect(try !measure.verify(tik: tik, apiMajor: 1, apiMinor: 40, build: 40, policy: 0x03, launchDigest: other).passed)
    }

    @Test func rawBlobsAndBadBlobs() throws {
        let raw = Array(try #require(Data(base64Encoded: Self.blob)))
        #expect(try LegacySEVLaunchMeasure(blob: raw).measure == Array(raw.prefix(32)))
        #expect(throws: LegacySEVError.notBase64) { try LegacySEVLaunchMeasure(blob: Array("!!".utf8)) }
        #expect(throws: LegacySEVError.blobLength(3)) { try LegacySEVLaunchMeasure(blob: Array("AAAA".utf8)) }
    }
}
