/// Time-stamp counter frequency from the sources a guest can ask, most trusted first.
public enum TSCCalibration {
    /// The PIT input clock (Intel 8254 as wired in the PC): 1.193182 MHz.
    public static let pitHz: UInt64 = 1_193_182

    public enum Source: UInt8, Sendable {
        case cpuid15, cpuid16, hypervisorLeaf, pit

        public var name: StaticString {
            switch self {
            case .cpuid15: "cpuid-0x15"
            case .cpuid16: "cpuid-0x16"
            case .hypervisorLeaf: "cpuid-0x40000010"
            case .pit: "pit"
            }
        }
    }

    /// CPUID leaf 0x15: EAX denominator, EBX numerator of the TSC/crystal ratio, ECX crystal Hz
    /// (Intel SDM Vol. 2A, CPUID). Nil when any of them is zero (not enumerated).
    public static func fromLeaf15(eax: UInt32, ebx: UInt32, ecx: UInt32) -> UInt64? {
        guard eax != 0, ebx != 0, ecx != 0 else { return nil }
        return UInt64(ecx) * UInt64(ebx) / UInt64(eax)
    }

    /// CPUID leaf 0x16 EAX[15:0]: processor base frequency in MHz; nil when zero.
    public static func fromLeaf16(eax: UInt32) -> UInt64? {
        let megahertz = UInt64(eax & 0xffff)
        return megahertz == 0 ? nil : megahertz * 1_000_000
    }

    /// Hypervisor timing leaf 0x40000010 EAX: TSC frequency in kHz (QEMU/KVM, VMware); nil when zero.
    public static func fromHypervisorLeaf(eax: UInt32) -> UInt64? {
        eax == 0 ? nil : UInt64(eax) * 1000
    }

    /// TSC ticks counted while the PIT counted `pitTicks` of its 1.193182 MHz clock.
    public static func fromPIT(tscDelta: UInt64, pitTicks: UInt64) -> UInt64? {
        let (product, overflow) = tscDelta.multipliedReportingOverflow(by: pitHz)
        guard pitTicks != 0, !overflow, product / pitTicks != 0 else { return nil }
        return product / pitTicks
    }

    /// Microseconds for `ticks` at `hz`, without overflowing for long runs.
    public static func microseconds(ticks: UInt64, hz: UInt64) -> UInt64 {
        guard hz != 0, hz < 1 << 44 else { return 0 }
        return (ticks / hz) * 1_000_000 + (ticks % hz) * 1_000_000 / hz
    }
}
