import Foundation

/// A summary arranged the way the Markdown and HTML reports lay it out: workloads → metrics → rows
/// of one guest and VM shape → one value per mode.
struct SummaryView {
    struct Group: Hashable {
        var guest: String
        var vcpus: Int
        var memoryMiB: Int
        /// The unikernel's boot path: boot-path rows of one guest stand side by side.
        var boot: String?

        init(_ cell: BenchCell) {
            guest = cell.guest
            vcpus = cell.vcpus
            memoryMiB = cell.memoryMiB
            boot = cell.boot
        }

        func cell(mode: String) -> BenchCell { BenchCell(guest: guest, mode: mode, vcpus: vcpus, memoryMiB: memoryMiB, boot: boot) }

        /// "unikernel", or "unikernel · firmware boot" on the boot axis.
        var guestLabel: String { boot.map { "\(guest) · \($0) boot" } ?? guest }
    }

    /// What a report shows in the slot of one mode.
    enum Slot {
        case measured(SampleStatistics)
        case skipped(SkippedCell)
        /// Planned, but no ok run produced this metric.
        case noData(BenchCellSummary)
        case notPlanned
    }

    struct Metric {
        var key: String
        var name: String
        var unit: String
        var better: MetricDirection
    }

    let summary: BenchSummary
    let modes: [String]
    let groups: [Group]
    let workloads: [String]
    let metrics: [String: [Metric]]
    /// True when more than one (vCPUs, memory) shape is in the matrix, so rows need a shape column.
    let severalShapes: Bool
    private let cellsByKey: [BenchCell: BenchCellSummary]
    private let skippedByCell: [BenchCell: SkippedCell]
    private let overheads: [String: BenchOverhead]

    init(_ summary: BenchSummary) {
        self.summary = summary
        var modes = summary.plan.modes
        var groups: [Group] = []
        for cell in summary.cells.map(\.cell) + summary.skipped.map(\.cell) {
            if !modes.contains(cell.mode) { modes.append(cell.mode) }
            let group = Group(cell)
            if !groups.contains(group) { groups.append(group) }
        }
        self.modes = modes.sorted { (BenchCell.modeOrder($0), $0) < (BenchCell.modeOrder($1), $1) }
        self.groups = groups
        var workloads: [String] = []
        var metrics: [String: [Metric]] = [:]
        for metric in summary.cells.flatMap(\.metrics) where metrics[metric.workload]?.contains(where: { $0.key == metric.key }) != true {
            if !workloads.contains(metric.workload) { workloads.append(metric.workload) }
            metrics[metric.workload, default: []].append(Metric(key: metric.key, name: metric.name, unit: metric.unit, better: metric.better))
        }
        self.workloads = workloads
        self.metrics = metrics
        severalShapes = Set(groups.map { "\($0.vcpus)/\($0.memoryMiB)" }).count > 1
        cellsByKey = Dictionary(summary.cells.map { ($0.cell, $0) }, uniquingKeysWith: { a, _ in a })
        skippedByCell = Dictionary(summary.skipped.map { ($0.cell, $0) }, uniquingKeysWith: { a, _ in a })
        overheads = Dictionary(summary.overheads.map { ("\($0.cell.key)|\($0.metric)", $0) }, uniquingKeysWith: { a, _ in a })
    }

    func slot(_ group: Group, mode: String, metric: String) -> Slot {
        let cell = group.cell(mode: mode)
        if let summary = cellsByKey[cell] {
            if let statistics = summary.metrics.first(where: { $0.key == metric })?.statistics { return .measured(statistics) }
            return .noData(summary)
        }
        if let skipped = skippedByCell[cell] { return .skipped(skipped) }
        return .notPlanned
    }

    func overhead(_ group: Group, mode: String, metric: String) -> BenchOverhead? {
        overheads["\(group.cell(mode: mode).key)|\(metric)"]
    }

    /// Groups that have at least one value or a skipped cell for the metric (rows worth a line).
    func groups(for metric: String) -> [Group] {
        groups.filter { group in
            modes.contains { mode in
                if case .measured = slot(group, mode: mode, metric: metric) { return true }
                return false
            }
        }
    }

    /// Modes other than the baseline that have an overhead for this metric somewhere.
    func overheadModes(metric: String) -> [String] {
        modes.filter { mode in summary.overheads.contains { $0.metric == metric && $0.cell.mode == mode } }
    }

    /// The mode columns of a workload's table: modes with a value or a failed run somewhere; modes
    /// skipped in every row are returned apart, for one line under the table instead of empty columns.
    func tableModes(_ metrics: [Metric]) -> (shown: [String], notMeasured: [String]) {
        var shown: [String] = []
        var notMeasured: [String] = []
        for mode in modes {
            let slots = metrics.flatMap { metric in groups(for: metric.key).map { slot($0, mode: mode, metric: metric.key) } }
            if slots.contains(where: { if case .measured = $0 { true } else if case .noData = $0 { true } else { false } }) {
                shown.append(mode)
            } else if slots.contains(where: { if case .skipped = $0 { true } else { false } }) {
                notMeasured.append(mode)
            }
        }
        return (shown, notMeasured)
    }

    func groupLabel(_ group: Group) -> String {
        severalShapes ? "\(group.guestLabel) (\(group.vcpus) vCPU, \(group.memoryMiB) MiB)" : group.guestLabel
    }

    /// How each row's cells boot, mode by mode, from the plan ("firmware.fd", "kernel+ovmf", ...).
    func bootPath(_ group: Group, mode: String) -> String? {
        summary.plan.bootPaths?[group.cell(mode: mode).key]
    }

    /// Rows of the boot table: one per guest and boot path (the first shape's cells stand for all).
    var bootRows: [(label: String, paths: [String?])] {
        guard summary.plan.bootPaths?.isEmpty == false else { return [] }
        var seen = Set<String>()
        var rows: [(String, [String?])] = []
        for group in groups where seen.insert(group.guestLabel).inserted {
            rows.append((group.guestLabel, modes.map { bootPath(group, mode: $0) }))
        }
        return rows
    }

    /// Guests whose modes boot different ways: their overheads include a change of firmware.
    var mixedBootWarnings: [String] {
        bootRows.compactMap { row in
            let paths = zip(modes, row.paths).compactMap { mode, path in path.map { (mode, $0) } }
            guard Set(paths.map(\.1)).count > 1 else { return nil }
            return "\(row.label): " + paths.map { "\($0.0) boots \($0.1)" }.joined(separator: ", ")
                + "; its overheads include the change of firmware (bench boots every mode the same way unless --firmware auto)"
        }
    }

    /// Cells with a timeline, in report order.
    var timelineCells: [BenchCellSummary] { summary.cells.filter { !$0.timeline.isEmpty } }

    /// Event names over all timelines, in time order of their first appearance.
    var timelineEvents: [String] {
        var names: [String] = []
        for cell in timelineCells {
            for point in cell.timeline where !names.contains(point.event) { names.append(point.event) }
        }
        return names.sorted { (ReportOrder.eventRank($0), names.firstIndex(of: $0) ?? 0) < (ReportOrder.eventRank($1), names.firstIndex(of: $1) ?? 0) }
    }

    /// Environment rows shown as code, across the width: command lines.
    static let codeRows: Set<String> = ["Command", "Kernel command line"]

    /// The environment as label/value pairs, for both reports.
    var environmentRows: [(String, String)] {
        let environment = summary.environment
        var rows: [(String, String)] = [
            ("Host", environment.hostname),
            ("CPU", "\(environment.cpuModel) (\(environment.cpuCount) CPUs, \(environment.memoryMiB) MiB)"),
            ("Kernel", environment.kernelRelease),
            ("Accelerator", environment.emulated ? "\(environment.accelerator) (emulation)" : environment.accelerator),
            ("QEMU", environment.qemuVersion ?? "unknown"),
        ]
        if let ovmf = environment.ovmf {
            rows.append(("OVMF", environment.ovmfSHA256.map { "\(ovmf) (sha256 \($0))" } ?? ovmf))
        }
        if let libvirt = environment.libvirtVersion { rows.append(("libvirt", libvirt)) }
        if let tuning = environment.tuning {
            let unknown = "not exposed by this host"
            rows.append(("Microcode", tuning.microcode ?? unknown))
            var firmware = tuning.sevFirmware ?? "no SEV firmware status"
            if let current = tuning.snpCurrentTCB { firmware += ", TCB current \(current), reported \(tuning.snpReportedTCB ?? "?")" }
            rows.append(("SEV firmware", firmware))
            rows.append(("CPU governor", tuning.cpuGovernor ?? unknown))
            rows.append(("SMT", tuning.smt ?? unknown))
            rows.append(("Transparent huge pages", tuning.transparentHugepages ?? unknown))
            if let level = tuning.lastLevelCache, let bytes = tuning.lastLevelCacheBytes {
                rows.append(("Last-level cache", "L\(level), \(bytes / 1024) KiB"))
            }
            rows.append(("Kernel command line", tuning.kernelCommandLine ?? unknown))
        }
        if let note = summary.plan.workingSetNote { rows.append(("Working sets", note)) }
        rows.append(("cvm", environment.cvmVersion))
        rows.append(("Command", environment.command))
        rows.append(("Started", environment.startedAt))
        return rows
    }

    /// Measured runs per cell as they happened ("6–20" when guests had different counts), else as planned.
    var repetitions: String {
        let counts = summary.cells.map { $0.runs.ok + $0.runs.notOK }.filter { $0 > 0 }
        guard let low = counts.min(), let high = counts.max() else { return String(summary.plan.repetitions) }
        return low == high ? String(low) : "\(low)–\(high)"
    }

    var matrixLine: String {
        let plan = summary.plan
        return "\(repetitions) repetitions + \(plan.warmups) warm-up(s) per cell; vCPUs \(plan.vcpus.map(String.init).joined(separator: ", ")); "
            + "memory \(plan.memoryMiB.map { "\($0) MiB" }.joined(separator: ", ")); timeout \(ReportFormat.number(plan.timeoutSeconds)) s per run"
    }
}
