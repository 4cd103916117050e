import Foundation
import Measurement
import Testing
@testable import GuestImage

/// The expected digest of one launch (`cvm bench`'s skipped cells), against sev-snp-measure run here:
/// with kernel hashes when the firmware has the table, of the firmware and vCPUs alone when not.
@Suite struct LaunchMeasurementTests {
    struct NotAsked: Error {}

    static func oracle(_ arguments: [String]) throws -> String {
        let result = try TestSupport.shell(([try #require(OCIFixtures.sevSNPMeasure)] + arguments).map(TestSupport.quote).joined(separator: " "))
        #expect(result.status == 0, "\(result.output)")
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test(.enabled(if: OCIFixtures.sevSNPMeasure != nil, "sev-snp-measure not found (SEV_SNP_MEASURE or .venv-oracle)"), arguments: [(LaunchMode.sevSNP, "snp"), (.sevES, "seves"), (.sev, "sev")])
    func withTheHashesTableKernelInitrdAndCmdlineAreCovered(mode: LaunchMode, oracleMode: String) throws {
        let scratch = try TestSupport.temporaryDirectory("launch-measurement")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let kernel = scratch.appendingPathComponent("kernel")
        let initrd = scratch.appendingPathComponent("initrd")
        try Data("not really a kernel".utf8).write(to: kernel)
        try Data("not really an initrd".utf8).write(to: initrd)
        let firmware = try OCIFixtures.path("ovmf_AmdSev_suffix.bin")
        let expected = try LaunchMeasurementRecord.expected(
            firmware: URL(fileURLWithPath: firmware), cmdline: "run=boot", mode: mode,
            vcpus: VCPUConfiguration(count: 2, type: try VCPUType(named: "EPYC-v4"))) { (kernel, initrd) }
        #expect(expected.coversKernelInitrdCmdline)
        #expect(expected.measurement == (try Self.oracle(["--mode", oracleMode, "--ovmf", firmware, "--vcpus", "2", "--vcpu-type", "EPYC-v4",
                                                          "--kernel", kernel.path, "--initrd", initrd.path, "--append", "run=boot"])))
    }

    @Test(.enabled(if: OCIFixtures.sevSNPMeasure != nil, "sev-snp-measure not found (SEV_SNP_MEASURE or .venv-oracle)"))
    func withoutTheTableOnlyFirmwareAndVCPUsAreMeasuredAndTheKernelIsNotAskedFor() throws {
        let firmware = try OCIFixtures.path("ovmf_OvmfX64_suffix.bin")
        let expected = try LaunchMeasurementRecord.expected(
            firmware: URL(fileURLWithPath: firmware), cmdline: "run=boot", mode: .sevES,
            vcpus: VCPUConfiguration(count: 1, type: try VCPUType(named: "EPYC-v4"))) { throw NotAsked() }
        #expect(!expected.coversKernelInitrdCmdline)
        #expect(expected.measurement == (try Self.oracle(["--mode", "seves", "--ovmf", firmware, "--vcpus", "1", "--vcpu-type", "EPYC-v4"])))
    }

    @Test func anUnreadableKernelIsOneLine() throws {
        let firmware = try OCIFixtures.path("ovmf_AmdSev_suffix.bin")
        do {
            _ = try LaunchMeasurementRecord.expected(
                firmware: URL(fileURLWithPath: firmware), cmdline: "", mode: .sev,
                vcpus: VCPUConfiguration(count: 1, type: try VCPUType(named: "EPYC-v4"))) { (URL(fileURLWithPath: "/nonexistent/kernel"), nil) }
            Issue.record("an unreadable kernel was measured")
        } catch let error as GuestImageError {
            #expect("\(error)".hasPrefix("cannot read the guest's kernel or initrd: "))
            #expect(!"\(error)".contains("\n"))
        }
    }
}
