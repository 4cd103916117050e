/// The SNP CPUID page (SEV-SNP Firmware ABI, SNP_LAUNCH_UPDATE page type CPUID, "CPUID_FUNCTION
/// Structure"): the CPUID values the PSP checked against the host CPU at launch. Under SNP the guest
/// answers CPUID from it instead of asking the hypervisor, which could lie.
///
///     0x00 COUNT u32 (≤ 64)  0x04 reserved u32  0x08 reserved u64
///     0x10 + 48·i: EAX_IN u32, ECX_IN u32, XCR0_IN u64, XSS_IN u64, EAX, EBX, ECX, EDX u32, reserved u64
///
/// Lookups follow Linux (arch/x86/coco/sev): an indexed leaf matches its subleaf too; XSAVE leaf 0xD
/// subleaves 0 and 1 use the entry recorded for XCR0 = 1, XSS = 0 and have EBX recomputed from the
/// components enabled now; a leaf missing from the table reads as zeros.
public struct SNPCPUIDTable: Equatable, Sendable {
    public static let headerSize = 16
    public static let entrySize = 48
    public static let maximumEntries = 64

    public struct Entry: Equatable, Sendable {
        public var function: UInt32
        public var index: UInt32
        public var xcr0In: UInt64
        public var xssIn: UInt64
        public var eax: UInt32
        public var ebx: UInt32
        public var ecx: UInt32
        public var edx: UInt32

        public init(function: UInt32, index: UInt32 = 0, xcr0In: UInt64 = 0, xssIn: UInt64 = 0,
                    eax: UInt32, ebx: UInt32, ecx: UInt32, edx: UInt32) {
            self.function = function
            self.index = index
            self.xcr0In = xcr0In
            self.xssIn = xssIn
            self.eax = eax
            self.ebx = ebx
            self.ecx = ecx
            self.edx = edx
        }
    }

    public struct Registers: Equatable, Sendable {
        public var eax: UInt32, ebx: UInt32, ecx: UInt32, edx: UInt32
        public init(eax: UInt32, ebx: UInt32, ecx: UInt32, edx: UInt32) {
            self.eax = eax
            self.ebx = ebx
            self.ecx = ecx
            self.edx = edx
        }
        public static let zero = Registers(eax: 0, ebx: 0, ecx: 0, edx: 0)
    }

    public enum LookupError: Error, Equatable, Sendable {
        case truncated(Int)
        case tooManyEntries(UInt32)
        /// XCR0 or XSS enable a state component the table has no 0xD subleaf for: not a valid state.
        case xsaveComponentMissing(UInt64)
    }

    public var entries: [Entry]

    public init(entries: [Entry]) { self.entries = entries }

    public init(parsing raw: UnsafeRawBufferPointer) throws(LookupError) {
        guard raw.count >= Self.headerSize else { throw .truncated(raw.count) }
        let count = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        guard count <= UInt32(Self.maximumEntries) else { throw .tooManyEntries(count) }
        guard raw.count >= Self.headerSize + Int(count) * Self.entrySize else { throw .truncated(raw.count) }
        var parsed: [Entry] = []
        for index in 0..<Int(count) {
            let base = Self.headerSize + index * Self.entrySize
            func u32(_ offset: Int) -> UInt32 { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: base + offset, as: UInt32.self)) }
            func u64(_ offset: Int) -> UInt64 { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: base + offset, as: UInt64.self)) }
            parsed.append(Entry(function: u32(0), index: u32(4), xcr0In: u64(8), xssIn: u64(16),
                                eax: u32(24), ebx: u32(28), ecx: u32(32), edx: u32(36)))
        }
        entries = parsed
    }

    /// Leaves whose results depend on ECX (Linux's cpuid_function_is_indexed).
    public static func isIndexed(_ function: UInt32) -> Bool {
        switch function {
        case 0x4, 0x7, 0xb, 0xd, 0xf, 0x10, 0x12, 0x14, 0x17, 0x18, 0x1d, 0x1e, 0x1f, 0x24, 0x8000_001d: true
        default: false
        }
    }

    func find(_ function: UInt32, _ index: UInt32) -> Entry? {
        entries.first { entry in
            guard entry.function == function else { return false }
            if Self.isIndexed(function), entry.index != index { return false }
            if function == 0xd, index <= 1, !(entry.xcr0In == 1 && entry.xssIn == 0) { return false }
            return true
        }
    }

    /// The highest leaf of the range `base` starts (0, 0x4000_0000, 0x8000_0000), from the table.
    func rangeMaximum(_ base: UInt32) -> UInt32? { find(base, 0)?.eax }

    /// Whether `function` lies in a range the table reports: its missing leaves still get post-processing.
    public func isInRange(_ function: UInt32) -> Bool {
        for base in [UInt32(0), 0x4000_0000, 0x8000_0000] where function >= base && function <= base | 0x0fff_ffff {
            if let maximum = rangeMaximum(base) { return function <= maximum }
        }
        return false
    }

    /// Size of the XSAVE area for the enabled components (compacted: XSAVES/XSAVEC, one after the other;
    /// else the standard layout, each component at its own offset), from the table's 0xD subleaves 2…63.
    public func xsaveSize(enabled: UInt64, compacted: Bool) throws(LookupError) -> UInt32 {
        var size: UInt32 = 0x240 // legacy area 512 + XSAVE header 64
        var found: UInt64 = 0
        for entry in entries where entry.function == 0xd && entry.index > 1 && entry.index < 64 {
            let bit = UInt64(1) << UInt64(entry.index)
            guard enabled & bit != 0, found & bit == 0 else { continue }
            found |= bit
            size = compacted ? size &+ entry.eax : max(size, entry.eax &+ entry.ebx)
        }
        guard found == enabled & ~UInt64(3) else { throw .xsaveComponentMissing(enabled & ~UInt64(3) & ~found) }
        return size
    }

    /// CPUID(`function`, `index`) as the table answers it for XCR0 `xcr0` and XSS `xss`.
    public func lookup(function: UInt32, index: UInt32 = 0, xcr0: UInt64 = 1, xss: UInt64 = 0) throws(LookupError) -> Registers {
        guard let entry = find(function, index) else { return .zero }
        var result = Registers(eax: entry.eax, ebx: entry.ebx, ecx: entry.ecx, edx: entry.edx)
        if function == 0xd {
            if index == 0 {
                result.ebx = try xsaveSize(enabled: xcr0, compacted: false)
            } else if index == 1, result.eax & (1 << 3) != 0 {
                result.ebx = try xsaveSize(enabled: xcr0 | xss, compacted: true)
            }
        }
        return result
    }

    /// The page image of this table (tests, and a test-only PSP).
    public var bytes: [UInt8] {
        var result = [UInt8](repeating: 0, count: Self.headerSize + entries.count * Self.entrySize)
        func put32(_ value: UInt32, _ offset: Int) { for byte in 0..<4 { result[offset + byte] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(byte))) } }
        func put64(_ value: UInt64, _ offset: Int) { for byte in 0..<8 { result[offset + byte] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(byte))) } }
        put32(UInt32(entries.count), 0)
        for (index, entry) in entries.enumerated() {
            let base = Self.headerSize + index * Self.entrySize
            put32(entry.function, base)
            put32(entry.index, base + 4)
            put64(entry.xcr0In, base + 8)
            put64(entry.xssIn, base + 16)
            put32(entry.eax, base + 24)
            put32(entry.ebx, base + 28)
            put32(entry.ecx, base + 32)
            put32(entry.edx, base + 36)
        }
        return result
    }
}
