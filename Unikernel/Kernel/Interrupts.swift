import CPU

/// The IDT: the 32 CPU exceptions, each through IST1 to uk_exception, except #VC (vector 29), which
/// returns and runs on IST2 (Boot/isr.S, SEV.handle). Nothing else is enabled; the kernel runs with
/// interrupts off.
enum Interrupts {
    static let vectors = 32

    static func install() {
        let table = uk_idt_base()
        for vector in 0..<vectors {
            let gate = InterruptGate(handler: uk_isr_address(Int32(vector)), selector: 0x08, ist: vector == 29 ? 2 : 1)
            table?[2 * vector] = gate.low
            table?[2 * vector + 1] = gate.high
        }
        uk_lidt(UInt64(UInt(bitPattern: table)), UInt16(vectors * 16 - 1))
    }
}

/// Called by isr_vc with the saved frame; returns past the instruction that raised the #VC.
@_cdecl("uk_vc")
public func handleVC(_ frame: UnsafeMutablePointer<UInt64>) {
    SEV.handle(VCFrame(frame))
}

/// Called by isr_common with the saved frame (layout in Boot/isr.S). Prints one line and exits.
@_cdecl("uk_exception")
public func handleException(_ frame: UnsafePointer<UInt64>) -> Never {
    let vector = frame[15]
    Console.write("cvmuk exception vector=")
    Console.writeDecimal(vector)
    Console.write(" name=")
    Console.write(ExceptionVector.mnemonic(vector))
    Console.write(" error=")
    Console.writeHex(frame[16])
    Console.write(" rip=")
    Console.writeHex(frame[17])
    Console.write(" rsp=")
    Console.writeHex(frame[20])
    if vector == 14 {
        Console.write(" cr2=")
        Console.writeHex(uk_read_cr2())
    }
    Console.write("\n")
    Machine.exit(.exception)
}
