/// Working-set sizes against the host's last-level cache. STREAM's rule: each array at least four times
/// the cache, or the figures measure cache bandwidth; for a confidential VM, whose cost is in encrypted
/// DRAM, cache-sized arrays hide exactly what is being measured. The full bench grows `stream.size`
/// and `chase.size` (each where the user did not set it) to 4× the last-level cache, within the
/// guest's 1 GiB limit per array, and the guest memory with them (where the user did not set it);
/// `--quick` keeps its small sizes and says when they fit in the cache. Under emulation (TCG) there is
/// no hardware cache behind the figures, so the sizes stay at their defaults and the note says so.
public enum WorkingSet {
    public static let cacheMultiple: UInt64 = 4
    /// The guests accept at most this many bytes per array (UnikernelCore BootOptions).
    public static let maximumBytes: UInt64 = 1 << 30
    /// The size parameter of each workload that has a working set.
    static let sizes = [("stream", "stream.size"), ("chase", "chase.size")]
    static let mebibyte: UInt64 = 1 << 20

    /// Bytes of a workload size word ("4M", "512K", "1G", "4096").
    public static func bytes(_ word: String) -> UInt64? {
        let units: [Character: UInt64] = ["k": 1 << 10, "K": 1 << 10, "m": 1 << 20, "M": 1 << 20, "g": 1 << 30, "G": 1 << 30]
        if let last = word.last, let unit = units[last] { return UInt64(word.dropLast()).map { $0 * unit } }
        return UInt64(word)
    }

    static func mebibytes(_ bytes: UInt64) -> String { "\(bytes / mebibyte) MiB" }

    /// Adjusts `options` for a host whose last-level cache is `cacheBytes` (nil: unknown) and returns the
    /// note the bench prints and records; `options` says what the user set and whether this is --quick.
    public static func apply(to options: inout BenchOptions, cacheBytes: UInt64?, cacheLevel: Int?, emulated: Bool) -> String? {
        let quick = options.quick, explicitParameters = options.explicitParameters, explicitMemory = options.explicitMemory
        let sized = sizes.filter { options.workloads.contains($0.0) }.map(\.1)
        guard !sized.isEmpty else { return nil }
        if emulated {
            return "working sets: emulation (TCG) has no hardware cache behind its figures, so stream.size and chase.size stay at their "
                + "defaults; with KVM the full bench sizes them to 4× the last-level cache"
        }
        guard let cacheBytes, cacheBytes > 0 else {
            return "working sets: this host does not expose its last-level cache size; stream.size and chase.size stay at their defaults"
        }
        let cache = "L\(cacheLevel ?? 3) \(mebibytes(cacheBytes))"
        let target = (cacheBytes * cacheMultiple + mebibyte - 1) / mebibyte * mebibyte
        func current(_ key: String) -> UInt64 {
            options.parameters[key].flatMap(bytes) ?? WorkloadCatalog.defaultParameters[key].flatMap(bytes) ?? 0
        }
        if !quick {
            var capped = false
            for key in sized where !explicitParameters.contains(key) && current(key) < target {
                let size = min(target, maximumBytes)
                capped = capped || size < target
                options.parameters[key] = "\(size / mebibyte)M"
            }
            let stream = sized.contains("stream.size") ? current("stream.size") : 0, chase = sized.contains("chase.size") ? current("chase.size") : 0
            // Three STREAM arrays at once, or the chase's buffer, plus the guest's own kernel and heap. From
            // 2.75 GiB of RAM up, QEMU's q35 keeps only 2 GiB below the 32-bit hole, so each contiguous array
            // must fit the piece below it or the piece above: one more array's worth covers the split.
            var neededBytes = max(3 * stream, chase) + 192 * mebibyte
            if neededBytes >= 2816 * mebibyte { neededBytes = max(4 * stream, chase + 2048 * mebibyte) + 256 * mebibyte }
            let neededMiB = Int((neededBytes + 63 * mebibyte) / (64 * mebibyte) * 64)
            if !explicitMemory, options.memoryMiB.contains(where: { $0 < neededMiB }) {
                options.memoryMiB = options.memoryMiB.map { max($0, neededMiB) }.reduce(into: [Int]()) { if !$0.contains($1) { $0.append($1) } }
            }
            let small = sized.filter { current($0) < target }
            let described = sized.map { $0 == "stream.size" ? "stream.size \(mebibytes(stream)) per array" : "chase.size \(mebibytes(chase))" }
            var note = "working sets: \(described.joined(separator: ", ")), against the \(cache) last-level cache"
            if capped { note += "; 4× the cache exceeds the guests' 1 GiB per array, so the arrays are 1 GiB" }
            if !small.isEmpty && !capped { note += "; \(small.joined(separator: " and ")) below 4× the cache, as set: those figures include cache" }
            return note
        }
        let small = sized.filter { current($0) < target }
        guard !small.isEmpty else { return nil }
        return "working sets: --quick's \(small.map { "\($0) \(mebibytes(current($0)))" }.joined(separator: " and ")) fit in or near the \(cache) last-level cache, "
            + "so the memory figures measure cache, not DRAM; run without --quick for arrays of 4× the cache"
    }
}
