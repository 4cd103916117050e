import Foundation
import SEVABI

/// The host settings a reviewer of a CVM evaluation asks for, beside the versions: microcode, the SEV
/// firmware and its TCB, the kernel command line, CPU frequency governor, SMT, transparent huge pages
/// and the size of the last-level cache (which working sets must exceed to measure DRAM, not cache).
/// Each is nil where this host does not expose it (a VM has no cpufreq; no SEV, no firmware status).
public struct HostTuning: Sendable, Equatable, Codable {
    public var microcode: String?
    /// SEV firmware version ("1.55 (build 21)"), from SNP_PLATFORM_STATUS, else SEV's PLATFORM_STATUS.
    public var sevFirmware: String?
    /// SNP's current and reported TCB (hex), when SNP_PLATFORM_STATUS answers.
    public var snpCurrentTCB: String?
    public var snpReportedTCB: String?
    public var kernelCommandLine: String?
    /// scaling_governor of every CPU that has one, with how many run each ("performance ×96").
    public var cpuGovernor: String?
    /// /sys/devices/system/cpu/smt/control and whether it is active ("on, active").
    public var smt: String?
    /// The selected mode of /sys/kernel/mm/transparent_hugepage/enabled.
    public var transparentHugepages: String?
    /// The largest cache level of CPU 0 and its size in bytes.
    public var lastLevelCache: Int?
    public var lastLevelCacheBytes: UInt64?

    public init() {}

    public static func collect(sources: HostSources, cpuCount: Int) -> HostTuning {
        var tuning = HostTuning()
        let files = sources.files
        let cpuinfo = files.text(at: "/proc/cpuinfo") ?? ""
        tuning.microcode = cpuinfo.split(separator: "\n").first { $0.hasPrefix("microcode") }
            .flatMap { $0.split(separator: ":", maxSplits: 1).last }.map { $0.trimmingCharacters(in: .whitespaces) }
        if case .success(let status) = sources.sev.snpPlatformStatus() {
            tuning.sevFirmware = status.firmwareVersion.description
            tuning.snpCurrentTCB = String(format: "0x%016llx", status.currentTCB)
            tuning.snpReportedTCB = String(format: "0x%016llx", status.reportedTCB)
        } else if case .success(let status) = sources.sev.platformStatus() {
            tuning.sevFirmware = status.firmwareVersion.description
        }
        tuning.kernelCommandLine = files.text(at: "/proc/cmdline")?.trimmingCharacters(in: .whitespacesAndNewlines)
        var governors: [String: Int] = [:]
        for cpu in 0..<max(cpuCount, 1) {
            if let governor = files.text(at: "/sys/devices/system/cpu/cpu\(cpu)/cpufreq/scaling_governor")?
                .trimmingCharacters(in: .whitespacesAndNewlines), !governor.isEmpty {
                governors[governor, default: 0] += 1
            }
        }
        if !governors.isEmpty {
            tuning.cpuGovernor = governors.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")
        }
        if let control = files.text(at: "/sys/devices/system/cpu/smt/control")?.trimmingCharacters(in: .whitespacesAndNewlines) {
            let active = files.text(at: "/sys/devices/system/cpu/smt/active")?.trimmingCharacters(in: .whitespacesAndNewlines)
            tuning.smt = control + (active == "1" ? ", active" : active == "0" ? ", inactive" : "")
        }
        if let thp = files.text(at: "/sys/kernel/mm/transparent_hugepage/enabled") {
            tuning.transparentHugepages = Self.selected(thp)
        }
        let cacheDirectory = "/sys/devices/system/cpu/cpu0/cache"
        for index in files.list(cacheDirectory) where index.hasPrefix("index") {
            let base = "\(cacheDirectory)/\(index)"
            guard let level = files.text(at: "\(base)/level").flatMap({ Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }),
                  let size = files.text(at: "\(base)/size").flatMap(Self.cacheSize),
                  files.text(at: "\(base)/type")?.trimmingCharacters(in: .whitespacesAndNewlines) != "Instruction" else { continue }
            if level > (tuning.lastLevelCache ?? 0) || (level == tuning.lastLevelCache && size > (tuning.lastLevelCacheBytes ?? 0)) {
                tuning.lastLevelCache = level
                tuning.lastLevelCacheBytes = size
            }
        }
        return tuning
    }

    /// The bracketed choice of a sysfs selector ("always [madvise] never" → "madvise").
    static func selected(_ text: String) -> String? {
        guard let open = text.firstIndex(of: "["), let close = text[open...].firstIndex(of: "]") else { return nil }
        return String(text[text.index(after: open)..<close])
    }

    /// sysfs cache sizes: "32K", "266240K", "1M", or bytes.
    static func cacheSize(_ text: String) -> UInt64? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let units: [Character: UInt64] = ["K": 1024, "M": 1024 * 1024, "G": 1024 * 1024 * 1024]
        if let last = trimmed.last, let unit = units[last] { return UInt64(trimmed.dropLast()).map { $0 * unit } }
        return UInt64(trimmed)
    }
}
