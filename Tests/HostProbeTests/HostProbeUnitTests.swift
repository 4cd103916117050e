import Foundation
import HostOS
import Testing
@testable import HostProbe
import SEVABI

struct CPUInfoTests {
    struct FixedCPUID: CPUIDSource {
        var leaves: [UInt32: CPUIDRegisters]
        func query(leaf: UInt32, subleaf: UInt32) -> CPUIDRegisters { leaves[leaf] ?? .zero }
    }

    @Test(arguments: [
        (0x17 as UInt32, 0x01 as UInt32, AMDGeneration.naples), (0x17, 0x31, .rome), (0x19, 0x01, .milan),
        (0x19, 0x11, .genoa), (0x19, 0xA0, .genoa), (0x1A, 0x02, .turin),
    ])
    func generationFromFamilyAndModel(family: UInt32, model: UInt32, expected: AMDGeneration) {
        #expect(AMDGeneration(family: family, model: model) == expected)
    }

    @Test func unknownFamiliesHaveNoGeneration() {
        #expect(AMDGeneration(family: 0x15, model: 0x01) == nil)
        #expect(AMDGeneration(family: 0x19, model: 0x50) == nil)
    }

    @Test func signatureDecodesExtendedFamilyAndModel() {
        // Genoa: family 0x19 (0xF + 0xA), model 0x11, stepping 1 → CPUID 1 EAX 0x00A10F11.
        let cpu = CPUInfo(cpuid: FixedCPUID(leaves: [1: CPUIDRegisters(eax: 0x00A1_0F11, ebx: 0, ecx: 0, edx: 0)]))
        #expect(cpu.family == 0x19)
        #expect(cpu.model == 0x11)
        #expect(cpu.stepping == 1)
        #expect(!cpu.underHypervisor)
    }

    @Test func memoryEncryptionLeafFields() {
        // EBX: C-bit 51, reduction 1, 4 VMPLs; ECX 509 ASIDs; EDX minimum SEV ASID 100.
        let leaf = MemoryEncryptionLeaf(CPUIDRegisters(eax: 0b11_1011, ebx: 0x4000 | 1 << 6 | 51, ecx: 509, edx: 100))
        #expect(leaf.sme && leaf.sev && leaf.sevES && leaf.sevSNP && leaf.vmpl)
        #expect(!leaf.pageFlushMSR)
        #expect(leaf.cBitPosition == 51)
        #expect(leaf.physicalAddressReduction == 1)
        #expect(leaf.vmplCount == 4)
        #expect(leaf.esASIDs == 99)
        #expect(leaf.sevOnlyASIDs == 410)
    }
}

struct VersionTests {
    @Test func parsesTheFirstVersionInALine() {
        #expect(DottedVersion(parsing: "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7)") == DottedVersion([7, 2, 22]))
        #expect(DottedVersion(parsing: "6.11.0-1-amd64") == DottedVersion([6, 11, 0, 1]) || DottedVersion(parsing: "6.11.0-1-amd64") == DottedVersion([6, 11, 0]))
        #expect(DottedVersion(parsing: "no digits") == nil)
    }

    @Test func comparesComponentwiseNotAsText() {
        #expect(DottedVersion([6, 9]) < DottedVersion([6, 11]))
        #expect(DottedVersion([10, 5]) > DottedVersion([9, 1]))
        #expect(DottedVersion([9, 1]) == DottedVersion([9, 1, 0]))
    }

    @Test func firmwareVersionComparesMajorBeforeMinor() {
        #expect(FirmwareVersion(major: 1, minor: 55) >= .snpMinimum)
        #expect(FirmwareVersion(major: 1, minor: 49) < .snpMinimum)
        // 2.0 is newer than 1.51 although its minor number is smaller.
        #expect(FirmwareVersion(major: 2, minor: 0) > .snpMinimum)
    }
}

struct PlatformStatusTests {
    @Test func sevPlatformStatusLayout() throws {
        let bytes: [UInt8] = [1, 55, 2, 0x00, 0x01, 0, 0, 21, 3, 0, 0, 0]
        let status = try SEVPlatformStatus(bytes: bytes)
        #expect(status.apiMajor == 1 && status.apiMinor == 55)
        #expect(status.stateName == "WORKING")
        #expect(status.esConfigured)
        #expect(status.build == 21)
        #expect(status.guestCount == 3)
    }

    @Test func truncatedStatusIsAnError() {
        #expect(throws: ByteReader.Error.self) { try SNPPlatformStatus(bytes: [1, 55, 1]) }
    }

    @Test func snpPlatformStatusLayout() throws {
        var bytes: [UInt8] = [1, 55, 1, 0x81]
        bytes += UInt32(21).littleEndianBytes + UInt32(4).littleEndianBytes + UInt32(2).littleEndianBytes
        bytes += UInt64(0xD315_0000_0000_0004).littleEndianBytes + UInt64(0xD315_0000_0000_0003).littleEndianBytes
        let status = try SNPPlatformStatus(bytes: bytes)
        #expect(status.isInitialized && status.rmpInitialized && status.aliasCheckComplete)
        #expect(status.buildID == 21)
        #expect(status.guestCount == 2)
        #expect(status.reportedTCB == 0xD315_0000_0000_0003)
    }
}

struct LibvirtParsingTests {
    @Test func readsSEVFromDomainCapabilities() {
        var caps = LibvirtCapabilities(version: DottedVersion([10, 10]))
        caps.apply(domainCapabilities: "<features><sev supported='yes'>\n<cbitpos>51</cbitpos><reducedPhysBits>1</reducedPhysBits><maxGuests>409</maxGuests><maxESGuests>99</maxESGuests></sev></features>")
        #expect(caps.sevSupported == true)
        #expect(caps.cbitpos == 51)
        #expect(caps.maxESGuests == 99)
        #expect(caps.supportsSNPLaunchSecurity)
    }

    @Test func sevUnsupportedAndOldLibvirt() {
        var caps = LibvirtCapabilities(version: DottedVersion([9, 0, 0]))
        caps.apply(domainCapabilities: "<features><sev supported='no'/></features>")
        #expect(caps.sevSupported == false)
        #expect(!caps.supportsSNPLaunchSecurity)
    }
}

/// Real components on this machine: the probe guest under QEMU+TCG, real OVMF images, the real KVM device.
struct LiveHostTests {
    @Test func probeGuestRunsUnderTCG() throws {
        try #require(ProcessRunner.which("qemu-system-x86_64") != nil, "qemu-system-x86_64 is needed (apt-get install qemu-system-x86)")
        let outcome = try QEMUGuestProbe.withBIOS { bios in
            QEMUGuestProbe.run(using: ProcessRunner(), binary: "qemu-system-x86_64", accelerator: "tcg", cpuModel: nil, biosPath: bios)
        }
        #expect(outcome.ran, "\(outcome.detail)")
    }

    @Test func probeGuestReportsAMissingBinary() {
        let outcome = QEMUGuestProbe.run(using: ProcessRunner(), binary: "qemu-system-does-not-exist", accelerator: "tcg", cpuModel: nil, biosPath: "/nonexistent")
        #expect(!outcome.ran)
        #expect(outcome.detail.contains("not installed"))
    }

    @Test func debianOVMFCarriesSEVMetadataButNoKernelHashes() throws {
        let path = "/usr/share/ovmf/OVMF.fd"
        try #require(FileManager.default.fileExists(atPath: path), "Debian's ovmf package is needed")
        let info = FirmwareDiscovery.inspect(path, files: LocalFileSystem())
        #expect(info.problem == nil)
        #expect(info.hasSEVMetadata)
        #expect(info.hasSEVESResetBlock)
        #expect(!info.hasSNPKernelHashesSection)
        #expect(!info.hasKernelHashesTable)
    }

    @Test func debian4MCodeImageHasTheResetBlockButNoSNPMetadata() throws {
        // Debian 12's 4 MiB build: SEV-ES reset block and an empty hash-table entry, no "ASEV" metadata.
        let path = "/usr/share/OVMF/OVMF_CODE_4M.fd"
        try #require(FileManager.default.fileExists(atPath: path), "Debian's ovmf package is needed")
        let info = FirmwareDiscovery.inspect(path, files: LocalFileSystem())
        #expect(info.problem == nil)
        #expect(info.hasSEVESResetBlock)
        #expect(!info.hasSEVMetadata)
        #expect(!info.supportsSNP)
    }

    @Test func amdSevBuildTailHasTheKernelHashesSection() throws {
        let url = try #require(Bundle.module.url(forResource: "ovmf_AmdSev_suffix", withExtension: "bin", subdirectory: "Fixtures"))
        let info = FirmwareDiscovery.inspect(url.path, files: LocalFileSystem())
        #expect(info.problem == nil)
        #expect(info.hasSNPKernelHashesSection)
        #expect(info.hasKernelHashesTable)
    }

    @Test func truncatedFirmwareIsReportedNotCrashed() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tiny-\(UUID()).fd").path
        try Data([0x55, 0xAA]).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let info = FirmwareDiscovery.inspect(path, files: LocalFileSystem())
        #expect(info.problem != nil)
    }

    @Test func kvmProbeNeverHangsAndSaysHowFarItGot() {
        let result = DeviceKVMProber(timeoutMilliseconds: 2000).probe()
        if result.deviceAccess == .readWrite {
            // The device opened, so KVM_GET_API_VERSION answered, and every KVM since 2.6.22 says 12.
            #expect(result.apiVersion == 12)
            // The steps come in order, and a failed step is named exactly when the guest did not reach HLT.
            #expect(!result.vcpuCreated || result.vmCreated)
            #expect(!result.guestRanToHalt || result.vcpuCreated)
            #expect(result.guestRanToHalt == (result.failedStep == nil), "failed step: \(result.failedStep ?? "none")")
        } else {
            #expect(!result.guestRanToHalt)
        }
    }
}
