/// Which memory encryption the guest runs under, from CPUID Fn8000_001F and the SEV_STATUS MSR
/// (AMD APM Vol. 2, 15.34.10: MSR C001_0131 bit 0 SEV, bit 1 SEV-ES, bit 2 SEV-SNP active).
public struct SEVDetection: Equatable, Sendable {
    public enum Mode: Equatable, Sendable {
        case none, sev, sevES, sevSNP

        public var name: StaticString {
            switch self {
            case .none: "none"
            case .sev: "sev"
            case .sevES: "sev-es"
            case .sevSNP: "sev-snp"
            }
        }
    }

    public static let encryptionLeaf: UInt32 = 0x8000_001f
    public static let sevStatusMSR: UInt32 = 0xc001_0131

    public var mode: Mode
    /// The C-bit position (CPUID Fn8000_001F EBX[5:0]) when SEV is active, else nil.
    public var encryptionBit: Int?

    /// - Parameters:
    ///   - cpuid: returns (eax, ebx) of a CPUID leaf.
    ///   - readMSR: called only when CPUID reports SEV: elsewhere (TCG, a non-SEV hypervisor) the read
    ///     of SEV_STATUS would raise #GP.
    public static func detect(cpuid: (UInt32) -> (eax: UInt32, ebx: UInt32), readMSR: (UInt32) -> UInt64) -> SEVDetection {
        let none = SEVDetection(mode: .none, encryptionBit: nil)
        guard cpuid(0x8000_0000).eax >= encryptionLeaf else { return none }
        let leaf = cpuid(encryptionLeaf)
        guard leaf.eax & (1 << 1) != 0 else { return none }
        let status = readMSR(sevStatusMSR)
        guard status & 1 != 0 else { return none }
        let mode: Mode = status & (1 << 2) != 0 ? .sevSNP : status & (1 << 1) != 0 ? .sevES : .sev
        return SEVDetection(mode: mode, encryptionBit: Int(leaf.ebx & 0x3f))
    }
}
