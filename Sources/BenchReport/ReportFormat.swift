import Foundation

/// Number and text formatting shared by the Markdown, HTML and text outputs.
enum ReportFormat {
    /// Decimals that give `significant` digits for `value` (0 for large values).
    static func decimals(for value: Double, significant: Int = 4) -> Int {
        guard value != 0, value.isFinite else { return 0 }
        let magnitude = Int(floor(log10(abs(value))))
        return Swift.max(0, Swift.min(9, significant - 1 - magnitude))
    }

    /// `value` with about four significant digits, or with the decimals given.
    static func number(_ value: Double, decimals: Int? = nil) -> String {
        guard value.isFinite else { return value.isNaN ? "n/a" : (value > 0 ? "∞" : "-∞") }
        if value != 0, abs(value) < 1e-6 || abs(value) >= 1e12 { return String(format: "%.3e", value) }
        return String(format: "%.\(decimals ?? self.decimals(for: value))f", value)
    }

    /// "12.34 ±0.56": the median with the half-width of the 95% CI of the mean, both to the median's decimals.
    static func medianWithCI(_ statistics: SampleStatistics) -> String {
        let places = decimals(for: statistics.median)
        let median = number(statistics.median, decimals: places)
        guard let ci = statistics.meanCI else { return median }
        return "\(median) ±\(number(ci.halfWidth, decimals: Swift.max(places, decimals(for: ci.halfWidth, significant: 2))))"
    }

    static func percent(_ value: Double) -> String {
        guard value.isFinite else { return "n/a" }
        return String(format: "%+.1f%%", value)
    }

    static func percentInterval(_ ci: ConfidenceInterval?) -> String {
        guard let ci else { return "" }
        return String(format: "[%+.1f, %+.1f]", ci.low, ci.high)
    }

    static func ratio(_ value: Double) -> String { String(format: "%.3f×", value) }

    static func ratioInterval(_ ci: ConfidenceInterval?) -> String {
        guard let ci else { return "" }
        return String(format: "[%.3f, %.3f]", ci.low, ci.high)
    }

    static func shape(_ cell: BenchCell) -> String { "\(cell.vcpus) vCPU, \(cell.memoryMiB) MiB" }

    static func direction(_ better: MetricDirection) -> String {
        better == .lowerIsBetter ? "lower is better" : "higher is better"
    }

    /// Escapes text for HTML and SVG, element content and attribute values alike.
    static func html(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text.unicodeScalars {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\u{0}"..."\u{8}", "\u{B}", "\u{C}", "\u{E}"..."\u{1F}", "\u{7F}": out += "\u{FFFD}"
            default: out.unicodeScalars.append(character)
            }
        }
        return out
    }

    /// Escapes text for a Markdown table cell: no raw HTML, no table breaks, no emphasis or links.
    static func markdown(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "&": out += "&amp;"
            case "\\", "`", "*", "_", "[", "]", "|", "#", "!": out += "\\\(character)"
            case "\n", "\r": out += " "
            default: out.append(character)
            }
        }
        return out
    }

    /// What each workload of the unikernel and the Linux workload binary measures, for report headings.
    static let workloadDescriptions: [String: String] = [
        "boot": "Time from QEMU start to guest-ready and exit",
        "stream": "Memory bandwidth (STREAM copy, scale, add, triad)",
        "chase": "Memory latency (dependent loads through a random cycle)",
        "sha256": "CPU: SHA-256 throughput over a buffer",
        "ep": "CPU: NAS EP (Gaussian pairs, floating point)",
        "exits": "VM-exit cost (CPUID, port I/O, RDMSR, RDTSC)",
        "touch": "Page touch (first write to fresh pages)",
    ]

    /// Which guest of a ratio is better, or that the interval cannot tell them apart.
    static func betterGuest(_ ratio: BenchGuestRatio) -> String {
        if let ci = ratio.ratioCI, ci.low <= 1, ci.high >= 1 { return "no clear difference" }
        guard let numeratorBetter = ratio.numeratorBetter else { return "equal" }
        return numeratorBetter ? ratio.numeratorGuest : ratio.denominatorGuest
    }

    static func workloadTitle(_ workload: String) -> String {
        workloadDescriptions[workload] ?? workload
    }
}
