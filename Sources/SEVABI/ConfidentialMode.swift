/// How confidential a guest is: the one mode type from the host check through launch, measurement
/// and bench to the report. Measurement-only variants (snp:ovmf-hash, snp:svsm) are Measurement's
/// `LaunchMode`, which wraps this one.
public enum ConfidentialMode: String, Sendable, Codable, CaseIterable, Comparable {
    case none, sev, sevES = "sev-es", sevSNP = "sev-snp"

    /// The three SEV modes, weakest first.
    public static let confidential: [ConfidentialMode] = [.sev, .sevES, .sevSNP]

    public var isConfidential: Bool { self != .none }

    public var displayName: String {
        switch self {
        case .none: return "none"
        case .sev: return "SEV"
        case .sevES: return "SEV-ES"
        case .sevSNP: return "SEV-SNP"
        }
    }

    public static func < (lhs: ConfidentialMode, rhs: ConfidentialMode) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }

    /// This mode and every richer one (the confidential ones only).
    public var andAbove: Set<ConfidentialMode> { Set(Self.confidential.filter { $0 >= self }) }
}
