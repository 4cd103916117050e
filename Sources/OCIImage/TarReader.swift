/// Bounds on what a tar stream may claim, checked before anything is allocated or read.
public struct TarLimits: Sendable, Equatable {
    /// Largest PAX extended header or GNU long name/link record.
    public var maxMetadataBytes: Int = 1 << 20
    /// Largest size any single entry may declare.
    public var maxEntrySize: Int64 = 1 << 40
    /// Longest path or link target in bytes (Linux PATH_MAX).
    public var maxPathBytes: Int = 4096

    public init() {}
}

/// The kinds of entries a layer can hold; the tar typeflag they come from is in `TarReader`.
public enum TarEntryType: String, Sendable, Equatable, Codable {
    case regular, hardLink, symbolicLink, characterDevice, blockDevice, directory, fifo
}

/// One tar member after GNU long names and PAX records have been applied.
public struct TarEntry: Sendable, Equatable {
    /// The name as stored (not yet normalised: may start with `/` or `./`, may hold `..`).
    public var path: String
    public var type: TarEntryType
    /// Symbolic link target or hard link target, as stored.
    public var linkTarget: String
    /// Bytes of data that follow the header (0 for every type but regular files).
    public var size: Int64
    /// Permission bits including set-uid, set-gid and sticky (0o7777).
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    /// Seconds since the epoch; pre-1970 times are clamped to 0.
    public var mtime: Int64
    public var deviceMajor: UInt32
    public var deviceMinor: UInt32
    /// Offset of the entry's data within the stream.
    public var dataOffset: Int64
}

/// A streaming tar reader (POSIX ustar, GNU 'L'/'K' long names, PAX 'x'/'g' records). Every header
/// field is bounds-checked: checksums are verified, numbers must be octal or GNU base-256 and fit
/// their type, sizes are capped by `TarLimits`, names must be UTF-8 without NUL, and a stream that
/// ends inside a header or inside data is an error, never a short entry.
final class TarReader {
    private let reader: BufferedReader
    private let limits: TarLimits
    /// Unread data bytes of the current entry, then its padding to the 512-byte block.
    private var remainingData: Int64 = 0
    private var remainingPadding: Int64 = 0
    private var globalPAX: [String: String] = [:]
    private var ended = false

    init(_ reader: BufferedReader, limits: TarLimits = TarLimits()) {
        self.reader = reader
        self.limits = limits
    }

    /// The next entry, or nil after the end-of-archive block. Skips unread data of the previous one.
    func next() throws -> TarEntry? {
        guard !ended else { return nil }
        try skipRest()
        var longName: String?
        var longLink: String?
        var pax: [String: String] = [:]
        while true {
            let headerOffset = reader.consumed
            let (block, complete) = try reader.readExactly(512)
            if block.isEmpty {
                // A stream with no end-of-archive blocks at all is accepted, as GNU tar does;
                // but metadata records with no entry after them are a truncation.
                if longName != nil || longLink != nil || !pax.isEmpty {
                    throw TarError.truncated(offset: headerOffset, context: "extended header without an entry")
                }
                ended = true
                return nil
            }
            guard complete else { throw TarError.truncated(offset: headerOffset, context: "inside a header") }
            if block.allSatisfy({ $0 == 0 }) {
                ended = true
                return nil
            }
            try verifyChecksum(block, offset: headerOffset)
            let flag = block[156]
            var size = try number(block, 124, 12, field: "size", offset: headerOffset)
            if flag == UInt8(ascii: "x") || flag == UInt8(ascii: "g") || flag == UInt8(ascii: "L") || flag == UInt8(ascii: "K") {
                guard size <= Int64(limits.maxMetadataBytes) else {
                    throw TarError.tooLarge(field: "extended header size", value: size, limit: Int64(limits.maxMetadataBytes), offset: headerOffset)
                }
                let data = try readData(size, offset: headerOffset)
                switch flag {
                case UInt8(ascii: "x"): pax.merge(try parsePAX(data, offset: headerOffset)) { $1 }
                case UInt8(ascii: "g"): globalPAX.merge(try parsePAX(data, offset: headerOffset)) { $1 }
                case UInt8(ascii: "L"): longName = try string(data.prefix { $0 != 0 }, field: "GNU long name", offset: headerOffset)
                default: longLink = try string(data.prefix { $0 != 0 }, field: "GNU long link", offset: headerOffset)
                }
                continue
            }
            let ustar = block[257..<263].elementsEqual(Array("ustar\0".utf8))
            var name = try string(field(block, 0, 100), field: "name", offset: headerOffset)
            if ustar {
                let prefix = try string(field(block, 345, 155), field: "prefix", offset: headerOffset)
                if !prefix.isEmpty { name = prefix + "/" + name }
            }
            var link = try string(field(block, 157, 100), field: "linkname", offset: headerOffset)
            var uid = try number(block, 108, 8, field: "uid", offset: headerOffset)
            var gid = try number(block, 116, 8, field: "gid", offset: headerOffset)
            var mtime = try number(block, 136, 12, field: "mtime", offset: headerOffset, allowNegative: true)
            let mode = try number(block, 100, 8, field: "mode", offset: headerOffset)
            let major = try number(block, 329, 8, field: "devmajor", offset: headerOffset)
            let minor = try number(block, 337, 8, field: "devminor", offset: headerOffset)

            if let longName { name = longName }
            if let longLink { link = longLink }
            let records = globalPAX.merging(pax) { $1 }
            if records.keys.contains(where: { $0.hasPrefix("GNU.sparse.") }) {
                throw TarError.unsupportedType(flag: UInt8(ascii: "S"), name: name, offset: headerOffset)
            }
            if let value = records["path"], !value.isEmpty { name = value }
            if let value = records["linkpath"], !value.isEmpty { link = value }
            if let value = records["size"], !value.isEmpty { size = try paxInteger(value, key: "size", offset: headerOffset) }
            if let value = records["uid"], !value.isEmpty { uid = try paxInteger(value, key: "uid", offset: headerOffset) }
            if let value = records["gid"], !value.isEmpty { gid = try paxInteger(value, key: "gid", offset: headerOffset) }
            if let value = records["mtime"], !value.isEmpty { mtime = try paxTime(value, offset: headerOffset) }

            guard size <= limits.maxEntrySize else {
                throw TarError.tooLarge(field: "size", value: size, limit: limits.maxEntrySize, offset: headerOffset)
            }
            for (label, value) in [("uid", uid), ("gid", gid), ("devmajor", major), ("devminor", minor)] where value > Int64(UInt32.max) {
                throw TarError.tooLarge(field: label, value: value, limit: Int64(UInt32.max), offset: headerOffset)
            }
            for (label, value) in [("path", name), ("link target", link)] where value.utf8.count > limits.maxPathBytes {
                throw TarError.tooLarge(field: label + " length", value: Int64(value.utf8.count), limit: Int64(limits.maxPathBytes), offset: headerOffset)
            }

            let type: TarEntryType
            switch flag {
            case UInt8(ascii: "0"), 0, UInt8(ascii: "7"): type = name.hasSuffix("/") && flag != UInt8(ascii: "7") ? .directory : .regular
            case UInt8(ascii: "1"): type = .hardLink
            case UInt8(ascii: "2"): type = .symbolicLink
            case UInt8(ascii: "3"): type = .characterDevice
            case UInt8(ascii: "4"): type = .blockDevice
            case UInt8(ascii: "5"): type = .directory
            case UInt8(ascii: "6"): type = .fifo
            case UInt8(ascii: "V"):
                // A GNU volume label names the archive, not a file.
                _ = try readData(min(size, Int64(limits.maxMetadataBytes)), offset: headerOffset)
                pax = [:]; longName = nil; longLink = nil
                continue
            default:
                throw TarError.unsupportedType(flag: flag, name: String(name.prefix(200)), offset: headerOffset)
            }
            // Only regular files carry data; other types' size field is ignored, as Go's archive/tar
            // (used by Docker and containerd) does, so both read the same members from a crafted archive.
            let dataSize = type == .regular ? size : 0
            remainingData = dataSize
            remainingPadding = (512 - dataSize % 512) % 512
            return TarEntry(path: name, type: type, linkTarget: link, size: dataSize,
                            mode: UInt32(mode & 0o7777), uid: UInt32(uid), gid: UInt32(gid), mtime: max(0, mtime),
                            deviceMajor: UInt32(major), deviceMinor: UInt32(minor), dataOffset: reader.consumed)
        }
    }

    /// Streams the current entry's data in chunks; a stream that ends early is a truncation error.
    func readContent(_ body: (ArraySlice<UInt8>) throws -> Void) throws {
        while remainingData > 0 {
            let chunk = try reader.readChunk(max: Int(min(remainingData, 1 << 20)))
            guard !chunk.isEmpty else { throw TarError.truncated(offset: reader.consumed, context: "inside file data") }
            remainingData -= Int64(chunk.count)
            try body(chunk)
        }
    }

    /// The current entry's data as one array (for small metadata files).
    func readAllContent() throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Int(remainingData))
        try readContent { out.append(contentsOf: $0) }
        return out
    }

    private func skipRest() throws {
        let wanted = remainingData + remainingPadding
        guard wanted > 0 else { return }
        let skipped = try reader.skip(wanted)
        remainingData = 0
        remainingPadding = 0
        guard skipped == wanted else { throw TarError.truncated(offset: reader.consumed, context: "inside file data") }
    }

    private func readData(_ size: Int64, offset: Int64) throws -> [UInt8] {
        let (data, complete) = try reader.readExactly(Int(size))
        guard complete else { throw TarError.truncated(offset: offset, context: "inside an extended header") }
        let padding = (512 - size % 512) % 512
        guard try reader.skip(padding) == padding else { throw TarError.truncated(offset: offset, context: "inside an extended header") }
        return data
    }

    /// ustar checksum: the sum of all header bytes with the checksum field read as spaces. Historic
    /// tars summed signed bytes, so either sum is accepted.
    private func verifyChecksum(_ block: [UInt8], offset: Int64) throws {
        let stored = try number(block, 148, 8, field: "chksum", offset: offset)
        var unsigned: Int64 = 0
        var signed: Int64 = 0
        for (index, byte) in block.enumerated() {
            let value = (148..<156).contains(index) ? 0x20 : byte
            unsigned += Int64(value)
            signed += Int64(Int8(bitPattern: value))
        }
        guard stored == unsigned || stored == signed else {
            throw TarError.badChecksum(offset: offset, stored: stored, computed: unsigned)
        }
    }

    private func field(_ block: [UInt8], _ start: Int, _ length: Int) -> ArraySlice<UInt8> {
        block[start..<start + length].prefix { $0 != 0 }
    }

    private func string<C: Collection>(_ bytes: C, field: String, offset: Int64) throws -> String where C.Element == UInt8 {
        guard let text = String(validating: Array(bytes), as: UTF8.self) else { throw TarError.notUTF8(field: field, offset: offset) }
        guard !text.utf8.contains(0) else { throw TarError.notUTF8(field: field, offset: offset) }
        return text
    }

    /// An octal field (leading spaces, digits, then NUL/space padding) or GNU base-256 (high bit set).
    private func number(_ block: [UInt8], _ start: Int, _ length: Int, field: String, offset: Int64, allowNegative: Bool = false) throws -> Int64 {
        let bytes = block[start..<start + length]
        guard let first = bytes.first else { return 0 }
        if first & 0x80 != 0 {
            let negative = first & 0x40 != 0
            if negative && !allowNegative { throw TarError.negative(field: field, offset: offset) }
            if negative { return -1 }
            var value: Int64 = Int64(first & 0x3F)
            for byte in bytes.dropFirst() {
                guard value <= (Int64.max >> 8) else { throw TarError.tooLarge(field: field, value: Int64.max, limit: Int64.max, offset: offset) }
                value = value << 8 | Int64(byte)
            }
            return value
        }
        var index = bytes.startIndex
        while index < bytes.endIndex, bytes[index] == 0x20 { index += 1 }
        var value: Int64 = 0
        while index < bytes.endIndex, bytes[index] >= 0x30, bytes[index] <= 0x37 {
            guard value <= (Int64.max >> 3) else { throw TarError.tooLarge(field: field, value: Int64.max, limit: Int64.max, offset: offset) }
            value = value << 3 | Int64(bytes[index] - 0x30)
            index += 1
        }
        guard bytes[index...].allSatisfy({ $0 == 0 || $0 == 0x20 }) else { throw TarError.badNumber(field: field, offset: offset) }
        return value
    }

    /// PAX records: "<length> <key>=<value>\n", the length counting the whole record.
    private func parsePAX(_ data: [UInt8], offset: Int64) throws -> [String: String] {
        var records: [String: String] = [:]
        var position = 0
        while position < data.count {
            guard let space = data[position...].firstIndex(of: 0x20), space - position <= 20 else {
                throw TarError.badPAX(offset: offset, reason: "record without a length")
            }
            let digits = data[position..<space]
            guard !digits.isEmpty, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  let length = Int(String(decoding: digits, as: UTF8.self)),
                  length > space - position + 1, length <= data.count - position else {
                throw TarError.badPAX(offset: offset, reason: "record length is invalid")
            }
            let end = position + length
            guard data[end - 1] == 0x0A else { throw TarError.badPAX(offset: offset, reason: "record does not end with a newline") }
            let body = data[(space + 1)..<(end - 1)]
            guard let equals = body.firstIndex(of: UInt8(ascii: "=")) else {
                throw TarError.badPAX(offset: offset, reason: "record has no '='")
            }
            let key = try string(body[body.startIndex..<equals], field: "PAX key", offset: offset)
            let valueBytes = body[(equals + 1)...]
            if ["path", "linkpath", "size", "uid", "gid", "mtime"].contains(key) || key.hasPrefix("GNU.sparse.") {
                records[key] = try string(valueBytes, field: "PAX \(key)", offset: offset)
            }
            position = end
        }
        return records
    }

    private func paxInteger(_ value: String, key: String, offset: Int64) throws -> Int64 {
        guard value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            throw value.hasPrefix("-") ? TarError.negative(field: "PAX \(key)", offset: offset) : TarError.badPAX(offset: offset, reason: "\(key) '\(value.prefix(40))' is not a decimal number")
        }
        guard let number = Int64(value) else { throw TarError.tooLarge(field: "PAX \(key)", value: Int64.max, limit: Int64.max, offset: offset) }
        return number
    }

    /// PAX times are decimal seconds with an optional fraction, possibly negative; fractions are dropped.
    private func paxTime(_ value: String, offset: Int64) throws -> Int64 {
        let whole = value.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        let digits = whole.hasPrefix("-") ? String(whole.dropFirst()) : whole
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let number = Int64(digits) else {
            throw TarError.badPAX(offset: offset, reason: "mtime '\(value.prefix(40))' is not a number")
        }
        return whole.hasPrefix("-") ? -number : number
    }
}
