import Crypto
import SEVABI

/// The SEV hashes table QEMU writes into the firmware for measured direct kernel boot (kernel-hashes=on):
/// header {GUID 9438d606-..., u16 length} then three entries {GUID, u16 length 50, SHA-256} for the
/// command line, the initrd and the kernel, padded with zeros to a multiple of 16 bytes.
public struct SEVHashesTable: Sendable, Equatable {
    public static let headerGUID = GUID(static: "9438d606-4f22-4cc9-b479-a793d411fd21")
    public static let kernelGUID = GUID(static: "4de79437-abd2-427f-b835-d5b172d2045b")
    public static let initrdGUID = GUID(static: "44baf731-3a2f-4bd7-9af1-41e29169781d")
    public static let cmdlineGUID = GUID(static: "97d02dd8-bd20-4c94-aa78-e7714d36ab2a")

    static let entrySize = 16 + 2 + 32
    static let tableSize = 16 + 2 + 3 * entrySize

    public let kernelHash: [UInt8]
    public let initrdHash: [UInt8]
    public let cmdlineHash: [UInt8]

    /// An absent initrd hashes as the empty string; the command line is hashed with its trailing NUL
    /// (an absent command line is a lone NUL).
    public init(kernel: [UInt8], initrd: [UInt8]?, cmdline: String?) {
        kernelHash = Array(SHA256.hash(data: kernel))
        initrdHash = Array(SHA256.hash(data: initrd ?? []))
        cmdlineHash = Array(SHA256.hash(data: Array((cmdline ?? "").utf8) + [0]))
    }

    /// From the SHA-256 digests of kernel and initrd (computed while streaming large files) and the
    /// command line, hashed here with its trailing NUL.
    public init(kernelHash: [UInt8], initrdHash: [UInt8], cmdline: String?) throws {
        for (field, hash) in [("kernel SHA-256", kernelHash), ("initrd SHA-256", initrdHash)] where hash.count != 32 {
            throw MeasurementError.invalidLength(field: field, expected: 32, found: hash.count)
        }
        self.kernelHash = kernelHash
        self.initrdHash = initrdHash
        cmdlineHash = Array(SHA256.hash(data: Array((cmdline ?? "").utf8) + [0]))
    }

    /// The padded table bytes, exactly as QEMU lays them out.
    public var table: [UInt8] {
        var out = Self.headerGUID.efiBytes + UInt16(Self.tableSize).littleEndianBytes
        for (guid, hash) in [(Self.cmdlineGUID, cmdlineHash), (Self.initrdGUID, initrdHash), (Self.kernelGUID, kernelHash)] {
            out += guid.efiBytes + UInt16(Self.entrySize).littleEndianBytes + hash
        }
        let padded = (out.count + 15) & ~15
        return out + [UInt8](repeating: 0, count: padded - out.count)
    }

    /// The 4 KiB page that holds the table at `offset` (SNP measures the whole page).
    public func page(offset: Int) throws -> [UInt8] {
        let bytes = table
        guard offset >= 0, offset + bytes.count <= 4096 else {
            throw MeasurementError.corruptFooterTable("SEV hashes table at page offset \(offset) does not fit in its page")
        }
        var page = [UInt8](repeating: 0, count: 4096)
        page.replaceSubrange(offset..<offset + bytes.count, with: bytes)
        return page
    }
}
