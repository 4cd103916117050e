import ArgumentParser
import Foundation
import Measurement
import SEVABI

struct MeasureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "measure",
        abstract: "Predict the SEV, SEV-ES or SEV-SNP launch measurement of a guest (or a TD's MRTD and RTMRs), or a whole table of them.",
        discussion: """
        Examples:
          cvm measure --mode sev-snp --firmware OVMF.fd --vcpus 4 --cpu EPYC-Milan
          cvm measure --mode sev-snp --firmware OVMF.amdsev.fd --vcpus 2 \\
              --cpu EPYC-Genoa \\
              --kernel vmlinuz --initrd initrd.img --append 'console=ttyS0'
          cvm measure --mode sev-es --firmware OVMF.fd --vcpus 1-64 \\
              --cpu EPYC-Milan,EPYC-Genoa --vmm-type qemu,ec2 --json
          cvm measure --mode snp:ovmf-hash --firmware OVMF.fd
          cvm measure --mode sev-snp --firmware OVMF.fd --snp-ovmf-hash HEX \\
              --vcpus 4 --cpu EPYC-Milan
          cvm measure --mode snp:svsm --firmware OVMF_CODE.fd --svsm svsm.bin \\
              --vars-size 540672 --vcpus 2 --cpu EPYC-Genoa
          cvm measure --mode tdx --firmware OVMF.inteltdx.fd --kernel vmlinuz \\
              --initrd initrd.img --append 'console=hvc0' --memory 2G --json

        --vcpus, --cpu, --vmm-type and --guest-features take lists and ranges (4, 1-64, 1,2,4-8). \
        One combination prints the measurement; several print one row per combination as CSV, or as a \
        JSON array with --json. The firmware part is hashed once for the whole table. \
        vCPU types: \(VCPUType.known.compactMap(\.name).joined(separator: ", ")). \
        Modes: sev, sev-es, sev-snp, snp:ovmf-hash (the firmware digest alone, a starting value for \
        --snp-ovmf-hash), snp:svsm (COCONUT-SVSM below OVMF; QEMU only). \
        Measured direct kernel boot needs an OVMF with the kernel-hashes table (OvmfPkg/AmdSev build).

        --mode tdx predicts MRTD from the TDVF; with --kernel (and --initrd, --append) also RTMR1 and RTMR2 \
        of QEMU's direct boot: the kernel's Authenticode digest and the TDVF's boot events in RTMR1, the \
        Linux EFI stub's (Linux ≥ 6.9) LoadOptions and initrd events in RTMR2 (docs/TDX.md). RTMR0 (ACPI \
        tables, firmware configuration) is not predicted. Not yet compared with a TD on TDX hardware.
        """
    )

    enum OutputFormat: String, ExpressibleByArgument, CaseIterable { case hex, base64 }

    @Option(help: "sev, sev-es, sev-snp, snp:ovmf-hash, snp:svsm or tdx.") var mode: String
    @Option(help: "OVMF firmware image (the file QEMU maps below 4 GiB).") var firmware: String?
    @Option(help: .hidden) var ovmf: String?
    @Option(help: "Number of vCPUs: a number, list or range (required for sev-es, sev-snp, snp:svsm).") var vcpus: String?
    @Option(help: "vCPU model name(s), comma separated (QEMU -cpu names).") var cpu: String?
    @Option(help: .hidden) var vcpuType: String?
    @Option(help: "vCPU signature (CPUID Fn0000_0001_EAX), instead of --cpu.") var vcpuSig: String?
    @Option(help: "vCPU family, with --vcpu-model and --vcpu-stepping, instead of --cpu.") var vcpuFamily: Int?
    @Option(help: "vCPU model number.") var vcpuModel: Int?
    @Option(help: "vCPU stepping.") var vcpuStepping: Int?
    @Option(help: "VMM(s) that build the initial vCPU state: qemu, ec2, gce (comma separated).") var vmmType = "qemu"
    @Option(help: "Kernel for measured direct boot (kernel-hashes=on).") var kernel: String?
    @Option(help: "Initrd (with --kernel).") var initrd: String?
    @Option(help: "Kernel command line (with --kernel).") var append: String?
    @Option(help: "SEV_FEATURES of the SNP VMSA, one value or a comma list (default 0x1).") var guestFeatures = "0x1"
    @Option(help: "Precomputed firmware digest (hex, from --mode snp:ovmf-hash) to start the SNP chain from.") var snpOvmfHash: String?
    @Option(help: "snp:svsm: the COCONUT-SVSM image.") var svsm: String?
    @Option(help: "snp:svsm: size of the OVMF variable store in bytes.") var varsSize: UInt64?
    @Option(help: "snp:svsm: the OVMF variable store file (its size is used).") var varsFile: String?
    @Option(help: "How the digest is written: hex or base64.") var digestEncoding: OutputFormat?
    @Option(help: .hidden) var outputFormat: OutputFormat?
    @Flag(help: "Print JSON (an object, or an array for tables).") var json = false
    @Flag(help: "Print CSV even for a single combination.") var csv = false
    @Option(help: "Write the measured VMSA pages to DIR/vmsa<N>.bin (one combination only).") var dumpVmsa: String?
    @Option(help: "tdx with --kernel: guest memory, e.g. 512M or 2G (QEMU records the initrd's address, below it, in the kernel it hands over; default 512M as cvm run).")
    var memory: String?
    @Option(help: "tdx with --kernel: the TDVF's edk2 release as YYYYMM, e.g. 202502 (RTMR1 gained a separator in 202411; the initrd option moved in 202508). Default: the newest behaviour.")
    var edk2Release: Int?
    @Flag(help: "tdx with --kernel: hash the kernel file as given, not with QEMU's setup-header edits (a QEMU and TDVF that load etc/boot/kernel).")
    var unpatchedKernel = false
    @Option(help: "tdx with --kernel: whether the kernel's EFI stub measures the command line and initrd into RTMR2: auto (Linux ≥ 6.9, read from the kernel), yes (a distribution kernel with the change backported) or no.")
    var stubRtmr2: String = "auto"

    struct Row: Codable, Equatable {
        let mode: String
        let vcpus: Int?
        let vcpuType: String?
        let vcpuSignature: String?
        let vmmType: String?
        let guestFeatures: String?
        let measurement: String
    }

    func run() throws {
        try mappingMeasurementErrors(runMeasurement)
    }

    /// --firmware, or its old spelling --ovmf (kept hidden for one release).
    func firmwarePath() throws -> String {
        guard let path = firmware ?? ovmf else { throw CLIFailure.badInput("give the firmware image: --firmware OVMF.fd") }
        return path
    }

    private func runMeasurement() throws {
        if Self.isTDX(mode) { return try runTDX() }
        guard let launchMode = LaunchMode(parsing: mode) else {
            throw CLIFailure.badInput("unknown mode '\(mode)'; use sev, sev-es, sev-snp, snp:ovmf-hash, snp:svsm or tdx")
        }
        if kernel == nil && (initrd != nil || append != nil) { throw MeasurementError.initrdOrAppendWithoutKernel }
        if memory != nil || edk2Release != nil || unpatchedKernel || stubRtmr2 != "auto" {
            throw CLIFailure.badInput("--memory, --edk2-release, --unpatched-kernel and --stub-rtmr2 apply to --mode tdx (RTMR prediction)")
        }
        let measurer = try LaunchMeasurer(
            mode: launchMode, firmware: try FirmwareImage(path: try firmwarePath()), hashes: try kernelHashes(),
            ovmfDigest: try snpOvmfHash.map { try [UInt8](hex: $0, count: 48) }, svsm: try svsmInput(launchMode))
        let request = try tableRequest(launchMode)
        let rows = try measurer.table(request)
        if let dumpVmsa { try dump(measurer, rows: rows, to: dumpVmsa) }
        let rendered = rows.map(render)
        if rendered.count == 1 && !csv {
            if json { try printJSON(rendered[0]) } else { print(rendered[0].measurement) }
        } else if json {
            try printJSON(rendered)
        } else {
            print(Self.csvLines(rendered).joined(separator: "\n"))
        }
    }

    private func kernelHashes() throws -> SEVHashesTable? {
        guard let kernel else { return nil }
        return SEVHashesTable(kernel: try readFile(kernel), initrd: try initrd.map(readFile), cmdline: append)
    }

    private func svsmInput(_ launchMode: LaunchMode) throws -> SVSMInput? {
        guard launchMode == .snpSVSM else { return nil }
        guard let svsm else { throw MeasurementError.svsmNeedsVarsSize }
        let size: UInt64
        if let varsFile {
            size = UInt64(try readFile(varsFile).count)
        } else if let varsSize {
            size = varsSize
        } else {
            throw MeasurementError.svsmNeedsVarsSize
        }
        return SVSMInput(image: try readFile(svsm), varsSize: size)
    }

    private func tableRequest(_ launchMode: LaunchMode) throws -> MeasurementTableRequest {
        guard launchMode.measuresVCPUs else { return MeasurementTableRequest(vcpuCounts: [1], vcpuTypes: []) }
        guard let vcpus else {
            throw CLIFailure.badInput("mode \(launchMode.rawValue) needs --vcpus (a number, list or range such as 4 or 1-64)")
        }
        let counts = try parseIntegerList(vcpus)
        for count in counts where !(1...LaunchMeasurer.maxVCPUs).contains(count) {
            throw MeasurementError.vcpuCountOutOfRange(count, max: LaunchMeasurer.maxVCPUs)
        }
        var types: [VCPUType?] = []
        if let vcpuSig {
            guard let value = parseUnsignedInteger(vcpuSig, as: UInt32.self) else {
                throw CLIFailure.badInput("--vcpu-sig '\(vcpuSig)' is not a 32-bit number")
            }
            types = [VCPUType(signature: value)]
        } else if vcpuFamily != nil || vcpuModel != nil || vcpuStepping != nil {
            guard let vcpuFamily, let vcpuModel, let vcpuStepping else {
                throw CLIFailure.badInput("--vcpu-family, --vcpu-model and --vcpu-stepping go together")
            }
            types = [try VCPUType(family: vcpuFamily, model: vcpuModel, stepping: vcpuStepping)]
        } else if let cpuModels = cpu ?? vcpuType {
            types = try Self.list(cpuModels).map { try VCPUType(named: $0) }
        }
        let vmms = try Self.list(vmmType).map { try VMMType(parsing: $0) }
        let features = try Self.list(guestFeatures).map { text -> UInt64 in
            guard let value = parseUnsignedInteger(text, as: UInt64.self) else {
                throw CLIFailure.badInput("--guest-features '\(text)' is not a 64-bit number")
            }
            return value
        }
        return MeasurementTableRequest(vcpuCounts: counts, vcpuTypes: types, vmms: vmms, guestFeatures: features)
    }

    private static func list(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.filter { $0 != " " } }.filter { !$0.isEmpty }
    }

    private func render(_ row: MeasurementRow) -> Row {
        let value = (digestEncoding ?? outputFormat ?? .hex) == .hex ? row.digest.hexString : Data(row.digest).base64EncodedString()
        let config = row.configuration
        return Row(mode: row.mode.rawValue, vcpus: config?.count, vcpuType: config?.type?.name,
                   vcpuSignature: config?.type.map { "0x" + String($0.signature, radix: 16) },
                   vmmType: config?.vmm.rawValue, guestFeatures: config.map { "0x" + String($0.guestFeatures, radix: 16) },
                   measurement: value)
    }

    static func csvLines(_ rows: [Row]) -> [String] {
        ["mode,vmm_type,vcpu_type,vcpu_signature,guest_features,vcpus,measurement"] + rows.map { row in
            [row.mode, row.vmmType ?? "", row.vcpuType ?? "", row.vcpuSignature ?? "", row.guestFeatures ?? "",
             row.vcpus.map(String.init) ?? "", row.measurement].joined(separator: ",")
        }
    }

    private func dump(_ measurer: LaunchMeasurer, rows: [MeasurementRow], to directory: String) throws {
        guard measurer.mode.measuresVCPUs else {
            throw CLIFailure.badInput("--dump-vmsa needs mode sev-es, sev-snp or snp:svsm")
        }
        guard rows.count == 1, let configuration = rows[0].configuration else {
            throw CLIFailure.badInput("--dump-vmsa works with one combination, not a table of \(rows.count)")
        }
        let pages = try measurer.vmsaPages(for: configuration)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for index in 0..<configuration.count {
                let url = URL(fileURLWithPath: directory).appendingPathComponent("vmsa\(index).bin")
                try Data(index == 0 ? pages.bsp : pages.ap).write(to: url)
            }
        } catch {
            throw CLIFailure.badInput("cannot write VMSA pages to '\(directory)': \(error.localizedDescription)")
        }
    }
}

/// Runs `body`, turning Measurement and SEVABI input errors into one-line exit-2 failures.
func mappingMeasurementErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as MeasurementError {
        throw CLIFailure.badInput(error.description)
    } catch let error as HexError {
        throw CLIFailure.badInput(error.description)
    } catch let error as PolicyError {
        throw CLIFailure.badInput("invalid policy: \(error)")
    }
}
