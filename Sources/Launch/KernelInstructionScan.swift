import Foundation
import SEVABI

/// Which CPU instructions a kernel's code holds, read from its bytes without disassembly, so a
/// preset's TCG notice speaks only of features the image can use. A byte search can match across
/// instruction boundaries or in data inside a code segment (a notice too many), but it does not miss
/// an instruction stored in the image's executable segments. Code that is compressed or generated at
/// run time is not seen: such an image is scanned whole and, where nothing matches, still gets no notice.
public struct KernelInstructionScan: Sendable {
    /// Features that are one instruction, 0F C7 with ModRM mod = 11 and this reg field (Intel SDM Vol. 2,
    /// RDRAND "0F C7 /6", RDSEED "0F C7 /7"); operand-size prefixes come before 0F and do not matter.
    static let randomInstructions: [String: UInt8] = ["rdrand": 6, "rdseed": 7]

    private let found: Set<String>

    /// Scans the files that hold the guest's code (a kernel, and an initrd that is the application, as
    /// Hermit's is); a file it cannot read counts as using everything.
    public init(files paths: [String]) {
        found = paths.reduce(into: []) { found, path in
            guard let handle = FileHandle(forReadingAtPath: path) else { return found.formUnion(Self.randomInstructions.keys) }
            defer { try? handle.close() }
            found.formUnion(Self([UInt8]((try? handle.read(upToCount: 256 * 1024 * 1024)) ?? Data())).found)
        }
    }

    public init(_ bytes: [UInt8]) {
        var found: Set<String> = []
        for range in Self.executableRanges(bytes) {
            for (feature, reg) in Self.randomInstructions where Self.contains(reg: reg, in: bytes[range]) { found.insert(feature) }
        }
        self.found = found
    }

    /// Whether the code holds the feature's instruction; nil for a feature this scan cannot see.
    public func uses(_ feature: String) -> Bool? {
        Self.randomInstructions[feature] == nil ? nil : found.contains(feature)
    }

    static func contains(reg: UInt8, in code: ArraySlice<UInt8>) -> Bool {
        var index = code.startIndex
        while index + 2 < code.endIndex {
            if code[index] == 0x0F, code[index + 1] == 0xC7, code[index + 2] & 0xF8 == 0xC0 | reg << 3 { return true }
            index += 1
        }
        return false
    }

    /// An ELF's loaded executable segments (PT_LOAD with PF_X); the whole file for any other format.
    static func executableRanges(_ bytes: [UInt8]) -> [Range<Int>] {
        let whole = [0..<bytes.count]
        guard bytes.starts(with: [0x7F, 0x45, 0x4C, 0x46]), bytes.count >= 0x34 else { return whole }
        let reader = ByteReader(bytes)
        let is64 = bytes[4] == 2
        do {
            let phoff = try is64 ? Int(clamping: reader.peekLE(UInt64.self, at: 0x20)) : Int(reader.peekLE(UInt32.self, at: 0x1C))
            let phentsize = Int(try reader.peekLE(UInt16.self, at: is64 ? 0x36 : 0x2A))
            let phnum = Int(try reader.peekLE(UInt16.self, at: is64 ? 0x38 : 0x2C))
            // Bounded so the offsets below cannot overflow (at most 65535 entries of 65535 bytes).
            guard phoff < bytes.count else { return whole }
            var ranges: [Range<Int>] = []
            for index in 0..<phnum {
                let entry = phoff + index * phentsize
                guard try reader.peekLE(UInt32.self, at: entry) == 1 else { continue }  // PT_LOAD
                let flags = try reader.peekLE(UInt32.self, at: entry + (is64 ? 4 : 24))
                guard flags & 1 != 0 else { continue }  // PF_X
                let offset = try is64 ? reader.peekLE(UInt64.self, at: entry + 8) : UInt64(reader.peekLE(UInt32.self, at: entry + 4))
                let size = try is64 ? reader.peekLE(UInt64.self, at: entry + 32) : UInt64(reader.peekLE(UInt32.self, at: entry + 16))
                let start = Int(min(offset, UInt64(bytes.count)))
                // A wrapped sum ends before it starts: an empty range.
                ranges.append(start..<max(start, Int(min(offset &+ size, UInt64(bytes.count)))))
            }
            return ranges.isEmpty ? whole : ranges
        } catch {
            return whole
        }
    }
}
