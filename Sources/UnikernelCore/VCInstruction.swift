/// The instruction at the RIP of a #VC exception (SEV-ES/SNP, vector 29), decoded far enough to emulate
/// it through the GHCB: port I/O (IN/OUT with an imm8 or DX port, byte/word/dword), CPUID, RDMSR,
/// WRMSR, RDTSC, RDTSCP, HLT, and the MOV forms that reach MMIO (88/89/8A/8B, C6/C7 with an immediate,
/// MOVZX/MOVSX 0F B6/B7/BE/BF) with their ModRM/SIB/displacement memory operand, in 64-bit mode.
/// Everything else is refused, never guessed: string I/O (not allowed under SEV), LOCK, REP/REPNE,
/// segment and address-size overrides, register-only forms, and other opcodes (Intel SDM vol. 2,
/// chapter 2 for the encoding; AMD APM vol. 3 for the opcodes).
public struct VCInstruction: Equatable, Sendable {
    /// A general-purpose register: number 0…15 (RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8…R15), width in
    /// bytes, and for 8-bit numbers 4…7 without a REX prefix the legacy AH, CH, DH, BH.
    public struct Register: Equatable, Sendable {
        public var number: Int
        public var size: Int
        public var isHighByte: Bool

        public init(number: Int, size: Int, isHighByte: Bool = false) {
            self.number = number
            self.size = size
            self.isHighByte = isHighByte
        }
    }

    /// `[base + index·scale + displacement]`, or `[RIP + displacement]` (relative to the next instruction).
    public struct Memory: Equatable, Sendable {
        public var base: Int?
        public var index: Int?
        public var scale: Int
        public var displacement: Int64
        public var isRIPRelative: Bool
    }

    public enum Port: Equatable, Sendable {
        case immediate(UInt8)
        case dx
    }

    public enum Extension: Equatable, Sendable { case none, zero, sign }

    public enum Operation: Equatable, Sendable {
        case portIn(size: Int, port: Port)
        case portOut(size: Int, port: Port)
        case cpuid, rdmsr, wrmsr, rdtsc, rdtscp, hlt
        /// Memory of `size` bytes read into `destination` (wider with zero or sign extension).
        case mmioRead(size: Int, destination: Register, widening: Extension)
        /// `size` bytes written from `source`.
        case mmioWriteRegister(size: Int, source: Register)
        /// `size` bytes written from an immediate (sign-extended to the operand size).
        case mmioWriteImmediate(size: Int, value: UInt64)
    }

    public var length: Int
    public var operation: Operation
    public var memory: Memory?

    public enum DecodeError: Error, Equatable, Sendable {
        case truncated
        case unsupportedPrefix(UInt8)
        case unsupportedOpcode(UInt8, UInt8)
        case stringIO
        case registerOperand
        case tooLong
    }

    public static let maximumLength = 15

    /// Decodes the instruction at the start of `bytes` (the kernel passes the bytes at RIP).
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(DecodeError) -> VCInstruction {
        var reader = Reader(bytes: bytes)
        var operandSizeOverride = false
        var rex: UInt8 = 0
        var opcode = try reader.next()
        while true {
            switch opcode {
            case 0x66: operandSizeOverride = true
            case 0xf0, 0xf2, 0xf3, 0x67, 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65: throw .unsupportedPrefix(opcode)
            default: break
            }
            guard opcode == 0x66 else { break }
            opcode = try reader.next()
        }
        if opcode & 0xf0 == 0x40 {
            rex = opcode
            opcode = try reader.next()
        }
        let wide = rex & 0x08 != 0
        let operandSize = wide ? 8 : operandSizeOverride ? 2 : 4
        let ioSize = operandSizeOverride ? 2 : 4

        func finish(_ operation: Operation, _ memory: Memory? = nil) throws(DecodeError) -> VCInstruction {
            guard reader.offset <= maximumLength else { throw .tooLong }
            return VCInstruction(length: reader.offset, operation: operation, memory: memory)
        }

        switch opcode {
        case 0xe4: return try finish(.portIn(size: 1, port: .immediate(try reader.next())))
        case 0xe5: return try finish(.portIn(size: ioSize, port: .immediate(try reader.next())))
        case 0xe6: return try finish(.portOut(size: 1, port: .immediate(try reader.next())))
        case 0xe7: return try finish(.portOut(size: ioSize, port: .immediate(try reader.next())))
        case 0xec: return try finish(.portIn(size: 1, port: .dx))
        case 0xed: return try finish(.portIn(size: ioSize, port: .dx))
        case 0xee: return try finish(.portOut(size: 1, port: .dx))
        case 0xef: return try finish(.portOut(size: ioSize, port: .dx))
        case 0x6c, 0x6d, 0x6e, 0x6f: throw .stringIO
        case 0xf4: return try finish(.hlt)
        case 0x88, 0x89, 0x8a, 0x8b:
            let (reg, memory) = try reader.modRM(rex: rex)
            let size = opcode & 1 == 0 ? 1 : operandSize
            let register = Register(number: reg, size: size, isHighByte: size == 1 && rex == 0 && reg >= 4 && reg < 8)
            return try finish(opcode < 0x8a ? .mmioWriteRegister(size: size, source: register)
                                            : .mmioRead(size: size, destination: register, widening: .none), memory)
        case 0xc6, 0xc7:
            let (reg, memory) = try reader.modRM(rex: rex)
            guard reg & 7 == 0 else { throw .unsupportedOpcode(opcode, UInt8(reg & 7)) }
            let size = opcode == 0xc6 ? 1 : operandSize
            let immediate = try reader.immediate(min(size, 4))
            let value = size == 8 ? UInt64(bitPattern: Int64(Int32(truncatingIfNeeded: immediate))) : immediate
            return try finish(.mmioWriteImmediate(size: size, value: value), memory)
        case 0x0f:
            let second = try reader.next()
            switch second {
            case 0xa2: return try finish(.cpuid)
            case 0x32: return try finish(.rdmsr)
            case 0x30: return try finish(.wrmsr)
            case 0x31: return try finish(.rdtsc)
            case 0x01:
                let third = try reader.next()
                guard third == 0xf9 else { throw .unsupportedOpcode(second, third) }
                return try finish(.rdtscp)
            case 0xb6, 0xb7, 0xbe, 0xbf:
                let (reg, memory) = try reader.modRM(rex: rex)
                let source = second & 1 == 0 ? 1 : 2
                return try finish(.mmioRead(size: source, destination: Register(number: reg, size: operandSize),
                                            widening: second < 0xbe ? .zero : .sign), memory)
            default: throw .unsupportedOpcode(opcode, second)
            }
        default:
            throw .unsupportedOpcode(opcode, 0)
        }
    }

    struct Reader {
        let bytes: UnsafeRawBufferPointer
        var offset = 0

        mutating func next() throws(DecodeError) -> UInt8 {
            guard offset < bytes.count, offset < VCInstruction.maximumLength else { throw offset >= VCInstruction.maximumLength ? .tooLong : .truncated }
            defer { offset += 1 }
            return bytes[offset]
        }

        /// Little-endian immediate of `count` bytes, zero-extended.
        mutating func immediate(_ count: Int) throws(DecodeError) -> UInt64 {
            var value: UInt64 = 0
            for index in 0..<count { value |= UInt64(try next()) << (8 * UInt64(index)) }
            return value
        }

        mutating func signedDisplacement(_ count: Int) throws(DecodeError) -> Int64 {
            let raw = try immediate(count)
            return count == 1 ? Int64(Int8(truncatingIfNeeded: raw)) : Int64(Int32(truncatingIfNeeded: raw))
        }

        /// The ModRM byte's reg field (with REX.R) and its memory operand; a register operand (mod 3) is refused.
        mutating func modRM(rex: UInt8) throws(DecodeError) -> (Int, Memory) {
            let modrm = try next()
            let mod = modrm >> 6
            let reg = Int(modrm >> 3 & 7) | (rex & 0x04 != 0 ? 8 : 0)
            let rm = Int(modrm & 7)
            guard mod != 3 else { throw .registerOperand }
            var memory = Memory(base: nil, index: nil, scale: 1, displacement: 0, isRIPRelative: false)
            if rm == 4 {
                let sib = try next()
                memory.scale = 1 << Int(sib >> 6)
                let index = Int(sib >> 3 & 7) | (rex & 0x02 != 0 ? 8 : 0)
                memory.index = index == 4 ? nil : index
                let base = Int(sib & 7)
                if base == 5 && mod == 0 {
                    memory.displacement = try signedDisplacement(4)
                } else {
                    memory.base = base | (rex & 0x01 != 0 ? 8 : 0)
                }
            } else if rm == 5 && mod == 0 {
                memory.isRIPRelative = true
                memory.displacement = try signedDisplacement(4)
            } else {
                memory.base = rm | (rex & 0x01 != 0 ? 8 : 0)
            }
            if mod == 1 { memory.displacement = try signedDisplacement(1) }
            if mod == 2 { memory.displacement = try signedDisplacement(4) }
            return (reg, memory)
        }
    }
}
