/// The EPYC generation that signed a report. It decides the TCB_VERSION layout, the AMD roots and the
/// KDS path (SEV-SNP ABI 56860 and VCEK spec 57230; family/model table from SEV-REFERENCE section 2).
public enum SNPProduct: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case milan = "Milan"
    case genoa = "Genoa"
    case turin = "Turin"

    /// Recognises `milan`, `Milan`, `Genoa-B1` and the like (VCEK productName carries a stepping suffix).
    public init?(name: String) {
        let base = name.split(separator: "-").first.map(String.init) ?? name
        guard let found = Self.allCases.first(where: { $0.rawValue.lowercased() == base.lowercased() }) else { return nil }
        self = found
    }

    /// Product from the report's CPUID_FAM_ID / CPUID_MOD_ID (combined family and model, v3+ reports).
    public init?(cpuidFamily family: UInt8, model: UInt8) {
        switch (family, model) {
        case (0x19, 0x00...0x0F): self = .milan
        case (0x19, 0x10...0x1F), (0x19, 0xA0...0xAF): self = .genoa
        case (0x1A, _): self = .turin
        default: return nil
        }
    }

    /// Turin moved to an 8-byte chip id, a new TCB_VERSION layout and the fmcSPL KDS parameter.
    public var usesTurinLayout: Bool { self == .turin }

    /// Bytes of CHIP_ID that identify the chip (and appear in the VCEK hwID and the KDS URL).
    public var chipIDLength: Int { usesTurinLayout ? 8 : 64 }

    public var description: String { rawValue }
}
