/// One machine-readable output line: `cvmuk <kind> key=value key=value ...`. Values never contain
/// spaces; numbers are decimal (fixed-point for fractions), digests lowercase hex.
public struct ResultLine {
    public static let prefix: StaticString = "cvmuk"
    public private(set) var bytes: [UInt8] = []

    public init(_ kind: StaticString) {
        append(Self.prefix)
        bytes.append(0x20)
        append(kind)
    }

    public mutating func field(_ key: StaticString, _ value: UInt64) {
        begin(key)
        appendDecimal(value)
    }

    public mutating func field(_ key: StaticString, _ value: Int) {
        begin(key)
        if value < 0 { bytes.append(0x2d) }
        appendDecimal(value.magnitude.toUInt64)
    }

    public mutating func field(_ key: StaticString, _ text: StaticString) {
        begin(key)
        append(text)
    }

    /// `value` with `decimals` digits after the point, rounded half away from zero.
    public mutating func field(_ key: StaticString, fixed value: Double, decimals: Int) {
        begin(key)
        guard value.isFinite else {
            append("nan")
            return
        }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let magnitude = value.magnitude * scale + 0.5
        guard magnitude < 9.0e18 else {
            append("overflow")
            return
        }
        let scaled = UInt64(magnitude)
        if value < 0 && scaled != 0 { bytes.append(0x2d) }
        var divisor: UInt64 = 1
        for _ in 0..<decimals { divisor *= 10 }
        appendDecimal(scaled / divisor)
        guard decimals > 0 else { return }
        bytes.append(0x2e)
        var fraction = scaled % divisor
        var digits = [UInt8](repeating: 0x30, count: decimals)
        var position = decimals - 1
        while position >= 0 {
            digits[position] = 0x30 + UInt8(fraction % 10)
            fraction /= 10
            position -= 1
        }
        bytes.append(contentsOf: digits)
    }

    public mutating func field(_ key: StaticString, hex: [UInt8]) {
        begin(key)
        let digits: StaticString = "0123456789abcdef"
        digits.withUTF8Buffer { table in
            for byte in hex {
                bytes.append(table[Int(byte >> 4)])
                bytes.append(table[Int(byte & 0xf)])
            }
        }
    }

    public mutating func field(_ key: StaticString, raw: [UInt8]) {
        begin(key)
        for byte in raw { bytes.append(byte > 0x20 && byte < 0x7f ? byte : 0x3f) }
    }

    private mutating func begin(_ key: StaticString) {
        bytes.append(0x20)
        append(key)
        bytes.append(0x3d)
    }

    private mutating func append(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    private mutating func appendDecimal(_ value: UInt64) {
        var digits: [UInt8] = []
        var rest = value
        repeat {
            digits.append(0x30 + UInt8(rest % 10))
            rest /= 10
        } while rest > 0
        bytes.append(contentsOf: digits.reversed())
    }
}

extension UInt {
    var toUInt64: UInt64 { UInt64(self) }
}

/// Exit status the guest reports through isa-debug-exit; QEMU then exits with `2 * status + 1`.
public enum GuestExitStatus: UInt8, Sendable {
    case success = 0
    case verificationFailed = 1
    case badCommandLine = 2
    case exception = 3
    case outOfMemory = 4
    case panic = 5
    /// The firmware boot's E820 table (fw_cfg `etc/e820`) has zero-length or overlapping entries.
    case badMemoryMap = 6
    /// fw_cfg is absent, or its command-line file is missing or too long.
    case badFirmwareConfig = 7
    /// The firmware image's own GUIDed footer table does not parse.
    case badFooter = 8

    public var name: StaticString {
        switch self {
        case .success: "success"
        case .verificationFailed: "verification-failed"
        case .badCommandLine: "bad-command-line"
        case .exception: "exception"
        case .outOfMemory: "out-of-memory"
        case .panic: "panic"
        case .badMemoryMap: "bad-memory-map"
        case .badFirmwareConfig: "bad-fw-cfg"
        case .badFooter: "bad-footer"
        }
    }

    /// The status behind a QEMU exit code from isa-debug-exit (always odd); nil for other codes.
    public init?(qemuExitCode: Int32) {
        guard qemuExitCode > 0, qemuExitCode % 2 == 1, let status = GuestExitStatus(rawValue: UInt8(truncatingIfNeeded: qemuExitCode / 2)) else { return nil }
        self = status
    }
}
