import Crypto
import Foundation
import Measurement
import SEVABI
import Testing

/// Every digest here is compared with sev-snp-measure computed in the same run. Cases cover every mode,
/// Debian's OVMF images, the AmdSev/OvmfX64 fixtures, synthetic images with kernel-hashes and SVSM
/// sections, 1/2/3/64 vCPUs, several vCPU types, all VMM types and guest features other than 0x1.
@Suite struct DifferentialTests {
    /// One measurement, described once and computed by both implementations.
    struct Spec {
        var label: String
        var mode: LaunchMode
        var ovmf: String
        var configuration = VCPUConfiguration(count: 1, type: nil)
        var kernel: String?
        var initrd: String?
        var append: String?
        var ovmfHash: [UInt8]?
        var svsm: String?
        var varsSize: UInt64 = 0

        var oracleCase: Oracle.Case {
            let modeName: String
            switch mode {
            case .sev: modeName = "sev"
            case .sevES: modeName = "seves"
            case .sevSNP: modeName = "snp"
            case .snpOVMFHash: modeName = "ovmf-hash"
            case .snpSVSM: modeName = "snp:svsm"
            }
            let vmmName = ["qemu": "QEMU", "ec2": "ec2", "gce": "gce"][configuration.vmm.rawValue] ?? "QEMU"
            return Oracle.Case(mode: modeName, ovmf: ovmf, vcpus: configuration.count, sig: configuration.type?.signature ?? 0,
                               vmm: vmmName, features: configuration.guestFeatures, kernel: kernel, initrd: initrd,
                               append: append, ovmfHash: ovmfHash?.hexString, svsm: svsm, varsSize: varsSize)
        }

        /// Inputs that share one `LaunchMeasurer` (the firmware part is hashed once per key).
        var measurerKey: String {
            [mode.rawValue, ovmf, kernel ?? "-", initrd ?? "-", append ?? "-", ovmfHash?.hexString ?? "-", svsm ?? "-",
             String(varsSize)].joined(separator: "|")
        }
    }

    static let debianImages = ["/usr/share/ovmf/OVMF.fd", "/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_CODE.fd"]
        .filter { FileManager.default.fileExists(atPath: $0) }

    static func type(_ name: String) -> VCPUType? { try? VCPUType(named: name) }

    static func specs(scratch: ScratchDirectory) throws -> [Spec] {
        var specs: [Spec] = []
        let counts = [1, 2, 3, 64]

        // Debian's OVMF images: every mode without a kernel.
        for (index, image) in debianImages.enumerated() {
            specs.append(Spec(label: "debian sev", mode: .sev, ovmf: image))
            specs.append(Spec(label: "debian ovmf-hash", mode: .snpOVMFHash, ovmf: image))
            let types = index == 2 ? ["EPYC-Milan"] : ["EPYC", "EPYC-Milan", "EPYC-Genoa"]
            for name in types {
                for count in counts {
                    specs.append(Spec(label: "debian sev-es", mode: .sevES, ovmf: image,
                                      configuration: VCPUConfiguration(count: count, type: type(name))))
                }
            }
            for (vmm, count) in [(VMMType.ec2, 1), (.ec2, 64), (.gce, 2), (.gce, 3)] {
                specs.append(Spec(label: "debian sev-es \(vmm)", mode: .sevES, ovmf: image,
                                  configuration: VCPUConfiguration(count: count, type: nil, vmm: vmm)))
            }
            guard (try FirmwareImage(path: image)).metadata != nil else { continue }
            let snpTypes = index == 2 ? ["EPYC-Genoa"] : ["EPYC-v4", "EPYC-Rome", "EPYC-Milan", "EPYC-Genoa", "EPYC-Turin"]
            for name in snpTypes {
                for count in counts {
                    specs.append(Spec(label: "debian snp", mode: .sevSNP, ovmf: image,
                                      configuration: VCPUConfiguration(count: count, type: type(name))))
                }
            }
            for vmm in [VMMType.ec2, .gce] {
                for count in [1, 3, 64] {
                    for features: UInt64 in [0x1, 0x21] {
                        specs.append(Spec(label: "debian snp \(vmm)", mode: .sevSNP, ovmf: image,
                                          configuration: VCPUConfiguration(count: count, type: type("EPYC-Milan"), vmm: vmm, guestFeatures: features)))
                    }
                }
            }
            for features: UInt64 in [0x3, 0x5, 0x21, 0x0] {
                specs.append(Spec(label: "debian snp features", mode: .sevSNP, ovmf: image,
                                  configuration: VCPUConfiguration(count: 2, type: try VCPUType(family: 25, model: 17, stepping: 1), guestFeatures: features)))
            }
            let seed = Array(SHA384.hash(data: Array("seed \(index)".utf8)))
            specs.append(Spec(label: "debian snp seeded", mode: .sevSNP, ovmf: image,
                              configuration: VCPUConfiguration(count: 4, type: type("EPYC-Genoa")), ovmfHash: seed))
        }

        // Kernel, initrd and command line inputs.
        var rng = SplitMix(state: 7)
        let kernel = try scratch.write("vmlinuz", (0..<150_000).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
        let initrd = try scratch.write("initrd", (0..<70_001).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
        let emptyKernel = try scratch.write("empty-kernel", [])
        let kernels: [(String, String?, String?)] = [
            (kernel, initrd, "console=ttyS0 root=/dev/vda1 ro"), (kernel, nil, nil), (emptyKernel, initrd, ""),
            (kernel, nil, "quiet ünïcode=ok"),
        ]

        // The real AmdSev build (with SNP_KERNEL_HASHES) and the standard build.
        let amdSev = try Fixtures.path("ovmf_AmdSev_suffix.bin")
        let standard = try Fixtures.path("ovmf_OvmfX64_suffix.bin")
        for image in [amdSev, standard] {
            specs.append(Spec(label: "fixture sev", mode: .sev, ovmf: image))
            specs.append(Spec(label: "fixture ovmf-hash", mode: .snpOVMFHash, ovmf: image))
            for vmm in VMMType.allCases {
                for count in counts {
                    specs.append(Spec(label: "fixture snp \(vmm)", mode: .sevSNP, ovmf: image,
                                      configuration: VCPUConfiguration(count: count, type: type("EPYC-Milan"), vmm: vmm)))
                }
                specs.append(Spec(label: "fixture sev-es \(vmm)", mode: .sevES, ovmf: image,
                                  configuration: VCPUConfiguration(count: 3, type: type("EPYC-Rome"), vmm: vmm)))
            }
        }
        for (index, (kernelPath, initrdPath, append)) in kernels.enumerated() {
            specs.append(Spec(label: "fixture sev kernel", mode: .sev, ovmf: amdSev, kernel: kernelPath, initrd: initrdPath, append: append))
            specs.append(Spec(label: "fixture sev-es kernel", mode: .sevES, ovmf: amdSev,
                              configuration: VCPUConfiguration(count: counts[index], type: type("EPYC-Genoa")),
                              kernel: kernelPath, initrd: initrdPath, append: append))
            for vmm in VMMType.allCases {
                specs.append(Spec(label: "fixture snp kernel \(vmm)", mode: .sevSNP, ovmf: amdSev,
                                  configuration: VCPUConfiguration(count: counts[index], type: type("EPYC-Genoa"), vmm: vmm, guestFeatures: index == 3 ? 0x21 : 0x1),
                                  kernel: kernelPath, initrd: initrdPath, append: append))
            }
        }

        // Synthetic images: kernel-hashes tables at several page offsets, CAA sections, odd section orders.
        var synthetic: [String] = []
        for (index, offset) in [UInt32(0), 0x400, 0xE50].enumerated() {
            var image = SyntheticFirmware(pages: 8 + index * 9, seed: UInt64(100 + index))
            image.sections = SyntheticFirmware.snpSections(kernelHashes: true, caa: index == 1)
            if index == 2 { image.sections.reverse() }
            image.hashesTableGPA = 0x80_D000 + offset
            image.resetEIP = [0xFFFF_F000, 0x80_1234, 0xFFFF_FFF0][index]
            synthetic.append(try scratch.write("synthetic-\(index).fd", image.bytes))
        }
        for (index, image) in synthetic.enumerated() {
            let (kernelPath, initrdPath, append) = kernels[index]
            specs.append(Spec(label: "synthetic sev", mode: .sev, ovmf: image, kernel: kernelPath, initrd: initrdPath, append: append))
            specs.append(Spec(label: "synthetic ovmf-hash", mode: .snpOVMFHash, ovmf: image))
            for vmm in VMMType.allCases {
                for count in [1, 2, 64] {
                    specs.append(Spec(label: "synthetic snp kernel \(vmm)", mode: .sevSNP, ovmf: image,
                                      configuration: VCPUConfiguration(count: count, type: type("EPYC-Turin"), vmm: vmm, guestFeatures: 0x5),
                                      kernel: kernelPath, initrd: initrdPath, append: append))
                }
                specs.append(Spec(label: "synthetic snp \(vmm)", mode: .sevSNP, ovmf: image,
                                  configuration: VCPUConfiguration(count: 3, type: type("EPYC-Milan-v2"), vmm: vmm)))
                specs.append(Spec(label: "synthetic sev-es kernel \(vmm)", mode: .sevES, ovmf: image,
                                  configuration: VCPUConfiguration(count: 2, type: type("EPYC-Genoa-v1"), vmm: vmm),
                                  kernel: kernelPath, initrd: initrdPath, append: append))
            }
        }

        // COCONUT-SVSM: an SVSM image below OVMF and its variable store.
        for (index, varsSize) in [UInt64(0), 0x20000, 540_672].enumerated() {
            var svsmImage = SyntheticFirmware(pages: 12 + index, seed: UInt64(200 + index))
            svsmImage.resetEIP = nil
            svsmImage.svsmEntryOffset = [0x0, 0x1000, 0x2340][index]
            svsmImage.sections = [(0x80_0000, 0x3000, 1), (0x80_3000, 0x1000, 2), (0x80_4000, 0x1000, 3), (0x80_5000, 0x1000, 4)]
            if index == 1 { svsmImage.sections.swapAt(0, 3) }
            let svsmPath = try scratch.write("svsm-\(index).bin", svsmImage.bytes)
            let ovmfPath = index == 2 ? synthetic[0] : (debianImages.first ?? synthetic[1])
            for (name, count) in [("EPYC-Milan", 1), ("EPYC-Genoa", 2), ("EPYC-Turin", 64), ("EPYC", 3)] {
                specs.append(Spec(label: "svsm", mode: .snpSVSM, ovmf: ovmfPath,
                                  configuration: VCPUConfiguration(count: count, type: type(name)), svsm: svsmPath, varsSize: varsSize))
            }
        }
        return specs
    }

    @Test(.enabled(if: Oracle.shouldRun, Comment(rawValue: Oracle.missingMessage)))
    func everyModeMatchesSevSnpMeasure() throws {
        let scratch = try ScratchDirectory()
        let specs = try Self.specs(scratch: scratch)
        #expect(specs.count >= 100)
        let expected = try Oracle.batch(specs.map(\.oracleCase))
        var measurers: [String: LaunchMeasurer] = [:]
        var compared = 0
        for (spec, oracle) in zip(specs, expected) {
            #expect(!oracle.hasPrefix("error"), "oracle failed on \(spec.label): \(oracle)")
            let measurer: LaunchMeasurer
            if let cached = measurers[spec.measurerKey] {
                measurer = cached
            } else {
                let hashes = try spec.kernel.map {
                    SEVHashesTable(kernel: try readFile($0), initrd: try spec.initrd.map(readFile), cmdline: spec.append)
                }
                let svsm = try spec.svsm.map { SVSMInput(image: try readFile($0), varsSize: spec.varsSize) }
                measurer = try LaunchMeasurer(mode: spec.mode, firmware: try FirmwareImage(path: spec.ovmf), hashes: hashes,
                                              ovmfDigest: spec.ovmfHash, svsm: svsm)
                measurers[spec.measurerKey] = measurer
            }
            let ours = try measurer.measure(spec.configuration).hexString
            #expect(ours == oracle, "\(spec.label) \(spec.ovmf) \(spec.configuration)")
            compared += 1
        }
        #expect(compared == specs.count)
        print("DifferentialTests: \(compared) combinations compared with sev-snp-measure")
    }

    /// The same comparisons through sev-snp-measure's command line (one process per case).
    @Test(.enabled(if: Oracle.shouldRun, Comment(rawValue: Oracle.missingMessage)))
    func commandLineAgrees() throws {
        let amdSev = try Fixtures.path("ovmf_AmdSev_suffix.bin")
        let scratch = try ScratchDirectory()
        let kernel = try scratch.write("k", Array("kernel".utf8))
        let firmware = try FirmwareImage(path: amdSev)
        let cases: [([String], LaunchMeasurer, VCPUConfiguration)] = [
            (["--mode", "snp", "--vcpus", "4", "--vcpu-type", "EPYC-Milan"],
             try LaunchMeasurer(mode: .sevSNP, firmware: firmware), VCPUConfiguration(count: 4, type: Self.type("EPYC-Milan"))),
            (["--mode", "snp", "--vcpus", "2", "--vcpu-family", "26", "--vcpu-model", "17", "--vcpu-stepping", "0",
              "--guest-features", "0x21", "--kernel", kernel, "--append", "a b"],
             try LaunchMeasurer(mode: .sevSNP, firmware: firmware, hashes: SEVHashesTable(kernel: Array("kernel".utf8), initrd: nil, cmdline: "a b")),
             VCPUConfiguration(count: 2, type: try VCPUType(family: 26, model: 17, stepping: 0), guestFeatures: 0x21)),
            (["--mode", "seves", "--vcpus", "3", "--vcpu-sig", "0xa00f11", "--vmm-type", "gce"],
             try LaunchMeasurer(mode: .sevES, firmware: firmware), VCPUConfiguration(count: 3, type: VCPUType(signature: 0xA00F11), vmm: .gce)),
            (["--mode", "sev"], try LaunchMeasurer(mode: .sev, firmware: firmware), VCPUConfiguration(count: 1, type: nil)),
            (["--mode", "snp:ovmf-hash"], try LaunchMeasurer(mode: .snpOVMFHash, firmware: firmware), VCPUConfiguration(count: 1, type: nil)),
        ]
        for (arguments, measurer, configuration) in cases {
            let (status, out, err) = try Oracle.cli(arguments + ["--ovmf", amdSev])
            #expect(status == 0, "\(arguments): \(err)")
            #expect(out.trimmingCharacters(in: .whitespacesAndNewlines) == (try measurer.measure(configuration)).hexString, "\(arguments)")
        }
    }

    /// Debian's 4M code image has no SEV metadata: it cannot start an SNP guest, so no SNP digest exists
    /// (sev-snp-measure prints one anyway; the firmware-only digest is still available).
    @Test func debianImageWithoutMetadataIsRefusedForSNP() throws {
        for image in Self.debianImages {
            let firmware = try FirmwareImage(path: image)
            guard firmware.metadata == nil else { continue }
            #expect(throws: MeasurementError.noSEVMetadata) { try LaunchMeasurer(mode: .sevSNP, firmware: firmware) }
            #expect(try LaunchMeasurer(mode: .snpOVMFHash, firmware: firmware).firmwareDigest?.count == 48)
        }
    }

    /// Firmware that cannot measure a kernel: both implementations refuse.
    @Test(.enabled(if: Oracle.shouldRun, Comment(rawValue: Oracle.missingMessage)))
    func kernelOnStandardBuildFailsInBoth() throws {
        let standard = try Fixtures.path("ovmf_OvmfX64_suffix.bin")
        let scratch = try ScratchDirectory()
        let kernel = try scratch.write("k", [1, 2, 3])
        var oracleCase = Oracle.Case(mode: "snp", ovmf: standard, vcpus: 1, sig: 0xA00F11)
        oracleCase.kernel = kernel
        let result = try Oracle.batch([oracleCase])
        #expect(result[0].hasPrefix("error"))
        #expect(throws: MeasurementError.self) {
            try LaunchMeasurer(mode: .sevSNP, firmware: try FirmwareImage(path: standard),
                               hashes: SEVHashesTable(kernel: [1, 2, 3], initrd: nil, cmdline: nil))
        }
    }
}
