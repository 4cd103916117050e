import AttestationPolicy
import Foundation
import Measurement
import SEVABI

public enum LegacySEVError: Error, Equatable, CustomStringConvertible, Sendable {
    case blobLength(Int)
    case notBase64

    public var description: String {
        switch self {
        case .blobLength(let found): return "a LAUNCH_MEASURE blob is 48 bytes (MEASURE 32 ‖ MNONCE 16), found \(found)"
        case .notBase64: return "the LAUNCH_MEASURE blob is neither base64 nor 48 raw bytes"
        }
    }
}

/// Verifies a legacy SEV / SEV-ES LAUNCH_MEASURE blob (QMP query-sev-launch-measure) against the
/// expected launch digest: the guest owner recomputes MEASURE with the TIK it shares with the firmware
/// (SEV API 55766, "LAUNCH_MEASURE"). The HMAC itself is the Measurement module's.
public struct LegacySEVLaunchMeasure: Sendable {
    public let measure: [UInt8]
    public let mnonce: [UInt8]

    /// Accepts the 48 raw bytes or their base64 text, as QEMU prints it.
    public init(blob: [UInt8]) throws {
        var raw = blob
        if blob.count != 48 {
            let text = String(decoding: blob, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard let decoded = Data(base64Encoded: text) else { throw LegacySEVError.notBase64 }
            raw = Array(decoded)
        }
        guard raw.count == 48 else { throw LegacySEVError.blobLength(raw.count) }
        measure = Array(raw[0..<32])
        mnonce = Array(raw[32..<48])
    }

    /// One check naming what was compared; the comparison does not leak timing.
    public func verify(tik: [UInt8], apiMajor: UInt8, apiMinor: UInt8, build: UInt8, policy: UInt32,
                       launchDigest: [UInt8]) throws -> Check {
        let expected = try LegacySEVMeasure.measure(tik: tik, apiMajor: apiMajor, apiMinor: apiMinor, build: build,
                                                    policy: policy, launchDigest: launchDigest, mnonce: mnonce)
        let equal = zip(expected, measure).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0 && expected.count == measure.count
        let context = "API \(apiMajor).\(apiMinor) build \(build) policy 0x\(String(policy, radix: 16)) digest \(launchDigest.hexString.prefix(16))…"
        return equal
            ? .pass("launch-measure", "MEASURE matches HMAC-SHA256(TIK, \(context))")
            : .fail("launch-measure", "MEASURE differs from HMAC-SHA256(TIK, \(context)): wrong TIK, digest, policy or firmware version")
    }
}
