import Foundation
import Testing
@testable import UnikernelCore

/// The #VC decoder against capstone (Debian's python3-capstone) on a corpus that GNU as assembles in
/// this run: every supported form with its lengths, operand sizes, ports, registers and memory
/// operands, and a set of real instructions the decoder must refuse rather than mis-decode.
enum CapstoneOracle {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Oracles/capstone_decode.py").path
    static let python: String? = ["/usr/bin/python3"].first { path in
        FileManager.default.isExecutableFile(atPath: path) && ((try? LinuxHeaders.run([path, "-c", "import capstone"]))?.status == 0)
    }
    static var available: Bool { python != nil && FileManager.default.isExecutableFile(atPath: "/usr/bin/as")
        && FileManager.default.isExecutableFile(atPath: "/usr/bin/objcopy") }
    static let skipReason: Comment = "needs python3-capstone and binutils (scripts/install-deps)"

    struct Failure: Error, CustomStringConvertible { var description: String }

    /// Assembles `lines` (Intel syntax), one instruction per 16-byte slot; returns the slots and capstone's view of each.
    static func assemble(_ lines: [String]) throws -> (slots: [[UInt8]], capstone: [[String: Any]]) {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-vc-corpus-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let source = ".intel_syntax noprefix\n.text\n" + lines.map { "\($0)\n.balign 16, 0xcc\n" }.joined()
        try source.write(to: work.appendingPathComponent("corpus.s"), atomically: true, encoding: .utf8)
        let object = work.appendingPathComponent("corpus.o").path, binary = work.appendingPathComponent("corpus.bin").path
        let assembled = try LinuxHeaders.run(["/usr/bin/as", "--64", "-o", object, work.appendingPathComponent("corpus.s").path])
        guard assembled.status == 0 else { throw Failure(description: "as: \(assembled.output)") }
        let copied = try LinuxHeaders.run(["/usr/bin/objcopy", "-O", "binary", "-j", ".text", object, binary])
        guard copied.status == 0 else { throw Failure(description: "objcopy: \(copied.output)") }
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: binary)))
        guard bytes.count == 16 * lines.count else { throw Failure(description: "corpus is \(bytes.count) bytes for \(lines.count) slots") }
        let decoded = try LinuxHeaders.run([try #require(python), script, binary])
        guard decoded.status == 0 else { throw Failure(description: "capstone: \(decoded.output)") }
        let objects = try decoded.output.split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        return ((0..<lines.count).map { Array(bytes[(16 * $0)..<(16 * $0 + 16)]) }, objects)
    }

    static let names64 = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"]

    static func name(_ register: VCInstruction.Register) -> String {
        let n = register.number
        switch register.size {
        case 8: return names64[n]
        case 4: return n < 8 ? "e" + names64[n].dropFirst() : names64[n] + "d"
        case 2: return n < 8 ? String(names64[n].dropFirst()) : names64[n] + "w"
        default:
            if register.isHighByte { return ["ah", "ch", "dh", "bh"][n - 4] }
            return n < 8 ? ["al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil"][n] : names64[n] + "b"
        }
    }
}

/// The corpus, written as a person would write the instructions the kernel could fault on.
enum VCCorpus {
    static let memories = ["[rax]", "[rcx]", "[rsp]", "[rbp]", "[r12]", "[r13]", "[r15]", "[rbx+8]", "[rsi-0x80]", "[rdi+0x7f]",
                           "[rbp+0x12345]", "[r9-0x1000]", "[rip+0x100]", "[rip-0x40]", "[rax+rbx*4]", "[rsp+rax*2+0x10]",
                           "[r8+r15*8+0x12345678]", "[r13+r12*1-0x80]", "[rbp+rcx*8]", "[rbx*2+0x1000]", "[0x1000]", "[r12+r13*4]"]
    static let registers: [Int: [String]] = [
        1: ["al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil", "r8b", "r11b", "r15b"],
        2: ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di", "r8w", "r15w"],
        4: ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "r8d", "r10d", "r15d"],
        8: ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r12", "r15"],
    ]
    static let widths = [1: "byte", 2: "word", 4: "dword", 8: "qword"]

    static var supported: [String] {
        var lines: [String] = []
        for accumulator in ["al", "ax", "eax"] {
            lines += ["in \(accumulator), 0x80", "in \(accumulator), 0xff", "in \(accumulator), dx",
                      "out 0x80, \(accumulator)", "out 0, \(accumulator)", "out dx, \(accumulator)"]
        }
        lines += ["cpuid", "rdmsr", "wrmsr", "rdtsc", "rdtscp", "hlt"]
        for (offset, memory) in memories.enumerated() {
            for size in [1, 2, 4, 8] {
                let names = registers[size]!
                let register = names[(offset + size) % names.count]
                lines.append("mov \(register), \(widths[size]!) ptr \(memory)")
                lines.append("mov \(widths[size]!) ptr \(memory), \(names[(offset * 3 + 1) % names.count])")
            }
            lines += ["mov byte ptr \(memory), 0x7f", "mov word ptr \(memory), 0x1234", "mov dword ptr \(memory), 0xdeadbeef",
                      "mov qword ptr \(memory), -2", "mov qword ptr \(memory), 0x7fffffff",
                      "movzx eax, byte ptr \(memory)", "movzx r9, word ptr \(memory)", "movsx ecx, byte ptr \(memory)",
                      "movsx rdx, word ptr \(memory)", "movzx ax, byte ptr \(memory)", "movsx r15w, byte ptr \(memory)"]
        }
        // Every register of every width once, and the legacy high bytes (no REX allowed with them).
        for size in [1, 2, 4, 8] {
            for register in registers[size]! { lines += ["mov \(register), \(widths[size]!) ptr [rdx+rsi*4+8]", "mov \(widths[size]!) ptr [rdi], \(register)"] }
        }
        for high in ["ah", "ch", "dh", "bh"] { lines += ["mov \(high), byte ptr [rax+rbx*4+8]", "mov byte ptr [rsi], \(high)"] }
        return lines
    }

    static let unsupported = [
        "rep insb", "insd", "outsb", "rep outsw", "lock add dword ptr [rax], 1", "movabs al, [0x1000]", "mov eax, ebx",
        "mov dword ptr fs:[rax], eax", "mov eax, dword ptr gs:[0x10]", "add dword ptr [rax], eax", "xchg dword ptr [rax], eax",
        "vmovdqa ymm0, [rax]", "mov eax, dword ptr [eax]", "nop", "syscall", "int3", "vmmcall", "xgetbv", "rep movsb",
        "mov cr3, rax", "wbinvd", "movzx eax, al", "pause", "mov rax, 0x1122334455667788",
    ]
}

@Suite(.enabled(if: CapstoneOracle.available, CapstoneOracle.skipReason))
struct VCDecoderCapstoneTests {
    func decode(_ bytes: [UInt8]) throws(VCInstruction.DecodeError) -> VCInstruction {
        let result: Result<VCInstruction, VCInstruction.DecodeError> = bytes.withUnsafeBytes { raw in
            do throws(VCInstruction.DecodeError) { return .success(try VCInstruction.decode(raw)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    func register(_ op: [String: Any]) -> String? { op["reg"] as? String }
    func size(_ op: [String: Any]) -> Int? { op["size"] as? Int }

    func memoryAgrees(_ ours: VCInstruction.Memory?, _ op: [String: Any], size expected: Int) -> Bool {
        guard let ours, let memory = op["mem"] as? [String: Any], size(op) == expected else { return false }
        let base = ours.isRIPRelative ? "rip" : ours.base.map { CapstoneOracle.names64[$0] }
        return (memory["base"] as? String) == base && (memory["index"] as? String) == ours.index.map { CapstoneOracle.names64[$0] }
            && (memory["scale"] as? Int) == ours.scale && (memory["disp"] as? Int).map(Int64.init) == ours.displacement
            && memory["segment"] as? String == nil
    }

    func immediateAgrees(_ op: [String: Any], _ value: UInt64, size: Int) -> Bool {
        guard let immediate = op["imm"] as? Int else { return false }
        let mask: UInt64 = size == 8 ? .max : (1 << UInt64(8 * size)) - 1
        return UInt64(bitPattern: Int64(immediate)) & mask == value & mask
    }

    func agrees(_ ours: VCInstruction, _ capstone: [String: Any]) -> Bool {
        guard capstone["size"] as? Int == ours.length, let mnemonic = capstone["mnemonic"] as? String,
              let ops = capstone["ops"] as? [[String: Any]] else { return false }
        let accumulator = [1: "al", 2: "ax", 4: "eax"]
        switch ours.operation {
        case let .portIn(size, port):
            guard mnemonic == "in", ops.count == 2, register(ops[0]) == accumulator[size] else { return false }
            if case .immediate(let value) = port { return immediateAgrees(ops[1], UInt64(value), size: 1) }
            return register(ops[1]) == "dx"
        case let .portOut(size, port):
            guard mnemonic == "out", ops.count == 2, register(ops[1]) == accumulator[size] else { return false }
            if case .immediate(let value) = port { return immediateAgrees(ops[0], UInt64(value), size: 1) }
            return register(ops[0]) == "dx"
        case .cpuid: return mnemonic == "cpuid"
        case .rdmsr: return mnemonic == "rdmsr"
        case .wrmsr: return mnemonic == "wrmsr"
        case .rdtsc: return mnemonic == "rdtsc"
        case .rdtscp: return mnemonic == "rdtscp"
        case .hlt: return mnemonic == "hlt"
        case let .mmioRead(size, destination, widening):
            let expected = widening == .none ? "mov" : widening == .zero ? "movzx" : "movsx"
            return mnemonic == expected && ops.count == 2 && register(ops[0]) == CapstoneOracle.name(destination)
                && self.size(ops[0]) == destination.size && memoryAgrees(ours.memory, ops[1], size: size)
        case let .mmioWriteRegister(size, source):
            return mnemonic == "mov" && ops.count == 2 && memoryAgrees(ours.memory, ops[0], size: size)
                && register(ops[1]) == CapstoneOracle.name(source) && source.size == size
        case let .mmioWriteImmediate(size, value):
            return mnemonic == "mov" && ops.count == 2 && memoryAgrees(ours.memory, ops[0], size: size) && immediateAgrees(ops[1], value, size: size)
        }
    }

    @Test func everySupportedFormDecodesAsCapstoneDoes() throws {
        let lines = VCCorpus.supported
        let (slots, capstone) = try CapstoneOracle.assemble(lines)
        #expect(lines.count > 300, "the corpus covers the forms")
        var disagreements: [String] = []
        for (index, slot) in slots.enumerated() {
            do {
                let ours = try decode(slot)
                if !agrees(ours, capstone[index]) { disagreements.append("\(lines[index]): ours \(ours), capstone \(capstone[index])") }
            } catch {
                disagreements.append("\(lines[index]): ours refused (\(error)), capstone \(capstone[index])")
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.count) of \(lines.count) disagree:\n\(disagreements.prefix(20).joined(separator: "\n"))")
    }

    @Test func everyTruncationIsRefused() throws {
        let (slots, _) = try CapstoneOracle.assemble(VCCorpus.supported)
        for slot in slots {
            let length = try decode(slot).length
            for cut in 0..<length {
                #expect(throws: VCInstruction.DecodeError.truncated) { try decode(Array(slot.prefix(cut))) }
            }
        }
    }

    @Test func formsOutsideTheSupportedSetAreRefusedNotMisDecoded() throws {
        let lines = VCCorpus.unsupported
        let (slots, capstone) = try CapstoneOracle.assemble(lines)
        for (index, slot) in slots.enumerated() {
            #expect(capstone[index]["invalid"] == nil, "\(lines[index]) is a real instruction for capstone")
            #expect(throws: VCInstruction.DecodeError.self, "\(lines[index]) must be refused") { try decode(slot) }
        }
        // The specific reasons for the forms the kernel is most likely to meet.
        #expect(throws: VCInstruction.DecodeError.unsupportedPrefix(0xf3)) { try decode(slots[0]) }
        #expect(throws: VCInstruction.DecodeError.stringIO) { try decode(slots[1]) }
        #expect(throws: VCInstruction.DecodeError.stringIO) { try decode(slots[2]) }
        #expect(throws: VCInstruction.DecodeError.unsupportedPrefix(0xf0)) { try decode(slots[4]) }
        #expect(throws: VCInstruction.DecodeError.registerOperand) { try decode(slots[6]) }
        #expect(throws: VCInstruction.DecodeError.unsupportedPrefix(0x64)) { try decode(slots[7]) }
    }

    @Test func anOverlongRunOfPrefixesIsRefused() {
        #expect(throws: VCInstruction.DecodeError.tooLong) { try decode([UInt8](repeating: 0x66, count: 16)) }
    }
}
