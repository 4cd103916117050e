import CPU

/// TSC frequency, from CPUID when the CPU or hypervisor states it, else measured against the PIT.
enum Timekeeping {
    /// PIT channel 2 one-shot length for calibration: 5966 ticks = 5 ms.
    static let pitTicks: UInt64 = 5966
    /// The frequency kmain calibrated, for lines printed later (Machine.exit's validation line).
    nonisolated(unsafe) static var hz: UInt64 = 0

    static func calibrate() -> (hz: UInt64, source: TSCCalibration.Source) {
        let maximumLeaf = uk_cpuid(0, 0).eax
        if maximumLeaf >= 0x15 {
            let leaf = uk_cpuid(0x15, 0)
            if let hz = TSCCalibration.fromLeaf15(eax: leaf.eax, ebx: leaf.ebx, ecx: leaf.ecx) { return (hz, .cpuid15) }
        }
        if maximumLeaf >= 0x16, let hz = TSCCalibration.fromLeaf16(eax: uk_cpuid(0x16, 0).eax) { return (hz, .cpuid16) }
        let hypervisorPresent = uk_cpuid(1, 0).ecx & (1 << 31) != 0
        if hypervisorPresent, uk_cpuid(0x4000_0000, 0).eax >= 0x4000_0010,
           let hz = TSCCalibration.fromHypervisorLeaf(eax: uk_cpuid(0x4000_0010, 0).eax) {
            return (hz, .hypervisorLeaf)
        }
        return (measureWithPIT(), .pit)
    }

    /// Gate PIT channel 2 on (speaker off), load a mode 0 count and wait for OUT2 in port 0x61 bit 5.
    static func measureWithPIT() -> UInt64 {
        uk_outb(0x61, (uk_inb(0x61) & ~0x02) | 0x01)
        uk_outb(0x43, 0xb0)
        uk_outb(0x42, UInt8(pitTicks & 0xff))
        uk_outb(0x42, UInt8(pitTicks >> 8))
        let start = uk_rdtsc()
        var spins = 0
        while uk_inb(0x61) & 0x20 == 0 && spins < 50_000_000 { spins += 1 }
        let end = uk_rdtsc()
        return TSCCalibration.fromPIT(tscDelta: end &- start, pitTicks: pitTicks) ?? 1_000_000_000
    }
}
