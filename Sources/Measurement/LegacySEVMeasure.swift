import Crypto
import SEVABI

/// The legacy SEV launch measurement the firmware returns from LAUNCH_MEASURE (SEV API 55766,
/// "LAUNCH_MEASURE"): MEASURE = HMAC-SHA256(TIK, 0x04 ‖ API_MAJOR ‖ API_MINOR ‖ BUILD ‖ POLICY (u32 LE)
/// ‖ launch digest ‖ MNONCE). A guest owner recomputes it from the expected launch digest to check it.
public enum LegacySEVMeasure {
    public static let contextByte: UInt8 = 0x04

    /// - Parameters:
    ///   - tik: the transport integrity key (16 bytes).
    ///   - launchDigest: the SEV or SEV-ES launch digest (32 bytes).
    ///   - mnonce: the 16-byte nonce the firmware returned beside the measurement.
    public static func measure(tik: [UInt8], apiMajor: UInt8, apiMinor: UInt8, build: UInt8, policy: UInt32,
                               launchDigest: [UInt8], mnonce: [UInt8]) throws -> [UInt8] {
        guard tik.count == 16 else { throw MeasurementError.invalidLength(field: "TIK", expected: 16, found: tik.count) }
        guard launchDigest.count == 32 else {
            throw MeasurementError.invalidLength(field: "SEV launch digest", expected: 32, found: launchDigest.count)
        }
        guard mnonce.count == 16 else {
            throw MeasurementError.invalidLength(field: "MNONCE", expected: 16, found: mnonce.count)
        }
        let message = [contextByte, apiMajor, apiMinor, build] + policy.littleEndianBytes + launchDigest + mnonce
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: tik))
        return Array(mac)
    }

    /// The LAUNCH_MEASURE blob QEMU reports (query-sev-launch-measure, base64): MEASURE (32) ‖ MNONCE (16).
    public static func blob(tik: [UInt8], apiMajor: UInt8, apiMinor: UInt8, build: UInt8, policy: UInt32,
                            launchDigest: [UInt8], mnonce: [UInt8]) throws -> [UInt8] {
        try measure(tik: tik, apiMajor: apiMajor, apiMinor: apiMinor, build: build, policy: policy,
                    launchDigest: launchDigest, mnonce: mnonce) + mnonce
    }
}
