import HostOS
import Measurement
import SEVABI

/// What an OVMF image can do for confidential guests, read from its footer table and SEV metadata.
public struct FirmwareInfo: Sendable, Hashable, Codable {
    public var path: String
    public var size: Int
    public var hasFooterTable: Bool
    /// The "ASEV" metadata SNP launches need.
    public var hasSEVMetadata: Bool
    /// The SEV-ES reset block: needed for SEV-ES and SNP APs.
    public var hasSEVESResetBlock: Bool
    /// The reserved area QEMU fills with kernel/initrd/cmdline hashes (kernel-hashes=on).
    public var hasKernelHashesTable: Bool
    /// The SNP_KERNEL_HASHES metadata section (OvmfPkg/AmdSev builds).
    public var hasSNPKernelHashesSection: Bool
    /// The TDX metadata offset entry: a TDVF, which QEMU can load for a TD.
    public var hasTDXMetadata = false
    /// Set when the image could not be read or parsed.
    public var problem: String?

    public var supportsSEV: Bool { problem == nil }
    public var supportsSNP: Bool { hasSEVMetadata && hasSEVESResetBlock }
    public var supportsMeasuredKernelBoot: Bool { hasKernelHashesTable }
}

/// Finds OVMF code images in the usual distribution locations and inspects each.
public enum FirmwareDiscovery {
    public static let searchDirectories = ["/usr/share/OVMF", "/usr/share/ovmf", "/usr/share/edk2/ovmf", "/usr/share/edk2/x64", "/usr/share/qemu"]

    /// Images that can be firmware code: `.fd` files that are not variable stores. Distributions link
    /// variants to one file; each file is listed once, under the first name found.
    public static func candidates(in files: any HostFileSystem, directories: [String] = searchDirectories) -> [String] {
        var seen = Set<String>()
        return directories.flatMap { directory in
            files.list(directory)
                .filter { $0.hasSuffix(".fd") && !$0.uppercased().contains("VARS") }
                .map { "\(directory)/\($0)" }
        }.filter { seen.insert(files.identity(of: $0)).inserted }
    }

    /// The footer table lives in the last page; the SEV metadata a little further back. Only the tail
    /// is read, so even a recorded host carries a few KiB per image.
    public static func inspect(_ path: String, files: any HostFileSystem) -> FirmwareInfo {
        var info = FirmwareInfo(path: path, size: 0, hasFooterTable: false, hasSEVMetadata: false, hasSEVESResetBlock: false,
                                hasKernelHashesTable: false, hasSNPKernelHashesSection: false, problem: nil)
        guard let size = files.size(of: path) else {
            info.problem = "cannot read \(path)"
            return info
        }
        info.size = size
        guard size >= 4096, let lastPage = files.bytes(at: path, offset: size - 4096, length: 4096) else {
            info.problem = "image is smaller than one page"
            return info
        }
        do {
            let footer = try OVMFFooterTable(image: lastPage)
            info.hasFooterTable = !footer.isEmpty
            info.hasSEVESResetBlock = footer.entries[OVMFFooterTable.sevESResetBlockGUID] != nil
            info.hasTDXMetadata = footer.entries[OVMFFooterTable.tdxMetadataGUID] != nil
            if let hashes = footer.entries[OVMFFooterTable.sevHashTableGUID], hashes.count >= 4 {
                info.hasKernelHashesTable = (hashes.littleEndianInteger() as UInt32) != 0
            }
            if footer.entries[OVMFFooterTable.sevMetadataGUID] != nil {
                let offset = Int(try footer.u32(OVMFFooterTable.sevMetadataGUID, name: "SEV metadata"))
                let tail: [UInt8]
                if offset <= lastPage.count {
                    tail = lastPage
                } else {
                    let tailLength = min(size, (offset + 4095) / 4096 * 4096 + 4096)
                    guard let bytes = files.bytes(at: path, offset: size - tailLength, length: tailLength) else {
                        info.problem = "cannot read the SEV metadata \(offset) bytes before the end"
                        return info
                    }
                    tail = bytes
                }
                let metadata = try SEVMetadata(image: tail, offsetFromEnd: UInt32(offset))
                info.hasSEVMetadata = true
                info.hasSNPKernelHashesSection = metadata.has(.snpKernelHashes)
            }
        } catch {
            info.problem = "\(error)"
        }
        return info
    }
}
