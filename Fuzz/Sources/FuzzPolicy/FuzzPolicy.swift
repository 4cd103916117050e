import Attestation
import AttestationPolicy
import SNPReport
import FuzzSupport

/// Feeds arbitrary text to the validation-policy reader (YAML, or JSON when it starts with `{`): the
/// nesting pre-scan, Yams or JSONDecoder, unknown-key refusal and field validation; a policy that
/// loads is then applied to a real report. Any trap is a bug (deep nesting once was: SIGSEGV).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPolicy(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let policy = try? ValidationPolicy.load(contentsOf: text) else { return 0 }
    if let report = FuzzReportValue.report, let chain = FuzzChain.turin {
        _ = ReportVerifier.verify(report: report, chain: chain, policy: policy)
    }
    return 0
}

/// A fixed report so every loaded policy runs through every check.
enum FuzzReportValue {
    /// A version-5 report, all fields zero but the version and the policy's must-be-one bit.
    static let report: AttestationReport? = {
        var bytes = [UInt8](repeating: 0, count: AttestationReport.size)
        bytes[0] = 5
        bytes[0x0A] = 0x03
        return try? AttestationReport(bytes: bytes)
    }()
}
