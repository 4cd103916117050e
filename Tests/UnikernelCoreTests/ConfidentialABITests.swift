import Testing
@testable import UnikernelCore

/// Host tests of the SEV-ES/SNP guest encoders and decoders, from the GHCB specification and the SNP
/// firmware ABI (the Linux-header oracle checks the same layouts against the kernel's definitions).
@Suite struct ConfidentialABITests {
    // MARK: GHCB MSR protocol

    @Test func responsesWithAnotherInfoCodeAreRefused() throws {
        #expect(throws: GHCBMSRProtocol.ResponseError.unexpectedInfo(expected: 0x005, found: 0x001)) {
            try GHCBMSRProtocol.cpuidValue(0xdead_beef_0000_0001)
        }
        let value = try GHCBMSRProtocol.cpuidValue(0xdead_beef_0000_0005)
        #expect(value == 0xdead_beef)
        #expect(throws: GHCBMSRProtocol.ResponseError.refused(0x99)) {
            try GHCBMSRProtocol.checkRegisterGHCBResponse(0x99 << 12 | 0x013, frame: 0x98)
        }
    }

    @Test func protocolVersionsThatDoNotMeetAreNotNegotiated() throws {
        #expect(try GHCBMSRProtocol.sevInformation(3 << 48 | 2 << 32 | 47 << 24 | 1).negotiatedVersion == 2)
        #expect(try GHCBMSRProtocol.sevInformation(1 << 48 | 1 << 32 | 51 << 24 | 1).negotiatedVersion == 1)
        #expect(try GHCBMSRProtocol.sevInformation(5 << 48 | 3 << 32 | 51 << 24 | 1).negotiatedVersion == nil)
    }

    // MARK: GHCB page

    @Test func clearStampsVersionAndUsageAndEmptiesTheBitmap() {
        let page = UnsafeMutableRawPointer.allocate(byteCount: GHCB.size, alignment: 4096)
        defer { page.deallocate() }
        page.initializeMemory(as: UInt8.self, repeating: 0xff, count: GHCB.size)
        let ghcb = GHCB(page: page)
        ghcb.clear(protocolVersion: 2)
        #expect(page.load(fromByteOffset: GHCB.protocolVersionOffset, as: UInt16.self) == 2)
        #expect(page.load(fromByteOffset: GHCB.usageOffset, as: UInt32.self) == 0)
        #expect(GHCB.Field.allCases.allSatisfy { !ghcb.isValid($0) && ghcb.valid($0) == nil })
        ghcb.set(.rax, 7)
        ghcb.set(.rcx, 9)
        #expect(ghcb.valid(.rax) == 7 && ghcb.valid(.rcx) == 9 && !ghcb.isValid(.rdx))
        #expect(throws: GHCB.ExitError.missingOutput(.rdx)) { try ghcb.require([.rax, .rdx]) }
    }

    @Test func exitResultsOtherThanSuccessAreErrors() throws {
        let page = UnsafeMutableRawPointer.allocate(byteCount: GHCB.size, alignment: 4096)
        defer { page.deallocate() }
        let ghcb = GHCB(page: page)
        ghcb.clear(protocolVersion: 2)
        try ghcb.checkResult()
        ghcb.set(.exitInfo1, 0xffff_ffff_0000_0000) // upper half is not the result
        try ghcb.checkResult()
        ghcb.set(.exitInfo1, 1)
        ghcb.set(.exitInfo2, 0x8000_030d)
        #expect(throws: GHCB.ExitError.exceptionInjected(0x8000_030d)) { try ghcb.checkResult() }
        ghcb.set(.exitInfo1, 2)
        ghcb.set(.exitInfo2, 4)
        #expect(throws: GHCB.ExitError.invalidInput(4)) { try ghcb.checkResult() }
        ghcb.set(.exitInfo1, 3)
        #expect(throws: GHCB.ExitError.unknownResult(3)) { try ghcb.checkResult() }
    }

    // MARK: IOIO

    @Test func ioioExitInfoRoundTrips() throws {
        for (port, size, isIn) in [(UInt16(0x3f8), 1, true), (0x510, 2, false), (0x511, 1, true), (0xcf8, 4, false), (0xffff, 4, true)] {
            let info = IOIOExitInfo(port: port, size: size, isIn: isIn)
            let value = try info.encoded()
            #expect(value >> 16 == UInt64(port))
            #expect(value & 1 == (isIn ? 1 : 0))
            #expect(value >> 4 & 7 == UInt64(size) && value >> 7 & 7 == 4)
            #expect(try IOIOExitInfo(decoding: value) == info)
        }
    }

    @Test func ioioRefusesSizesTheFormatCannotCarry() {
        #expect(throws: IOIOExitInfo.EncodingError.badOperandSize(8)) { try IOIOExitInfo(port: 1, size: 8, isIn: true).encoded() }
        #expect(throws: IOIOExitInfo.EncodingError.badAddressSize(1)) { try IOIOExitInfo(port: 1, size: 1, isIn: true, addressSize: 1).encoded() }
        #expect(throws: IOIOExitInfo.EncodingError.badOperandSize(3)) { try IOIOExitInfo(decoding: 3 << 4 | 4 << 7) }
    }

    // MARK: Page state change

    @Test func largePagesWhereAlignedAndSmallPagesAtTheEdges() throws {
        let range = PhysicalRange(start: 0x1f_f000, end: 0x60_1000)
        let entries = try PageStateChange.entries(for: range, to: .private, largePages: true)
        #expect(entries.map(\.address) == [0x1f_f000, 0x20_0000, 0x40_0000, 0x60_0000])
        #expect(entries.map(\.isLarge) == [false, true, true, false])
        #expect(entries.reduce(0) { $0 + $1.byteCount } == range.length)
        let small = try PageStateChange.entries(for: range, to: .shared, largePages: false)
        #expect(small.count == Int(range.length / 4096) && small.allSatisfy { !$0.isLarge && $0.operation == .shared })
        #expect(throws: PageStateChange.PlanError.unaligned(PhysicalRange(start: 0x1000, end: 0x1800))) {
            try PageStateChange.entries(for: PhysicalRange(start: 0x1000, end: 0x1800), to: .private, largePages: true)
        }
    }

    @Test func descriptorHeaderAndEntriesAreWrittenInPlace() throws {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: GHCB.sharedBufferSize, alignment: 8)
        defer { buffer.deallocate() }
        let entries = try PageStateChange.entries(for: PhysicalRange(start: 0, end: 0x40_0000), to: .shared, largePages: true)
        PageStateChange.write(entries[...], to: buffer)
        #expect(PageStateChange.progress(in: buffer) == (0, 1))
        for (index, entry) in entries.enumerated() {
            let value = buffer.load(fromByteOffset: PageStateChange.headerSize + 8 * index, as: UInt64.self)
            #expect(PageStateChange.decode(value) == entry)
        }
        #expect(PageStateChange.maximumEntries == 253)
        #expect(PageStateChange.decode(0xf << 52) == nil, "an operation the specification does not define is not decoded")
    }

    // MARK: Guest messages

    func header(_ sequence: UInt64, _ type: SNPGuestMessageHeader.MessageType) -> SNPGuestMessageHeader {
        SNPGuestMessageHeader(sequenceNumber: sequence, messageType: type, messageSize: 96, vmpck: 0)
    }

    @Test func headerRoundTripsAndTheIVIsTheSequenceNumber() throws {
        var page = header(0x0102_0304_0506_0708, .reportRequest).bytes + [UInt8](repeating: 0, count: 96)
        let parsed = try page.withUnsafeBytes { try SNPGuestMessageHeader(parsing: $0) }
        #expect(parsed == header(0x0102_0304_0506_0708, .reportRequest))
        #expect(parsed.iv == [8, 7, 6, 5, 4, 3, 2, 1, 0, 0, 0, 0])
        page[0x30] = 2
        #expect(throws: GuestMessageError.badAlgorithm(2)) { try page.withUnsafeBytes { try SNPGuestMessageHeader(parsing: $0) } }
        page[0x30] = 1
        page[0x32] = 0x40
        #expect(throws: GuestMessageError.badHeader(version: 1, size: 0x40)) { try page.withUnsafeBytes { try SNPGuestMessageHeader(parsing: $0) } }
        page[0x32] = 0x60
        page[0x36] = 0xa0 // 160 bytes claimed, 96 present
        #expect(throws: GuestMessageError.badMessageSize(160)) { try page.withUnsafeBytes { try SNPGuestMessageHeader(parsing: $0) } }
        #expect(throws: GuestMessageError.truncated(95)) { try Array(page.prefix(95)).withUnsafeBytes { try SNPGuestMessageHeader(parsing: $0) } }
    }

    @Test func responsesMustAnswerTheirRequest() throws {
        let request = header(41, .reportRequest)
        try header(42, .reportResponse).checkResponse(to: request)
        #expect(throws: GuestMessageError.badSequenceNumber(expected: 42, found: 41)) { try header(41, .reportResponse).checkResponse(to: request) }
        #expect(throws: GuestMessageError.badSequenceNumber(expected: 42, found: 44)) { try header(44, .reportResponse).checkResponse(to: request) }
        #expect(throws: GuestMessageError.badMessageType(expected: 6, found: 4)) { try header(42, .keyResponse).checkResponse(to: request) }
        var otherKey = header(42, .reportResponse)
        otherKey.vmpck = 1
        #expect(throws: GuestMessageError.badVMPCK(1)) { try otherKey.checkResponse(to: request) }
        #expect(throws: GuestMessageError.badSequenceNumber(expected: 0, found: 0)) {
            try header(0, .reportResponse).checkResponse(to: header(.max, .reportRequest))
        }
    }

    @Test func reportRequestLayout() {
        let bytes = SNPReportRequest(reportData: [UInt8](repeating: 0xab, count: 64), vmpl: 2, keySelect: 1).bytes
        #expect(bytes.count == 96 && bytes[0..<64].allSatisfy { $0 == 0xab })
        #expect(bytes[0x40] == 2 && bytes[0x44] == 1 && bytes[0x48...].allSatisfy { $0 == 0 })
    }

    @Test func reportResponseYieldsTheReportOrTheStatus() throws {
        var payload = [UInt8](repeating: 0, count: 0x20 + 1184)
        payload[4] = 0xa0
        payload[5] = 0x04
        payload[0x20] = 5
        let report = try payload.withUnsafeBytes { raw in try Array(SNPReportResponse.report(in: raw)) }
        #expect(report.count == 1184 && report[0] == 5)
        payload[0] = 0x16
        #expect(throws: GuestMessageError.reportStatus(0x16)) { try payload.withUnsafeBytes { _ = try SNPReportResponse.report(in: $0) } }
        payload[0] = 0
        payload[4] = 0x9f
        #expect(throws: GuestMessageError.badReportSize(0x49f)) { try payload.withUnsafeBytes { _ = try SNPReportResponse.report(in: $0) } }
        #expect(throws: GuestMessageError.truncated(16)) { try Array(payload.prefix(16)).withUnsafeBytes { _ = try SNPReportResponse.report(in: $0) } }
    }

    // MARK: Secrets page

    @Test func secretsPageGivesTheFourKeysAndTheirSequenceNumbers() throws {
        var page = [UInt8](repeating: 0, count: 4096)
        page[0] = 3
        page[4] = 1
        page[8] = 0x11
        page[0x0b] = 0x00
        for key in 0..<3 { for byte in 0..<32 { page[0x20 + 32 * key + byte] = UInt8(key * 32 + byte + 1) } }
        page[0xa0 + 4] = 9
        let secrets = try page.withUnsafeBytes { try SNPSecretsPage(parsing: $0) }
        #expect(secrets.version == 3 && secrets.imiEnabled && secrets.familyModelStepping == 0x11)
        #expect(secrets.vmpck(0) == (1...32).map { UInt8($0) })
        #expect(secrets.vmpck(2)?.first == 65)
        #expect(secrets.vmpck(3) == nil, "an erased key is not offered")
        #expect(secrets.vmpck(4) == nil)
        #expect(secrets.sequenceNumbers == [0, 9, 0, 0])
        page[0] = 1
        #expect(throws: SNPSecretsPage.ParseError.unsupportedVersion(1)) { try page.withUnsafeBytes { _ = try SNPSecretsPage(parsing: $0) } }
        #expect(throws: SNPSecretsPage.ParseError.truncated(4095)) { try Array(page.prefix(4095)).withUnsafeBytes { _ = try SNPSecretsPage(parsing: $0) } }
    }

    // MARK: CPUID page

    /// A table as the PSP would accept it for a small guest: leaf 0 (max standard leaf 0xd), leaf 1,
    /// leaf 7 subleaf 0, 0xD subleaves 0 (for XCR0 = 1), 1, 2 (AVX: 256 bytes at 576) and 5…7 (AVX-512),
    /// and the extended range up to 0x8000_001f.
    static let table = SNPCPUIDTable(entries: [
        .init(function: 0, eax: 0xd, ebx: 0x6874_7541, ecx: 0x444d_4163, edx: 0x6974_6e65),
        .init(function: 1, eax: 0xa00f11, ebx: 0x0800, ecx: 0xfef8_3203, edx: 0x178b_fbff),
        .init(function: 7, index: 0, eax: 0, ebx: 0xf1bf_07ab, ecx: 0x0040_5fce, edx: 0),
        .init(function: 7, index: 1, eax: 0x30, ebx: 0, ecx: 0, edx: 0),
        .init(function: 0xd, index: 0, xcr0In: 1, eax: 0xe7, ebx: 0x240, ecx: 0x988, edx: 0),
        .init(function: 0xd, index: 0, xcr0In: 7, eax: 0xe7, ebx: 0x340, ecx: 0x988, edx: 0),
        .init(function: 0xd, index: 1, xcr0In: 1, eax: 0xf, ebx: 0x240, ecx: 0, edx: 0),
        .init(function: 0xd, index: 2, eax: 0x100, ebx: 0x240, ecx: 0, edx: 0),
        .init(function: 0xd, index: 5, eax: 0x40, ebx: 0x340, ecx: 0, edx: 0),
        .init(function: 0xd, index: 6, eax: 0x200, ebx: 0x380, ecx: 0, edx: 0),
        .init(function: 0xd, index: 7, eax: 0x400, ebx: 0x580, ecx: 0, edx: 0),
        .init(function: 0x8000_0000, eax: 0x8000_001f, ebx: 0, ecx: 0, edx: 0),
        .init(function: 0x8000_001f, eax: 0x1_b07f, ebx: 0x0173, ecx: 0x1fd, edx: 1),
    ])

    @Test func tableParsesFromItsPageImage() throws {
        let bytes = Self.table.bytes
        #expect(bytes.count == 16 + 13 * 48)
        #expect(try bytes.withUnsafeBytes { try SNPCPUIDTable(parsing: $0) } == Self.table)
        var tooMany = bytes
        tooMany[0] = 65
        #expect(throws: SNPCPUIDTable.LookupError.tooManyEntries(65)) { try tooMany.withUnsafeBytes { _ = try SNPCPUIDTable(parsing: $0) } }
        #expect(throws: SNPCPUIDTable.LookupError.truncated(100)) { try Array(bytes.prefix(100)).withUnsafeBytes { _ = try SNPCPUIDTable(parsing: $0) } }
    }

    @Test func indexedLeavesMatchTheirSubleafAndOthersIgnoreIt() throws {
        #expect(try Self.table.lookup(function: 7, index: 1).eax == 0x30)
        #expect(try Self.table.lookup(function: 7, index: 0).ebx == 0xf1bf_07ab)
        #expect(try Self.table.lookup(function: 7, index: 2) == .zero, "a subleaf the table lacks reads as zeros")
        #expect(try Self.table.lookup(function: 1, index: 5).eax == 0xa00f11, "leaf 1 is not indexed")
        #expect(try Self.table.lookup(function: 0x8000_001f).ebx & 0x3f == 51)
    }

    @Test func xsaveSizesFollowTheEnabledComponents() throws {
        // XCR0 = x87|SSE: the legacy area and the header only; the 0xD/0 entry recorded for XCR0 = 1 is the one used.
        #expect(try Self.table.lookup(function: 0xd, index: 0, xcr0: 3).ebx == 0x240)
        // + AVX: standard layout ends at 0x240 + 0x100.
        #expect(try Self.table.lookup(function: 0xd, index: 0, xcr0: 7).ebx == 0x340)
        // + AVX-512: the last component ends at 0x580 + 0x400.
        #expect(try Self.table.lookup(function: 0xd, index: 0, xcr0: 0xe7).ebx == 0x980)
        // Compacted (subleaf 1, XSAVES in EAX bit 3): sizes add up.
        #expect(try Self.table.lookup(function: 0xd, index: 1, xcr0: 0xe7).ebx == 0x240 + 0x100 + 0x40 + 0x200 + 0x400)
        #expect(throws: SNPCPUIDTable.LookupError.xsaveComponentMissing(1 << 9)) {
            try Self.table.lookup(function: 0xd, index: 0, xcr0: 7 | 1 << 9)
        }
    }

    @Test func rangesComeFromTheTable() {
        #expect(Self.table.isInRange(0xd) && !Self.table.isInRange(0xe))
        #expect(Self.table.isInRange(0x8000_0008) && !Self.table.isInRange(0x8000_0020))
        #expect(!Self.table.isInRange(0x4000_0000), "no hypervisor range in this table")
    }
}

@Suite struct AttestationOptionTests {
    @Test func attestAndItsNonceParse() throws {
        let options = try BootOptions.parse(Array("run=noop attest=1 attest.nonce=C0ffee00".utf8))
        #expect(options.attest && options.attestNonce == [0xc0, 0xff, 0xee, 0x00])
        #expect(try !BootOptions.parse(Array("attest=0".utf8)).attest)
        for bad in ["attest=2", "attest.nonce=abc", "attest.nonce=zz", "attest.nonce=" + String(repeating: "00", count: 33)] {
            #expect(throws: CommandLineError.badValue(Array(bad.utf8))) { try BootOptions.parse(Array(bad.utf8)) }
        }
    }

    @Test func reportDataIsTheCommandLineDigestThenTheNonce() {
        let data = AttestationBinding.reportData(nonce: [1, 2], commandLine: Array("abc".utf8))
        // SHA-256("abc") from FIPS 180-2, appendix B.1.
        #expect(data.prefix(4) == [0xba, 0x78, 0x16, 0xbf] && data[28..<32] == [0xf2, 0x00, 0x15, 0xad])
        #expect(data[32..<34] == [1, 2] && data[34...].allSatisfy { $0 == 0 } && data.count == 64)
        #expect(AttestationBinding.reportData(nonce: [UInt8](repeating: 7, count: 40), commandLine: []).count == 64, "a long nonce is cut at 32")
    }
}

@Suite struct PageValidationTests {
    static let mib: UInt64 = 1 << 20

    /// A 5 GiB q35 guest: low RAM, the 32-bit hole, RAM above 4 GiB; firmware.fd's metadata pre-validates
    /// 1 MiB…3 MiB (SNP_SEC_MEM), the secrets and CPUID pages, and the image below 4 GiB.
    @Test func whatTheLaunchDidNotValidateIsValidatedIn2MiBStepsWhereAligned() throws {
        let regions = [MemoryRegion(base: 0, length: 0x9f000, kind: .usable),
                       MemoryRegion(base: Self.mib, length: 3 * 1024 * Self.mib - Self.mib, kind: .usable),
                       MemoryRegion(base: 4 * 1024 * Self.mib, length: 2 * 1024 * Self.mib, kind: .usable)]
        let sections = [FirmwareFooter.Section(gpa: 0x10_0000, size: 0x20_0000, type: FirmwareFooter.secMem),
                        FirmwareFooter.Section(gpa: 0x8_0000, size: 0x1000, type: FirmwareFooter.secrets),
                        FirmwareFooter.Section(gpa: 0x8_1000, size: 0x1000, type: FirmwareFooter.cpuid)]
        let image = PhysicalRange(start: 4 * 1024 * Self.mib - 128 * 1024, end: 4 * 1024 * Self.mib)
        let required = PageValidation.required(regions: regions, preValidated: PageValidation.preValidated(sections: sections, image: image))
        let gib = 1024 * Self.mib
        let expected: [PhysicalRange] = [PhysicalRange(start: 0, end: 0x8_0000), PhysicalRange(start: 0x8_2000, end: 0x9_f000),
                                         PhysicalRange(start: 3 * Self.mib, end: 3 * gib), PhysicalRange(start: 4 * gib, end: 6 * gib)]
        #expect(required == expected)
        let (entries, totals) = try PageValidation.plan(required)
        let expectedBytes: UInt64 = required.reduce(0) { $0 + $1.length }
        let entryBytes: UInt64 = entries.reduce(0) { $0 + $1.byteCount }
        #expect(totals.bytes == expectedBytes && entryBytes == expectedBytes)
        // 3 MiB…4 MiB in 4 KiB pages up to the first 2 MiB boundary, then 2 MiB pages to 3 GiB; all 2 MiB above 4 GiB.
        #expect(totals.largePages == (3 * 1024 - 4) / 2 + 1024)
        #expect(totals.smallPages == 0x80 + (0x9f - 0x82) + 256)
        let (small, smallTotals) = try PageValidation.plan(required, largePages: false)
        #expect(smallTotals.largePages == 0 && smallTotals.bytes == expectedBytes && small.count == Int(expectedBytes / 4096))
    }

    @Test func theCommandLineChoosesEagerOrLazy() throws {
        #expect(try BootOptions.parse(Array("run=noop".utf8)).validation == .eager)
        #expect(try BootOptions.parse(Array("validate=lazy".utf8)).validation == .lazy)
        #expect(throws: CommandLineError.badValue(Array("validate=sometimes".utf8))) { try BootOptions.parse(Array("validate=sometimes".utf8)) }
    }
}
