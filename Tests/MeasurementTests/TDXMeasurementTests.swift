import Foundation
import Measurement
import SEVABI
import Testing

/// A TDVF-like image: random pages, a "TDVF" descriptor with the given sections, and the footer
/// table's TDX metadata entry pointing at it (edk2 IntelTdx layout rules).
struct SyntheticTDVF {
    /// (data offset, raw size, GPA, memory size, type, attributes)
    typealias Section = (UInt32, UInt32, UInt64, UInt64, UInt32, UInt32)
    var pages = 8
    var seed: UInt64 = 7
    var sections: [Section] = SyntheticTDVF.ovmfLike(pages: 8)
    var signature = "TDVF"
    var version: UInt32 = 1
    var lengthAdjust = 0
    var descriptorFromEnd: UInt32?

    /// OVMF.fd's shape: the variable store first, the code after it, both at the top of 4 GiB, then
    /// temporary memory and the TD HOB below 16 MiB.
    static func ovmfLike(pages: Int, tempExtended: Bool = false) -> [Section] {
        let size = UInt64(pages * 4096), base = 0x1_0000_0000 - size
        return [(4096 * 2, UInt32(size) - 4096 * 2, base + 4096 * 2, size - 4096 * 2, 0, 1),
                (0, 4096 * 2, base, 4096 * 2, 1, 0),
                (0, 0, 0x80_0000, 0x2000, 3, tempExtended ? 1 : 0),
                (0, 0, 0x80_2000, 0x1000, 2, 0)]
    }

    var bytes: [UInt8] {
        var rng = SplitMix(state: seed)
        var image = (0..<pages * 4096).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        var descriptor = Array(signature.utf8) + UInt32(16 + 32 * sections.count + lengthAdjust).littleEndianBytes
        descriptor += version.littleEndianBytes + UInt32(sections.count).littleEndianBytes
        for (offset, raw, gpa, size, type, attributes) in sections {
            descriptor += offset.littleEndianBytes + raw.littleEndianBytes + gpa.littleEndianBytes + size.littleEndianBytes
            descriptor += type.littleEndianBytes + attributes.littleEndianBytes
        }
        // The descriptor sits in the last page, below the footer table (as in IntelTdx's ResetVector).
        let start = image.count - 2048
        image.replaceSubrange(start..<start + descriptor.count, with: descriptor)
        var table = SyntheticFirmware.entry(OVMFFooterTable.tdxMetadataGUID, (descriptorFromEnd ?? 2048).littleEndianBytes)
        table += UInt16(table.count + 18).littleEndianBytes + OVMFFooterTable.footerGUID.efiBytes
        let end = image.count - 32
        image.replaceSubrange(end - table.count..<end, with: table)
        return image
    }
}

/// The spec-written hashlib oracle beside this file (Oracles/tdx_mrtd.py): no code shared with Swift.
enum MRTDOracle {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Oracles/tdx_mrtd.py").path

    static func mrtd(_ path: String) throws -> String {
        let (status, out, err) = try Oracle.run("/usr/bin/python3", [script, path])
        guard status == 0 else { throw Oracle.Failure(description: "tdx_mrtd.py failed: \(err)") }
        return out.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

@Suite struct TDXMeasurementTests {
    static let hostTDVF = "/usr/share/ovmf/OVMF.fd"

    @Test(.enabled(if: FileManager.default.fileExists(atPath: hostTDVF) || Oracle.isCI,
                   "Debian's ovmf package (OVMF.fd is a TDVF) is not installed"))
    func debianOVMFMatchesTheOracle() throws {
        let image = try readFile(Self.hostTDVF)
        let metadata = try TDVFMetadata(image: image)
        #expect(metadata.sections.map(\.type) == [.bfv, .cfv, .tempMem, .tempMem, .tdHOB, .tempMem])
        #expect(metadata.sections.filter(\.extendsMRTD).map(\.type) == [.bfv])
        #expect(try TDMeasurement.mrtd(firmware: image).hexString == MRTDOracle.mrtd(Self.hostTDVF))
    }

    @Test(arguments: [false, true])
    func syntheticLayoutsMatchTheOracle(tempExtended: Bool) throws {
        let scratch = try ScratchDirectory()
        for pages in [4, 8, 24] {
            var tdvf = SyntheticTDVF(pages: pages, seed: UInt64(pages))
            tdvf.sections = SyntheticTDVF.ovmfLike(pages: pages, tempExtended: tempExtended)
            // A measured CFV as well, placed after the TD HOB: order is the metadata's, not the GPA's.
            tdvf.sections.append((0, 4096, 0x1_0000_0000 - UInt64(pages * 4096), 4096, 1, 1))
            let path = try scratch.write("tdvf-\(pages).fd", tdvf.bytes)
            #expect(try TDMeasurement.mrtd(firmware: tdvf.bytes).hexString == MRTDOracle.mrtd(path))
        }
    }

    @Test func onlyExtendedContentsEnterMRTD() throws {
        let tdvf = SyntheticTDVF()
        let base = try TDMeasurement.mrtd(firmware: tdvf.bytes)
        var code = tdvf.bytes
        code[3 * 4096 + 100] ^= 1          // in the BFV (MR_EXTEND)
        #expect(try TDMeasurement.mrtd(firmware: code) != base)
        var vars = tdvf.bytes
        vars[100] ^= 1                     // in the CFV (added, not extended)
        #expect(try TDMeasurement.mrtd(firmware: vars) == base)
        var moved = tdvf
        moved.sections[3].2 += 0x1000      // the TD HOB's GPA
        #expect(try TDMeasurement.mrtd(firmware: moved.bytes) != base)
    }

    @Test func corruptMetadataIsRefusedWithQEMUsReason() throws {
        func failure(_ tdvf: SyntheticTDVF) -> String {
            do { _ = try TDMeasurement.mrtd(firmware: tdvf.bytes); return "accepted" } catch { return "\(error)" }
        }
        var t = SyntheticTDVF()
        t.signature = "TDVX"
        #expect(failure(t).contains("no \"TDVF\" signature"))
        t = SyntheticTDVF(); t.version = 2
        #expect(failure(t).contains("version 2"))
        t = SyntheticTDVF(); t.lengthAdjust = 32
        #expect(failure(t).contains("length 176 for 4 sections"))
        t = SyntheticTDVF(); t.sections = [t.sections[0]]
        #expect(failure(t).contains("1 sections"))
        t = SyntheticTDVF(); t.sections[2].4 = 4
        #expect(failure(t).contains("section 2 has type 4"))
        t = SyntheticTDVF(); t.sections[2].2 += 12
        #expect(failure(t).contains("not page aligned"))
        t = SyntheticTDVF(); t.sections[0].1 = UInt32(t.sections[0].3) + 4096
        #expect(failure(t).contains("exceeds memory size"))
        t = SyntheticTDVF(); t.sections[0].0 += 4096
        #expect(failure(t).contains("lie outside"))
        t = SyntheticTDVF(); t.sections[3].1 = 16
        #expect(failure(t).contains("not copied from the image"))
        t = SyntheticTDVF(); t.sections[3].5 = 1
        #expect(failure(t).contains("TD HOB"))
        t = SyntheticTDVF(); t.sections[2].2 = UInt64.max - 4095
        #expect(failure(t).contains("overflows"))
        t = SyntheticTDVF(); t.descriptorFromEnd = 1 << 20
        #expect(failure(t).contains("outside the"))
        t = SyntheticTDVF(); t.descriptorFromEnd = 8
        #expect(failure(t).contains("outside the"))
        #expect(failure(t).split(separator: "\n").count == 1)
        var sev = SyntheticFirmware()
        sev.pages = 4
        #expect(throws: MeasurementError.noTDXMetadata) { try TDMeasurement.mrtd(firmware: sev.bytes) }
    }
}
