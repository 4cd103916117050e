import SEVABI

/// Just enough of a little-endian ELF64 file (System V gABI, "ELF Header" and "Sections") to read a
/// kernel module's `.modinfo` and to tell a static executable from a dynamic one.
struct ELFFile {
    struct Section {
        let name: String
        let offset: Int
        let size: Int
    }

    let bytes: [UInt8]
    let sections: [Section]
    /// p_type of every program header (PT_INTERP = 3 marks a dynamically linked executable).
    let programHeaderTypes: [UInt32]

    init(bytes: [UInt8], name: String) throws {
        self.bytes = bytes
        let reader = ByteReader(bytes)
        do {
            guard try reader.slice(at: 0, count: 4) == [0x7F, 0x45, 0x4C, 0x46] else {
                throw GuestImageError.invalidELF("\(name): no ELF magic")
            }
            guard try reader.slice(at: 4, count: 2) == [2, 1] else {
                throw GuestImageError.invalidELF("\(name): not a little-endian 64-bit ELF file")
            }
            let phoff = Int(try reader.peekLE(UInt64.self, at: 0x20))
            let shoff = Int(try reader.peekLE(UInt64.self, at: 0x28))
            let phentsize = Int(try reader.peekLE(UInt16.self, at: 0x36))
            let phnum = Int(try reader.peekLE(UInt16.self, at: 0x38))
            let shentsize = Int(try reader.peekLE(UInt16.self, at: 0x3A))
            let shnum = Int(try reader.peekLE(UInt16.self, at: 0x3C))
            let shstrndx = Int(try reader.peekLE(UInt16.self, at: 0x3E))

            var types: [UInt32] = []
            for index in 0..<phnum {
                types.append(try reader.peekLE(UInt32.self, at: phoff + index * phentsize))
            }
            programHeaderTypes = types

            var raw: [(nameOffset: Int, offset: Int, size: Int)] = []
            for index in 0..<shnum {
                let base = shoff + index * shentsize
                raw.append((Int(try reader.peekLE(UInt32.self, at: base)),
                            Int(try reader.peekLE(UInt64.self, at: base + 24)),
                            Int(try reader.peekLE(UInt64.self, at: base + 32))))
            }
            guard shnum == 0 || shstrndx < shnum else {
                throw GuestImageError.invalidELF("\(name): section name table index \(shstrndx) out of range")
            }
            let names = shnum == 0 ? [] : try reader.slice(at: raw[shstrndx].offset, count: raw[shstrndx].size)
            sections = raw.map { entry in
                let start = min(entry.nameOffset, names.count)
                let end = names[start...].firstIndex(of: 0) ?? names.count
                return Section(name: String(decoding: names[start..<end], as: UTF8.self), offset: entry.offset, size: entry.size)
            }
        } catch let error as ByteReader.Error {
            throw GuestImageError.invalidELF("\(name): \(error)")
        }
    }

    var isDynamicallyLinked: Bool { programHeaderTypes.contains(3) }

    func contents(of sectionName: String) throws -> [UInt8]? {
        guard let section = sections.first(where: { $0.name == sectionName }) else { return nil }
        do {
            return try ByteReader(bytes).slice(at: section.offset, count: section.size)
        } catch {
            throw GuestImageError.invalidELF("section \(sectionName) lies outside the file")
        }
    }

    /// The NUL-separated "key=value" strings of a kernel module's `.modinfo` section.
    func modinfo() throws -> [(key: String, value: String)] {
        guard let data = try contents(of: ".modinfo") else { return [] }
        return data.split(separator: 0).compactMap { field in
            guard let equals = field.firstIndex(of: UInt8(ascii: "=")) else { return nil }
            return (String(decoding: field[field.startIndex..<equals], as: UTF8.self),
                    String(decoding: field[(equals + 1)...], as: UTF8.self))
        }
    }
}
