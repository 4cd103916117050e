import Foundation
import HostOS
import SEVABI

/// A host captured as data: every answer the host check received, so tests (and bug reports) replay a
/// real machine. `cvm host check --record FILE` writes one; `--replay FILE` reads it back.
public struct RecordedHost: Codable, Sendable {
    public struct MSRValue: Codable, Sendable, Hashable {
        public var value: String?
        public var error: MSRReadError?
    }

    public struct FileRange: Codable, Sendable, Hashable {
        public var offset: Int
        public var length: Int
        /// Base64 of the bytes.
        public var data: String
    }

    public var description: String
    public var system: SystemFacts
    /// "leaf/subleaf" in hex → [eax, ebx, ecx, edx] in hex.
    public var cpuid: [String: [String]] = [:]
    /// MSR number in hex → value or error.
    public var msrs: [String: MSRValue] = [:]
    public var texts: [String: String] = [:]
    public var access: [String: PathAccess] = [:]
    public var directories: [String: [String]] = [:]
    public var sizes: [String: Int] = [:]
    public var ranges: [String: [FileRange]] = [:]
    public var sevPlatformStatus: SEVPlatformStatus?
    public var snpPlatformStatus: SNPPlatformStatus?
    public var sevFailure: SEVCommandFailure?
    public var snpFailure: SEVCommandFailure?
    public var kvm: KVMProbeResult?
    /// Normalised command line → output; a missing key means the program is not installed.
    public var commands: [String: CommandOutput] = [:]
    /// Paths that are symbolic links → the file they name.
    public var links: [String: String]?
    /// Path → owner, group and mode (device nodes whose permissions the check judges).
    public var ownership: [String: FileOwnership]?

    public init(description: String, system: SystemFacts) {
        self.description = description
        self.system = system
    }

    /// Everything but the description and system facts may be left out: what a recording lacks, the
    /// host did not have.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        description = try c.decode(String.self, forKey: .description)
        system = try c.decode(SystemFacts.self, forKey: .system)
        cpuid = try c.decodeIfPresent([String: [String]].self, forKey: .cpuid) ?? [:]
        msrs = try c.decodeIfPresent([String: MSRValue].self, forKey: .msrs) ?? [:]
        texts = try c.decodeIfPresent([String: String].self, forKey: .texts) ?? [:]
        access = try c.decodeIfPresent([String: PathAccess].self, forKey: .access) ?? [:]
        directories = try c.decodeIfPresent([String: [String]].self, forKey: .directories) ?? [:]
        sizes = try c.decodeIfPresent([String: Int].self, forKey: .sizes) ?? [:]
        ranges = try c.decodeIfPresent([String: [FileRange]].self, forKey: .ranges) ?? [:]
        sevPlatformStatus = try c.decodeIfPresent(SEVPlatformStatus.self, forKey: .sevPlatformStatus)
        snpPlatformStatus = try c.decodeIfPresent(SNPPlatformStatus.self, forKey: .snpPlatformStatus)
        sevFailure = try c.decodeIfPresent(SEVCommandFailure.self, forKey: .sevFailure)
        snpFailure = try c.decodeIfPresent(SEVCommandFailure.self, forKey: .snpFailure)
        kvm = try c.decodeIfPresent(KVMProbeResult.self, forKey: .kvm)
        commands = try c.decodeIfPresent([String: CommandOutput].self, forKey: .commands) ?? [:]
        links = try c.decodeIfPresent([String: String].self, forKey: .links)
        ownership = try c.decodeIfPresent([String: FileOwnership].self, forKey: .ownership)
    }

    public static func load(path: String) throws -> RecordedHost {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RecordingError.unreadable(path)
        }
        do {
            return try JSONDecoder().decode(RecordedHost.self, from: data)
        } catch {
            throw RecordingError.invalid(path, "\(error)")
        }
    }

    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    static func cpuidKey(_ leaf: UInt32, _ subleaf: UInt32) -> String {
        "0x" + String(leaf, radix: 16) + "/" + String(subleaf, radix: 16)
    }

    /// Temporary paths differ between runs; the probe BIOS is matched by file name only.
    static func commandKey(_ arguments: [String]) -> String {
        arguments.map { $0.hasSuffix("/" + QEMUGuestProbe.biosFileName) ? "<probe-bios>" : $0 }.joined(separator: " ")
    }

    /// Sources answering from this recording.
    public var sources: HostSources {
        let replay = Replay(recording: self)
        return HostSources(cpuid: replay, msr: replay, files: replay, sev: replay, kvm: replay, commands: replay, system: system)
    }
}

public enum RecordingError: Error, CustomStringConvertible, Sendable {
    case unreadable(String)
    case invalid(String, String)

    public var description: String {
        switch self {
        case .unreadable(let path): return "cannot read host recording \(path)"
        case let .invalid(path, why): return "\(path) is not a host recording: \(why.prefix(200))"
        }
    }
}

/// Answers every query from a recording; what was never recorded reads as absent.
struct Replay: CPUIDSource, MSRReader, HostFileSystem, SEVFirmware, KVMProber, CommandRunner {
    let recording: RecordedHost

    func query(leaf: UInt32, subleaf: UInt32) -> CPUIDRegisters {
        guard let words = recording.cpuid[RecordedHost.cpuidKey(leaf, subleaf)], words.count == 4 else { return .zero }
        let values = words.map { parseUnsignedInteger($0, as: UInt32.self) ?? 0 }
        return CPUIDRegisters(eax: values[0], ebx: values[1], ecx: values[2], edx: values[3])
    }

    func read(_ msr: UInt32) -> Result<UInt64, MSRReadError> {
        guard let entry = recording.msrs["0x" + String(msr, radix: 16)] else { return .failure(.noDevice) }
        if let error = entry.error { return .failure(error) }
        guard let text = entry.value, let value = parseUnsignedInteger(text, as: UInt64.self) else { return .failure(.notImplemented) }
        return .success(value)
    }

    func text(at path: String) -> String? { recording.texts[path] }
    func access(_ path: String) -> PathAccess { recording.access[path] ?? .missing }
    func list(_ directory: String) -> [String] { (recording.directories[directory] ?? []).sorted() }
    func size(of path: String) -> Int? { recording.sizes[path] }
    func identity(of path: String) -> String { recording.links?[path] ?? path }
    func ownership(of path: String) -> FileOwnership? { recording.ownership?[path] }

    func bytes(at path: String, offset: Int, length: Int) -> [UInt8]? {
        guard let range = recording.ranges[path]?.first(where: { $0.offset == offset && $0.length == length }),
              let data = Data(base64Encoded: range.data) else { return nil }
        return [UInt8](data)
    }

    func platformStatus() -> Result<SEVPlatformStatus, SEVCommandFailure> {
        if let status = recording.sevPlatformStatus { return .success(status) }
        return .failure(recording.sevFailure ?? SEVCommandFailure(errno: ENODEV, firmwareError: 0))
    }

    func snpPlatformStatus() -> Result<SNPPlatformStatus, SEVCommandFailure> {
        if let status = recording.snpPlatformStatus { return .success(status) }
        return .failure(recording.snpFailure ?? SEVCommandFailure(errno: ENODEV, firmwareError: 0))
    }

    func probe() -> KVMProbeResult {
        recording.kvm ?? KVMProbeResult(deviceAccess: .missing, apiVersion: nil, vmCreated: false, vcpuCreated: false,
                                        guestRanToHalt: false, failedStep: "open", errno: ENOENT)
    }

    func run(_ arguments: [String], timeout: Double) -> CommandOutput? {
        recording.commands[RecordedHost.commandKey(arguments)]
    }
}

/// Wraps live sources and writes down every answer, producing a `RecordedHost`.
public final class HostRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var recording: RecordedHost
    private let live: HostSources

    public init(live: HostSources, description: String) {
        self.live = live
        recording = RecordedHost(description: description, system: live.system)
    }

    public var result: RecordedHost { lock.withLock { recording } }

    private func note(_ change: (inout RecordedHost) -> Void) { lock.withLock { change(&recording) } }

    public var sources: HostSources {
        let tap = Tap(recorder: self, live: live)
        return HostSources(cpuid: tap, msr: tap, files: tap, sev: tap, kvm: tap, commands: tap, system: live.system)
    }

    struct Tap: CPUIDSource, MSRReader, HostFileSystem, SEVFirmware, KVMProber, CommandRunner {
        let recorder: HostRecorder
        let live: HostSources

        private func hex<T: BinaryInteger>(_ value: T) -> String { "0x" + String(value, radix: 16) }

        func query(leaf: UInt32, subleaf: UInt32) -> CPUIDRegisters {
            let regs = live.cpuid.query(leaf: leaf, subleaf: subleaf)
            recorder.note { $0.cpuid[RecordedHost.cpuidKey(leaf, subleaf)] = [regs.eax, regs.ebx, regs.ecx, regs.edx].map(hex) }
            return regs
        }

        func read(_ msr: UInt32) -> Result<UInt64, MSRReadError> {
            let result = live.msr.read(msr)
            recorder.note {
                switch result {
                case .success(let value): $0.msrs[hex(msr)] = .init(value: hex(value), error: nil)
                case .failure(let error): $0.msrs[hex(msr)] = .init(value: nil, error: error)
                }
            }
            return result
        }

        func text(at path: String) -> String? {
            let text = live.files.text(at: path)
            if let text { recorder.note { $0.texts[path] = text } }
            return text
        }

        func access(_ path: String) -> PathAccess {
            let access = live.files.access(path)
            recorder.note { $0.access[path] = access }
            return access
        }

        func list(_ directory: String) -> [String] {
            let names = live.files.list(directory)
            if !names.isEmpty { recorder.note { $0.directories[directory] = names } }
            return names
        }

        func size(of path: String) -> Int? {
            let size = live.files.size(of: path)
            if let size { recorder.note { $0.sizes[path] = size } }
            return size
        }

        func identity(of path: String) -> String {
            let identity = live.files.identity(of: path)
            if identity != path { recorder.note { $0.links = ($0.links ?? [:]).merging([path: identity]) { $1 } } }
            return identity
        }

        func ownership(of path: String) -> FileOwnership? {
            let ownership = live.files.ownership(of: path)
            if let ownership { recorder.note { $0.ownership = ($0.ownership ?? [:]).merging([path: ownership]) { $1 } } }
            return ownership
        }

        func bytes(at path: String, offset: Int, length: Int) -> [UInt8]? {
            let bytes = live.files.bytes(at: path, offset: offset, length: length)
            if let bytes {
                recorder.note { $0.ranges[path, default: []].append(.init(offset: offset, length: length, data: Data(bytes).base64EncodedString())) }
            }
            return bytes
        }

        func platformStatus() -> Result<SEVPlatformStatus, SEVCommandFailure> {
            let result = live.sev.platformStatus()
            recorder.note {
                switch result {
                case .success(let status): $0.sevPlatformStatus = status
                case .failure(let failure): $0.sevFailure = failure
                }
            }
            return result
        }

        func snpPlatformStatus() -> Result<SNPPlatformStatus, SEVCommandFailure> {
            let result = live.sev.snpPlatformStatus()
            recorder.note {
                switch result {
                case .success(let status): $0.snpPlatformStatus = status
                case .failure(let failure): $0.snpFailure = failure
                }
            }
            return result
        }

        func probe() -> KVMProbeResult {
            let result = live.kvm.probe()
            recorder.note { $0.kvm = result }
            return result
        }

        func run(_ arguments: [String], timeout: Double) -> CommandOutput? {
            let output = live.commands.run(arguments, timeout: timeout)
            if let output { recorder.note { $0.commands[RecordedHost.commandKey(arguments)] = output } }
            return output
        }
    }
}
