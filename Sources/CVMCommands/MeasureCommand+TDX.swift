import Foundation
import Launch
import Measurement
import SEVABI

/// `cvm measure --mode tdx`: MRTD from the TDVF's metadata. The SEV axes that TDX does not measure
/// (vCPU model, VMM, SEV features, SNP starting digest, SVSM, VMSA pages) are refused; --vcpus is
/// accepted so a table across modes keeps its rows, and each row says the same MRTD.
extension MeasureCommand {
    struct TDXRow: Codable, Equatable {
        let mode: String
        let vcpus: Int?
        let mrtd: String
        var rtmr1: String? = nil
        var rtmr2: String? = nil
        var events: [TDRuntimeMeasurement.Event]? = nil
    }

    static func isTDX(_ mode: String) -> Bool { mode.lowercased() == "tdx" }

    func runTDX() throws {
        let refused: [(String, Bool)] = [
            ("--cpu", cpu != nil || vcpuType != nil), ("--vcpu-sig", vcpuSig != nil),
            ("--vcpu-family/--vcpu-model/--vcpu-stepping", vcpuFamily != nil || vcpuModel != nil || vcpuStepping != nil),
            ("--vmm-type", vmmType != "qemu"), ("--guest-features", guestFeatures != "0x1"),
            ("--snp-ovmf-hash", snpOvmfHash != nil), ("--svsm", svsm != nil || varsSize != nil || varsFile != nil),
            ("--dump-vmsa", dumpVmsa != nil),
        ]
        if let (option, _) = refused.first(where: \.1) {
            throw CLIFailure.badInput("\(option) is an SEV input; a TD's MRTD covers the TDVF only (the TDX module sets the vCPU state)")
        }
        if kernel == nil && (initrd != nil || append != nil) { throw MeasurementError.initrdOrAppendWithoutKernel }
        let image = try readFile(try firmwarePath())
        let mrtd = try TDMeasurement.mrtd(firmware: image)
        let counts: [Int?]
        if let vcpus {
            let parsed = try parseIntegerList(vcpus)
            for count in parsed where !(1...LaunchMeasurer.maxVCPUs).contains(count) {
                throw MeasurementError.vcpuCountOutOfRange(count, max: LaunchMeasurer.maxVCPUs)
            }
            counts = parsed
        } else {
            counts = [nil]
        }
        let encode = { (bytes: [UInt8]) in (digestEncoding ?? outputFormat ?? .hex) == .hex ? bytes.hexString : Data(bytes).base64EncodedString() }
        let runtime = try runtimeEvents()
        let registers = runtime.map(TDRuntimeMeasurement.replay)
        let rows = counts.map {
            TDXRow(mode: "tdx", vcpus: $0, mrtd: encode(mrtd), rtmr1: registers.map { encode($0[1]) },
                   rtmr2: registers.map { encode($0[2]) }, events: runtime)
        }
        if runtime != nil {
            printError("note: RTMR1/RTMR2 follow the TDVF's and Linux's (≥ 6.9) direct-boot events; RTMR0 (ACPI tables, firmware configuration) is not predicted; not yet compared with a TD on TDX hardware")
        }
        if rows.count == 1 && !csv {
            if json {
                try printJSON(rows[0])
            } else if let registers {
                print("mrtd  \(rows[0].mrtd)\nrtmr1 \(encode(registers[1]))\nrtmr2 \(encode(registers[2]))")
            } else {
                print(rows[0].mrtd)
            }
        } else if json {
            try printJSON(rows)
        } else {
            let header = runtime == nil ? "mode,vcpus,mrtd" : "mode,vcpus,mrtd,rtmr1,rtmr2"
            print(([header] + rows.map { row in
                ([row.mode, row.vcpus.map(String.init) ?? "", row.mrtd] + (runtime == nil ? [] : [row.rtmr1 ?? "", row.rtmr2 ?? ""]))
                    .joined(separator: ",")
            }).joined(separator: "\n"))
        }
    }

    /// The direct-boot events of RTMR1 and RTMR2 when a kernel is given.
    func runtimeEvents() throws -> [TDRuntimeMeasurement.Event]? {
        guard let kernel else {
            if memory != nil || edk2Release != nil || unpatchedKernel || stubRtmr2 != "auto" {
                throw CLIFailure.badInput("--memory, --edk2-release, --unpatched-kernel and --stub-rtmr2 need --kernel: MRTD alone depends on none of them")
            }
            return nil
        }
        var memoryBytes: UInt64 = 512 << 20
        if let memory {
            guard let mebibytes = MemorySize.mebibytes(memory), mebibytes > 0 else { throw CLIFailure.badInput("invalid --memory '\(memory)' (use e.g. 512M or 2G)") }
            memoryBytes = UInt64(mebibytes) << 20
        }
        if let edk2Release, !(201_801...209_912).contains(edk2Release) || !(1...12).contains(edk2Release % 100) {
            throw CLIFailure.badInput("--edk2-release \(edk2Release): give the edk2 stable release as YYYYMM, e.g. 202502")
        }
        let stubMeasures: Bool?
        switch stubRtmr2 {
        case "auto": stubMeasures = nil
        case "yes": stubMeasures = true
        case "no": stubMeasures = false
        default: throw CLIFailure.badInput("--stub-rtmr2 must be auto, yes or no, not '\(stubRtmr2)'")
        }
        let image = try readFile(kernel)
        if stubMeasures == nil, let version = TDRuntimeMeasurement.linuxVersion(ofBzImage: image), version < (6, 9) {
            printError("note: \(kernel) is Linux \(version.0).\(version.1): its EFI stub measures into RTMR2 only from 6.9 on, so RTMR2 is predicted to stay zero (--stub-rtmr2 yes for a kernel with the change backported)")
        }
        let inputs = TDRuntimeMeasurement.Inputs(
            kernel: image, initrd: try initrd.map { try readFile($0) }, commandLine: append ?? "",
            edk2Release: edk2Release, memoryBytes: memoryBytes, unpatchedKernel: unpatchedKernel, stubMeasuresRTMR2: stubMeasures)
        do { return try TDRuntimeMeasurement.events(inputs) } catch let error as CustomStringConvertible & Error {
            throw CLIFailure.badInput("\(kernel): \(error.description)")
        }
    }
}
