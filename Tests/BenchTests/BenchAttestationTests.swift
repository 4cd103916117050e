import Foundation
import Testing
@testable import Bench
@testable import BenchReport

/// The bench's SNP runs of the `attest` workload ask the unikernel for a report (a fresh nonce per run on
/// its command line) and verify it as `cvm run --attest` does; no other run carries the words.
@Suite struct BenchAttestationTests {
    static func cell(_ mode: String, boot: String? = "firmware") -> BenchCell {
        BenchCell(guest: "unikernel", mode: mode, vcpus: 1, memoryMiB: 256, boot: boot)
    }

    @Test func onlySNPFirmwareBootsOfTheAttestWorkloadVerifyAReport() {
        let unikernel = BenchBootAxisTests.unikernel()
        #expect(BenchPlanner.verifiesAttestation(guest: unikernel, cell: Self.cell("sev-snp"), workloads: ["boot", "attest"]))
        #expect(!BenchPlanner.verifiesAttestation(guest: unikernel, cell: Self.cell("sev-snp"), workloads: ["boot", "exits"]))
        #expect(!BenchPlanner.verifiesAttestation(guest: unikernel, cell: Self.cell("sev-es"), workloads: ["attest"]))
        #expect(!BenchPlanner.verifiesAttestation(guest: unikernel, cell: Self.cell("none"), workloads: ["attest"]))
        #expect(!BenchPlanner.verifiesAttestation(guest: unikernel, cell: Self.cell("sev-snp", boot: "efi"), workloads: ["attest"]),
                "through OVMF the command line is measured: a nonce in it would move the measurement")
    }

    @Test func theNonceGoesOnTheFirmwareBootsCommandLine() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-bench-attest-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let firmware = directory.appendingPathComponent("firmware.fd")
        try Data(count: 64 * 1024).write(to: firmware)
        var unikernel = BenchBootAxisTests.unikernel()
        unikernel.firmwareImage = firmware.path
        var settings = BenchSettings()
        settings.modes = [.sevSNP]
        settings.workloads = ["boot", "attest"]
        let options = try settings.resolved(quick: false)
        let gate = HostGate(refusals: [:], accelerator: .tcg)
        let nonce: [UInt8] = Array(0..<32)
        let spec = try BenchPlanner.launchSpec(guest: unikernel, cell: Self.cell("sev-snp"), workloads: ["boot", "attest"], options: options,
                                               gate: gate, stateDirectory: directory, qmpSocket: directory.appendingPathComponent("qmp").path,
                                               attestNonce: nonce)
        let cmdline = try #require(spec.kernelCommandLine)
        #expect(cmdline.hasPrefix("run=attest "))
        #expect(cmdline.hasSuffix(" attest=1 attest.nonce=" + nonce.map { String(format: "%02x", $0) }.joined()))
        let plain = try BenchPlanner.launchSpec(guest: unikernel, cell: Self.cell("sev-snp"), workloads: ["boot", "attest"], options: options,
                                                gate: gate, stateDirectory: directory, qmpSocket: directory.appendingPathComponent("qmp").path)
        #expect(plain.kernelCommandLine?.contains("attest=1") == false)
        // The judge sees the binding of exactly this command line.
        let expected = UnikernelAttestation.expectedReportData(nonce: nonce, commandLine: cmdline)
        let line = "cvmuk attestation status=unavailable sev=sev-snp reason=psp-busy report_data=" + expected.map { String(format: "%02x", $0) }.joined()
        let verdict = UnikernelAttestation.judge(console: [line], nonce: nonce, commandLine: cmdline, measurement: nil)
        #expect(!verdict.passed && !verdict.hadReport)
        #expect(verdict.lines.first?.contains("binds this nonce") == true, "\(verdict.lines)")
        #expect(verdict.lines.last?.contains("SNP guest request failed (psp-busy)") == true, "\(verdict.lines)")
    }

    /// Mode tdx in the matrix: where the host check says no, each TDX cell is skipped with its reason; the
    /// unikernel's TDX cells are skipped everywhere (it has no TDX path); mode none still runs.
    @Test func tdxCellsAreSkippedWithTheirReasons() throws {
        var settings = BenchSettings()
        settings.modes = [.none, .tdx]
        let options = try settings.resolved(quick: false)
        let gate = HostGate(refusals: [.tdx: "TDX cannot launch on this host: tdx.cpu: AuthenticAMD"], accelerator: .tcg)
        let plan = BenchPlanner.plan(options: options, guests: [BenchBootAxisTests.unikernel()], gate: gate)
        #expect(plan.cells.map(\.mode) == ["none"])
        let skipped = try #require(plan.skipped.first { $0.cell.mode == "tdx" })
        #expect(skipped.reason.contains("tdx.cpu"))
        let ready = BenchPlanner.plan(options: options, guests: [BenchBootAxisTests.unikernel()], gate: HostGate(refusals: [:], accelerator: .kvm))
        let unikernel = try #require(ready.skipped.first { $0.cell.mode == "tdx" })
        #expect(unikernel.reason.contains("no TDX path"))
    }
}

