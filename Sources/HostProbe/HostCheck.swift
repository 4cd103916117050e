/// A confidential-guest flavour the host check judges.
public enum SEVMode: String, Sendable, Codable, CaseIterable, Comparable {
    case sev, sevES = "sev-es", sevSNP = "sev-snp"

    public var displayName: String {
        switch self {
        case .sev: return "SEV"
        case .sevES: return "SEV-ES"
        case .sevSNP: return "SEV-SNP"
        }
    }

    public static func < (lhs: SEVMode, rhs: SEVMode) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }

    /// This mode and every richer one.
    public var andAbove: Set<SEVMode> { Set(Self.allCases.filter { $0 >= self }) }
}

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
    public var requiredFor: [SEVMode]

    public init(id: String, title: String, status: Status, reason: String, hint: String? = nil, requiredFor: Set<SEVMode> = []) {
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
    /// nil for mode none (no confidential computing); JSON says "none".
    public var mode: SEVMode?
    public var ready: Bool
    /// `id: reason` of every required check that did not pass.
    public var blockers: [String]
    /// Mode none only: the accelerator `cvm run --accel auto` uses here ("kvm" or "tcg").
    public var accelerator: String?

    enum CodingKeys: String, CodingKey { case mode, ready, blockers, accelerator }

    public init(mode: SEVMode?, ready: Bool, blockers: [String], accelerator: String? = nil) {
        self.mode = mode
        self.ready = ready
        self.blockers = blockers
        self.accelerator = accelerator
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let name = try c.decode(String.self, forKey: .mode)
        mode = name == "none" ? nil : try c.decode(SEVMode.self, forKey: .mode)
        ready = try c.decode(Bool.self, forKey: .ready)
        blockers = try c.decode([String].self, forKey: .blockers)
        accelerator = try c.decodeIfPresent(String.self, forKey: .accelerator)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(mode?.rawValue ?? "none", forKey: .mode)
        try c.encode(ready, forKey: .ready)
        try c.encode(blockers, forKey: .blockers)
        try c.encodeIfPresent(accelerator, forKey: .accelerator)
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
        verdicts = [ModeVerdict(mode: nil, ready: qemu.isEmpty, blockers: qemu.map { "\($0.id): \($0.reason)" }, accelerator: noneAccelerator)]
            + SEVMode.allCases.map { mode in
                let blocking = checks.filter { $0.requiredFor.contains(mode) && $0.status != .pass }
                return ModeVerdict(mode: mode, ready: blocking.isEmpty, blockers: blocking.map { "\($0.id): \($0.reason)" })
            }
    }

    /// Mode none: QEMU present, and the accelerator it gets.
    public var noneVerdict: ModeVerdict { verdicts.first { $0.mode == nil }! }

    public func verdict(for mode: SEVMode) -> ModeVerdict {
        verdicts.first { $0.mode == mode }!
    }

    public func check(_ id: String) -> CheckResult? {
        checks.first { $0.id == id }
    }
}
