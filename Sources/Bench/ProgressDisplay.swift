import Foundation

/// Progress on standard error: the current cell, runs done of the total and the estimated time left.
/// On a terminal one line is rewritten in place; otherwise each run gets a plain line (CI logs).
public final class ProgressDisplay: @unchecked Sendable {
    private let interactive: Bool
    private let write: @Sendable (String) -> Void
    private let lock = NSLock()
    private var lineOpen = false

    public init(interactive: Bool = isatty(STDERR_FILENO) == 1,
                write: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }) {
        self.interactive = interactive
        self.write = write
    }

    public func update(run: ScheduledRun, done: Int, total: Int, eta: Double) {
        let kind = run.warmup ? "warm-up \(run.repetition)" : "rep \(run.repetition)"
        let text = "[\(done + 1)/\(total)] \(run.cell.key) \(WorkloadCatalog.setName(run.workloads)) \(kind), ETA \(Self.duration(eta))"
        lock.withLock {
            if interactive {
                write("\r\u{1B}[K" + text)
                lineOpen = true
            } else {
                write("cvm bench: " + text + "\n")
            }
        }
    }

    /// A message that must stay visible (a failed run, a build step).
    public func note(_ text: String) {
        lock.withLock {
            write((lineOpen ? "\r\u{1B}[K" : "") + "cvm bench: " + text + "\n")
            lineOpen = false
        }
    }

    public func finish(done: Int, total: Int, interrupted: Bool) {
        lock.withLock {
            let text = interrupted ? "interrupted after \(done) of \(total) runs; the run log keeps them" : "\(done) of \(total) runs done"
            write((lineOpen ? "\r\u{1B}[K" : "") + "cvm bench: " + text + "\n")
            lineOpen = false
        }
    }

    static func duration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        if total >= 3600 { return "\(total / 3600)h\(String(format: "%02d", total % 3600 / 60))m" }
        if total >= 60 { return "\(total / 60)m\(String(format: "%02d", total % 60))s" }
        return "\(total)s"
    }
}
