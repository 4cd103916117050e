import CPU

/// Leaving the virtual machine.
enum Machine {
    /// QEMU's isa-debug-exit device (`-device isa-debug-exit,iobase=0xf4,iosize=0x04`): QEMU exits with
    /// `2 * status + 1`.
    static let debugExitPort: UInt16 = 0xf4
    /// PM1a control block on QEMU's pc and q35 machines as SeaBIOS and OVMF program it (PM base 0x600).
    static let acpiPM1aControl: UInt16 = 0x604

    static func exit(_ status: GuestExitStatus) -> Never {
        if SEV.validationPolicy != nil { Console.write(SEV.validationLine(hz: Timekeeping.hz).bytes + [0x0a]) }
        Console.write("cvmuk exit status=")
        Console.writeDecimal(UInt64(status.rawValue))
        Console.write(" name=")
        Console.write(status.name)
        Console.write("\n")
        uk_outb(debugExitPort, status.rawValue)
        // Without the debug-exit device: ACPI S5 (SLP_TYP 0 on QEMU, SLP_EN), then halt for good.
        uk_outw(acpiPM1aControl, 0x2000)
        while true { uk_halt() }
    }
}

@_cdecl("__stack_chk_fail")
public func stackCheckFailed() -> Never {
    Console.write("cvmuk panic reason=stack-smashing\n")
    Machine.exit(.panic)
}
