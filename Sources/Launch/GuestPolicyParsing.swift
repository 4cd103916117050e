import SEVABI

extension GuestPolicy {
    /// The policy a user (or a VM's state.json) wrote for `mode`: decimal or 0x-prefixed hex, 64 bits
    /// for SEV-SNP, 32 for SEV and SEV-ES. Nil for mode none. The one parser behind `run`, `vm create`
    /// and persistent VMs.
    public init?(parsing text: String, mode: ConfidentialMode) throws {
        guard let raw = parseUnsignedInteger(text, as: UInt64.self) else { throw PolicyError.notANumber(text) }
        switch mode {
        case .sevSNP: self = .snp(try SNPPolicy(rawValue: raw))
        case .sev, .sevES:
            guard let narrow = UInt32(exactly: raw) else {
                throw PolicyError.reservedBitsSet(kind: "SEV", mask: raw & ~UInt64(UInt32.max))
            }
            self = .sev(try SEVPolicy(rawValue: narrow))
        case .tdx: self = .td(TDAttributes(rawValue: raw))
        case .none: return nil
        }
    }
}
