import CPU

/// The workloads' view of the unikernel: serial console, TSC, identity-mapped physical pages, and the
/// privileged instructions themselves for the exit-cost loops.
struct KernelPlatform: WorkloadPlatform {
    let timestampHz: UInt64
    let bootTimestamp: UInt64

    mutating func write(_ bytes: [UInt8]) { Console.write(bytes) }

    func timestamp() -> UInt64 { uk_rdtsc() }

    mutating func allocate(bytes: Int) -> UnsafeMutableRawPointer? {
        Memory.allocatePages((bytes + 4095) / 4096)
    }

    mutating func release(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
        Memory.frames.free(UInt64(UInt(bitPattern: pointer)), pages: (bytes + 4095) / 4096)
    }

    mutating func measure(_ operation: ExitOperation, iterations: Int) -> UInt64? {
        let start = uk_rdtsc()
        switch operation {
        case .cpuid:
            for _ in 0..<iterations { _ = uk_cpuid(0, 0) }
        case .portIO:
            // Port 0x80, the POST-code port Linux uses for I/O delays: present on every PC, no side effects.
            for _ in 0..<iterations { uk_outb(0x80, 0) }
        case .msrRead:
            // IA32_APIC_BASE: architectural and intercepted by every hypervisor.
            for _ in 0..<iterations { _ = uk_rdmsr(0x1b) }
        case .rdtsc:
            for _ in 0..<iterations { _ = uk_rdtsc() }
        }
        return uk_rdtsc() &- start
    }

    mutating func nullDereference() -> UInt64 { uk_load64(8) }

    /// RDTSC is not intercepted by KVM; under SEV-ES and SNP the rest raise #VC (SNP's CPUID stays in the
    /// guest, answered from the CPUID page).
    func exitPath(_ operation: ExitOperation) -> StaticString {
        if operation == .rdtsc { return "none" }
        guard SEV.ghcbReady else { return "exit" }
        return operation == .cpuid && SEV.snp ? "vc-cpuid-page" : "vc"
    }

    mutating func requestAttestationReport(reportData: [UInt8]) -> Bool? {
        guard SEV.snp, SEV.ghcbReady else { return nil }
        if case .success = SEV.attestationReport(reportData: reportData) { return true }
        return false
    }
}
