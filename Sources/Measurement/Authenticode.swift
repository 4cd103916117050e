import Crypto

/// The Authenticode digest of a PE/COFF image (Microsoft's "Windows Authenticode Portable Executable
/// Signature Format", the hash UEFI firmware extends for an EV_EFI_BOOT_SERVICES_APPLICATION): the
/// headers up to SizeOfHeaders without the CheckSum field and the Certificate Table data directory entry,
/// then each section's raw data in file order, then whatever the file holds after the last section
/// except the attribute certificate table itself.
public enum Authenticode {
    public enum Failure: Error, Equatable, CustomStringConvertible, Sendable {
        case notPE(String)
        case malformed(String)

        public var description: String {
            switch self {
            case .notPE(let why): return "not a PE/COFF image: \(why)"
            case .malformed(let why): return "malformed PE/COFF image: \(why)"
            }
        }
    }

    /// The spans of `image` the digest covers, in order (offset, length).
    public static func hashedRanges(_ image: [UInt8]) throws -> [Range<Int>] {
        func u16(_ at: Int) -> Int { Int(image[at]) | Int(image[at + 1]) << 8 }
        func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
        guard image.count >= 0x40, image[0] == 0x4D, image[1] == 0x5A else { throw Failure.notPE("no MZ header") }
        let pe = u32(0x3C)
        guard pe <= image.count - 24, image[pe..<(pe + 4)].elementsEqual([0x50, 0x45, 0, 0]) else {
            throw Failure.notPE("e_lfanew 0x\(String(pe, radix: 16)) does not point at a PE signature")
        }
        let sectionCount = u16(pe + 6)
        let optionalSize = u16(pe + 20)
        let optional = pe + 24
        guard optionalSize >= 2, optional + optionalSize <= image.count else {
            throw Failure.malformed("the optional header (\(optionalSize) bytes) runs past the end of the file")
        }
        let magic = u16(optional)
        // The data directories start at 96 (PE32) or 112 (PE32+); NumberOfRvaAndSizes sits just before.
        let directories: Int
        switch magic {
        case 0x10B: directories = optional + 96
        case 0x20B: directories = optional + 112
        default: throw Failure.malformed("optional header magic 0x\(String(magic, radix: 16)) is neither PE32 nor PE32+")
        }
        guard directories <= optional + optionalSize else { throw Failure.malformed("the optional header ends before its data directories") }
        let directoryCount = u32(directories - 4)
        let checksum = optional + 64
        let sizeOfHeaders = u32(optional + 60)
        let certificateEntry = directories + 4 * 8
        let hasCertificateEntry = directoryCount > 4 && certificateEntry + 8 <= optional + optionalSize
        let sectionTable = optional + optionalSize
        guard sectionTable + 40 * sectionCount <= image.count else {
            throw Failure.malformed("\(sectionCount) section headers run past the end of the file")
        }
        guard sizeOfHeaders >= sectionTable + 40 * sectionCount, sizeOfHeaders <= image.count else {
            throw Failure.malformed("SizeOfHeaders \(sizeOfHeaders) does not cover the section table or exceeds the file")
        }
        var ranges: [Range<Int>] = [0..<checksum]
        if hasCertificateEntry {
            ranges += [(checksum + 4)..<certificateEntry, (certificateEntry + 8)..<sizeOfHeaders]
        } else {
            ranges.append((checksum + 4)..<sizeOfHeaders)
        }
        var sections: [(offset: Int, size: Int)] = []
        for index in 0..<sectionCount {
            let header = sectionTable + 40 * index
            let (size, offset) = (u32(header + 16), u32(header + 20))
            guard size > 0 else { continue }
            guard offset <= image.count, size <= image.count - offset else {
                throw Failure.malformed("section \(index) (\(size) bytes at 0x\(String(offset, radix: 16))) runs past the end of the file")
            }
            sections.append((offset, size))
        }
        var hashed = sizeOfHeaders
        for section in sections.sorted(by: { $0.offset < $1.offset }) {
            ranges.append(section.offset..<(section.offset + section.size))
            hashed = max(hashed, section.offset + section.size)
        }
        // The rest of the file, less the attribute certificate table when there is one.
        var end = image.count
        if hasCertificateEntry {
            let (tableOffset, tableSize) = (u32(certificateEntry), u32(certificateEntry + 4))
            if tableSize > 0 {
                guard tableOffset >= hashed, tableOffset <= image.count, tableSize <= image.count - tableOffset else {
                    throw Failure.malformed("the certificate table (\(tableSize) bytes at 0x\(String(tableOffset, radix: 16))) is not after the sections inside the file")
                }
                end = image.count - tableSize
            }
        }
        if end > hashed { ranges.append(hashed..<end) }
        return ranges
    }

    public static func digest<H: HashFunction>(_ image: [UInt8], using _: H.Type) throws -> [UInt8] {
        var hash = H()
        let ranges = try hashedRanges(image)
        image.withUnsafeBytes { buffer in
            for range in ranges { hash.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[range])) }
        }
        return Array(hash.finalize())
    }

    public static func sha384(_ image: [UInt8]) throws -> [UInt8] { try digest(image, using: SHA384.self) }
    public static func sha256(_ image: [UInt8]) throws -> [UInt8] { try digest(image, using: SHA256.self) }
}
