import SEVABI

public enum CertificateTableError: Error, Equatable, CustomStringConvertible, Sendable {
    case truncated(entry: Int)
    case unterminated
    case outOfBounds(guid: String, offset: UInt32, length: UInt32, size: Int)

    public var description: String {
        switch self {
        case .truncated(let entry): return "certificate table entry \(entry) is truncated"
        case .unterminated: return "certificate table has no terminating all-zero entry"
        case let .outOfBounds(guid, offset, length, size):
            return "certificate \(guid) at offset \(offset) length \(length) lies outside the \(size)-byte blob"
        }
    }
}

/// The host-provided certificate table of an extended report / configfs-tsm auxblob (GHCB 56421,
/// "SNP Extended Guest Request"; SEV-REFERENCE section 7): 24-byte entries {GUID (RFC 4122 byte order),
/// offset u32, length u32} ended by an all-zero entry; offsets count from the start of the blob.
public struct CertificateTable: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public let guid: GUID
        public let data: [UInt8]

        public init(guid: GUID, data: [UInt8]) {
            self.guid = guid
            self.data = data
        }
    }

    public static let ark = GUID(static: "c0b406a4-a803-4952-9743-3fb6014cd0ae")
    public static let ask = GUID(static: "4ab7b379-bbac-4fe4-a02f-05aef327c782")
    public static let vcek = GUID(static: "63da758d-e664-4564-adc5-f4b93be8accd")
    public static let vlek = GUID(static: "a8074bc2-a25a-483e-aae6-39c045a0b8a1")

    public static func name(of guid: GUID) -> String? {
        [ark: "ark", ask: "ask", vcek: "vcek", vlek: "vlek"][guid]
    }

    public static func guid(named name: String) -> GUID? {
        ["ark": ark, "ask": ask, "vcek": vcek, "vlek": vlek][name.lowercased()]
    }

    public let entries: [Entry]

    public init(entries: [Entry]) { self.entries = entries }

    public init(bytes: [UInt8]) throws {
        let reader = ByteReader(bytes)
        var entries: [Entry] = []
        var index = 0
        while true {
            let base = index * 24
            guard let raw = try? reader.slice(at: base, count: 24) else {
                throw base >= bytes.count ? CertificateTableError.unterminated : CertificateTableError.truncated(entry: index)
            }
            if raw.allSatisfy({ $0 == 0 }) { break }
            let guid = try GUID(rfc4122Bytes: Array(raw[0..<16]))
            let offset: UInt32 = raw[16..<20].littleEndianInteger()
            let length: UInt32 = raw[20..<24].littleEndianInteger()
            guard let data = try? reader.slice(at: Int(offset), count: Int(length)) else {
                throw CertificateTableError.outOfBounds(guid: guid.description, offset: offset, length: length, size: bytes.count)
            }
            entries.append(Entry(guid: guid, data: data))
            index += 1
        }
        self.entries = entries
    }

    /// The blob: the entries, the zero terminator, then each certificate in order.
    public var bytes: [UInt8] {
        var header: [UInt8] = []
        var body: [UInt8] = []
        let start = (entries.count + 1) * 24
        for entry in entries {
            header += entry.guid.bytes
            header += UInt32(start + body.count).littleEndianBytes
            header += UInt32(entry.data.count).littleEndianBytes
            body += entry.data
        }
        return header + [UInt8](repeating: 0, count: 24) + body
    }

    /// The known certificates, parsed and placed by GUID.
    public func certificates() throws -> CertificateDirectory {
        var out = CertificateDirectory()
        for entry in entries {
            let cert = try Certificate(bytes: entry.data)
            switch entry.guid {
            case Self.ark: out.ark = cert
            case Self.ask: out.ask = cert
            case Self.vcek: out.vcek = cert
            case Self.vlek: out.vlek = cert
            default: continue
            }
        }
        return out
    }
}

extension GUID {
    /// The table stores GUIDs in RFC 4122 byte order, which is the text order.
    init(rfc4122Bytes raw: [UInt8]) throws {
        guard raw.count == 16 else { throw ParseError.invalid(raw.hexString) }
        let hex = raw.hexString
        let i = Array(hex)
        try self.init([0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(i[$0]) }.joined(separator: "-"))
    }
}
