/// The bits of a TD's TDATTRIBUTES (Intel TDX module ABI: TUD bits 0-7, SEC bits 8-31, OTHER bits
/// 32-63), shared by the launch (`TDAttributes`, what QEMU's tdx-guest is given) and the verifier (what
/// a quote's TD report says).
public enum TDAttributeBits {
    /// TUD bit 0: the host can read and write the TD's state.
    public static let debug: UInt64 = 1 << 0
    /// SEC bit 28: no #VE on access to pending private pages (Linux guests want it set).
    public static let septVEDisable: UInt64 = 1 << 28
    /// SEC bit 30: supervisor protection keys.
    public static let pks: UInt64 = 1 << 30
    /// SEC bit 31: key locker.
    public static let keyLocker: UInt64 = 1 << 31
    /// OTHER bit 63: the TD may use the performance monitoring counters.
    public static let perfmon: UInt64 = 1 << 63
    /// Bits the TDX module reserves (TUD 1-7, SEC 8-27 and 29, OTHER 32-62): a TD with any of them set
    /// does not launch, and a verifier refuses its quote.
    public static let reserved: UInt64 = 0xFE | 0x0FFF_FF00 | (1 << 29) | 0x7FFF_FFFF_0000_0000
}
