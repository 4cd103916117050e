import CPU

/// The 16550 UART at COM1 (0x3f8): the kernel's only console. Writes never allocate, so the
/// exception path can use them with a broken heap.
enum Console {
    static let base: UInt16 = 0x3f8

    static func initialize() {
        uk_outb(base + 1, 0x00)     // no UART interrupts
        uk_outb(base + 3, 0x80)     // DLAB on
        uk_outb(base + 0, 0x01)     // divisor 1: 115200 baud
        uk_outb(base + 1, 0x00)
        uk_outb(base + 3, 0x03)     // 8N1, DLAB off
        uk_outb(base + 2, 0xc7)     // FIFO on, cleared
        uk_outb(base + 4, 0x03)     // DTR, RTS
    }

    static func put(_ byte: UInt8) {
        // Under SEV-ES and SNP an `out` raises a #VC; the GHCB carries the byte directly.
        if SEV.ghcbReady { return SEV.consolePut(byte) }
        while uk_inb(base + 5) & 0x20 == 0 { uk_pause() }
        uk_outb(base, byte)
    }

    static func write(_ text: StaticString) {
        text.withUTF8Buffer { for byte in $0 { put(byte) } }
    }

    static func write(_ bytes: [UInt8]) {
        for byte in bytes { put(byte) }
    }

    static func writeHex(_ value: UInt64) {
        write("0x")
        var started = false
        for shift in stride(from: 60, through: 0, by: -4) {
            let digit = UInt8((value >> UInt64(shift)) & 0xf)
            if digit != 0 || started || shift == 0 {
                started = true
                put(digit < 10 ? 0x30 + digit : 0x57 + digit)
            }
        }
    }

    static func writeDecimal(_ value: UInt64) {
        var divisor: UInt64 = 1
        while value / divisor >= 10 { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            put(0x30 + UInt8(rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }
}

/// Embedded Swift's print() ends here.
@_cdecl("putchar")
public func putchar(_ character: CInt) -> CInt {
    Console.put(UInt8(truncatingIfNeeded: character))
    return character
}
