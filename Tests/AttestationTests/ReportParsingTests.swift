import Testing
import SEVABI
@testable import AttestationPolicy
@testable import SNPReport

/// Expected values are the ones listed for each vector in ../shared/vectors/README.md.
struct ReportParsingTests {
    struct Expected: Sendable {
        let name: String
        let version: UInt32
        let product: SNPProduct?
        let policy: UInt64
        let platformInfo: UInt64
        let reportedTCB: UInt64
        let parts: [String: UInt8]
        let measurement: String
        let signer: SigningKey
    }

    static let expected: [Expected] = [
        Expected(name: "milan-v2", version: 2, product: nil, policy: 0x30000, platformInfo: 0x1, reportedTCB: 0x7308000000000003,
                 parts: ["bl": 3, "tee": 0, "snp": 8, "ucode": 115],
                 measurement: "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f", signer: .vcek),
        Expected(name: "genoa-v3", version: 3, product: .genoa, policy: 0x3001f, platformInfo: 0x27, reportedTCB: 0x541700000000000a,
                 parts: ["bl": 10, "tee": 0, "snp": 23, "ucode": 84],
                 measurement: "5feee30d6d7e1a29f403d70a4198237ddfb13051a2d6976439487c609388ed7f98189887920ab2fa0096903a0c23fca1", signer: .vcek),
        Expected(name: "turin-v5", version: 5, product: .turin, policy: 0x3001f, platformInfo: 0x65, reportedTCB: 0x5100000004010101,
                 parts: ["fmc": 1, "bl": 1, "tee": 1, "snp": 4, "ucode": 81],
                 measurement: "6d6c354511d6f7c6d7504668903dc5bdc066a048b651840d8d03fb85299ebfa142fccf1d1b0baca496841bdf243619d4", signer: .vcek),
        Expected(name: "milan-vlek-v3", version: 3, product: .milan, policy: 0x30000, platformInfo: 0x27, reportedTCB: 0xd918000000000004,
                 parts: ["bl": 4, "tee": 0, "snp": 24, "ucode": 217],
                 measurement: "8922ebbdd00ec2c541f36a6e7a82a8773a7accb451ed67bc94e740dbe92c93c4e8c9af857f5ceeb5a493df2a570d7bf0", signer: .vlek),
    ]

    @Test(arguments: expected.map(\.name))
    func vectorFieldsMatchTheREADME(name: String) throws {
        guard let want = Self.expected.first(where: { $0.name == name }) else { return }
        let report = try Fixture.report(name)
        #expect(report.version == want.version)
        #expect(report.product == want.product)
        #expect(report.policyRaw == want.policy)
        #expect(report.platformInfo.raw == want.platformInfo)
        #expect(report.reportedTCBRaw == want.reportedTCB)
        #expect(report.measurement.hexString == want.measurement)
        #expect(report.signerInfo.signingKey == want.signer)
        let product = want.product ?? .milan
        let tcb = report.reportedTCB(for: product)
        let parts = Dictionary(uniqueKeysWithValues: tcb.parts.map { ($0.name, $0.value) })
        #expect(parts == want.parts)
        #expect(report.warnings.isEmpty)
        #expect(report.nonZeroReservedOffsets.isEmpty)
    }

    @Test func vlekReportIsAtVMPL1() throws {
        #expect(try Fixture.report("milan-vlek-v3").vmpl == 1)
    }

    @Test func turinPlatformInfoReportsUnknownBit6WithoutFailing() throws {
        let info = try Fixture.report("turin-v5").platformInfo
        #expect(info.unknownBits == 0x40)
        #expect(info.setNames == ["SMT_EN", "ECC_EN", "ALIAS_CHECK_COMPLETE"])
    }

    @Test func turinChipIDIsEightBytes() throws {
        let report = try Fixture.report("turin-v5")
        #expect(report.chipIDPrefix(for: .turin).count == 8)
        #expect(report.chipID[8...].allSatisfy { $0 == 0 })
    }

    @Test func version4IsReadWithTheVersion3Layout() throws {
        var bytes = try Fixture.bytes("snp/genoa-v3/report.bin")
        bytes[0] = 4
        let report = try AttestationReport(bytes: bytes)
        #expect(report.layoutVersion == 3)
        #expect(report.product == .genoa)
        #expect(report.launchMitigationVector == nil)
        #expect(report.warnings.isEmpty)
    }

    /// Every version without a known layout is refused alike, below 2 or above 5, so a guessed layout
    /// never passes the format check.
    @Test(arguments: [UInt32(0), 1, 6, 7, 99, 0xFFFF_FFFF])
    func unknownVersionsAreRefused(version: UInt32) throws {
        var bytes = try Fixture.bytes("snp/turin-v5/report.bin")
        bytes.replaceSubrange(0..<4, with: version.littleEndianBytes)
        #expect(throws: ReportError.unsupportedVersion(version)) { try AttestationReport(bytes: bytes) }
        #expect("\(ReportError.unsupportedVersion(version))".contains("known: 2, 3, 4, 5"))
    }

    @Test func truncatedAndOversizedReportsAreRejected() throws {
        let bytes = try Fixture.bytes("snp/genoa-v3/report.bin")
        #expect(throws: ReportError.wrongSize(found: 1000)) { try AttestationReport(bytes: Array(bytes.prefix(1000))) }
        #expect(throws: ReportError.wrongSize(found: 1185)) { try AttestationReport(bytes: bytes + [0]) }
        #expect(throws: ReportError.wrongSize(found: 0)) { try AttestationReport(bytes: []) }
    }

    @Test func versionsBelowTwoAreRejected() throws {
        var bytes = try Fixture.bytes("snp/genoa-v3/report.bin")
        bytes[0] = 1
        #expect(throws: ReportError.unsupportedVersion(1)) { try AttestationReport(bytes: bytes) }
    }

    @Test func turinTCBLayoutPutsFMCInByteZero() {
        // Spec layout (SEV-SNP ABI, TCB_VERSION for Turin): byte0 FMC, 1 BL, 2 TEE, 3 SNP, 7 microcode.
        let tcb = TCBVersion(raw: 0x5100000004030201, turinLayout: true)
        #expect(tcb.fmc == 1 && tcb.bootloader == 2 && tcb.tee == 3 && tcb.snp == 4 && tcb.microcode == 0x51)
        let milan = TCBVersion(raw: 0x5100000004030201, turinLayout: false)
        #expect(milan.fmc == nil && milan.bootloader == 1 && milan.tee == 2 && milan.snp == 0 && milan.microcode == 0x51)
        #expect(TCBVersion(bootloader: 2, tee: 3, snp: 4, microcode: 0x51, fmc: 1).raw == 0x5100000004030201)
    }

    @Test func productFromCPUIDFamilyAndModel() {
        #expect(SNPProduct(cpuidFamily: 0x19, model: 0x01) == .milan)
        #expect(SNPProduct(cpuidFamily: 0x19, model: 0x11) == .genoa)
        #expect(SNPProduct(cpuidFamily: 0x19, model: 0xA0) == .genoa)
        #expect(SNPProduct(cpuidFamily: 0x1A, model: 0x02) == .turin)
        #expect(SNPProduct(cpuidFamily: 0x17, model: 0x31) == nil)
    }
}
