import Foundation
import SEVABI

/// A TCB_VERSION (u64) split into its security patch levels. The byte layout depends on the generation
/// (SEV-SNP ABI 56860, "TCB_VERSION Structure"): Milan/Genoa byte 0 boot loader, 1 TEE, 6 SNP,
/// 7 microcode; Turin byte 0 FMC, 1 boot loader, 2 TEE, 3 SNP, 7 microcode.
public struct TCBVersion: Sendable, Hashable, Codable, CustomStringConvertible {
    public let raw: UInt64
    public let turinLayout: Bool

    public init(raw: UInt64, turinLayout: Bool) {
        self.raw = raw
        self.turinLayout = turinLayout
    }

    /// Builds the raw value from parts; `fmc` only exists in the Turin layout.
    public init(bootloader: UInt8, tee: UInt8, snp: UInt8, microcode: UInt8, fmc: UInt8? = nil) {
        if let fmc {
            raw = UInt64(fmc) | UInt64(bootloader) << 8 | UInt64(tee) << 16 | UInt64(snp) << 24 | UInt64(microcode) << 56
            turinLayout = true
        } else {
            raw = UInt64(bootloader) | UInt64(tee) << 8 | UInt64(snp) << 48 | UInt64(microcode) << 56
            turinLayout = false
        }
    }

    private func byte(_ index: Int) -> UInt8 { UInt8(truncatingIfNeeded: raw >> UInt64(index * 8)) }

    public var fmc: UInt8? { turinLayout ? byte(0) : nil }
    public var bootloader: UInt8 { turinLayout ? byte(1) : byte(0) }
    public var tee: UInt8 { turinLayout ? byte(2) : byte(1) }
    public var snp: UInt8 { turinLayout ? byte(3) : byte(6) }
    public var microcode: UInt8 { byte(7) }

    /// The named parts in KDS order (fmc first on Turin).
    public var parts: [(name: String, value: UInt8)] {
        var out: [(String, UInt8)] = []
        if let fmc { out.append(("fmc", fmc)) }
        out += [("bl", bootloader), ("tee", tee), ("snp", snp), ("ucode", microcode)]
        return out
    }

    public var description: String {
        "0x" + String(raw, radix: 16) + " (" + parts.map { "\($0.name)=\($0.value)" }.joined(separator: " ") + ")"
    }

    enum CodingKeys: String, CodingKey { case raw, fmc, bootloader, tee, snp, microcode }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let fmc = try container.decodeIfPresent(UInt8.self, forKey: .fmc)
        let raw = try container.decode(String.self, forKey: .raw)
        guard let value = parseUnsignedInteger(raw, as: UInt64.self) else {
            throw DecodingError.dataCorruptedError(forKey: .raw, in: container, debugDescription: "not a number: \(raw)")
        }
        self.init(raw: value, turinLayout: fmc != nil)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode("0x" + String(raw, radix: 16), forKey: .raw)
        try container.encodeIfPresent(fmc, forKey: .fmc)
        try container.encode(bootloader, forKey: .bootloader)
        try container.encode(tee, forKey: .tee)
        try container.encode(snp, forKey: .snp)
        try container.encode(microcode, forKey: .microcode)
    }
}
