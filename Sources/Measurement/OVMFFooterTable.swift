import SEVABI

/// The GUIDed table OVMF places at the end of its image (edk2 OvmfPkg/ResetVector/Ia16/ResetVectorVtf0.asm).
/// The table ends 32 bytes before the end of the image with a footer entry
/// {u16 total size, GUID 96b582de-1fb2-45f7-baea-a366c55a082d}; the entries before it are read backwards,
/// each laid out as data ‖ u16 size (data + 18) ‖ GUID.
public struct OVMFFooterTable: Sendable {
    public static let footerGUID = GUID(static: "96b582de-1fb2-45f7-baea-a366c55a082d")
    /// Data: u32 offset of the "ASEV" metadata header from the end of the image.
    public static let sevMetadataGUID = GUID(static: "dc886566-984a-4798-a75e-5585a7bf67cc")
    /// Data: u32 AP reset EIP for SEV-ES and SNP.
    public static let sevESResetBlockGUID = GUID(static: "00f771de-1a7e-4fcb-890e-68c77e2fb44e")
    /// Data: u32 GPA and u32 size of the reserved area QEMU fills with the SEV hashes table.
    public static let sevHashTableGUID = GUID(static: "7255371f-3a3b-4b04-927b-1da6efa8d454")
    /// Data (in a COCONUT-SVSM image): u32 offset of the SVSM entry point from the start of the image.
    public static let svsmInfoGUID = GUID(static: "a789a612-0597-4c4b-a49f-cbb1fe9d1ddd")
    /// The offset of the TDX metadata ("TDVF" descriptor) from the image's end: a TDVF (OVMF built for TDX).
    public static let tdxMetadataGUID = GUID(static: "e47a6535-984a-4798-865e-4685a7bf8ec2")

    static let entryHeaderSize = 18
    /// The footer entry ends this many bytes before the end of the image.
    static let trailerSize = 32

    /// Entry data by GUID.
    public let entries: [GUID: [UInt8]]

    /// Parses the table at the end of `image`. An image without the footer GUID yields an empty table;
    /// a footer whose sizes do not add up throws.
    public init(image: [UInt8]) throws {
        let reader = ByteReader(image)
        let footerStart = image.count - Self.trailerSize - Self.entryHeaderSize
        guard footerStart >= 0 else {
            entries = [:]
            return
        }
        let footerSize = Int(try reader.peekLE(UInt16.self, at: footerStart))
        let footerGUID = try GUID(efiBytes: try reader.slice(at: footerStart + 2, count: 16))
        guard footerGUID == Self.footerGUID else {
            entries = [:]
            return
        }
        let tableSize = footerSize - Self.entryHeaderSize
        guard tableSize >= 0, tableSize <= footerStart else {
            throw MeasurementError.corruptFooterTable("footer claims \(footerSize) bytes, image has \(footerStart + Self.entryHeaderSize) before the footer")
        }
        var found: [GUID: [UInt8]] = [:]
        var end = footerStart
        let start = footerStart - tableSize
        while end - start >= Self.entryHeaderSize {
            let headerAt = end - Self.entryHeaderSize
            let size = Int(try reader.peekLE(UInt16.self, at: headerAt))
            guard size >= Self.entryHeaderSize, size <= end - start else {
                throw MeasurementError.corruptFooterTable("entry at offset \(headerAt) has size \(size), \(end - start) bytes left in the table")
            }
            let guid = try GUID(efiBytes: try reader.slice(at: headerAt + 2, count: 16))
            found[guid] = try reader.slice(at: end - size, count: size - Self.entryHeaderSize)
            end -= size
        }
        entries = found
    }

    public var isEmpty: Bool { entries.isEmpty }

    /// The first four bytes of an entry's data as a little-endian u32.
    public func u32(_ guid: GUID, name: String) throws -> UInt32 {
        guard let data = entries[guid] else {
            throw MeasurementError.missingFooterEntry(name: name, guid: guid.description)
        }
        guard data.count >= 4 else {
            throw MeasurementError.corruptFooterTable("\(name) entry holds \(data.count) bytes, expected at least 4")
        }
        return data.littleEndianInteger()
    }
}
