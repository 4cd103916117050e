import Foundation
import Measurement
import SEVABI
import Testing

@Suite struct LegacySEVMeasureTests {
    /// virtee/sevctl tests/data/measurement/tik1.bin with the values in ../shared/vectors/README.md.
    @Test func sevctlVector() throws {
        let tik = try Fixtures.bytes("tik1.bin")
        let digest = try [UInt8](hex: "c64bd101fc9a4a2ce0a27c408d9200911f139a895469b04a40a6fa2890830d23")
        let mnonce = try [UInt8](hex: "c313fab511c216b1505b1b2ea9903c40")
        let blob = try LegacySEVMeasure.blob(tik: tik, apiMajor: 1, apiMinor: 40, build: 40, policy: 0x03,
                                             launchDigest: digest, mnonce: mnonce)
        #expect(Data(blob).base64EncodedString() == "lswbxWxI9gckya16JQvdFtpYmNO4b+3inAPpqsgoBI7DE/q1EcIWsVBbGy6pkDxA")
        #expect(Array(blob.suffix(16)) == mnonce)
    }

    @Test func anyChangedInputChangesTheMeasure() throws {
        let tik = try Fixtures.bytes("tik1.bin")
        let digest = [UInt8](repeating: 1, count: 32), mnonce = [UInt8](repeating: 2, count: 16)
        let base = try LegacySEVMeasure.measure(tik: tik, apiMajor: 1, apiMinor: 40, build: 40, policy: 3, launchDigest: digest, mnonce: mnonce)
        #expect(try LegacySEVMeasure.measure(tik: tik, apiMajor: 1, apiMinor: 40, build: 40, policy: 1, launchDigest: digest, mnonce: mnonce) != base)
        #expect(try LegacySEVMeasure.measure(tik: tik, apiMajor: 1, apiMinor: 40, build: 41, policy: 3, launchDigest: digest, mnonce: mnonce) != base)
    }

    @Test func wrongLengthsAreRejected() {
        #expect(throws: MeasurementError.invalidLength(field: "TIK", expected: 16, found: 15)) {
            try LegacySEVMeasure.measure(tik: [UInt8](repeating: 0, count: 15), apiMajor: 0, apiMinor: 0, build: 0, policy: 0,
                                         launchDigest: [UInt8](repeating: 0, count: 32), mnonce: [UInt8](repeating: 0, count: 16))
        }
        #expect(throws: MeasurementError.self) {
            try LegacySEVMeasure.measure(tik: [UInt8](repeating: 0, count: 16), apiMajor: 0, apiMinor: 0, build: 0, policy: 0,
                                         launchDigest: [UInt8](repeating: 0, count: 48), mnonce: [UInt8](repeating: 0, count: 16))
        }
    }
}
