/// How confidential a guest is: the one mode type from the host check through launch, measurement
/// and bench to the report. Measurement-only variants (snp:ovmf-hash, snp:svsm) are Measurement's
/// `LaunchMode`, which wraps this one.
public enum ConfidentialMode: String, Sendable, Codable, CaseIterable, Comparable {
    case none, sev, sevES = "sev-es", sevSNP = "sev-snp", tdx

    /// The three SEV modes, weakest first.
    public static let sevModes: [ConfidentialMode] = [.sev, .sevES, .sevSNP]
    /// Every confidential mode: the SEV modes, then Intel TDX.
    public static let confidential: [ConfidentialMode] = sevModes + [.tdx]

    /// AMD SEV, SEV-ES or SEV-SNP.
    public var isSEV: Bool { Self.sevModes.contains(self) }

    public var isConfidential: Bool { self != .none }

    public var displayName: String {
        switch self {
        case .none: return "none"
        case .sev: return "SEV"
        case .sevES: return "SEV-ES"
        case .sevSNP: return "SEV-SNP"
        case .tdx: return "TDX"
        }
    }

    public static func < (lhs: ConfidentialMode, rhs: ConfidentialMode) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }

    /// This SEV mode and every richer SEV mode (TDX is not above any of them; for TDX: itself).
    public var andAbove: Set<ConfidentialMode> {
        guard isSEV else { return self == .tdx ? [.tdx] : [] }
        return Set(Self.sevModes.filter { $0 >= self })
    }
}
