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
    /// `.none` is a plain guest: it needs QEMU only.
    public var mode: ConfidentialMode
    public var ready: Bool
    /// `id: reason` of every required check that did not pass.
    public var blockers: [String]
    /// Mode none only: the accelerator `cvm run --accel auto` uses here ("kvm" or "tcg").
    public var accelerator: String?

    public init(mode: ConfidentialMode, ready: Bool, blockers: [String], accelerator: String? = nil) {
        self.mode = mode
        self.ready = ready
        self.blockers = blockers
        self.accelerator = accelerator
    }
}

/// The whole host check: every result, the verdict per mode, and where it ran.
public struct HostReport: Sendable, Codable {
    public var schema = "cvmkit.host-check/1"
    public var host: String
    public var kernel: String
    public var cpu: String
    public var checks: [CheckResult]
    public var verdicts: [ModeVerdict]

    /// `noneAccelerator`: what `cvm run --accel auto` uses for mode none here.
    public init(host: String, kernel: String, cpu: String, checks: [CheckResult], noneAccelerator: String = "tcg") {
        self.host = host
        self.kernel = kernel
        self.cpu = cpu
        self.checks = checks
        // Mode none needs QEMU only; KVM decides the accelerator, not readiness (TCG runs anywhere).
        let qemu = checks.filter { $0.id == "qemu.installed" && $0.status != .pass }
        verdicts = [ModeVerdict(mode: .none, ready: qemu.isEmpty, blockers: qemu.map { "\($0.id): \($0.reason)" }, accelerator: noneAccelerator)]
            + ConfidentialMode.confidential.map { mode in
                let blocking = checks.filter { $0.requiredFor.contains(mode) && $0.status != .pass }
                return ModeVerdict(mode: mode, ready: blocking.isEmpty, blockers: blocking.map { "\($0.id): \($0.reason)" })
            }
    }

    /// Mode none: QEMU present, and the accelerator it gets.
    public var noneVerdict: ModeVerdict { verdict(for: .none) }

    /// Every mode, none included, has its verdict.
    public func verdict(for mode: ConfidentialMode) -> ModeVerdict {
        verdicts.first { $0.mode == mode }!
    }

    public func check(_ id: String) -> CheckResult? {
        checks.first { $0.id == id }
    }
}
