import Foundation
import Testing
@testable import UnikernelCore

@Suite struct SHA256Tests {
    func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
    func digest(_ text: String) -> String { hex(Array(text.utf8).withUnsafeBytes { SHA256.hash($0) }) }

    // FIPS 180-2 appendix B and the NIST example values for SHA-256.
    @Test func nistVectors() {
        #expect(digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(digest("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(digest(String(repeating: "a", count: 1_000_000)) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func incrementalUpdatesMatchOneShot() {
        let data = (0..<1000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let oneShot = data.withUnsafeBytes { SHA256.hash($0) }
        var hasher = SHA256()
        var offset = 0
        for size in [1, 63, 64, 65, 3, 200, 604] {
            data[offset..<offset + size].withUnsafeBytes { hasher.update($0) }
            offset += size
        }
        #expect(hasher.finalize() == oneShot)
    }

    @Test func workloadBufferMatchesTheHostSHA256() throws {
        var buffer = [UInt8](repeating: 0, count: 100_003)
        buffer.withUnsafeMutableBytes { SHA256Workload.fill($0) }
        #expect(buffer[250] == 250 && buffer[251] == 0)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("uk-sha-\(getpid()).bin")
        try Data(buffer).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        process.arguments = [file.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let expected = String(output.prefix(64))
        #expect(hex(buffer.withUnsafeBytes { SHA256.hash($0) }) == expected)
    }
}

@Suite struct NumericTests {
    @Test func naturalLogMatchesTheHostLibm() {
        var random = SplitMix(state: 3)
        var values: [Double] = [1, 0.5, 2, 1e-300, .leastNonzeroMagnitude, 1e300, 0.7071067811865476, 1.4142135623730951, .ulpOfOne + 1]
        for _ in 0..<20_000 { values.append(Double.random(in: 1e-12...1, using: &random)) }
        for _ in 0..<2_000 { values.append(Double.random(in: 1...1e12, using: &random)) }
        for x in values {
            let expected = Foundation.log(x)
            let tolerance = max(abs(expected) * 4e-16, 4e-16)
            #expect(abs(NaturalLog.log(x) - expected) <= tolerance, "log(\(x))")
        }
        #expect(NaturalLog.log(0) == -.infinity)
        #expect(NaturalLog.log(-1).isNaN)
    }

    /// NPB 3 EP class S (M = 24) verification values: sx = -3.247834652034740e3, sy = -6.958407078382297e3.
    @Test func epClassSMatchesTheNPBVerificationValues() throws {
        var scratch = [Double](repeating: 0, count: EmbarrassinglyParallel.scratchCount(log2Pairs: 24))
        let result = try #require(scratch.withUnsafeMutableBufferPointer { EmbarrassinglyParallel.run(log2Pairs: 24, scratch: $0) })
        #expect(abs((result.sumX - -3.247834652034740e3) / -3.247834652034740e3) <= 1e-8)
        #expect(abs((result.sumY - -6.958407078382297e3) / -6.958407078382297e3) <= 1e-8)
        #expect(result.counts.reduce(0, +) == result.accepted)
    }

    @Test func epBatchingDoesNotChangeTheSequence() throws {
        // M = 17 runs as two batches of 2^16 pairs; the first batch alone is M = 16.
        var scratch = [Double](repeating: 0, count: EmbarrassinglyParallel.scratchCount(log2Pairs: 17))
        let both = try #require(scratch.withUnsafeMutableBufferPointer { EmbarrassinglyParallel.run(log2Pairs: 17, scratch: $0) })
        let first = try #require(scratch.withUnsafeMutableBufferPointer { EmbarrassinglyParallel.run(log2Pairs: 16, scratch: $0) })
        #expect(both.accepted > first.accepted)
        #expect(both.accepted < 2 * first.accepted + 2000)
    }

    @Test func streamResultsValidateAndEveryKernelIsTimed() {
        var a = [Double](repeating: 0, count: 1000), b = a, c = a
        var tick: UInt64 = 0
        let result = a.withUnsafeMutableBufferPointer { a in
            b.withUnsafeMutableBufferPointer { b in
                c.withUnsafeMutableBufferPointer { c in
                    Stream.run(a: a, b: b, c: c, repetitions: 3, clock: { tick += 5; return tick })
                }
            }
        }
        #expect(result.valid)
        #expect(result.bestTicks == [5, 5, 5, 5])
        // After three rounds of c = a, b = 3c, c = a + b, a = b + 3c from a = 1: a = 15^3.
        #expect(a[999] == 3375)
    }

    @Test func pointerChaseLinksEveryLineIntoOneCycle() {
        let bytes = 64 * 4099
        let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes, alignment: 64)
        defer { memory.deallocate() }
        #expect(PointerChase.prepare(memory, seed: 1) == 4099)
        #expect(PointerChase.cycleLength(memory) == 4099)
        let end = PointerChase.chase(memory, steps: 4099)
        #expect(end == UInt(bitPattern: memory.baseAddress))
    }

    @Test func tscFrequencyFromCPUIDAndPIT() {
        // Intel SDM: TSC Hz = ECX (crystal Hz) * EBX / EAX; 24 MHz crystal, ratio 184/2.
        #expect(TSCCalibration.fromLeaf15(eax: 2, ebx: 184, ecx: 24_000_000) == 2_208_000_000)
        #expect(TSCCalibration.fromLeaf15(eax: 2, ebx: 184, ecx: 0) == nil)
        #expect(TSCCalibration.fromLeaf16(eax: 3000) == 3_000_000_000)
        #expect(TSCCalibration.fromHypervisorLeaf(eax: 2_445_432) == 2_445_432_000)
        // 5966 PIT ticks are 5 ms; 15 million TSC ticks in that time is 3 GHz.
        let hz = TSCCalibration.fromPIT(tscDelta: 15_000_000, pitTicks: 5966)
        #expect(hz.map { abs(Double($0) - 3.0e9) < 3e6 } == true)
        #expect(TSCCalibration.microseconds(ticks: 3_000_000_000 * 100 + 1_500_000, hz: 3_000_000_000) == 100_000_500)
    }
}

@Suite struct InterfaceTests {
    func text(_ line: ResultLine) -> String { String(decoding: line.bytes, as: UTF8.self) }

    @Test func defaultsAndWorkloadLists() throws {
        #expect(try BootOptions.parse([]).workloads == [.noop])
        let options = try BootOptions.parse(Array("run=stream,fault  stream.size=8M ep.m=20 touch.pages=2k initrd=initrd".utf8))
        #expect(options.workloads == [.stream, .fault])
        #expect(options.streamBytes == 8 << 20 && options.epLog2Pairs == 20 && options.touchPages == 2048)
        #expect(try BootOptions.parse(Array("run=all".utf8)).workloads == [.stream, .chase, .sha256, .ep, .exits, .touch])
    }

    @Test func badCommandLinesNameTheOffendingWord() {
        #expect(throws: CommandLineError.unknownKey(Array("color=red".utf8))) { try BootOptions.parse(Array("color=red".utf8)) }
        #expect(throws: CommandLineError.unknownKey(Array("quiet".utf8))) { try BootOptions.parse(Array("quiet".utf8)) }
        #expect(throws: CommandLineError.unknownWorkload(Array("nginx".utf8))) { try BootOptions.parse(Array("run=noop,nginx".utf8)) }
        #expect(throws: CommandLineError.badValue(Array("ep.m=99".utf8))) { try BootOptions.parse(Array("ep.m=99".utf8)) }
        #expect(throws: CommandLineError.badValue(Array("stream.size=12Q".utf8))) { try BootOptions.parse(Array("stream.size=12Q".utf8)) }
        #expect(throws: CommandLineError.badValue(Array("chase.steps=99999999999999".utf8))) { try BootOptions.parse(Array("chase.steps=99999999999999".utf8)) }
    }

    @Test func resultLinesAreSpaceSeparatedKeyValues() {
        var line = ResultLine("result")
        line.field("workload", "ep")
        line.field("sx", fixed: -3247.834652034740, decimals: 9)
        line.field("small", fixed: 0.004, decimals: 2)
        line.field("n", -42)
        line.field("digest", hex: [0x00, 0xab, 0xff])
        #expect(text(line) == "cvmuk result workload=ep sx=-3247.834652035 small=0.00 n=-42 digest=00abff")
    }

    @Test func interruptGateLayoutFollowsTheSpec() {
        let gate = InterruptGate(handler: 0x1234_5678_9abc_def0, selector: 0x08, ist: 1)
        #expect(gate.low == 0x9abc_8e01_0008_def0)
        #expect(gate.high == 0x1234_5678)
        #expect(gate.handler == 0x1234_5678_9abc_def0 && gate.selector == 8 && gate.ist == 1 && gate.isPresent)
    }

    @Test func qemuExitCodesMapToGuestStatus() {
        #expect(GuestExitStatus(qemuExitCode: 1) == .success)
        #expect(GuestExitStatus(qemuExitCode: 7) == .exception)
        #expect(GuestExitStatus(qemuExitCode: 0) == nil)
        #expect(GuestExitStatus(qemuExitCode: 124) == nil)
    }
}
