import Foundation
import Measurement
import SEVABI
import Testing

@Suite struct FirmwareParsingTests {
    @Test func amdSevFixtureHasKernelHashes() throws {
        let image = try FirmwareImage(path: try Fixtures.path("ovmf_AmdSev_suffix.bin"))
        let metadata = try image.requireMetadata()
        #expect(metadata.has(.snpKernelHashes))
        #expect(metadata.has(.snpSecrets) && metadata.has(.cpuid) && metadata.has(.snpSecMem))
        #expect(image.sevHashesTableGPA != nil)
        #expect(try image.sevESResetEIP() != 0)
        #expect(image.gpa == FirmwareImage.fourGiB - 4096)
    }

    @Test func standardFixtureHasNoKernelHashes() throws {
        let image = try FirmwareImage(path: try Fixtures.path("ovmf_OvmfX64_suffix.bin"))
        #expect(!(try image.requireMetadata()).has(.snpKernelHashes))
    }

    @Test func syntheticLayoutRoundTrips() throws {
        var synthetic = SyntheticFirmware(pages: 5)
        synthetic.hashesTableGPA = 0x80_D400
        synthetic.sections = SyntheticFirmware.snpSections(kernelHashes: true, caa: true)
        let image = try FirmwareImage(bytes: synthetic.bytes)
        #expect(try image.sevESResetEIP() == 0xFFFF_F000)
        #expect(image.sevHashesTableGPA == 0x80_D400)
        #expect(image.metadata?.sections.map(\.type.rawValue) == synthetic.sections.map(\.2))
        #expect(image.metadata?.sections.first == SEVMetadata.Section(gpa: 0x80_0000, size: 0x9000, type: .snpSecMem))
    }

    @Test func imageWithoutFooterCannotLaunchSNP() throws {
        var synthetic = SyntheticFirmware()
        synthetic.includeFooter = false
        let image = try FirmwareImage(bytes: synthetic.bytes)
        #expect(throws: MeasurementError.noFooterTable) { try LaunchMeasurer(mode: .sevSNP, firmware: image) }
        #expect(throws: MeasurementError.self) { try LaunchMeasurer(mode: .sevES, firmware: image) }
    }

    @Test func imageWithoutMetadataCannotLaunchSNP() throws {
        var synthetic = SyntheticFirmware()
        synthetic.includeMetadata = false
        let image = try FirmwareImage(bytes: synthetic.bytes)
        #expect(throws: MeasurementError.noSEVMetadata) { try LaunchMeasurer(mode: .sevSNP, firmware: image) }
        // SEV-ES only needs the reset block.
        #expect(try LaunchMeasurer(mode: .sevES, firmware: image).measure(VCPUConfiguration(count: 2, type: VCPUType(signature: 1))).count == 32)
    }

    @Test func truncatedAndTinyImagesAreRejected() throws {
        #expect(throws: MeasurementError.firmwareTooSmall(size: 100)) { try FirmwareImage(bytes: [UInt8](repeating: 0, count: 100)) }
        #expect(throws: MeasurementError.firmwareNotPageAligned(size: 5000)) { try FirmwareImage(bytes: [UInt8](repeating: 0, count: 5000)) }
        // The last 4 KiB cut short: no longer a page multiple, never a crash.
        let fixture = try Fixtures.bytes("ovmf_AmdSev_suffix.bin")
        #expect(throws: MeasurementError.self) { try FirmwareImage(bytes: Array(fixture.suffix(3000))) }
    }

    @Test func corruptFooterSizesAreRejected() throws {
        var bytes = SyntheticFirmware().bytes
        let footerAt = bytes.count - 32 - 18
        // Footer claims a table larger than the image.
        bytes.replaceSubrange(footerAt..<footerAt + 2, with: UInt16(0xFFFF).littleEndianBytes)
        #expect(throws: MeasurementError.self) { try FirmwareImage(bytes: Array(bytes.suffix(4096))) }

        // An entry whose size is smaller than its own header.
        var entryBroken = SyntheticFirmware().bytes
        let lastEntryHeader = footerAt - 18
        entryBroken.replaceSubrange(lastEntryHeader..<lastEntryHeader + 2, with: UInt16(3).littleEndianBytes)
        #expect(throws: MeasurementError.self) { try FirmwareImage(bytes: entryBroken) }
    }

    @Test func corruptMetadataIsRejected() throws {
        let good = SyntheticFirmware().bytes
        let metadataAt = good.count - 4096
        var badSignature = good
        badSignature[metadataAt] = UInt8(ascii: "X")
        #expect(throws: MeasurementError.self) { try FirmwareImage(bytes: badSignature) }

        var badVersion = good
        badVersion.replaceSubrange(metadataAt + 8..<metadataAt + 12, with: UInt32(2).littleEndianBytes)
        #expect(throws: MeasurementError.self) { try FirmwareImage(bytes: badVersion) }

        var tooManySections = good
        tooManySections.replaceSubrange(metadataAt + 12..<metadataAt + 16, with: UInt32(0x7FFF_FFFF).littleEndianBytes)
        #expect(throws: MeasurementError.self) { try FirmwareImage(bytes: tooManySections) }

        var unknownType = SyntheticFirmware()
        unknownType.sections = [(0x80_0000, 0x1000, 0x77)]
        #expect(throws: MeasurementError.unknownSectionType(0x77)) { try FirmwareImage(bytes: unknownType.bytes) }
    }

    /// Corrupting the footer area (the last 400 bytes, where the GUID table and metadata pointer live)
    /// either fails with a typed `MeasurementError` or gives an image whose SNP measurement is
    /// reproducible and binds the corrupted bytes (never the original's digest). Both outcomes must
    /// occur, so the corruption really reaches the parser's checks.
    @Test func randomCorruptionIsRefusedTypedOrMeasuredFaithfully() throws {
        let fixture = try Fixtures.bytes("ovmf_AmdSev_suffix.bin")
        let vcpus = VCPUConfiguration(count: 2, type: VCPUType(signature: 1))
        let original = try LaunchMeasurer(mode: .sevSNP, firmware: FirmwareImage(bytes: fixture)).measure(vcpus)
        var rng = SplitMix(state: 42)
        var refused = 0, measured = 0
        for _ in 0..<2000 {
            var bytes = fixture
            for _ in 0..<Int(rng.next() % 4 + 1) {
                let at = 4096 - 400 + Int(rng.next() % 400)
                bytes[at] = UInt8(truncatingIfNeeded: rng.next())
            }
            do {
                let digest = try LaunchMeasurer(mode: .sevSNP, firmware: FirmwareImage(bytes: bytes)).measure(vcpus)
                measured += 1
                #expect(digest.count == 48)
                #expect(try LaunchMeasurer(mode: .sevSNP, firmware: FirmwareImage(bytes: bytes)).measure(vcpus) == digest)
                #expect((digest == original) == (bytes == fixture), "a changed firmware byte must change the launch digest")
            } catch is MeasurementError {
                refused += 1
            } catch {
                Issue.record("untyped error \(type(of: error)): \(error)")
            }
        }
        #expect(refused > 0 && measured > 0, "refused \(refused), measured \(measured)")
    }

    @Test func kernelOnFirmwareWithoutHashesTableNamesTheAmdSevBuild() throws {
        let image = try FirmwareImage(path: try Fixtures.path("ovmf_OvmfX64_suffix.bin"))
        let hashes = SEVHashesTable(kernel: [1], initrd: nil, cmdline: nil)
        for mode in [LaunchMode.sev, .sevES, .sevSNP] {
            do {
                _ = try LaunchMeasurer(mode: mode, firmware: image, hashes: hashes)
                Issue.record("\(mode) accepted a kernel")
            } catch let error as MeasurementError {
                #expect(error.description.contains("OvmfPkg/AmdSev"))
            }
        }
    }

    @Test func unreadableFilesSayWhy() {
        #expect(throws: MeasurementError.unreadableFile(path: "/nonexistent/OVMF.fd", reason: "no such file")) {
            try FirmwareImage(path: "/nonexistent/OVMF.fd")
        }
        #expect(throws: MeasurementError.unreadableFile(path: "/tmp", reason: "is a directory")) { try readFile("/tmp") }
        #expect(throws: MeasurementError.unreadableFile(path: "/dev/zero", reason: "not a regular file")) { try readFile("/dev/zero") }
    }

    @Test func hashesTableLayout() throws {
        let table = SEVHashesTable(kernel: Array("k".utf8), initrd: nil, cmdline: nil)
        let bytes = table.table
        // 16 + 2 + 3 × 50 = 168 bytes, padded to 176.
        #expect(bytes.count == 176)
        #expect(Array(bytes[0..<16]) == SEVHashesTable.headerGUID.efiBytes)
        #expect(Array(bytes[16..<18]) == [168, 0])
        #expect(Array(bytes[18..<34]) == SEVHashesTable.cmdlineGUID.efiBytes)
        // An absent command line hashes as a lone NUL, an absent initrd as the empty string.
        #expect(table.cmdlineHash.hexString == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
        #expect(table.initrdHash.hexString == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(throws: MeasurementError.self) { try table.page(offset: 4000) }
        #expect(try table.page(offset: 0x400)[0x400..<0x410].elementsEqual(SEVHashesTable.headerGUID.efiBytes))
    }
}
