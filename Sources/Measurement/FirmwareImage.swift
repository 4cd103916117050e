import Foundation
import SEVABI

/// An OVMF (or COCONUT-SVSM) image as it is mapped into guest memory: the image ends at `endAddress`
/// (4 GiB for OVMF), so its first byte sits at `endAddress - size`.
public struct FirmwareImage: Sendable {
    public static let fourGiB: UInt64 = 0x1_0000_0000

    public let bytes: [UInt8]
    public let footer: OVMFFooterTable
    /// Nil when the footer table has no SEV metadata entry.
    public let metadata: SEVMetadata?
    public let endAddress: UInt64

    public init(bytes: [UInt8], endAddress: UInt64 = FirmwareImage.fourGiB) throws {
        guard bytes.count >= 4096 else { throw MeasurementError.firmwareTooSmall(size: bytes.count) }
        guard bytes.count % 4096 == 0 else { throw MeasurementError.firmwareNotPageAligned(size: bytes.count) }
        guard UInt64(bytes.count) <= endAddress else { throw MeasurementError.svsmOverlapsFirmware }
        self.bytes = bytes
        self.endAddress = endAddress
        footer = try OVMFFooterTable(image: bytes)
        if footer.entries[OVMFFooterTable.sevMetadataGUID] != nil {
            let offset = try footer.u32(OVMFFooterTable.sevMetadataGUID, name: "SEV metadata")
            metadata = try SEVMetadata(image: bytes, offsetFromEnd: offset)
        } else {
            metadata = nil
        }
    }

    public init(path: String, endAddress: UInt64 = FirmwareImage.fourGiB) throws {
        try self.init(bytes: try readFile(path), endAddress: endAddress)
    }

    /// Guest physical address of the first byte.
    public var gpa: UInt64 { endAddress - UInt64(bytes.count) }

    /// The AP reset EIP from the SEV-ES reset block entry.
    public func sevESResetEIP() throws -> UInt32 {
        guard !footer.isEmpty else { throw MeasurementError.noFooterTable }
        return try footer.u32(OVMFFooterTable.sevESResetBlockGUID, name: "SEV-ES reset block")
    }

    /// GPA of the SEV hashes table QEMU fills for measured direct kernel boot, or nil if the image has none.
    public var sevHashesTableGPA: UInt32? {
        guard let gpa = try? footer.u32(OVMFFooterTable.sevHashTableGUID, name: "SEV hash table"), gpa != 0 else { return nil }
        return gpa
    }

    /// The metadata SNP launches need; throws when the image has none.
    public func requireMetadata() throws -> SEVMetadata {
        guard let metadata else {
            throw footer.isEmpty ? MeasurementError.noFooterTable : MeasurementError.noSEVMetadata
        }
        return metadata
    }
}

/// Reads a whole file, turning every failure into a one-line `MeasurementError.unreadableFile`.
public func readFile(_ path: String) throws -> [UInt8] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw MeasurementError.unreadableFile(path: path, reason: "no such file")
    }
    guard !isDirectory.boolValue else {
        throw MeasurementError.unreadableFile(path: path, reason: "is a directory")
    }
    // Devices and pipes (/dev/zero, a FIFO) would never end or never be the same twice.
    let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
    let type = (try? FileManager.default.attributesOfItem(atPath: resolved))?[.type] as? FileAttributeType
    guard type == .typeRegular else {
        throw MeasurementError.unreadableFile(path: path, reason: "not a regular file")
    }
    guard let data = FileManager.default.contents(atPath: path) else {
        throw MeasurementError.unreadableFile(path: path, reason: "permission denied or I/O error")
    }
    return [UInt8](data)
}
