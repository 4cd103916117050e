/// The registers a #VC exception saved, in Boot/isr.S's frame: r15 r14 r13 r12 r11 r10 r9 r8 rbp rdi
/// rsi rdx rcx rbx rax, vector, error code, rip, cs, rflags, rsp, ss (8-byte words from the pointer).
/// The handler reads and writes the interrupted code's registers here; isr.S restores them on return.
public struct VCFrame {
    public static let words = 22
    public let words: UnsafeMutablePointer<UInt64>

    public init(_ words: UnsafeMutablePointer<UInt64>) { self.words = words }

    /// Frame slot of general register `number` (RAX 0 … R15 15); RSP is the interrupted stack pointer.
    static func slot(_ number: Int) -> Int {
        switch number {
        case 0: 14
        case 1: 12
        case 2: 11
        case 3: 13
        case 4: 20
        case 5: 8
        case 6: 10
        case 7: 9
        default: 15 - number
        }
    }

    public subscript(register number: Int) -> UInt64 {
        get { words[Self.slot(number)] }
        nonmutating set { words[Self.slot(number)] = newValue }
    }

    public var errorCode: UInt64 { words[16] }

    public var rip: UInt64 {
        get { words[17] }
        nonmutating set { words[17] = newValue }
    }

    /// The register's value as the instruction sees it (its width, or bits 15:8 for AH…BH).
    public func read(_ register: VCInstruction.Register) -> UInt64 {
        let full = self[register: register.isHighByte ? register.number - 4 : register.number]
        if register.isHighByte { return full >> 8 & 0xff }
        return register.size == 8 ? full : full & ((1 << UInt64(8 * register.size)) - 1)
    }

    /// Writes as the CPU does in 64-bit mode: 32-bit results zero the upper half, 8- and 16-bit results
    /// leave the other bits alone.
    public func write(_ register: VCInstruction.Register, _ value: UInt64) {
        let number = register.isHighByte ? register.number - 4 : register.number
        let old = self[register: number]
        switch register.size {
        case 8: self[register: number] = value
        case 4: self[register: number] = value & 0xffff_ffff
        case 2: self[register: number] = old & ~0xffff | value & 0xffff
        default:
            self[register: number] = register.isHighByte ? old & ~0xff00 | (value & 0xff) << 8 : old & ~0xff | value & 0xff
        }
    }
}

/// Handles a #VC exception (GHCB specification, "#VC exception" and "NAE events"): the error code is the
/// exit code of the event; the instruction at RIP is decoded and must be the one that exit belongs to;
/// its inputs go into the GHCB, VMGEXIT hands them to the hypervisor, the outputs it marked valid go back
/// into the saved registers, and RIP moves past the instruction. Under SNP, CPUID is answered from the
/// CPUID page instead. MMIO uses the identity map (a virtual address is the guest physical address) and
/// the GHCB shared buffer as scratch area; the kernel itself never touches MMIO (its devices are all
/// port I/O), so that path serves drivers to come.
public enum VCHandler {
    public enum Failure: Error, Equatable, Sendable {
        case decode(VCInstruction.DecodeError)
        /// The instruction at RIP is not the one this exit code belongs to.
        case instructionMismatch(exitCode: UInt64)
        case unsupportedExit(UInt64)
        case ghcb(GHCB.ExitError)
        case cpuidTable(SNPCPUIDTable.LookupError)

        public var reason: GHCBMSRProtocol.UnikernelReason {
            switch self {
            case .decode, .instructionMismatch, .unsupportedExit: .unsupportedInstruction
            case .ghcb: .hypervisorError
            case .cpuidTable: .cpuid
            }
        }
    }

    /// What the handler needs of the machine: the GHCB page (its GPA too, for the MMIO scratch
    /// pointer), the SNP CPUID table when there is one, the guest's XCR0 and XSS for leaf 0xD, and
    /// VMGEXIT itself.
    public struct Context {
        public var ghcb: GHCB
        public var ghcbAddress: UInt64
        public var protocolVersion: UInt16
        public var cpuidTable: SNPCPUIDTable?
        public var xcr0: UInt64
        public var xss: UInt64

        public init(ghcb: GHCB, ghcbAddress: UInt64, protocolVersion: UInt16, cpuidTable: SNPCPUIDTable? = nil, xcr0: UInt64 = 1, xss: UInt64 = 0) {
            self.ghcb = ghcb
            self.ghcbAddress = ghcbAddress
            self.protocolVersion = protocolVersion
            self.cpuidTable = cpuidTable
            self.xcr0 = xcr0
            self.xss = xss
        }
    }

    public static func handle(frame: VCFrame, instruction bytes: UnsafeRawBufferPointer, context: Context,
                              vmgexit: () -> Void) throws(Failure) {
        let exitCode = frame.errorCode
        let instruction: VCInstruction
        do throws(VCInstruction.DecodeError) { instruction = try VCInstruction.decode(bytes) } catch { throw .decode(error) }
        let ghcb = context.ghcb

        func exit(_ code: SVMExitCode, _ info1: UInt64, _ info2: UInt64, outputs: [GHCB.Field]) throws(Failure) {
            ghcb.set(.exitCode, code.rawValue)
            ghcb.set(.exitInfo1, info1)
            ghcb.set(.exitInfo2, info2)
            vmgexit()
            do throws(GHCB.ExitError) {
                try ghcb.checkResult()
                try ghcb.require(outputs)
            } catch { throw .ghcb(error) }
        }

        func writeEAXEDX() {
            frame[register: 0] = ghcb.get(.rax) & 0xffff_ffff
            frame[register: 2] = ghcb.get(.rdx) & 0xffff_ffff
        }

        ghcb.clear(protocolVersion: context.protocolVersion)
        switch (exitCode, instruction.operation) {
        case (SVMExitCode.cpuid.rawValue, .cpuid):
            let leaf = UInt32(truncatingIfNeeded: frame[register: 0]), subleaf = UInt32(truncatingIfNeeded: frame[register: 1])
            if let table = context.cpuidTable {
                let result: SNPCPUIDTable.Registers
                do throws(SNPCPUIDTable.LookupError) {
                    result = try table.lookup(function: leaf, index: subleaf, xcr0: context.xcr0, xss: context.xss)
                } catch { throw .cpuidTable(error) }
                frame[register: 0] = UInt64(result.eax)
                frame[register: 3] = UInt64(result.ebx)
                frame[register: 1] = UInt64(result.ecx)
                frame[register: 2] = UInt64(result.edx)
            } else {
                ghcb.set(.rax, UInt64(leaf))
                ghcb.set(.rcx, UInt64(subleaf))
                if leaf == 0xd { ghcb.set(.xcr0, context.xcr0) }
                try exit(.cpuid, 0, 0, outputs: [.rax, .rbx, .rcx, .rdx])
                frame[register: 0] = ghcb.get(.rax) & 0xffff_ffff
                frame[register: 3] = ghcb.get(.rbx) & 0xffff_ffff
                frame[register: 1] = ghcb.get(.rcx) & 0xffff_ffff
                frame[register: 2] = ghcb.get(.rdx) & 0xffff_ffff
            }
        case (SVMExitCode.ioio.rawValue, .portIn(let size, let port)), (SVMExitCode.ioio.rawValue, .portOut(let size, let port)):
            let isIn: Bool
            if case .portIn = instruction.operation { isIn = true } else { isIn = false }
            let number: UInt16
            switch port {
            case .immediate(let value): number = UInt16(value)
            case .dx: number = UInt16(truncatingIfNeeded: frame[register: 2])
            }
            // Cannot fail: the decoder only yields sizes 1, 2 and 4 and the address size is fixed.
            let info = (try? IOIOExitInfo(port: number, size: size, isIn: isIn).encoded()) ?? 0
            let accumulator = VCInstruction.Register(number: 0, size: size)
            if !isIn { ghcb.set(.rax, frame.read(accumulator)) }
            try exit(.ioio, info, 0, outputs: isIn ? [.rax] : [])
            if isIn { frame.write(accumulator, ghcb.get(.rax)) }
        case (SVMExitCode.msr.rawValue, .rdmsr):
            ghcb.set(.rcx, frame[register: 1] & 0xffff_ffff)
            try exit(.msr, 0, 0, outputs: [.rax, .rdx])
            writeEAXEDX()
        case (SVMExitCode.msr.rawValue, .wrmsr):
            ghcb.set(.rcx, frame[register: 1] & 0xffff_ffff)
            ghcb.set(.rax, frame[register: 0] & 0xffff_ffff)
            ghcb.set(.rdx, frame[register: 2] & 0xffff_ffff)
            try exit(.msr, 1, 0, outputs: [])
        case (SVMExitCode.rdtsc.rawValue, .rdtsc):
            try exit(.rdtsc, 0, 0, outputs: [.rax, .rdx])
            writeEAXEDX()
        case (SVMExitCode.rdtscp.rawValue, .rdtscp):
            try exit(.rdtscp, 0, 0, outputs: [.rax, .rdx, .rcx])
            writeEAXEDX()
            frame[register: 1] = ghcb.get(.rcx) & 0xffff_ffff
        case (SVMExitCode.hlt.rawValue, .hlt):
            try exit(.hlt, 0, 0, outputs: [])
        case (npfExitCode, .mmioRead(let size, let destination, let widening)):
            let address = effectiveAddress(instruction, frame: frame)
            ghcb.set(.scratch, context.ghcbAddress + UInt64(GHCB.sharedBufferOffset))
            try exit(.mmioRead, address, UInt64(size), outputs: [])
            var value: UInt64 = 0
            for byte in 0..<size { value |= UInt64(ghcb.sharedBuffer.load(fromByteOffset: byte, as: UInt8.self)) << (8 * UInt64(byte)) }
            if widening == .sign, size < 8 {
                let shift = UInt64(64 - 8 * size)
                value = UInt64(bitPattern: Int64(bitPattern: value << shift) >> Int64(shift))
            }
            frame.write(destination, value)
        case (npfExitCode, .mmioWriteRegister(let size, let source)):
            try mmioWrite(frame.read(source), size: size, at: effectiveAddress(instruction, frame: frame), context: context, exit: exit)
        case (npfExitCode, .mmioWriteImmediate(let size, let value)):
            try mmioWrite(value, size: size, at: effectiveAddress(instruction, frame: frame), context: context, exit: exit)
        case (SVMExitCode.cpuid.rawValue, _), (SVMExitCode.ioio.rawValue, _), (SVMExitCode.msr.rawValue, _), (SVMExitCode.rdtsc.rawValue, _),
             (SVMExitCode.rdtscp.rawValue, _), (SVMExitCode.hlt.rawValue, _), (npfExitCode, _):
            throw .instructionMismatch(exitCode: exitCode)
        default:
            throw .unsupportedExit(exitCode)
        }
        frame.rip &+= UInt64(instruction.length)
    }

    /// A nested page fault on a reserved-bit (MMIO) mapping: SVM_EXIT_NPF.
    public static let npfExitCode: UInt64 = 0x400

    static func mmioWrite(_ value: UInt64, size: Int, at address: UInt64, context: Context,
                          exit: (SVMExitCode, UInt64, UInt64, [GHCB.Field]) throws(Failure) -> Void) throws(Failure) {
        for byte in 0..<size {
            context.ghcb.sharedBuffer.storeBytes(of: UInt8(truncatingIfNeeded: value >> (8 * UInt64(byte))), toByteOffset: byte, as: UInt8.self)
        }
        context.ghcb.set(.scratch, context.ghcbAddress + UInt64(GHCB.sharedBufferOffset))
        try exit(.mmioWrite, address, UInt64(size), [])
    }

    /// base + index·scale + displacement, or the next instruction's RIP + displacement.
    public static func effectiveAddress(_ instruction: VCInstruction, frame: VCFrame) -> UInt64 {
        guard let memory = instruction.memory else { return 0 }
        var address = UInt64(bitPattern: memory.displacement)
        if memory.isRIPRelative { address &+= frame.rip &+ UInt64(instruction.length) }
        if let base = memory.base { address &+= frame[register: base] }
        if let index = memory.index { address &+= frame[register: index] &* UInt64(memory.scale) }
        return address
    }
}
