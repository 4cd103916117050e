/// A 16-byte long-mode IDT gate descriptor (AMD APM Vol. 2, 4.8.4 "Gate Descriptors"; Intel SDM
/// Vol. 3A, 6.14.1): offset 15:0, selector, IST, type/DPL/P, offset 31:16, offset 63:32.
public struct InterruptGate: Equatable, Sendable {
    public static let interruptGateType: UInt8 = 0xe
    public static let trapGateType: UInt8 = 0xf

    public var low: UInt64
    public var high: UInt64

    /// A present gate to `handler` through code segment `selector`, switching to stack `ist` (0 = none).
    public init(handler: UInt64, selector: UInt16, ist: UInt8, type: UInt8 = interruptGateType, privilegeLevel: UInt8 = 0) {
        let attributes = UInt64(0x80 | (privilegeLevel & 3) << 5 | (type & 0xf))
        low = (handler & 0xffff)
            | UInt64(selector) << 16
            | UInt64(ist & 7) << 32
            | attributes << 40
            | ((handler >> 16) & 0xffff) << 48
        high = handler >> 32
    }

    public var handler: UInt64 { (low & 0xffff) | ((low >> 48) & 0xffff) << 16 | high << 32 }
    public var selector: UInt16 { UInt16(truncatingIfNeeded: low >> 16) }
    public var ist: UInt8 { UInt8(truncatingIfNeeded: low >> 32) & 7 }
    public var isPresent: Bool { low & (1 << 47) != 0 }
}

/// CPU exception names by vector (AMD APM Vol. 2, 8.2; vector 29 is SEV-ES's #VC).
public enum ExceptionVector {
    public static func mnemonic(_ vector: UInt64) -> StaticString {
        switch vector {
        case 0: "#DE"
        case 1: "#DB"
        case 2: "NMI"
        case 3: "#BP"
        case 4: "#OF"
        case 5: "#BR"
        case 6: "#UD"
        case 7: "#NM"
        case 8: "#DF"
        case 10: "#TS"
        case 11: "#NP"
        case 12: "#SS"
        case 13: "#GP"
        case 14: "#PF"
        case 16: "#MF"
        case 17: "#AC"
        case 18: "#MC"
        case 19: "#XM"
        case 20: "#VE"
        case 21: "#CP"
        case 28: "#HV"
        case 29: "#VC"
        case 30: "#SX"
        default: "reserved"
        }
    }
}
