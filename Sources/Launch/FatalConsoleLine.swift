/// A console line by which a guest kernel says it has failed for good, such as Linux's panic line or
/// Unikraft's failed init function. The supervisor stops QEMU at one instead of waiting for a guest
/// that will reboot into the same failure, hang, or power off as if all went well.
public struct FatalConsoleLine: Sendable, Hashable {
    /// Fragments the line holds in this order; the report quotes the line from the first one on.
    public var fragments: [String]

    public init(_ fragments: String...) {
        self.fragments = fragments
    }

    /// Linux's panic(): "Kernel panic - not syncing: …" (kernel/panic.c), whatever the guest's preset.
    public static let linuxPanic = FatalConsoleLine("Kernel panic - not syncing")

    /// The line from the first fragment on, when `line` holds every fragment in order.
    public func match(_ line: String) -> String? {
        guard let first = fragments.first, let start = line.range(of: first) else { return nil }
        var rest = line[start.upperBound...]
        for fragment in fragments.dropFirst() {
            guard let range = rest.range(of: fragment) else { return nil }
            rest = rest[range.upperBound...]
        }
        return String(line[start.lowerBound...])
    }
}
