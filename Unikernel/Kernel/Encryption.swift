import CPU

/// What the kernel found about memory encryption at boot.
enum Encryption {
    nonisolated(unsafe) static var detected = SEVDetection(mode: .none, encryptionBit: nil)

    static func detect() {
        detected = SEVDetection.detect(cpuid: { leaf in
            let result = uk_cpuid(leaf, 0)
            return (result.eax, result.ebx)
        }, readMSR: { uk_rdmsr($0) })
    }
}
