import Foundation
import Measurement
import SEVABI

/// Builds OVMF-like images from the edk2 layout rules (footer GUID table ending 32 bytes before the end,
/// entries read backwards, "ASEV" metadata referenced by its offset from the end), so tests can cover
/// firmware Debian does not ship: kernel-hashes tables, SVSM images, odd section orders.
struct SyntheticFirmware {
    var pages = 16
    var seed: UInt64 = 1
    var resetEIP: UInt32? = 0xFFFF_F000
    /// (gpa, size, type) in the order they appear in the metadata.
    var sections: [(UInt32, UInt32, UInt32)] = SyntheticFirmware.snpSections(kernelHashes: false)
    var includeMetadata = true
    /// Data of the SEV hash table entry: GPA of the table (its low 12 bits are the offset in its page).
    var hashesTableGPA: UInt32?
    /// SVSM images: entry point offset from the image start.
    var svsmEntryOffset: UInt32?
    var includeFooter = true

    static func snpSections(kernelHashes: Bool, caa: Bool = false) -> [(UInt32, UInt32, UInt32)] {
        var out: [(UInt32, UInt32, UInt32)] = [
            (0x80_0000, 0x9000, 1), (0x80_9000, 0x2000, 1), (0x80_B000, 0x1000, 2), (0x80_C000, 0x1000, 3),
        ]
        if kernelHashes { out.append((0x80_D000, 0x1000, 0x10)) }
        if caa { out.append((0x80_E000, 0x1000, 4)) }
        out.append((0x80_F000, 0x1000, 1))
        return out
    }

    static func entry(_ guid: GUID, _ data: [UInt8]) -> [UInt8] {
        data + UInt16(data.count + 18).littleEndianBytes + guid.efiBytes
    }

    var bytes: [UInt8] {
        var rng = SplitMix(state: seed)
        var image = (0..<pages * 4096).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        guard includeFooter else { return image }
        var table: [UInt8] = []
        if includeMetadata {
            var metadata = Array("ASEV".utf8) + UInt32(16 + 12 * sections.count).littleEndianBytes
            metadata += UInt32(1).littleEndianBytes + UInt32(sections.count).littleEndianBytes
            for (gpa, size, type) in sections {
                metadata += gpa.littleEndianBytes + size.littleEndianBytes + type.littleEndianBytes
            }
            // The metadata sits at the start of the last page; the footer table sits at its end.
            let start = image.count - 4096
            image.replaceSubrange(start..<start + metadata.count, with: metadata)
            table += Self.entry(OVMFFooterTable.sevMetadataGUID, UInt32(4096).littleEndianBytes)
        }
        if let hashesTableGPA {
            table += Self.entry(OVMFFooterTable.sevHashTableGUID, hashesTableGPA.littleEndianBytes + UInt32(0x400).littleEndianBytes)
        }
        if let resetEIP {
            table += Self.entry(OVMFFooterTable.sevESResetBlockGUID, resetEIP.littleEndianBytes)
        }
        if let svsmEntryOffset {
            table += Self.entry(OVMFFooterTable.svsmInfoGUID, svsmEntryOffset.littleEndianBytes)
        }
        table += UInt16(table.count + 18).littleEndianBytes + OVMFFooterTable.footerGUID.efiBytes
        let end = image.count - 32
        image.replaceSubrange(end - table.count..<end, with: table)
        return image
    }
}

/// A small deterministic generator so every run builds the same images.
struct SplitMix {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A scratch directory removed when the value is released.
final class ScratchDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-measure-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = url.appendingPathComponent(name).path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    deinit { try? FileManager.default.removeItem(at: url) }
}

enum Fixtures {
    static func path(_ name: String) throws -> String {
        guard let url = Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil) else {
            throw Oracle.Failure(description: "fixture \(name) missing")
        }
        return url.path
    }

    static func bytes(_ name: String) throws -> [UInt8] { try readFile(try path(name)) }
}
