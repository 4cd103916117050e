import Foundation
import Testing
@testable import UnikernelCore

/// The independent codec: Oracles/snp_guest_message.py, written from the ABI's header layout on Python
/// `cryptography`'s AESGCM (Debian's python3-cryptography).
enum PythonGuestMessage {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Oracles/snp_guest_message.py").path
    static let python: String? = ["/usr/bin/python3", "/usr/local/bin/python3"].first { path in
        FileManager.default.isExecutableFile(atPath: path)
            && ((try? LinuxHeaders.run([path, "-c", "import cryptography.hazmat.primitives.ciphers.aead"]))?.status == 0)
    }
    static let skipReason: Comment = "needs python3 with the cryptography package (python3-cryptography, scripts/install-deps)"

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
    static func bytes(_ hex: Substring) -> [UInt8] {
        var result: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            result.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return result
    }

    static func seal(key: [UInt8], sequence: UInt64, type: UInt8, vmpck: UInt8, payload: [UInt8]) throws -> [UInt8] {
        let out = try LinuxHeaders.run([try #require(python), script, "seal", hex(key), "\(sequence)", "\(type)", "\(vmpck)", hex(payload)])
        try #require(out.status == 0, "\(out.output)")
        return bytes(Substring(out.output.trimmingCharacters(in: .whitespacesAndNewlines)))
    }

    /// (sequence, type, vmpck, payload), or nil when the oracle refuses the message.
    static func open(key: [UInt8], message: [UInt8]) throws -> (UInt64, UInt8, UInt8, [UInt8])? {
        let out = try LinuxHeaders.run([try #require(python), script, "open", hex(key), hex(message)])
        guard out.status == 0 else { return nil }
        let fields = out.output.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ", omittingEmptySubsequences: false)
        return (UInt64(fields[0])!, UInt8(fields[1])!, UInt8(fields[2])!, bytes(fields.count > 3 ? fields[3] : ""))
    }
}

@Suite struct AESTests {
    /// FIPS 197 appendix C.3 (AES-256) and the S-box examples of section 5.1.1.
    @Test func cipherMatchesTheFIPS197Example() {
        var block: [UInt8] = (0..<16).map { UInt8($0 * 0x11) }
        AES256GCM.encryptBlock(&block, AES256GCM.expand((0..<32).map { UInt8($0) }))
        #expect(PythonGuestMessage.hex(block) == "8ea2b7ca516745bfeafc49904b496089")
        #expect(AES256GCM.substitute(0x00) == 0x63 && AES256GCM.substitute(0x53) == 0xed && AES256GCM.substitute(0xff) == 0x16)
    }

    @Test func keysOfAnotherSizeAreRefused() {
        #expect(throws: AES256GCM.KeyError.badKeySize(16)) { try AES256GCM(key: [UInt8](repeating: 1, count: 16)) }
    }
}

@Suite(.enabled(if: PythonGuestMessage.python != nil, PythonGuestMessage.skipReason))
struct GuestMessageCryptoTests {
    static let key: [UInt8] = (0..<32).map { UInt8(($0 * 37 + 11) & 0xff) }

    @Test(arguments: [0, 1, 15, 16, 17, 96, 1216, 4000])
    func oursSealsWhatPythonOpens(size: Int) throws {
        var channel = try SNPGuestChannel(key: Self.key, vmpck: 0, lastSequenceNumber: 6)
        let payload = (0..<size).map { UInt8(($0 * 7 + 3) & 0xff) }
        let request = try channel.seal(payload, type: .reportRequest)
        #expect(channel.sequenceNumber == 7)
        let opened = try #require(try PythonGuestMessage.open(key: Self.key, message: request.bytes), "Python refused our message")
        #expect(opened.0 == 7 && opened.1 == 5 && opened.2 == 0)
        #expect(opened.3 == payload)
    }

    @Test(arguments: [0, 32, 1216, 4000])
    func pythonSealsWhatOursOpens(size: Int) throws {
        var channel = try SNPGuestChannel(key: Self.key, vmpck: 2, lastSequenceNumber: 40)
        let request = try channel.seal(SNPReportRequest(reportData: [UInt8](repeating: 9, count: 64)).bytes, type: .reportRequest)
        let payload = (0..<size).map { UInt8(($0 * 13) & 0xff) }
        let response = try PythonGuestMessage.seal(key: Self.key, sequence: 42, type: 6, vmpck: 2, payload: payload)
        #expect(try channel.open(response, answering: request) == payload)
        #expect(channel.sequenceNumber == 42 && !channel.isBroken)
        let next = try channel.seal([], type: .reportRequest)
        #expect(next.header.sequenceNumber == 43, "the next request follows the response")
    }

    @Test func aTamperedMessageIsRefusedByBothSides() throws {
        var sender = try SNPGuestChannel(key: Self.key, vmpck: 0)
        let request = try sender.seal([UInt8](repeating: 0x5a, count: 96), type: .reportRequest)
        for offset in [0, 15, 0x3d, 0x60, 0x60 + 95] { // tag, tag, authenticated reserved byte, ciphertext
            var tampered = request.bytes
            tampered[offset] ^= 0x01
            #expect(try PythonGuestMessage.open(key: Self.key, message: tampered) == nil, "Python opened a message changed at \(offset)")
        }
        let good = try PythonGuestMessage.seal(key: Self.key, sequence: 2, type: 6, vmpck: 0, payload: [UInt8](repeating: 1, count: 64))
        for offset in [3, 0x3d, 0x70] {
            var receiver = sender
            var tampered = good
            tampered[offset] ^= 0x80
            #expect(throws: GuestMessageError.authenticationFailed) { try receiver.open(tampered, answering: request) }
            #expect(receiver.isBroken, "a failed response ends the channel")
            #expect(throws: GuestMessageError.authenticationFailed) { try receiver.seal([], type: .reportRequest) }
        }
        var receiver = sender
        #expect(throws: Never.self) { try receiver.open(good, answering: request) }
    }

    @Test func aReplayedOrForeignResponseIsRefused() throws {
        var channel = try SNPGuestChannel(key: Self.key, vmpck: 0)
        let first = try channel.seal([1], type: .reportRequest)
        let firstResponse = try PythonGuestMessage.seal(key: Self.key, sequence: 2, type: 6, vmpck: 0, payload: [1])
        _ = try channel.open(firstResponse, answering: first)
        let second = try channel.seal([2], type: .reportRequest)
        var replay = channel
        #expect(throws: GuestMessageError.badSequenceNumber(expected: 4, found: 2)) { try replay.open(firstResponse, answering: second) }
        var wrongKey = channel
        let foreign = try PythonGuestMessage.seal(key: [UInt8](repeating: 0xee, count: 32), sequence: 4, type: 6, vmpck: 0, payload: [2])
        #expect(throws: GuestMessageError.authenticationFailed) { try wrongKey.open(foreign, answering: second) }
        var wrongVMPCK = channel
        let otherIndex = try PythonGuestMessage.seal(key: Self.key, sequence: 4, type: 6, vmpck: 1, payload: [2])
        #expect(throws: GuestMessageError.badVMPCK(1)) { try wrongVMPCK.open(otherIndex, answering: second) }
        #expect(try channel.open(try PythonGuestMessage.seal(key: Self.key, sequence: 4, type: 6, vmpck: 0, payload: [2]), answering: second) == [2])
    }

    @Test func sequenceNumbersEndBeforeThe32BitLimit() throws {
        var channel = try SNPGuestChannel(key: Self.key, vmpck: 0, lastSequenceNumber: UInt64(UInt32.max) - 2)
        _ = try channel.seal([], type: .reportRequest)
        #expect(throws: GuestMessageError.sequenceExhausted) { try channel.seal([], type: .reportRequest) }
    }
}
