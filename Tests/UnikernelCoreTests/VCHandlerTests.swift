import Testing
@testable import UnikernelCore

/// The #VC path on the host: a saved frame, the instruction bytes at RIP (encodings from the Intel SDM),
/// a GHCB page, and a hypervisor that does what KVM's SEV-ES exit handling does with the GHCB: it reads
/// only fields marked valid, answers, and marks its outputs valid. There is no SEV hardware here; this
/// hypervisor is the stand-in at that boundary.
final class SimulatedHypervisor {
    let ghcb: GHCB
    var ports: [UInt16: UInt64] = [:]
    var portWrites: [(port: UInt16, size: Int, value: UInt64)] = []
    var msrs: [UInt32: UInt64] = [0xc000_0080: 0x0000_0000_0000_0d01]
    var memory: [UInt64: UInt8] = [:]
    var exits: [UInt64] = []
    var validAtExit: [[GHCB.Field]] = []
    var tsc: UInt64 = 0x1_2345_6789
    var failNext: (UInt64, UInt64)?

    init(ghcb: GHCB) { self.ghcb = ghcb }

    var inputs: [GHCB.Field: UInt64] = [:]
    /// Returns only what it answers: succeeds without marking its outputs valid.
    var omitOutputs = false

    func input(_ field: GHCB.Field) -> UInt64 {
        #expect(inputs[field] != nil, "the guest did not mark \(field) valid")
        return inputs[field] ?? 0
    }

    func vmgexit() {
        // Like KVM: take the fields marked valid, then clear the bitmap before answering.
        inputs = Dictionary(uniqueKeysWithValues: GHCB.Field.allCases.filter { ghcb.isValid($0) }.map { ($0, ghcb.get($0)) })
        for byte in 0..<GHCB.validBitmapSize { ghcb.page.storeBytes(of: UInt8(0), toByteOffset: GHCB.validBitmapOffset + byte, as: UInt8.self) }
        let code = input(.exitCode)
        exits.append(code)
        validAtExit.append(GHCB.Field.allCases.filter { inputs[$0] != nil })
        let info1 = input(.exitInfo1), info2 = input(.exitInfo2)
        if omitOutputs {
            ghcb.set(.exitInfo1, 0)
            return
        }
        if let (result, detail) = failNext {
            failNext = nil
            ghcb.set(.exitInfo1, result)
            ghcb.set(.exitInfo2, detail)
            return
        }
        switch code {
        case SVMExitCode.cpuid.rawValue:
            let leaf = input(.rax)
            ghcb.set(.rax, 0xaaaa_0000 | leaf)
            ghcb.set(.rbx, 0xbbbb_0000 | input(.rcx))
            ghcb.set(.rcx, 0xcccc_cccc)
            ghcb.set(.rdx, 0xdddd_dddd)
        case SVMExitCode.ioio.rawValue:
            let info = try! IOIOExitInfo(decoding: info1)
            if info.isIn {
                ghcb.set(.rax, ports[info.port] ?? 0xffff_ffff)
            } else {
                portWrites.append((info.port, info.size, input(.rax)))
            }
        case SVMExitCode.msr.rawValue:
            let msr = UInt32(input(.rcx))
            if info1 == 0 {
                let value = msrs[msr] ?? 0
                ghcb.set(.rax, value & 0xffff_ffff)
                ghcb.set(.rdx, value >> 32)
            } else {
                msrs[msr] = input(.rdx) << 32 | input(.rax)
            }
        case SVMExitCode.rdtsc.rawValue, SVMExitCode.rdtscp.rawValue:
            ghcb.set(.rax, tsc & 0xffff_ffff)
            ghcb.set(.rdx, tsc >> 32)
            if code == SVMExitCode.rdtscp.rawValue { ghcb.set(.rcx, 3) }
        case SVMExitCode.mmioRead.rawValue:
            let scratch = input(.scratch)
            #expect(scratch == 0x9000 + UInt64(GHCB.sharedBufferOffset))
            for byte in 0..<Int(info2) { ghcb.sharedBuffer.storeBytes(of: memory[info1 + UInt64(byte)] ?? 0, toByteOffset: byte, as: UInt8.self) }
        case SVMExitCode.mmioWrite.rawValue:
            _ = input(.scratch)
            for byte in 0..<Int(info2) { memory[info1 + UInt64(byte)] = ghcb.sharedBuffer.load(fromByteOffset: byte, as: UInt8.self) }
        default: break
        }
        ghcb.set(.exitInfo1, 0)
    }
}

struct VCHandlerTests {
    final class Machine {
        let page = UnsafeMutableRawPointer.allocate(byteCount: GHCB.size, alignment: 4096)
        let words = UnsafeMutablePointer<UInt64>.allocate(capacity: VCFrame.words)
        lazy var hypervisor = SimulatedHypervisor(ghcb: GHCB(page: page))
        var frame: VCFrame { VCFrame(words) }

        init() { words.initialize(repeating: 0, count: VCFrame.words) }
        deinit {
            page.deallocate()
            words.deallocate()
        }

        func context(table: SNPCPUIDTable? = nil) -> VCHandler.Context {
            VCHandler.Context(ghcb: GHCB(page: page), ghcbAddress: 0x9000, protocolVersion: 2, cpuidTable: table)
        }

        /// Takes a #VC with `exitCode` at RIP 0x1000 on `bytes`.
        func fault(_ exitCode: UInt64, _ bytes: [UInt8], table: SNPCPUIDTable? = nil) throws(VCHandler.Failure) {
            words[16] = exitCode
            words[17] = 0x1000
            let result: Result<Void, VCHandler.Failure> = bytes.withUnsafeBytes { raw in
                do throws(VCHandler.Failure) {
                    try VCHandler.handle(frame: frame, instruction: raw, context: context(table: table)) { hypervisor.vmgexit() }
                    return .success(())
                } catch { return .failure(error) }
            }
            try result.get()
        }
    }

    @Test func cpuidGoesThroughTheGHCBAndRIPAdvances() throws {
        let machine = Machine()
        machine.frame[register: 0] = 0xffff_ffff_8000_0001 // upper half is not part of the leaf
        machine.frame[register: 1] = 2
        try machine.fault(SVMExitCode.cpuid.rawValue, [0x0f, 0xa2])
        #expect(machine.hypervisor.exits == [SVMExitCode.cpuid.rawValue])
        #expect(Set(machine.hypervisor.validAtExit[0]) == [.rax, .rcx, .exitCode, .exitInfo1, .exitInfo2])
        #expect(machine.frame[register: 0] == 0xaaaa_0000 | 0x8000_0001)
        #expect(machine.frame[register: 3] == 0xbbbb_0002)
        #expect(machine.frame[register: 1] == 0xcccc_cccc && machine.frame[register: 2] == 0xdddd_dddd)
        #expect(machine.frame.rip == 0x1002)
    }

    @Test func underSNPCPUIDComesFromTheTableAndNeverFromTheHypervisor() throws {
        let machine = Machine()
        let table = SNPCPUIDTable(entries: [.init(function: 0x8000_001f, eax: 0x1_b07f, ebx: 0x0173, ecx: 0x1fd, edx: 1)])
        machine.frame[register: 0] = 0x8000_001f
        try machine.fault(SVMExitCode.cpuid.rawValue, [0x0f, 0xa2], table: table)
        #expect(machine.hypervisor.exits.isEmpty)
        #expect(machine.frame[register: 3] & 0x3f == 51 && machine.frame[register: 0] == 0x1_b07f)
        machine.frame[register: 0] = 0x4000_0000
        try machine.fault(SVMExitCode.cpuid.rawValue, [0x0f, 0xa2], table: table)
        #expect(machine.frame[register: 0] == 0 && machine.frame[register: 3] == 0, "a leaf outside the table reads as zeros")
    }

    @Test func portIOInEveryFormTheDecoderAccepts() throws {
        let machine = Machine()
        let hypervisor = machine.hypervisor
        hypervisor.ports = [0x3fd: 0x60, 0x71: 0x1234_5678, 0x511: 0xbeef]
        machine.frame[register: 0] = 0xffff_ffff_ffff_ff00
        machine.frame[register: 2] = 0x3fd
        try machine.fault(SVMExitCode.ioio.rawValue, [0xec])                   // in al, dx
        #expect(machine.frame[register: 0] == 0xffff_ffff_ffff_ff60, "IN AL leaves the rest of RAX")
        try machine.fault(SVMExitCode.ioio.rawValue, [0xe5, 0x71])             // in eax, 0x71
        #expect(machine.frame[register: 0] == 0x1234_5678, "IN EAX zeroes the upper half")
        machine.frame[register: 2] = 0x511
        try machine.fault(SVMExitCode.ioio.rawValue, [0x66, 0xed])             // in ax, dx
        #expect(machine.frame[register: 0] == 0x1234_beef && machine.frame.rip == 0x1002)
        machine.frame[register: 0] = 0x1122_3344_5566_7788
        try machine.fault(SVMExitCode.ioio.rawValue, [0xe6, 0x80])             // out 0x80, al
        machine.frame[register: 2] = 0x3f8
        try machine.fault(SVMExitCode.ioio.rawValue, [0xef])                   // out dx, eax
        #expect(hypervisor.portWrites.map(\.port) == [0x80, 0x3f8])
        #expect(hypervisor.portWrites.map(\.size) == [1, 4] && hypervisor.portWrites.map(\.value) == [0x88, 0x5566_7788])
    }

    @Test func msrAndTimeStampReads() throws {
        let machine = Machine()
        machine.frame[register: 1] = 0xc000_0080
        try machine.fault(SVMExitCode.msr.rawValue, [0x0f, 0x32])
        #expect(machine.frame[register: 0] == 0xd01 && machine.frame[register: 2] == 0)
        machine.frame[register: 1] = 0x10
        machine.frame[register: 0] = 0xdead_0000_0000_0042
        machine.frame[register: 2] = 0x7
        try machine.fault(SVMExitCode.msr.rawValue, [0x0f, 0x30])
        #expect(machine.hypervisor.msrs[0x10] == 0x7_0000_0042, "WRMSR sends EDX:EAX, not RAX's upper half")
        try machine.fault(SVMExitCode.rdtsc.rawValue, [0x0f, 0x31])
        #expect(machine.frame[register: 2] << 32 | machine.frame[register: 0] == 0x1_2345_6789)
        try machine.fault(SVMExitCode.rdtscp.rawValue, [0x0f, 0x01, 0xf9])
        #expect(machine.frame[register: 1] == 3 && machine.frame.rip == 0x1003)
    }

    @Test func mmioReadsAndWritesThroughTheSharedBuffer() throws {
        let machine = Machine()
        let hypervisor = machine.hypervisor
        hypervisor.memory = [0xfee0_0020: 0x80, 0xfee0_0021: 0x01]
        machine.frame[register: 3] = 0xfee0_0018
        try machine.fault(VCHandler.npfExitCode, [0x48, 0x0f, 0xbe, 0x43, 0x08])   // movsx rax, byte ptr [rbx+8]
        #expect(machine.frame[register: 0] == 0xffff_ffff_ffff_ff80)
        machine.frame[register: 0] = 0xfee0_0020
        try machine.fault(VCHandler.npfExitCode, [0x8a, 0x20])                     // mov ah, [rax]
        #expect(machine.frame[register: 0] == 0xfee0_8020, "AH is bits 15:8 of RAX")
        machine.frame[register: 1] = 0xfee0_0300
        try machine.fault(VCHandler.npfExitCode, [0xc7, 0x01, 0xef, 0xbe, 0xad, 0xde]) // mov dword ptr [rcx], 0xdeadbeef
        #expect((0..<4).map { hypervisor.memory[0xfee0_0300 + UInt64($0)] } == [0xef, 0xbe, 0xad, 0xde])
        hypervisor.memory[0x1017] = 0x44
        try machine.fault(VCHandler.npfExitCode, [0x44, 0x8a, 0x0d, 0x10, 0x00, 0x00, 0x00]) // mov r9b, [rip+0x10]
        #expect(machine.frame[register: 9] & 0xff == 0x44, "RIP-relative counts from the next instruction (0x1007 + 0x10)")
        #expect(hypervisor.exits == [SVMExitCode.mmioRead.rawValue, SVMExitCode.mmioRead.rawValue, SVMExitCode.mmioWrite.rawValue,
                                     SVMExitCode.mmioRead.rawValue])
    }

    @Test func anInstructionThatDoesNotMatchItsExitIsRefused() {
        let machine = Machine()
        #expect(throws: VCHandler.Failure.instructionMismatch(exitCode: SVMExitCode.cpuid.rawValue)) {
            try machine.fault(SVMExitCode.cpuid.rawValue, [0xec])
        }
        #expect(throws: VCHandler.Failure.decode(.stringIO)) { try machine.fault(SVMExitCode.ioio.rawValue, [0x6e]) }
        #expect(throws: VCHandler.Failure.unsupportedExit(0x081)) { try machine.fault(0x081, [0x0f, 0xa2]) }
        #expect(machine.frame.rip == 0x1000, "RIP stays on a refused instruction")
        #expect(machine.hypervisor.exits.isEmpty)
    }

    @Test func aHypervisorErrorOrAMissingOutputIsAFailure() {
        let machine = Machine()
        machine.hypervisor.failNext = (2, 4)
        #expect(throws: VCHandler.Failure.ghcb(.invalidInput(4))) { try machine.fault(SVMExitCode.cpuid.rawValue, [0x0f, 0xa2]) }
        machine.hypervisor.failNext = (1, 0x8000_030d)
        #expect(throws: VCHandler.Failure.ghcb(.exceptionInjected(0x8000_030d))) { try machine.fault(SVMExitCode.rdtsc.rawValue, [0x0f, 0x31]) }
        machine.hypervisor.omitOutputs = true
        #expect(throws: VCHandler.Failure.ghcb(.missingOutput(.rax))) { try machine.fault(SVMExitCode.ioio.rawValue, [0xec]) }
        #expect(throws: Never.self) { try machine.fault(SVMExitCode.ioio.rawValue, [0xee]) } // OUT returns nothing
        #expect(VCHandler.Failure.ghcb(.invalidInput(4)).reason == .hypervisorError)
        #expect(VCHandler.Failure.decode(.stringIO).reason == .unsupportedInstruction)
    }
}
