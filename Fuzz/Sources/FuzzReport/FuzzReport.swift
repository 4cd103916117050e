import Attestation
import AttestationPolicy
import KDS
import SNPReport
import FuzzSupport

/// Feeds arbitrary bytes to the SNP report parser and everything that reads a parsed report: the
/// summary, the reserved-field scan and the policy checks. Any trap is a bug; thrown errors are fine.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzReport(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let report = try? AttestationReport(bytes: bytes) else { return 0 }
    _ = ReportSummary(report).text
    _ = report.nonZeroReservedOffsets
    _ = KDS.vcekPath(for: report, product: report.product ?? .milan)
    var policy = ValidationPolicy()
    policy.minimumTCB = TCBRequirement(bootloader: 1, tee: 1, snp: 1, microcode: 1, fmc: 1)
    policy.measurement = try? Expected([UInt8](repeating: 0, count: 48))
    if let chain = FuzzChain.turin {
        _ = ReportVerifier.verify(report: report, chain: chain, policy: policy)
    }
    return 0
}
