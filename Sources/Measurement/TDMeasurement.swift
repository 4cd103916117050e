import Crypto
import SEVABI

/// MRTD, the build-time measurement of a TD, as the TDX module forms it while QEMU and KVM add the
/// TDVF (KVM_TDX_INIT_MEM_REGION for each metadata section, in metadata order, page by page):
/// TDH.MEM.PAGE.ADD hashes a 128-byte block {"MEM.PAGE.ADD", GPA at byte 16}; for a section with
/// MR_EXTEND, each page is followed by 16 TDH.MR.EXTENDs, each a 128-byte block {"MR.EXTEND", GPA
/// of the 256-byte chunk at byte 16} and the chunk itself. MRTD is SHA-384 over that whole stream
/// (TDH.MR.INIT starts it, TDH.MR.FINALIZE ends it). vCPUs, memory size and the kernel do not enter it.
public enum TDMeasurement {
    static let pageSize = 4096
    static let chunkSize = 256

    public static func mrtd(firmware image: [UInt8]) throws -> [UInt8] {
        try mrtd(firmware: image, metadata: TDVFMetadata(image: image))
    }

    public static func mrtd(firmware image: [UInt8], metadata: TDVFMetadata) throws -> [UInt8] {
        var hash = SHA384()
        var block = [UInt8](repeating: 0, count: 128)
        let zeroChunk = [UInt8](repeating: 0, count: chunkSize)
        func header(_ tag: StaticString, _ gpa: UInt64) -> [UInt8] {
            for i in block.indices { block[i] = 0 }
            tag.withUTF8Buffer { for (i, byte) in $0.enumerated() { block[i] = byte } }
            for i in 0..<8 { block[16 + i] = UInt8(truncatingIfNeeded: gpa >> (8 * UInt64(i))) }
            return block
        }
        for section in metadata.sections {
            if section.extendsMRTD && section.type == .tdHOB { throw MeasurementError.measuredTDHOB }
            let copied = section.type == .bfv || section.type == .cfv
            for page in 0..<Int(section.memoryDataSize / UInt64(pageSize)) {
                let gpa = section.memoryAddress + UInt64(page * pageSize)
                hash.update(data: header("MEM.PAGE.ADD", gpa))
                guard section.extendsMRTD else { continue }
                for chunk in 0..<(pageSize / chunkSize) {
                    hash.update(data: header("MR.EXTEND", gpa + UInt64(chunk * chunkSize)))
                    if copied {
                        let at = Int(section.dataOffset) + page * pageSize + chunk * chunkSize
                        image.withUnsafeBytes { hash.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[at..<at + chunkSize])) }
                    } else {
                        hash.update(data: zeroChunk)
                    }
                }
            }
        }
        return Array(hash.finalize())
    }
}
