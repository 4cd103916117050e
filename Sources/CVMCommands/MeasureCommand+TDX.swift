import Foundation
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
        let value = (digestEncoding ?? outputFormat ?? .hex) == .hex ? mrtd.hexString : Data(mrtd).base64EncodedString()
        let rows = counts.map { TDXRow(mode: "tdx", vcpus: $0, mrtd: value) }
        if rows.count == 1 && !csv {
            if json { try printJSON(rows[0]) } else { print(value) }
        } else if json {
            try printJSON(rows)
        } else {
            print((["mode,vcpus,mrtd"] + rows.map { "\($0.mode),\($0.vcpus.map(String.init) ?? ""),\($0.mrtd)" }).joined(separator: "\n"))
        }
    }
}
