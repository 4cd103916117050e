import Foundation
import Launch
import SEVABI
import Yams

/// Why a benchmark cannot start or go on; every description is one line.
public enum BenchError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Flags, a config file or a guest path are wrong (CLI exit 2).
    case badInput(String)
    /// This host cannot do what was asked: a tool is missing, a guest cannot be built (CLI exit 3).
    case unsupportedHere(String)
    /// The output directory holds results of another plan or host (CLI exit 2; `--restart` discards them).
    case resultMismatch(String)
    case io(String)

    public var description: String {
        switch self {
        case .badInput(let why), .unsupportedHere(let why), .resultMismatch(let why), .io(let why): return why
        }
    }
}

/// A guest of the matrix as requested.
public struct GuestSpec: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        /// Our unikernel, built on demand (PVH without firmware; its EFI application through OVMF).
        case unikernel
        /// The minimal Linux guest with cvm-workloads, built on demand.
        case linux
        /// Any guest bundle directory (`cvm image build …`); boot workload only.
        case bundle(path: String)
        /// An external kernel; boot workload only.
        case kernel(path: String, initrd: String?, cmdline: String?)
    }

    public var name: String
    public var kind: Kind
    /// Overrides the plan's repetitions for this guest.
    public var repetitions: Int?

    public init(name: String, kind: Kind, repetitions: Int? = nil) {
        self.name = name
        self.kind = kind
        self.repetitions = repetitions
    }

    /// "unikernel", "linux", "bundle" or "kernel", as `BenchGuest.kind` records it.
    public var kindName: String {
        switch kind {
        case .unikernel: return "unikernel"
        case .linux: return "linux"
        case .bundle: return "bundle"
        case .kernel: return "kernel"
        }
    }

    public static let unikernel = GuestSpec(name: "unikernel", kind: .unikernel)
    public static let linux = GuestSpec(name: "linux", kind: .linux)

    /// Whether the guest runs the measuring workloads (the others boot only).
    public var runsWorkloads: Bool {
        switch kind {
        case .unikernel, .linux: return true
        case .bundle, .kernel: return false
        }
    }

    /// `unikernel`, `linux`, `bundle:NAME=DIR` or `kernel:NAME=FILE`.
    public static func parse(_ text: String) throws -> GuestSpec {
        let word = text.trimmingCharacters(in: .whitespaces)
        switch word {
        case "unikernel": return .unikernel
        case "linux": return .linux
        default: break
        }
        for prefix in ["bundle:", "kernel:"] where word.hasPrefix(prefix) {
            let rest = word.dropFirst(prefix.count)
            guard let equals = rest.firstIndex(of: "="), !rest[..<equals].isEmpty, !rest[rest.index(after: equals)...].isEmpty else {
                throw BenchError.badInput("guest '\(word)': expected \(prefix)NAME=\(prefix == "bundle:" ? "DIR" : "FILE")")
            }
            let name = String(rest[..<equals])
            try checkName(name)
            let path = String(rest[rest.index(after: equals)...])
            return GuestSpec(name: name, kind: prefix == "bundle:" ? .bundle(path: path) : .kernel(path: path, initrd: nil, cmdline: nil))
        }
        throw BenchError.badInput("unknown guest '\(word)' (expected unikernel, linux, bundle:NAME=DIR or kernel:NAME=FILE)")
    }

    /// Guest names become part of run IDs and file names: letters, digits, '-', '_', '.'.
    static func checkName(_ name: String) throws {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
        guard !name.isEmpty, name.count <= 64, name.allSatisfy({ allowed.contains($0) }) else {
            throw BenchError.badInput("guest name '\(name)' must be 1-64 letters, digits, '-', '_' or '.'")
        }
    }
}

/// Everything a benchmark was asked for, from flags and/or a YAML file; nil means "not given".
/// `resolved(quick:)` fills in the defaults.
public struct BenchSettings: Equatable, Sendable {
    public var guests: [GuestSpec]?
    public var modes: [ConfidentialMode]?
    public var workloads: [String]?
    public var vcpus: [Int]?
    public var memoryMiB: [Int]?
    public var repetitions: Int?
    public var warmups: Int?
    public var timeoutSeconds: Double?
    public var out: String?
    public var accelerator: AcceleratorRequest?
    /// "auto" or "ovmf" (every mode through OVMF, so the baseline boots the way confidential guests do).
    public var firmware: String?
    /// Workload parameters (`stream.size` → `8M`), the same for every guest.
    public var parameters: [String: String]?
    /// The unikernel's boot paths (firmware, pvh, efi), an axis of the matrix.
    public var boots: [UnikernelBoot]?

    public init() {}

    public static let configKeys = ["guests", "modes", "workloads", "vcpus", "memory", "reps", "warmups", "timeout", "out", "accel", "firmware", "boot", "params"]

    /// Boot path names (`firmware`, `pvh`, `efi`) from flags or a file.
    public static func boots(_ names: [String]) throws -> [UnikernelBoot] {
        try names.map { name in
            guard let boot = UnikernelBoot(rawValue: name) else {
                throw BenchError.badInput("unknown boot '\(name)' (expected \(UnikernelBoot.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return boot
        }
    }

    /// Values of `other` replace ours where given (flags over a config file).
    public func overriding(with other: BenchSettings) -> BenchSettings {
        var merged = self
        merged.guests = other.guests ?? guests
        merged.modes = other.modes ?? modes
        merged.workloads = other.workloads ?? workloads
        merged.vcpus = other.vcpus ?? vcpus
        merged.memoryMiB = other.memoryMiB ?? memoryMiB
        merged.repetitions = other.repetitions ?? repetitions
        merged.warmups = other.warmups ?? warmups
        merged.timeoutSeconds = other.timeoutSeconds ?? timeoutSeconds
        merged.out = other.out ?? out
        merged.accelerator = other.accelerator ?? accelerator
        merged.firmware = other.firmware ?? firmware
        merged.boots = other.boots ?? boots
        if let extra = other.parameters { merged.parameters = (parameters ?? [:]).merging(extra) { $1 } }
        return merged
    }

    /// The matrix with defaults filled in. `quick` is `cvm bench --quick`: unikernel and Linux, every
    /// mode (those the host cannot run are skipped), boot + stream + chase + sha256, 6 repetitions of
    /// the Linux guest (the fewest with a 95% order-statistics interval for the median) and 20 of the
    /// unikernel, one warm-up each: about five minutes under TCG on 2 cores.
    public func resolved(quick: Bool) throws -> BenchOptions {
        var options = BenchOptions()
        if quick {
            options.guests = [GuestSpec(name: "unikernel", kind: .unikernel, repetitions: 20), GuestSpec(name: "linux", kind: .linux, repetitions: 6)]
            options.workloads = ["boot", "stream", "chase", "sha256"]
            options.repetitions = 6
            options.warmups = 1
            options.timeoutSeconds = 180
        }
        if let guests { options.guests = guests }
        if let modes { options.modes = modes }
        if let workloads { options.workloads = workloads }
        if let vcpus { options.vcpus = vcpus }
        if let memoryMiB { options.memoryMiB = memoryMiB }
        if let repetitions {
            options.repetitions = repetitions
            // An explicit --reps applies to every guest, also in --quick.
            if self.guests == nil { options.guests = options.guests.map { GuestSpec(name: $0.name, kind: $0.kind) } }
        }
        if let warmups { options.warmups = warmups }
        if let timeoutSeconds { options.timeoutSeconds = timeoutSeconds }
        if let accelerator { options.accelerator = accelerator }
        if let firmware {
            options.firmware = FirmwareRequest(argument: firmware)
        } else if options.modes.contains(where: \.isConfidential), (try? LaunchPlanner.resolveFirmware(for: .sev, request: .ovmf)) != nil {
            // A matrix with confidential modes boots every mode of a guest the same way, so that an
            // overhead never mixes in a change of firmware: Linux through OVMF also in mode none.
            options.firmware = .ovmf
        }
        if let boots { options.boots = boots }
        if let parameters { options.parameters = parameters }
        options.out = out
        try options.validate()
        options.quick = quick
        options.explicitParameters = Set((parameters ?? [:]).keys)
        options.explicitMemory = memoryMiB != nil
        return options
    }
}

/// The matrix to run, complete and validated.
public struct BenchOptions: Equatable, Sendable {
    public var guests: [GuestSpec] = [.unikernel, .linux]
    public var modes: [ConfidentialMode] = ConfidentialMode.allCases
    public var workloads: [String] = ["boot", "stream", "chase", "sha256", "ep", "exits", "touch"]
    public var vcpus: [Int] = [1]
    public var memoryMiB: [Int] = [256]
    public var repetitions = 10
    public var warmups = 1
    public var timeoutSeconds: Double = 300
    public var out: String?
    public var accelerator: AcceleratorRequest = .auto
    /// auto: SeaBIOS (PVH for the unikernel) in mode none, OVMF in confidential modes; ovmf: the system's
    /// OVMF always; a path: that OVMF image always (a self-built AmdSev OVMF, say).
    public var firmware: FirmwareRequest = .auto
    /// The unikernel's boot paths; nil: `unikernelBoots`' rule.
    public var boots: [UnikernelBoot]?
    public var parameters: [String: String] = [:]
    /// What the working sets are against the host's last-level cache (WorkingSet), printed and kept in plan.json.
    public var workingSetNote: String?
    /// `--quick`, and what the user set: WorkingSet sizes only what was left to it.
    public var quick = false
    public var explicitParameters: Set<String> = []
    public var explicitMemory = false

    public init() {}

    /// The unikernel's boot axis: as asked; else one path for every mode: its own firmware when the
    /// matrix has confidential modes (a PVH kernel cannot be confidential), its EFI application when
    /// OVMF was asked for, else PVH.
    public var unikernelBoots: [UnikernelBoot] {
        if let boots { return boots }
        if modes.contains(where: \.isConfidential) { return [.firmware] }
        switch firmware {
        case .auto, .seabios, .customBIOS: return [.pvh]
        case .ovmf, .path: return [.efi]
        }
    }

    public func validate() throws {
        guard !guests.isEmpty else { throw BenchError.badInput("no guests given") }
        var names = Set<String>()
        for guest in guests where !names.insert(guest.name).inserted {
            throw BenchError.badInput("guest name '\(guest.name)' is used twice")
        }
        guard !modes.isEmpty else { throw BenchError.badInput("no modes given") }
        guard !workloads.isEmpty else { throw BenchError.badInput("no workloads given") }
        for workload in workloads where !WorkloadCatalog.names.contains(workload) {
            throw BenchError.badInput("unknown workload '\(workload)' (expected \(WorkloadCatalog.names.joined(separator: ", ")))")
        }
        for count in vcpus where !(1...64).contains(count) { throw BenchError.badInput("vCPU count \(count) is out of range (1-64)") }
        for size in memoryMiB where !(64...65536).contains(size) { throw BenchError.badInput("memory \(size) MiB is out of range (64M-64G)") }
        guard !vcpus.isEmpty, !memoryMiB.isEmpty else { throw BenchError.badInput("no vCPU count or memory size given") }
        guard (1...10_000).contains(repetitions) else { throw BenchError.badInput("repetitions \(repetitions) is out of range (1-10000)") }
        for guest in guests {
            if let reps = guest.repetitions, !(1...10_000).contains(reps) {
                throw BenchError.badInput("guest \(guest.name): repetitions \(reps) is out of range (1-10000)")
            }
        }
        guard (0...100).contains(warmups) else { throw BenchError.badInput("warm-ups \(warmups) is out of range (0-100)") }
        guard timeoutSeconds > 0, timeoutSeconds <= 86_400 else { throw BenchError.badInput("timeout \(timeoutSeconds) s is out of range") }
        switch firmware {
        case .auto, .ovmf: break
        case .path(let path):
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw BenchError.badInput("firmware '\(path)' is not auto, ovmf or a readable OVMF image")
            }
        case .seabios, .customBIOS:
            throw BenchError.badInput("firmware '\(firmware.argument)' is not auto, ovmf or an OVMF image path")
        }
        if let boots {
            guard !boots.isEmpty else { throw BenchError.badInput("no boot paths given") }
            guard Set(boots).count == boots.count else { throw BenchError.badInput("a boot path is listed twice: \(boots.map(\.rawValue).joined(separator: ","))") }
        }
        try WorkloadCatalog.validate(parameters)
    }

    public func repetitions(for guest: GuestSpec) -> Int { guest.repetitions ?? repetitions }
}

// MARK: Parsing flags and files

extension BenchSettings {
    /// A comma-separated list (`none,sev-snp`), whitespace ignored, no empty items.
    public static func list(_ text: String, what: String) throws -> [String] {
        let items = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard !items.contains(where: \.isEmpty) else { throw BenchError.badInput("\(what) '\(text)': empty item in the list") }
        return items
    }

    /// Mode names (`none`, `sev`, `sev-es`, `sev-snp`) as the one mode type, from flags or a file.
    public static func modes(_ names: [String]) throws -> [ConfidentialMode] {
        try names.map { name in
            guard let mode = ConfidentialMode(rawValue: name) else {
                throw BenchError.badInput("unknown mode '\(name)' (expected \(ConfidentialMode.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return mode
        }
    }

    public static func integers(_ text: String, what: String) throws -> [Int] {
        try list(text, what: what).map { item in
            guard let value = Int(item) else { throw BenchError.badInput("\(what) '\(item)' is not a whole number") }
            return value
        }
    }

    /// `256M`, `1G`, `512` (MiB), `2GiB`.
    public static func memory(_ text: String) throws -> Int {
        guard let mebibytes = MemorySize.mebibytes(text) else { throw BenchError.badInput("memory '\(text)' is not a size (use e.g. 256M or 1G)") }
        return mebibytes
    }

    /// `stream.size=8M` (flag form of a workload parameter).
    public static func parameter(_ text: String) throws -> (String, String) {
        guard let equals = text.firstIndex(of: "=") else { throw BenchError.badInput("parameter '\(text)': expected KEY=VALUE, e.g. stream.size=8M") }
        return (String(text[..<equals]), String(text[text.index(after: equals)...]))
    }

    /// Reads a YAML file with the same keys as the flags (see `cvm bench --help`).
    public static func load(configFile path: String) throws -> BenchSettings {
        guard let data = FileManager.default.contents(atPath: path) else { throw BenchError.badInput("cannot read config file \(path)") }
        guard let text = String(data: data, encoding: .utf8) else { throw BenchError.badInput("\(path): not UTF-8 text") }
        return try parse(yaml: text, name: (path as NSString).lastPathComponent)
    }

    public static func parse(yaml text: String, name: String = "config") throws -> BenchSettings {
        let root: Node?
        do {
            try NestingDepth.check(text)
            root = try Yams.compose(yaml: text)
        } catch let error as NestingDepth.TooDeep {
            throw BenchError.badInput("\(name): \(error)")
        } catch let error as YamlError {
            throw BenchError.badInput("\(name): not valid YAML: \(Self.describe(error))")
        } catch {
            throw BenchError.badInput("\(name): not valid YAML")
        }
        guard let root else { throw BenchError.badInput("\(name): empty config file") }
        guard case .mapping(let mapping) = root else {
            throw BenchError.badInput("\(name): expected a mapping of keys (\(configKeys.joined(separator: ", ")))")
        }
        var settings = BenchSettings()
        for (keyNode, value) in mapping {
            guard let key = keyNode.string else { throw BenchError.badInput("\(name)\(where_(keyNode)): keys must be text") }
            let at = "\(name)\(where_(value)): \(key)"
            switch key {
            case "guests": settings.guests = try guestList(value, at: at)
            case "modes": settings.modes = try modes(strings(value, at: at))
            case "workloads": settings.workloads = try strings(value, at: at)
            case "vcpus": settings.vcpus = try strings(value, at: at).map { item in
                guard let count = Int(item) else { throw BenchError.badInput("\(at): '\(item)' is not a whole number") }
                return count
            }
            case "memory": settings.memoryMiB = try strings(value, at: at).map { item in
                do { return try memory(item) } catch let error as BenchError { throw BenchError.badInput("\(at): \(error)") }
            }
            case "reps", "repetitions": settings.repetitions = try integer(value, at: at)
            case "warmups": settings.warmups = try integer(value, at: at)
            case "timeout":
                guard let seconds = value.scalar.flatMap({ Double($0.string) }) else { throw BenchError.badInput("\(at): expected seconds") }
                settings.timeoutSeconds = seconds
            case "out": settings.out = try scalar(value, at: at)
            case "firmware": settings.firmware = try scalar(value, at: at)
            case "boot", "boots":
                do { settings.boots = try boots(strings(value, at: at)) } catch let error as BenchError { throw BenchError.badInput("\(at): \(error)") }
            case "accel":
                let text = try scalar(value, at: at)
                guard let accel = AcceleratorRequest(rawValue: text) else { throw BenchError.badInput("\(at): '\(text)' is not auto, kvm or tcg") }
                settings.accelerator = accel
            case "params":
                guard case .mapping(let params) = value else { throw BenchError.badInput("\(at): expected a mapping like stream.size: 8M") }
                var out: [String: String] = [:]
                for (paramKey, paramValue) in params {
                    guard let paramName = paramKey.string else { throw BenchError.badInput("\(at): keys must be text") }
                    out[paramName] = try scalar(paramValue, at: "\(at).\(paramName)")
                }
                settings.parameters = out
            default:
                throw BenchError.badInput("\(name)\(where_(keyNode)): unknown key '\(key)' (expected \(configKeys.joined(separator: ", ")))")
            }
        }
        return settings
    }

    private static func where_(_ node: Node) -> String {
        node.mark.map { ":\($0.line)" } ?? ""
    }

    private static func scalar(_ node: Node, at: String) throws -> String {
        guard case .scalar(let scalar) = node else { throw BenchError.badInput("\(at): expected a single value") }
        return scalar.string
    }

    private static func integer(_ node: Node, at: String) throws -> Int {
        let text = try scalar(node, at: at)
        guard let value = Int(text) else { throw BenchError.badInput("\(at): '\(text)' is not a whole number") }
        return value
    }

    /// A YAML list, or one scalar holding a comma-separated list.
    private static func strings(_ node: Node, at: String) throws -> [String] {
        switch node {
        case .scalar(let scalar):
            do { return try list(scalar.string, what: "value") } catch let error as BenchError { throw BenchError.badInput("\(at): \(error)") }
        case .sequence(let sequence):
            return try sequence.map { try scalar($0, at: at) }
        default:
            throw BenchError.badInput("\(at): expected a list")
        }
    }

    /// Guests: words as on the command line, or mappings {name, bundle} / {name, kernel, initrd, cmdline},
    /// each optionally with reps.
    private static func guestList(_ node: Node, at: String) throws -> [GuestSpec] {
        let items: [Node]
        switch node {
        case .scalar(let scalar):
            do { return try list(scalar.string, what: "guests").map(GuestSpec.parse) } catch let error as BenchError {
                throw BenchError.badInput("\(at): \(error)")
            }
        case .sequence(let sequence): items = Array(sequence)
        default: throw BenchError.badInput("\(at): expected a list of guests")
        }
        return try items.map { item in
            if case .scalar(let scalar) = item {
                do { return try GuestSpec.parse(scalar.string) } catch let error as BenchError { throw BenchError.badInput("\(at): \(error)") }
            }
            guard case .mapping(let fields) = item else { throw BenchError.badInput("\(at): each guest is a word or a mapping") }
            var values: [String: String] = [:]
            for (key, value) in fields {
                guard let name = key.string, ["name", "bundle", "kernel", "initrd", "cmdline", "reps", "type"].contains(name) else {
                    throw BenchError.badInput("\(at)\(where_(key)): unknown guest key '\(key.string ?? "?")' (expected name, type, bundle, kernel, initrd, cmdline, reps)")
                }
                values[name] = try scalar(value, at: "\(at).\(name)")
            }
            var spec: GuestSpec
            if let bundle = values["bundle"] {
                spec = GuestSpec(name: values["name"] ?? "", kind: .bundle(path: bundle))
            } else if let kernel = values["kernel"] {
                spec = GuestSpec(name: values["name"] ?? "", kind: .kernel(path: kernel, initrd: values["initrd"], cmdline: values["cmdline"]))
            } else if let type = values["type"] ?? values["name"], type == "unikernel" || type == "linux" {
                spec = type == "unikernel" ? .unikernel : .linux
                if let name = values["name"] { spec.name = name }
            } else {
                throw BenchError.badInput("\(at): a guest mapping needs bundle: DIR, kernel: FILE, or type: unikernel|linux")
            }
            do { try GuestSpec.checkName(spec.name) } catch let error as BenchError { throw BenchError.badInput("\(at): \(error)") }
            if let reps = values["reps"] {
                guard let count = Int(reps) else { throw BenchError.badInput("\(at).reps: '\(reps)' is not a whole number") }
                spec.repetitions = count
            }
            return spec
        }
    }

    static func describe(_ error: YamlError) -> String {
        switch error {
        case let .scanner(_, problem, mark, _), let .parser(_, problem, mark, _), let .composer(_, problem, mark, _):
            return "\(problem) at line \(mark.line)"
        case let .reader(problem, _, _, _): return problem
        default: return String(describing: error).split(separator: "\n").first.map(String.init) ?? "error"
        }
    }
}
