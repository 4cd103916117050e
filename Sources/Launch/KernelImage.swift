import Foundation
import SEVABI

/// How QEMU's `-kernel` (or the firmware behind it) starts a kernel file.
public enum BootProtocol: String, Sendable, Codable, CaseIterable {
    /// The Linux x86 boot protocol (bzImage, "HdrS" header): SeaBIOS through QEMU's linuxboot ROM, or OVMF.
    case linux
    /// Xen's HVM direct boot ABI: an ELF with an XEN_ELFNOTE_PHYS32_ENTRY note, started by QEMU's
    /// pvh.bin option ROM under SeaBIOS with no firmware left in the path.
    case pvh
    /// Multiboot version 1: QEMU's multiboot.bin option ROM under SeaBIOS.
    case multiboot
    /// A PE/COFF EFI application: OVMF's kernel loader starts it.
    case efi

    /// Whether the kernel is started by firmware that can carry SEV (OVMF). PVH and multiboot kernels
    /// are entered from a SeaBIOS option ROM; there is no firmware to set up an encrypted guest.
    public var bootsThroughOVMF: Bool { self == .linux || self == .efi }
    public var needsOVMF: Bool { self == .efi }
    public var needsSeaBIOS: Bool { self == .pvh || self == .multiboot }
}

/// What the header bytes of a kernel file say. Several markers can coexist (a bzImage with an EFI stub
/// is both "HdrS" and PE/COFF; Unikraft images carry a multiboot header and a PVH note); `detected` is
/// the protocol QEMU's loader picks for it, in QEMU's own order: Linux header, then multiboot, then
/// the PVH note. A PE/COFF image without the Linux header is an EFI application.
public struct KernelImageInfo: Sendable, Equatable {
    public var detected: BootProtocol
    /// Linux boot protocol version from the setup header (e.g. 0x020f), when "HdrS" is present.
    public var linuxProtocolVersion: UInt16?
    /// PE/COFF machine and subsystem (10 = EFI application), when "MZ" … "PE\0\0" is present.
    public var peMachine: UInt16?
    public var peSubsystem: UInt16?
    /// File offset and flags of a valid multiboot v1 header in the first 8 KiB.
    public var multibootHeaderOffset: Int?
    public var multibootFlags: UInt32?
    /// 32 or 64 for ELF files.
    public var elfClass: Int?
    /// The 32-bit entry point from the PVH note.
    public var pvhEntry: UInt32?

    /// True when `requested` can start this file at all.
    public func supports(_ requested: BootProtocol) -> Bool {
        switch requested {
        case .linux: return linuxProtocolVersion != nil
        case .efi: return peSubsystem == Self.efiApplication
        case .multiboot: return multibootHeaderOffset != nil
        case .pvh: return pvhEntry != nil
        }
    }

    /// Every protocol this file carries a marker for, in detection order.
    public var markers: [BootProtocol] { BootProtocol.allCases.filter(supports) }

    static let efiApplication: UInt16 = 10
}

public enum KernelImageError: Error, Equatable, Sendable, CustomStringConvertible {
    case unreadable(String)
    case empty
    case unrecognised(String)
    case malformed(String)
    /// No marker of any protocol: not a kernel image at all (a firmware image, random bytes).
    case noKnownHeader

    public var description: String {
        switch self {
        case .unreadable(let path): return "cannot read kernel \(path)"
        case .empty: return "the kernel file is empty"
        case .unrecognised(let why), .malformed(let why): return why
        case .noKnownHeader: return "not a kernel QEMU can boot: no Linux setup header, PE/COFF EFI application, multiboot header or ELF PVH note"
        }
    }
}

/// Reads the boot protocol from a kernel's first bytes: a small parser of the four headers QEMU knows,
/// every field bounds-checked, so truncated or hostile files end in a one-line error, never a trap.
public enum KernelImageDetector {
    static let multibootMagic: UInt32 = 0x1BAD_B002
    static let multiboot2Magic: UInt32 = 0xE852_50D6
    /// QEMU looks for the multiboot header in the first 8 KiB (it stops 48 bytes short of the end).
    static let multibootSearchLimit = 8192 - 48
    static let xenNoteType: UInt32 = 18  // XEN_ELFNOTE_PHYS32_ENTRY
    /// Bytes read from the file: enough for every header QEMU itself inspects. ELF program headers
    /// and notes beyond this are read from the whole file by `inspect(path:)`.
    static let headLimit = 64 * 1024

    public static func inspect(path: String) throws -> KernelImageInfo {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw KernelImageError.unreadable(path) }
        defer { try? handle.close() }
        // ELF notes can sit anywhere; read the whole file only when it is an ELF of a sane size.
        let head = [UInt8]((try? handle.read(upToCount: headLimit)) ?? Data())
        if head.starts(with: [0x7F, 0x45, 0x4C, 0x46]) {
            try? handle.seek(toOffset: 0)
            let whole = [UInt8]((try? handle.read(upToCount: 256 * 1024 * 1024)) ?? Data())
            return try inspect(whole)
        }
        let size = (try? handle.seekToEnd()).map { Int($0) }
        return try inspect(head, fileSize: size)
    }

    /// - Parameter fileSize: the whole file's size when `bytes` is only its beginning.
    public static func inspect(_ bytes: [UInt8], fileSize: Int? = nil) throws -> KernelImageInfo {
        guard !bytes.isEmpty else { throw KernelImageError.empty }
        let reader = ByteReader(bytes)
        var info = KernelImageInfo(detected: .linux)

        // Linux setup header: "HdrS" at 0x202, protocol version at 0x206.
        if let magic = try? reader.peekLE(UInt32.self, at: 0x202), magic == 0x5372_6448 {
            info.linuxProtocolVersion = try? reader.peekLE(UInt16.self, at: 0x206)
            if info.linuxProtocolVersion == nil { throw KernelImageError.malformed("Linux setup header is truncated at 0x206") }
        }
        // PE/COFF: "MZ", e_lfanew at 0x3C, "PE\0\0", machine, optional header with the subsystem.
        if bytes.count >= 2, bytes[0] == 0x4D, bytes[1] == 0x5A {
            try parsePE(reader, into: &info)
        }
        try findMultiboot(reader, into: &info)
        if bytes.starts(with: [0x7F, 0x45, 0x4C, 0x46]) {
            try parseELF(reader, into: &info)
        }

        if info.linuxProtocolVersion != nil { info.detected = .linux; return info }
        if info.peMachine != nil {
            guard info.peSubsystem == KernelImageInfo.efiApplication else {
                throw KernelImageError.unrecognised("PE/COFF image with subsystem \(info.peSubsystem.map(String.init) ?? "none") is not an EFI application (subsystem 10)")
            }
            guard info.peMachine == 0x8664 else {
                throw KernelImageError.unrecognised(String(format: "EFI application for machine 0x%04x, not x86-64 (0x8664)", info.peMachine ?? 0))
            }
            // QEMU reads a Linux setup size from 0x1F1 of every -kernel file before OVMF sees it.
            let sectors = Int(bytes.count > 0x1F1 ? bytes[0x1F1] : 0)
            let setupSize = ((sectors == 0 ? 4 : sectors) + 1) * 512
            guard setupSize <= (fileSize ?? bytes.count) else {
                throw KernelImageError.unrecognised("EFI application of \(fileSize ?? bytes.count) bytes is shorter than the \(setupSize)-byte setup area QEMU's -kernel reads (byte 0x1F1): QEMU rejects it as an invalid kernel header")
            }
            info.detected = .efi
            return info
        }
        if info.multibootHeaderOffset != nil {
            // QEMU loads a multiboot ELF itself only when it is 32-bit; the a.out kludge (flag 16)
            // gives load addresses in the header and works for any file.
            // QEMU stops at the multiboot header even when a PVH note is present too.
            if info.elfClass == 64, (info.multibootFlags ?? 0) & 0x0001_0000 == 0 {
                throw KernelImageError.unrecognised("64-bit ELF with a multiboot header but no address fields (flag 16): QEMU loads multiboot ELF kernels only as 32-bit ELF")
            }
            info.detected = .multiboot
            return info
        }
        if info.pvhEntry != nil { info.detected = .pvh; return info }
        if info.elfClass != nil {
            throw KernelImageError.unrecognised("ELF without a PVH note (XEN_ELFNOTE_PHYS32_ENTRY) or a multiboot header: QEMU's -kernel cannot start it")
        }
        if containsMultiboot2(reader) {
            throw KernelImageError.unrecognised("multiboot2 header found: QEMU's -kernel supports only multiboot version 1")
        }
        throw KernelImageError.noKnownHeader
    }

    static func parsePE(_ reader: ByteReader, into info: inout KernelImageInfo) throws {
        guard let lfanew = try? reader.peekLE(UInt32.self, at: 0x3C) else {
            throw KernelImageError.malformed("MZ header is truncated before e_lfanew (0x3C)")
        }
        let pe = Int(lfanew)
        guard pe >= 0x40, let signature = try? reader.peekLE(UInt32.self, at: pe) else {
            // An MZ stub without a PE header (a DOS program) is not a kernel; let the other markers decide.
            return
        }
        guard signature == 0x0000_4550 else { return }
        guard let machine = try? reader.peekLE(UInt16.self, at: pe + 4),
              let optionalSize = try? reader.peekLE(UInt16.self, at: pe + 20) else {
            throw KernelImageError.malformed("PE header is truncated at offset \(pe)")
        }
        // The subsystem sits at offset 68 of the optional header in both PE32 and PE32+.
        guard optionalSize >= 70, let subsystem = try? reader.peekLE(UInt16.self, at: pe + 24 + 68) else {
            throw KernelImageError.malformed("PE optional header is truncated (size \(optionalSize))")
        }
        info.peMachine = machine
        info.peSubsystem = subsystem
    }

    static func findMultiboot(_ reader: ByteReader, into info: inout KernelImageInfo) throws {
        let limit = min(multibootSearchLimit, reader.bytes.count - 12)
        var offset = 0
        while offset < limit {
            if let magic = try? reader.peekLE(UInt32.self, at: offset), magic == multibootMagic,
               let flags = try? reader.peekLE(UInt32.self, at: offset + 4),
               let checksum = try? reader.peekLE(UInt32.self, at: offset + 8),
               magic &+ flags &+ checksum == 0 {
                info.multibootHeaderOffset = offset
                info.multibootFlags = flags
                return
            }
            offset += 4
        }
    }

    static func containsMultiboot2(_ reader: ByteReader) -> Bool {
        var offset = 0
        let limit = min(32768, reader.bytes.count - 16)
        while offset < limit {
            if (try? reader.peekLE(UInt32.self, at: offset)) == multiboot2Magic { return true }
            offset += 8
        }
        return false
    }

    /// ELF header, program headers and the notes of every PT_NOTE segment, as QEMU's loader reads them.
    static func parseELF(_ reader: ByteReader, into info: inout KernelImageInfo) throws {
        let bytes = reader.bytes
        guard bytes.count >= 0x34 else { throw KernelImageError.malformed("ELF header is truncated (\(bytes.count) bytes)") }
        let is64: Bool
        switch bytes[4] {
        case 1: is64 = false
        case 2: is64 = true
        default: throw KernelImageError.malformed("ELF class \(bytes[4]) is neither 32- nor 64-bit")
        }
        guard bytes[5] == 1 else { throw KernelImageError.malformed("big-endian ELF cannot be an x86 kernel") }
        info.elfClass = is64 ? 64 : 32
        let machine: UInt16
        let phoff: Int, phentsize: Int, phnum: Int
        do {
            machine = try reader.peekLE(UInt16.self, at: 18)
            if is64 {
                guard bytes.count >= 0x40 else { throw KernelImageError.malformed("ELF64 header is truncated") }
                let offset = try reader.peekLE(UInt64.self, at: 0x20)
                guard offset < UInt64(bytes.count) else { throw KernelImageError.malformed("ELF program header offset \(offset) lies beyond the file") }
                phoff = Int(offset)
                phentsize = Int(try reader.peekLE(UInt16.self, at: 0x36))
                phnum = Int(try reader.peekLE(UInt16.self, at: 0x38))
            } else {
                phoff = Int(try reader.peekLE(UInt32.self, at: 0x1C))
                phentsize = Int(try reader.peekLE(UInt16.self, at: 0x2A))
                phnum = Int(try reader.peekLE(UInt16.self, at: 0x2C))
            }
        } catch let error as KernelImageError {
            throw error
        } catch {
            throw KernelImageError.malformed("ELF header is truncated")
        }
        guard machine == 3 || machine == 62 else {
            throw KernelImageError.unrecognised("ELF for machine \(machine), not x86 (3) or x86-64 (62)")
        }
        guard phentsize >= (is64 ? 56 : 32) || phnum == 0 else {
            throw KernelImageError.malformed("ELF program header entries of \(phentsize) bytes are too small")
        }
        for index in 0..<phnum {
            let entry = phoff + index * phentsize
            guard let type = try? reader.peekLE(UInt32.self, at: entry) else {
                throw KernelImageError.malformed("ELF program header \(index) lies beyond the end of the file")
            }
            if type == 1, info.multibootFlags.map({ $0 & 0x1_0000 == 0 }) ?? true {
                // PT_LOAD: QEMU's ELF loader reads every loaded segment from the file (a multiboot
                // header with the a.out kludge, flag bit 16, is loaded by its own addresses instead).
                try checkLoadSegment(reader, entry: entry, index: index, is64: is64)
            }
            guard type == 4, info.pvhEntry == nil else { continue }  // PT_NOTE
            let offset: Int, size: Int
            if is64 {
                guard let o = try? reader.peekLE(UInt64.self, at: entry + 8), let s = try? reader.peekLE(UInt64.self, at: entry + 32),
                      o <= UInt64(bytes.count), s <= UInt64(bytes.count) - o else {
                    throw KernelImageError.malformed("ELF note segment \(index) lies beyond the end of the file")
                }
                (offset, size) = (Int(o), Int(s))
            } else {
                guard let o = try? reader.peekLE(UInt32.self, at: entry + 4), let s = try? reader.peekLE(UInt32.self, at: entry + 16),
                      Int(o) <= bytes.count, Int(s) <= bytes.count - Int(o) else {
                    throw KernelImageError.malformed("ELF note segment \(index) lies beyond the end of the file")
                }
                (offset, size) = (Int(o), Int(s))
            }
            if let entryPoint = try xenPhys32Entry(reader, offset: offset, size: size) {
                info.pvhEntry = entryPoint
            }
        }
    }

    /// A loaded segment must lie inside the file: a truncated kernel is bad input, not a QEMU failure.
    static func checkLoadSegment(_ reader: ByteReader, entry: Int, index: Int, is64: Bool) throws {
        let fileSize = UInt64(reader.bytes.count)
        let offset: UInt64?, size: UInt64?
        if is64 {
            offset = try? reader.peekLE(UInt64.self, at: entry + 8)
            size = try? reader.peekLE(UInt64.self, at: entry + 32)
        } else {
            offset = (try? reader.peekLE(UInt32.self, at: entry + 4)).map(UInt64.init)
            size = (try? reader.peekLE(UInt32.self, at: entry + 16)).map(UInt64.init)
        }
        guard let offset, let size else { throw KernelImageError.malformed("ELF program header \(index) lies beyond the end of the file") }
        guard offset <= fileSize, size <= fileSize - offset else {
            throw KernelImageError.malformed("ELF segment \(index) (file bytes \(offset)-\(offset &+ size)) lies beyond the end of the file (\(fileSize) bytes): the kernel is truncated")
        }
    }

    /// Walks one note segment (namesz, descsz, type, name and descriptor padded to 4 bytes).
    static func xenPhys32Entry(_ reader: ByteReader, offset: Int, size: Int) throws -> UInt32? {
        var cursor = offset
        let end = offset + size
        while cursor + 12 <= end {
            guard let nameSize = try? reader.peekLE(UInt32.self, at: cursor),
                  let descSize = try? reader.peekLE(UInt32.self, at: cursor + 4),
                  let type = try? reader.peekLE(UInt32.self, at: cursor + 8) else { break }
            let nameStart = cursor + 12
            let descStart = nameStart + (Int(nameSize) + 3) / 4 * 4
            let next = descStart + (Int(descSize) + 3) / 4 * 4
            guard nameSize < 4096, descSize < 65536, next <= end else {
                throw KernelImageError.malformed("ELF note at offset \(cursor) runs past its segment")
            }
            let name = (try? reader.slice(at: nameStart, count: Int(nameSize))) ?? []
            if type == xenNoteType, name == Array("Xen".utf8) + [0] {
                guard descSize >= 4, let entry = try? reader.peekLE(UInt32.self, at: descStart) else {
                    throw KernelImageError.malformed("PVH note has a \(descSize)-byte descriptor; the entry point needs 4")
                }
                return entry
            }
            cursor = next
        }
        return nil
    }
}
