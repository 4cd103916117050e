import Testing
import SEVABI

struct SNPPolicyTests {
    @Test func defaultPolicyHasSMTAndTheMustBeOneBit() throws {
        let policy = try SNPPolicy(rawValue: 0x30000)
        #expect(policy.setBits.map(\.name) == ["SMT", "RESERVED_17"])
        #expect(policy.smtAllowed)
        #expect(!policy.debugAllowed)
        #expect(policy.warnings.isEmpty)
    }

    @Test func bit17ClearIsRejected() {
        #expect(throws: PolicyError.mustBeOneClear(bit: 17)) { try SNPPolicy(rawValue: 0x10000) }
    }

    @Test(arguments: [UInt64(1) << 26, UInt64(1) << 40, UInt64(1) << 63])
    func mustBeZeroBitsAreRejected(bit: UInt64) {
        #expect(throws: PolicyError.reservedBitsSet(kind: "SNP", mask: bit)) { try SNPPolicy(rawValue: 0x30000 | bit) }
    }

    @Test func abiVersionFields() throws {
        let policy = try SNPPolicy(rawValue: 0x3_0133)
        #expect(policy.abiMajor == 1)
        #expect(policy.abiMinor == 0x33)
    }

    @Test func debugAndMigrationAgentWarn() throws {
        let policy = try SNPPolicy(flags: ["DEBUG", "migrate-ma"])
        #expect(policy.rawValue == 0x20000 | 1 << 19 | 1 << 18)
        #expect(policy.warnings.count == 2)
        #expect(policy.warnings.joined().contains("DEBUG"))
    }

    @Test func encodingAddsTheMustBeOneBitAndVersions() throws {
        #expect(try SNPPolicy(flags: ["SMT"]).rawValue == 0x30000)
        #expect(try SNPPolicy(flags: ["SMT", "SINGLE_SOCKET"], abiMajor: 1, abiMinor: 51).rawValue == 0x13_0133)
        #expect(throws: PolicyError.self) { try SNPPolicy(flags: ["NOSUCH"]) }
    }

    @Test func flagsAreAnOptionSetWithTheSpecBitNumbers() throws {
        #expect(SNPPolicy.bits.map(\.bit) == Array(16...25))
        let policy = try SNPPolicy(flags: [.debug, .singleSocket], abiMajor: 1)
        #expect(policy.rawValue == 1 << 19 | 1 << 20 | 1 << 17 | 0x100)
        #expect(policy.flags.contains(.debug) && !policy.flags.contains(.smt))
        #expect(policy.flags.chosenNames == ["DEBUG", "SINGLE_SOCKET"])
        #expect(SNPPolicy.Flags(name: "page-swap-disable") == .pageSwapDisable)
        #expect(SNPPolicy.Flags(name: "NODBG") == nil)
    }
}

struct SEVPolicyTests {
    @Test func seedPolicyNamesNoDebugNoKeySharingAndES() throws {
        let policy = try SEVPolicy(rawValue: 0x07)
        #expect(policy.setBits.map(\.name) == ["NODBG", "NOKS", "ES"])
        #expect(policy.requiresES)
        #expect(policy.warnings.isEmpty)
    }

    @Test func reservedBitsAreRejected() {
        #expect(throws: PolicyError.reservedBitsSet(kind: "SEV", mask: 0x40)) { try SEVPolicy(rawValue: 0x47) }
    }

    @Test func apiVersionFieldsAndDebugWarning() throws {
        let policy = try SEVPolicy(rawValue: 0x1701_0000)
        #expect(policy.apiMajor == 1)
        #expect(policy.apiMinor == 0x17)
        #expect(policy.warnings.contains { $0.contains("NODBG") })
    }

    @Test func encodeFromNames() throws {
        #expect(try SEVPolicy(flags: ["nodbg", "NOKS"]).rawValue == 0x03)
        #expect(throws: PolicyError.self) { try SEVPolicy(flags: ["SMT"]) }
    }

    @Test func flagsAreAnOptionSetWithTheSpecBitNumbers() throws {
        #expect(SEVPolicy.bits.map(\.bit) == Array(0...5))
        let policy = try SEVPolicy(flags: [.noDebug, .encryptedState], apiMajor: 2)
        #expect(policy.rawValue == 0x0002_0005)
        #expect(policy.requiresES && policy.flags == [.noDebug, .encryptedState])
    }
}

struct BytesTests {
    @Test func readerRefusesToReadPastTheEnd() {
        var reader = ByteReader([1, 2, 3])
        #expect(throws: ByteReader.Error.self) { try reader.readLE(UInt32.self) }
        #expect(throws: ByteReader.Error.self) { try reader.read(-1) }
        #expect(throws: ByteReader.Error.self) { try reader.seek(to: 4) }
    }

    @Test func littleEndianRoundTrip() throws {
        var reader = ByteReader(UInt64(0x0102_0304_0506_0708).littleEndianBytes)
        #expect(try reader.readLE(UInt64.self) == 0x0102_0304_0506_0708)
    }

    @Test func hexParsing() throws {
        #expect(try [UInt8](hex: "0x00ff10") == [0, 255, 16])
        #expect(throws: HexError.self) { try [UInt8](hex: "abc") }
        #expect(throws: HexError.self) { try [UInt8](hex: "zz") }
        #expect(throws: HexError.wrongLength(expected: 4, found: 2)) { try [UInt8](hex: "abcd", count: 4) }
    }

    @Test func integersAreDecimalOrHexOnly() {
        #expect(parseUnsignedInteger("0x30000", as: UInt64.self) == 0x30000)
        #expect(parseUnsignedInteger("0X3aF", as: UInt64.self) == 0x3af)
        #expect(parseUnsignedInteger("196608", as: UInt64.self) == 0x30000)
        #expect(parseUnsignedInteger("0x1_0000_0000", as: UInt32.self) == nil)
        // The help says decimal or 0x: other bases, signs, padding and separators are refused.
        for text in ["0b101", "+5", "-1", " 5", "5 ", "\t5", "1_000", "0x", "", "0x+5", "0x 5", "٣"] {
            #expect(parseUnsignedInteger(text, as: UInt64.self) == nil, "accepted '\(text)'")
        }
        #expect(parseUnsignedInteger("0x100", as: UInt8.self) == nil)
    }

    @Test func guidEFIByteOrder() throws {
        let guid = try GUID("96b582de-1fb2-45f7-baea-a366c55a082d")
        #expect(guid.efiBytes.hexString == "de82b596b21ff745baeaa366c55a082d")
        #expect(try GUID(efiBytes: guid.efiBytes) == guid)
        #expect(guid.description == "96b582de-1fb2-45f7-baea-a366c55a082d")
        #expect(throws: GUID.ParseError.self) { try GUID("not-a-guid") }
    }
}
