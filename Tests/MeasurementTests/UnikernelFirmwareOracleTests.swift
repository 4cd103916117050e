import Foundation
import GuestImage
import Measurement
import Testing

/// The unikernel's own firmware image (Unikernel/build.sh → firmware.fd), built in this run and
/// measured by cvm and by sev-snp-measure: the two must agree for SEV, SEV-ES and SNP across vCPU
/// counts, vCPU types and VMMs, and the bundle manifest must list the same digests.
@Suite(.enabled(if: Oracle.shouldRun && FileManager.default.isExecutableFile(atPath: "/opt/swift/usr/bin/swiftc"),
                "needs sev-snp-measure and the Swift toolchain"))
struct UnikernelFirmwareOracleTests {
    struct BuildFailure: Error, CustomStringConvertible { var description: String }

    static let bundle: Result<URL, BuildFailure> = {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cvmuk-measure-\(getpid())")
        do {
            try UnikernelBuild.run(script: Oracle.packageRoot.appendingPathComponent("Unikernel/build.sh").path, output: directory,
                                   linuxWorkloads: false, toolchain: "/opt/swift/usr/bin", timeout: 900)
            return .success(directory)
        } catch {
            return .failure(BuildFailure(description: "\(error)"))
        }
    }()

    static let counts = [1, 2, 5, 16]
    static let typeNames = ["EPYC-v4", "EPYC-Milan", "EPYC-Genoa"]

    @Test(.timeLimit(.minutes(10))) func cvmAndSevSnpMeasureAgreeOnFirmwareFd() throws {
        let image = try Self.bundle.get().appendingPathComponent("firmware.fd").path
        let firmware = try FirmwareImage(path: image)
        var cases: [Oracle.Case] = [Oracle.Case(mode: "sev", ovmf: image)]
        var ours: [String] = [try LaunchMeasurer(mode: .sev, firmware: firmware).measure(VCPUConfiguration(count: 1, type: nil)).hexString]
        for (mode, oracleMode) in [(LaunchMode.sevES, "seves"), (.sevSNP, "snp")] {
            let measurer = try LaunchMeasurer(mode: mode, firmware: firmware)
            for vmm in [VMMType.qemu, .ec2, .gce] {
                for name in Self.typeNames {
                    let type = try VCPUType(named: name)
                    for count in Self.counts {
                        let configuration = VCPUConfiguration(count: count, type: type, vmm: vmm, guestFeatures: mode == .sevES ? 0 : 1)
                        ours.append(try measurer.measure(configuration).hexString)
                        cases.append(Oracle.Case(mode: oracleMode, ovmf: image, vcpus: count, sig: type.signature,
                                                 vmm: ["qemu": "QEMU", "ec2": "ec2", "gce": "gce"][vmm.rawValue]!))
                    }
                }
            }
        }
        let oracle = try Oracle.batch(cases)
        #expect(oracle.filter { $0.hasPrefix("error") }.isEmpty, "\(oracle.first { $0.hasPrefix("error") } ?? "")")
        for (index, digest) in ours.enumerated() {
            #expect(digest == oracle[index], "case \(cases[index])")
        }
    }

    @Test(.timeLimit(.minutes(10))) func manifestRecordListsTheOracleDigests() throws {
        let bundle = try Self.bundle.get()
        let types = try Self.typeNames.map { try VCPUType(named: $0) }
        try UnikernelBuild.recordFirmwareMeasurements(bundle: bundle, vcpuCounts: [1, 4], vcpuTypes: types)
        let manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: bundle.appendingPathComponent("manifest.json"))) as? [String: Any])
        #expect(manifest["kind"] as? String == "unikernel" && manifest["parts"] != nil, "build.sh's fields survive")
        let record = try JSONDecoder().decode(LaunchMeasurementRecord.self,
                                              from: JSONSerialization.data(withJSONObject: try #require(manifest["launchMeasurement"])))
        #expect(record.firmware?.file == "firmware.fd")
        #expect(record.unavailableModes.isEmpty, "\(record.unavailableModes)")
        #expect(record.measurements.filter { $0.mode == "sev" }.count == 1)
        #expect(record.measurements.filter { $0.mode == "sev-snp" }.count == 2 * types.count)
        let image = bundle.appendingPathComponent("firmware.fd").path
        var cases: [Oracle.Case] = []
        for row in record.measurements {
            let mode = ["sev": "sev", "sev-es": "seves", "sev-snp": "snp"][row.mode]!
            cases.append(Oracle.Case(mode: mode, ovmf: image, vcpus: row.vcpus ?? 1,
                                     sig: try row.vcpuType.map { try VCPUType(named: $0).signature } ?? 0))
        }
        #expect(try Oracle.batch(cases) == record.measurements.map(\.measurement))
    }
}
