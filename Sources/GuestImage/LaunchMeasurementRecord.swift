import Crypto
import Foundation
import Measurement
import SEVABI

/// What an "oci" bundle was built from (manifest.json `image`).
public struct ContainerImageRecord: Codable, Sendable, Equatable {
    /// The manifest digest, or the config digest for a legacy docker archive (which has no manifest).
    public var digest: String
    public var manifestDigest: String?
    public var configDigest: String
    public var format: String
    public var platform: String?
    /// The source as given, without its directories (`docker-archive:app.tar`): the digest identifies it.
    public var source: String
    public var tags: [String]
    public var entrypoint: [String]?
    public var cmd: [String]?
    public var env: [String]
    public var workingDir: String?
    public var user: String?
    /// Entries of the flattened root (the root itself not counted) and bytes of file content.
    public var entries: Int
    public var fileBytes: Int64
}

/// Whether an SEV launch measurement covers the bundle's kernel, initrd and cmdline (manifest.json
/// `launchMeasurement`). They are covered only with measured direct kernel boot: an OVMF built with the
/// SEV hashes table (OvmfPkg/AmdSev) and QEMU's `kernel-hashes=on`, which writes their SHA-256 digests
/// into the table the firmware measures and checks. Otherwise the measurement covers the firmware only.
public struct LaunchMeasurementRecord: Codable, Sendable, Equatable {
    public struct Firmware: Codable, Sendable, Equatable {
        /// File name without directories.
        public var file: String
        public var size: Int
        public var sha256: String
    }

    /// One expected launch digest (hex), as `cvm measure` prints it.
    public struct Row: Codable, Sendable, Equatable {
        public var mode: String
        /// Nil for SEV, whose digest does not depend on the vCPUs.
        public var vcpus: Int?
        public var vcpuType: String?
        public var vmm: String?
        public var guestFeatures: String?
        public var measurement: String
    }

    public var coversKernelInitrdCmdline: Bool
    /// One plain sentence for people.
    public var statement: String
    public var firmware: Firmware?
    public var measurements: [Row]
    /// Modes this firmware cannot launch with kernel hashes, and why.
    public var unavailableModes: [String: String]

    public static let defaultVCPUCounts = [1, 2, 4, 8]
    public static let defaultVCPUTypes = ["EPYC-v4", "EPYC-Milan", "EPYC-Genoa"]

    /// Kernel, initrd and cmdline are outside the launch measurement, for the reason given.
    public static func notCovered(_ reason: String, firmware: Firmware? = nil) -> LaunchMeasurementRecord {
        LaunchMeasurementRecord(
            coversKernelInitrdCmdline: false,
            statement: "kernel, initrd and cmdline are NOT covered by the launch measurement: \(reason)",
            firmware: firmware, measurements: [], unavailableModes: [:])
    }

    /// The expected SEV, SEV-ES and SNP launch digests of this kernel, initrd and cmdline booted by
    /// `firmware` with kernel-hashes=on, for every vCPU count × type (QEMU's VMSA layout, SEV_FEATURES
    /// 0x1 for SNP). A firmware without the SEV hashes table gives `notCovered`.
    public static func expected(firmware url: URL, kernel: PartDigest, initrd: PartDigest, cmdline: String,
                                vcpuCounts: [Int], vcpuTypes: [VCPUType]) throws -> LaunchMeasurementRecord {
        let image = try FirmwareImage(path: url.path)
        let firmware = Firmware(file: url.lastPathComponent, size: image.bytes.count, sha256: Array(SHA256.hash(data: image.bytes)).hexString)
        guard image.sevHashesTableGPA != nil else {
            return notCovered("firmware \(url.lastPathComponent) has no SEV kernel-hashes table (build OvmfPkg/AmdSev/AmdSevX64.dsc and give it with --firmware)", firmware: firmware)
        }
        let hashes = try SEVHashesTable(kernelHash: try [UInt8](hex: kernel.sha256, count: 32),
                                        initrdHash: try [UInt8](hex: initrd.sha256, count: 32), cmdline: cmdline)
        let (rows, unavailable) = table(image, hashes: hashes, vcpuCounts: vcpuCounts, vcpuTypes: vcpuTypes)
        guard !rows.isEmpty else {
            return notCovered("firmware \(url.lastPathComponent) cannot launch SEV, SEV-ES or SNP with kernel hashes", firmware: firmware)
        }
        return LaunchMeasurementRecord(
            coversKernelInitrdCmdline: true,
            statement: "kernel, initrd and cmdline are covered by the launch measurement when booted by firmware \(url.lastPathComponent) with kernel-hashes=on",
            firmware: firmware, measurements: rows, unavailableModes: unavailable)
    }

    /// The expected SEV, SEV-ES and SNP launch digests of a kernel that is its own firmware (the
    /// unikernel's firmware.fd, booted with -bios): the whole image is measured and nothing is loaded
    /// beside it. The command line comes through fw_cfg, outside the measurement.
    public static func firmwareBoot(image url: URL, vcpuCounts: [Int], vcpuTypes: [VCPUType]) throws -> LaunchMeasurementRecord {
        let image = try FirmwareImage(path: url.path)
        let firmware = Firmware(file: url.lastPathComponent, size: image.bytes.count, sha256: Array(SHA256.hash(data: image.bytes)).hexString)
        let (rows, unavailable) = table(image, hashes: nil, vcpuCounts: vcpuCounts, vcpuTypes: vcpuTypes)
        return LaunchMeasurementRecord(
            coversKernelInitrdCmdline: false,
            statement: "\(url.lastPathComponent) is kernel and firmware in one and is measured whole; the cmdline (fw_cfg) is NOT covered: the kernel prints its SHA-256",
            firmware: firmware, measurements: rows, unavailableModes: unavailable)
    }

    /// Rows for every mode the image can launch in (QEMU's VMSA layout, SEV_FEATURES 0x1 for SNP),
    /// and why the others cannot.
    static func table(_ image: FirmwareImage, hashes: SEVHashesTable?, vcpuCounts: [Int],
                      vcpuTypes: [VCPUType]) -> ([Row], [String: String]) {
        var rows: [Row] = []
        var unavailable: [String: String] = [:]
        for mode in [LaunchMode.sev, .sevES, .sevSNP] {
            do {
                let measurer = try LaunchMeasurer(mode: mode, firmware: image, hashes: hashes)
                let request = MeasurementTableRequest(vcpuCounts: vcpuCounts, vcpuTypes: vcpuTypes)
                rows += try measurer.table(request).map { row in
                    let configuration = row.configuration
                    return Row(mode: mode.rawValue, vcpus: configuration?.count, vcpuType: configuration?.type?.name,
                               vmm: configuration?.vmm.rawValue,
                               guestFeatures: mode == .sevSNP ? configuration.map { "0x" + String($0.guestFeatures, radix: 16) } : nil,
                               measurement: row.digest.hexString)
                }
            } catch {
                unavailable[mode.rawValue] = String(describing: error)
            }
        }
        return (rows, unavailable)
    }

    /// The expected digest of one launch of `mode` with `vcpus` by a launcher that passes
    /// kernel-hashes=on whenever the firmware takes it (`cvm bench`): covering the kernel, initrd and
    /// cmdline when `firmware` has the SEV hashes table, else the firmware and vCPUs only. Kernel and
    /// initrd are asked for and read only in the first case; a missing initrd is hashed as empty, as
    /// QEMU does. When they cannot be had: `GuestImageError.io`.
    public static func expected(firmware url: URL, cmdline: String, mode: LaunchMode, vcpus: VCPUConfiguration,
                                kernelAndInitrd: () throws -> (kernel: URL, initrd: URL?)) throws -> (measurement: String, coversKernelInitrdCmdline: Bool) {
        let image = try FirmwareImage(path: url.path)
        var hashes: SEVHashesTable?
        if image.sevHashesTableGPA != nil {
            do {
                let parts = try kernelAndInitrd()
                hashes = SEVHashesTable(kernel: try readFile(parts.kernel.path), initrd: try parts.initrd.map { try readFile($0.path) }, cmdline: cmdline)
            } catch {
                throw GuestImageError.io("cannot read the guest's kernel or initrd: \(error)")
            }
        }
        let digest = try LaunchMeasurer(mode: mode, firmware: image, hashes: hashes).measure(vcpus)
        return (digest.hexString, hashes != nil)
    }

    /// The expected digest for one launch, if the table has it (SEV rows match any vCPU count and type).
    public func measurement(mode: String, vcpus: Int, vcpuType: String?) -> String? {
        measurements.first { row in
            row.mode == mode && (row.vcpus == nil || row.vcpus == vcpus)
                && (row.vcpuType == nil || row.vcpuType?.lowercased() == vcpuType?.lowercased())
        }?.measurement
    }
}
