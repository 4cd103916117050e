import SEVABI

/// AMD EPYC generations as CPUID family/model identify them (SEV-REFERENCE.md section 2).
public enum AMDGeneration: String, Sendable, Codable, CaseIterable {
    case naples = "Naples", rome = "Rome", milan = "Milan", genoa = "Genoa/Bergamo/Siena", turin = "Turin"

    public init?(family: UInt32, model: UInt32) {
        switch (family, model) {
        case (0x17, 0x00...0x0F): self = .naples
        case (0x17, 0x30...0x3F): self = .rome
        case (0x19, 0x00...0x0F): self = .milan
        case (0x19, 0x10...0x1F), (0x19, 0xA0...0xAF): self = .genoa
        case (0x1A, 0x00...0x1F): self = .turin
        default: return nil
        }
    }

    /// The most capable SEV flavour the generation offers when everything is enabled.
    public var bestMode: String {
        switch self {
        case .naples: return "SEV"
        case .rome: return "SEV-ES"
        case .milan, .genoa, .turin: return "SEV-SNP"
        }
    }
}

/// CPUID 0x8000001F: AMD memory encryption capabilities.
public struct MemoryEncryptionLeaf: Sendable, Hashable, Codable {
    public var sme: Bool
    public var sev: Bool
    public var pageFlushMSR: Bool
    public var sevES: Bool
    public var sevSNP: Bool
    public var vmpl: Bool
    public var secureTSC: Bool
    public var cBitPosition: Int
    public var physicalAddressReduction: Int
    public var vmplCount: Int
    public var encryptedGuests: UInt32
    public var minimumSEVASID: UInt32

    public init(_ regs: CPUIDRegisters) {
        sme = regs.eax & (1 << 0) != 0
        sev = regs.eax & (1 << 1) != 0
        pageFlushMSR = regs.eax & (1 << 2) != 0
        sevES = regs.eax & (1 << 3) != 0
        sevSNP = regs.eax & (1 << 4) != 0
        vmpl = regs.eax & (1 << 5) != 0
        secureTSC = regs.eax & (1 << 8) != 0
        cBitPosition = Int(regs.ebx & 0x3F)
        physicalAddressReduction = Int((regs.ebx >> 6) & 0x3F)
        vmplCount = Int((regs.ebx >> 12) & 0xF)
        encryptedGuests = regs.ecx
        minimumSEVASID = regs.edx
    }

    /// SEV-ES and SNP guests use ASIDs 1..<minimumSEVASID; plain SEV guests the rest.
    public var esASIDs: UInt32 { minimumSEVASID > 0 ? minimumSEVASID - 1 : 0 }
    public var sevOnlyASIDs: UInt32 { encryptedGuests >= minimumSEVASID ? encryptedGuests - minimumSEVASID + 1 : 0 }
}

/// What CPUID says about the processor.
public struct CPUInfo: Sendable, Hashable, Codable {
    public var vendor: String
    public var brand: String
    public var family: UInt32
    public var model: UInt32
    public var stepping: UInt32
    /// CPUID 1 EAX: the signature that also selects VMSA contents in measurements.
    public var signature: UInt32
    public var underHypervisor: Bool
    public var hypervisorVendor: String?
    public var maxExtendedLeaf: UInt32
    public var memoryEncryption: MemoryEncryptionLeaf?
    public var physicalAddressBits: Int?

    public var isAMD: Bool { vendor == "AuthenticAMD" }
    public var isIntel: Bool { vendor == "GenuineIntel" }
    public var generation: AMDGeneration? { isAMD ? AMDGeneration(family: family, model: model) : nil }

    public init(cpuid: any CPUIDSource) {
        let leaf0 = cpuid.query(leaf: 0, subleaf: 0)
        vendor = Self.string(from: [leaf0.ebx, leaf0.edx, leaf0.ecx])
        let leaf1 = cpuid.query(leaf: 1, subleaf: 0)
        signature = leaf1.eax
        let baseFamily = (leaf1.eax >> 8) & 0xF
        let baseModel = (leaf1.eax >> 4) & 0xF
        stepping = leaf1.eax & 0xF
        family = baseFamily == 0xF ? baseFamily + ((leaf1.eax >> 20) & 0xFF) : baseFamily
        model = (baseFamily == 0xF || baseFamily == 0x6) ? (((leaf1.eax >> 16) & 0xF) << 4) | baseModel : baseModel
        underHypervisor = leaf1.ecx & (1 << 31) != 0
        if underHypervisor {
            let hv = cpuid.query(leaf: 0x4000_0000, subleaf: 0)
            let name = Self.string(from: [hv.ebx, hv.ecx, hv.edx]).stripping("\0 ")
            hypervisorVendor = name.isEmpty ? nil : name
        } else {
            hypervisorVendor = nil
        }
        maxExtendedLeaf = cpuid.query(leaf: 0x8000_0000, subleaf: 0).eax
        if maxExtendedLeaf >= 0x8000_0004 {
            let words = (0x8000_0002...0x8000_0004).flatMap { leaf -> [UInt32] in
                let r = cpuid.query(leaf: UInt32(leaf), subleaf: 0)
                return [r.eax, r.ebx, r.ecx, r.edx]
            }
            brand = Self.string(from: words).stripping("\0 ")
        } else {
            brand = ""
        }
        physicalAddressBits = maxExtendedLeaf >= 0x8000_0008 ? Int(cpuid.query(leaf: 0x8000_0008, subleaf: 0).eax & 0xFF) : nil
        memoryEncryption = maxExtendedLeaf >= 0x8000_001F ? MemoryEncryptionLeaf(cpuid.query(leaf: 0x8000_001F, subleaf: 0)) : nil
    }

    static func string(from registers: [UInt32]) -> String {
        let bytes = registers.flatMap { $0.littleEndianBytes }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension String {
    func stripping(_ set: String) -> String {
        var view = Substring(self)
        while let first = view.first, set.contains(first) { view = view.dropFirst() }
        while let last = view.last, set.contains(last) { view = view.dropLast() }
        return String(view)
    }
}
