import SEVABI

/// What kind of guest is launched, which decides how the launch digest is formed.
public enum LaunchMode: String, Sendable, CaseIterable, Codable {
    /// SHA-256 over the firmware (and the SEV hashes table).
    case sev
    /// SEV's SHA-256 stream continued with one VMSA page per vCPU.
    case sevES = "sev-es"
    /// SHA-384 page-info chain: firmware, SEV metadata sections, one VMSA per vCPU.
    case sevSNP = "sev-snp"
    /// Only the firmware part of the SNP chain, for use as a precomputed starting value.
    case snpOVMFHash = "snp:ovmf-hash"
    /// SNP with a COCONUT-SVSM image below OVMF and its variable store.
    case snpSVSM = "snp:svsm"

    /// The measurement of an SEV launch mode; nil for a plain guest, which has none, and for TDX, whose
    /// MRTD is another computation.
    public init?(_ mode: ConfidentialMode) {
        switch mode {
        case .none, .tdx: return nil
        case .sev: self = .sev
        case .sevES: self = .sevES
        case .sevSNP: self = .sevSNP
        }
    }

    /// Accepts the names used here and by sev-snp-measure (seves, snp, sev-snp:svsm), any case.
    public init?(parsing text: String) {
        switch text.lowercased() {
        case "sev": self = .sev
        case "sev-es", "seves", "es": self = .sevES
        case "sev-snp", "snp": self = .sevSNP
        case "snp:ovmf-hash", "sev-snp:ovmf-hash": self = .snpOVMFHash
        case "snp:svsm", "sev-snp:svsm": self = .snpSVSM
        default: return nil
        }
    }

    /// Whether vCPUs (and so the vCPU type, VMM and guest features) enter the digest.
    public var measuresVCPUs: Bool { self == .sevES || self == .sevSNP || self == .snpSVSM }
    public var digestSize: Int { self == .sev || self == .sevES ? 32 : 48 }
}
