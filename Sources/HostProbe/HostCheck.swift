import SEVABI

/// One line of the host check.
public struct CheckResult: Sendable, Hashable, Codable {
    public enum Status: String, Sendable, Codable {
        /// Verified and good.
        case pass
        /// Verified and not good.
        case fail
        /// Could not be verified here (missing access, a prerequisite failed).
        case skip
        /// A fact worth knowing; never blocks a mode.
        case info
    }

    /// Stable identifier, e.g. `cpuid.sev-snp`.
    public var id: String
    public var title: String
    public var status: Status
    /// One line: what was found.
    public var reason: String
    /// One line: how to fix it, when a fix exists.
    public var hint: String?
    /// The modes that cannot launch unless this check passes.
    public var requiredFor: [ConfidentialMode]

    public init(id: String, title: String, status: Status, reason: String, hint: String? = nil, requiredFor: Set<ConfidentialMode> = []) {
        self.id = id
        self.title = title
        self.status = status
        self.reason = reason
        self.hint = hint
        self.requiredFor = requiredFor.sorted()
    }
}

/// Whether one mode can launch here, and if not, the checks that stand in the way.
public struct ModeVerdict: Sendable, Hashable, Codable {
    public var mode: ConfidentialMode
    public var ready: Bool
    /// `id: reason` of every required check that did not pass.
    public var blockers: [String]
}

/// The whole host check: every result, the verdict per mode, and where it ran.
public struct HostReport: Sendable, Codable {
    public var schema = "cvmkit.host-check/1"
    public var host: String
    public var kernel: String
    public var cpu: String
    public var checks: [CheckResult]
    public var verdicts: [ModeVerdict]

    public init(host: String, kernel: String, cpu: String, checks: [CheckResult]) {
        self.host = host
        self.kernel = kernel
        self.cpu = cpu
        self.checks = checks
        verdicts = ConfidentialMode.confidential.map { mode in
            let blocking = checks.filter { $0.requiredFor.contains(mode) && $0.status != .pass }
            return ModeVerdict(mode: mode, ready: blocking.isEmpty, blockers: blocking.map { "\($0.id): \($0.reason)" })
        }
    }

    /// The verdict of `mode`; a plain guest (none) needs nothing of the host's SEV support.
    public func verdict(for mode: ConfidentialMode) -> ModeVerdict {
        verdicts.first { $0.mode == mode } ?? ModeVerdict(mode: mode, ready: true, blockers: [])
    }

    public func check(_ id: String) -> CheckResult? {
        checks.first { $0.id == id }
    }
}
