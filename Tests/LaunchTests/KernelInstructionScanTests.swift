import Testing
@testable import Launch

@Suite struct KernelInstructionScanTests {
    @Test func registerFormsOf0FC7SlashSixAndSevenAreRDRANDAndRDSEED() {
        let rdseed = KernelInstructionScan([0x90, 0x0F, 0xC7, 0xF8, 0x90])
        #expect(rdseed.uses("rdseed") == true && rdseed.uses("rdrand") == false)
        let rdrand = KernelInstructionScan([0x48, 0x0F, 0xC7, 0xF1])
        #expect(rdrand.uses("rdrand") == true && rdrand.uses("rdseed") == false)
        // mod = 00 with reg 7 is a memory operand (VMPTRST), not RDSEED.
        let memory = KernelInstructionScan([0x0F, 0xC7, 0x38, 0x00])
        #expect(memory.uses("rdseed") == false && memory.uses("rdrand") == false)
        // A feature that is no single instruction cannot be read from the bytes.
        #expect(memory.uses("fsgsbase") == nil)
    }

    @Test func anELFIsScannedOnlyInItsExecutableSegments() {
        // ELF32 with two PT_LOAD headers: a read-only one holding RDSEED's bytes, an executable one without.
        var elf = [UInt8](repeating: 0, count: 0x100)
        elf.replaceSubrange(0..<6, with: [0x7F, 0x45, 0x4C, 0x46, 1, 1])
        func put32(_ value: UInt32, at offset: Int) { for i in 0..<4 { elf[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i))) } }
        put32(0x34, at: 0x1C)                            // e_phoff
        elf[0x2A] = 32; elf[0x2C] = 2                    // e_phentsize, e_phnum
        for (index, (offset, flags)) in [(UInt32(0xC0), UInt32(4)), (UInt32(0xE0), UInt32(5))].enumerated() {
            let entry = 0x34 + index * 32
            put32(1, at: entry); put32(offset, at: entry + 4); put32(16, at: entry + 16); put32(flags, at: entry + 24)
        }
        elf.replaceSubrange(0xC0..<0xC3, with: [0x0F, 0xC7, 0xF8])
        #expect(KernelInstructionScan(elf).uses("rdseed") == false)
        elf.replaceSubrange(0xE4..<0xE7, with: [0x0F, 0xC7, 0xF8])
        #expect(KernelInstructionScan(elf).uses("rdseed") == true)
    }

    @Test func aHostileELFHeaderIsScannedWholeWithoutACrash() {
        var elf = [UInt8](repeating: 0xFF, count: 0x40)
        elf.replaceSubrange(0..<6, with: [0x7F, 0x45, 0x4C, 0x46, 2, 1])
        elf += [0x0F, 0xC7, 0xF8]
        #expect(KernelInstructionScan(elf).uses("rdseed") == true)
    }
}
