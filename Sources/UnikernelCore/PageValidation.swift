/// What an SNP guest must PVALIDATE before it touches memory (SEV-SNP firmware ABI, RMP; APM vol. 3,
/// PVALIDATE): every private page the launch did not validate. The launch validated the pages its
/// SNP_LAUNCH_UPDATE covered: the firmware image and the ranges the image's SEV metadata names
/// (SNP_SEC_MEM, the secrets and CPUID pages). Everything else the memory map calls usable RAM starts
/// unvalidated, and is first changed to private with a page state change, then validated.
///
/// Eager validation does all of it at boot, before the page allocator hands out any page: the known SNP
/// boot cost, which grows with guest memory. Lazy validation does a page when the allocator first hands
/// it out: boot stays short and the cost moves to first touch (`validate=eager|lazy` on the command line).
public enum PageValidation {
    public enum Policy: Equatable, Sendable {
        case eager, lazy
    }

    /// Usable RAM minus what the launch validated, page-aligned, sorted, merged.
    public static func required(regions: [MemoryRegion], preValidated: [PhysicalRange]) -> [PhysicalRange] {
        UsableMemory.ranges(from: regions, excluding: preValidated)
    }

    /// The work one validation pass does: PVALIDATE calls by size, and the bytes they cover.
    public struct Totals: Equatable, Sendable {
        public var largePages = 0
        public var smallPages = 0
        public var bytes: UInt64 = 0

        public init() {}
    }

    /// The page state change entries for `ranges` and their totals. PVALIDATE follows them one for one: a
    /// 2 MiB entry is one 2 MiB PVALIDATE, which fails with a size mismatch where the RMP holds the range
    /// as 4 KiB pages; the caller then validates those 512 pages one by one.
    public static func plan(_ ranges: [PhysicalRange], largePages: Bool = true) throws(PageStateChange.PlanError) -> ([PageStateChange.Entry], Totals) {
        var entries: [PageStateChange.Entry] = []
        var totals = Totals()
        for range in ranges {
            for entry in try PageStateChange.entries(for: range, to: .private, largePages: largePages) {
                if entry.isLarge { totals.largePages += 1 } else { totals.smallPages += 1 }
                totals.bytes += entry.byteCount
                entries.append(entry)
            }
        }
        return (entries, totals)
    }

    /// The ranges the launch validated: the firmware image and its SEV metadata's SNP_SEC_MEM, secrets
    /// and CPUID sections (`FirmwareFooter.sections`).
    public static func preValidated(sections: [FirmwareFooter.Section], image: PhysicalRange) -> [PhysicalRange] {
        var ranges = [image]
        for section in sections where [FirmwareFooter.secMem, FirmwareFooter.secrets, FirmwareFooter.cpuid].contains(section.type) {
            ranges.append(PhysicalRange(start: UInt64(section.gpa), end: UInt64(section.gpa) + UInt64(section.size)))
        }
        return ranges
    }
}
