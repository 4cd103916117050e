/// The SNP secrets page (SEV-SNP Firmware ABI, "Secrets Page Format"): the PSP fills it at launch
/// (SNP_LAUNCH_UPDATE of page type SECRETS) with the four VM platform communication keys, and the guest
/// finds it at the GPA its firmware's SEV metadata names (type 2), or through the CC blob under OVMF.
///
///     0x00 VERSION u32  0x04 IMIEN (bit 0)  0x08 FMS u32  0x0C reserved  0x10 GOSVW[16]
///     0x20 VMPCK0[32]  0x40 VMPCK1[32]  0x60 VMPCK2[32]  0x80 VMPCK3[32]
///     0xA0 OS area[96] (the guest's own: GHCB spec "Secrets Page Layout", message sequence numbers)
///     0x100 VMSA tweak bitmap[64] (version 3)  0x140 SVSM fields  … to 0x1000
public struct SNPSecretsPage: Equatable, Sendable {
    public static let size = 4096
    public static let keySize = 32
    public static let vmpckOffset = 0x20
    public static let osAreaOffset = 0xa0
    public static let osAreaSize = 96

    public var version: UInt32
    public var imiEnabled: Bool
    public var familyModelStepping: UInt32
    public var guestOSSVNWorkaround: [UInt8]
    /// VMPCK0…3; a key of all zeros was withdrawn (the guest erases a key it must not use again).
    public var vmpcks: [[UInt8]]
    /// OS area: the last sequence number used with each VMPCK (GHCB spec layout: u32 each at 0x00…0x0C).
    public var sequenceNumbers: [UInt32]

    public enum ParseError: Error, Equatable, Sendable {
        case truncated(Int)
        /// Version 2 introduced this key area; later versions only add fields after the OS area.
        case unsupportedVersion(UInt32)
    }

    public init(parsing raw: UnsafeRawBufferPointer) throws(ParseError) {
        guard raw.count >= Self.size else { throw .truncated(raw.count) }
        func u32(_ offset: Int) -> UInt32 { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
        version = u32(0)
        guard version >= 2 else { throw .unsupportedVersion(version) }
        imiEnabled = u32(4) & 1 != 0
        familyModelStepping = u32(8)
        guestOSSVNWorkaround = Array(raw[0x10..<0x20])
        var keys: [[UInt8]] = []
        for index in 0..<4 {
            let start = Self.vmpckOffset + index * Self.keySize
            keys.append(Array(raw[start..<(start + Self.keySize)]))
        }
        vmpcks = keys
        var numbers: [UInt32] = []
        for index in 0..<4 { numbers.append(u32(Self.osAreaOffset + 4 * index)) }
        sequenceNumbers = numbers
    }

    /// VMPCK `index` (0…3), nil when it is all zeros.
    public func vmpck(_ index: Int) -> [UInt8]? {
        guard index >= 0, index < vmpcks.count else { return nil }
        let key = vmpcks[index]
        return key.contains { $0 != 0 } ? key : nil
    }
}
