import Crypto
import Measurement
import SEVABI
import Testing

@Suite struct VCPUAndVMSATests {
    /// CPUID Fn0000_0001_EAX values of the real parts (AMD CPUID specification 25481 encoding).
    @Test(arguments: [("EPYC", UInt32(0x0080_0F12)), ("EPYC-Rome", 0x0083_0F10), ("EPYC-Milan", 0x00A0_0F11),
                      ("EPYC-Genoa", 0x00A1_0F10), ("EPYC-Turin", 0x00B0_0F00), ("epyc-milan-v2", 0x00A0_0F11)])
    func signatureByName(name: String, signature: UInt32) throws {
        #expect(try VCPUType(named: name).signature == signature)
    }

    @Test func familyModelSteppingRoundTrip() throws {
        let genoaB1 = try VCPUType(family: 0x19, model: 0x11, stepping: 1)
        #expect(genoaB1.signature == 0x00A1_0F11)
        #expect(genoaB1.family == 0x19 && genoaB1.model == 0x11 && genoaB1.stepping == 1)
        #expect(VCPUType(signature: 0x0080_0F82).model == 8)
        #expect(throws: MeasurementError.self) { try VCPUType(family: 0x19, model: 300, stepping: 0) }
    }

    @Test func sixteenKnownTypes() {
        #expect(VCPUType.known.count == 16)
        #expect(Set(VCPUType.known.compactMap(\.name)).count == 16)
    }

    @Test func unknownTypeListsTheKnownOnes() {
        do {
            _ = try VCPUType(named: "EPYC-Bergamo")
            Issue.record("accepted an unknown type")
        } catch {
            #expect(String(describing: error).contains("EPYC-Milan"))
        }
    }

    /// Field offsets of APM vol. 2 table B-4.
    @Test func vmsaOffsets() {
        let page = VMSA(eip: 0xFFFF_F000 + 0x123, vmm: .qemu, vcpuSignature: 0x00A0_0F11, sevFeatures: 0x21).page
        #expect(page.count == 4096)
        func u64(_ offset: Int) -> UInt64 { page[offset..<offset + 8].littleEndianInteger() }
        #expect(u64(0x10 + 8) == 0xFFFF_0000) // CS base
        #expect(u64(0x178) == 0xF123) // RIP (low 16 bits of the reset EIP)
        #expect(u64(0x310) == 0x00A0_0F11) // RDX = CPUID signature
        #expect(u64(0x3B0) == 0x21) // SEV_FEATURES
        #expect(u64(0x3E8) == 1) // XCR0
        #expect(u64(0xD0) == 0x1000) // EFER.SVME
        #expect(page[0x408..<0x40C].littleEndianInteger() as UInt32 == 0x1F80)
        #expect(page[0x410..<0x412].littleEndianInteger() as UInt16 == 0x37F)
        let ec2 = VMSA(eip: VMSA.bspEIP, vmm: .ec2, vcpuSignature: 0x00A0_0F11, sevFeatures: 1)
        #expect(ec2.cs.attributes == 0x9A && ec2.rdx == 0x600 && ec2.mxcsr == 0)
        #expect(VMSA(eip: VMSA.bspEIP, vmm: .gce, vcpuSignature: 0, sevFeatures: 1).gPAT == 0x0007_0106)
    }

    @Test func pageInfoChain() {
        // One step by hand: LD' = SHA-384(LD ‖ contents ‖ 0x70 0x00 ‖ type ‖ 0 ‖ 0 0 0 ‖ 0 ‖ GPA).
        var chain = SNPLaunchDigest()
        chain.update(type: .secrets, gpa: 0x80_B000, contents: [UInt8](repeating: 0, count: 48))
        let manual = [UInt8](repeating: 0, count: 96) + [0x70, 0, 5, 0, 0, 0, 0, 0] + UInt64(0x80_B000).littleEndianBytes
        #expect(chain.digest == Array(SHA384.hash(data: manual)))
    }
}

@Suite struct TableTests {
    @Test func tableRowsEqualSingleMeasurements() throws {
        let firmware = try FirmwareImage(path: try Fixtures.path("ovmf_AmdSev_suffix.bin"))
        for mode in [LaunchMode.sevES, .sevSNP] {
            let measurer = try LaunchMeasurer(mode: mode, firmware: firmware)
            let request = MeasurementTableRequest(
                vcpuCounts: Array(1...64), vcpuTypes: VCPUType.known, vmms: VMMType.allCases, guestFeatures: [0x1, 0x5])
            let rows = try measurer.table(request)
            let features = mode == .sevES ? 1 : 2
            #expect(rows.count == 64 * 16 * 3 * features)
            for row in rows where row.configuration?.count == 1 || row.configuration?.count == 37 {
                let configuration = try #require(row.configuration)
                #expect(try measurer.measure(configuration) == row.digest)
            }
            // Distinct signatures give distinct QEMU digests; ec2/gce ignore the signature.
            let qemu37 = rows.filter { $0.configuration?.vmm == .qemu && $0.configuration?.count == 37 }
            #expect(Set(qemu37.map(\.digest)).count == Set(VCPUType.known.map(\.signature)).count * features)
        }
    }

    @Test func sevTableHasOneRow() throws {
        let firmware = try FirmwareImage(path: try Fixtures.path("ovmf_OvmfX64_suffix.bin"))
        let rows = try LaunchMeasurer(mode: .sev, firmware: firmware)
            .table(MeasurementTableRequest(vcpuCounts: [1, 2, 3], vcpuTypes: VCPUType.known))
        #expect(rows.count == 1 && rows[0].configuration == nil && rows[0].digest.count == 32)
    }

    @Test func vcpuCountsAndTypesAreChecked() throws {
        let measurer = try LaunchMeasurer(mode: .sevSNP, firmware: try FirmwareImage(path: try Fixtures.path("ovmf_OvmfX64_suffix.bin")))
        #expect(throws: MeasurementError.vcpuCountOutOfRange(0, max: LaunchMeasurer.maxVCPUs)) {
            try measurer.measure(VCPUConfiguration(count: 0, type: VCPUType(signature: 1)))
        }
        #expect(throws: MeasurementError.vcpuCountOutOfRange(100_000, max: LaunchMeasurer.maxVCPUs)) {
            try measurer.measure(VCPUConfiguration(count: 100_000, type: VCPUType(signature: 1)))
        }
        #expect(throws: MeasurementError.vcpuSignatureRequired(mode: "sev-snp")) {
            try measurer.measure(VCPUConfiguration(count: 1, type: nil))
        }
        // ec2 and gce put a fixed value in RDX, so no type is needed.
        #expect(try measurer.measure(VCPUConfiguration(count: 1, type: nil, vmm: .ec2)).count == 48)
    }

    @Test(arguments: [("4", [4]), ("1-3", [1, 2, 3]), ("1,2,4-6", [1, 2, 4, 5, 6]), (" 8 , 9", [8, 9])])
    func integerLists(text: String, values: [Int]) throws {
        #expect(try parseIntegerList(text) == values)
    }

    @Test(arguments: ["", "a", "3-1", "1-", "-", "1,,2", "+4", "0x4"])
    func badIntegerLists(text: String) {
        #expect(throws: MeasurementError.invalidRange(text)) { try parseIntegerList(text) }
    }

    /// Too many vCPUs is a limit problem, and the message says the limit.
    @Test(arguments: [("1-99999", "99999"), ("4097", "4097"), ("1,2-99999999999999999999999", "99999999999999999999999")])
    func vcpuListsOverTheLimitSayTheLimit(text: String, bound: String) {
        #expect(throws: MeasurementError.vcpuListOutOfRange(bound, max: LaunchMeasurer.maxVCPUs)) { try parseIntegerList(text) }
        #expect("\(MeasurementError.vcpuListOutOfRange(bound, max: LaunchMeasurer.maxVCPUs))".contains("over the limit of 4096"))
    }
}
