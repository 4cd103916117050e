import BenchReport
import Foundation

/// The result directory while a bench runs: environment.json and plan.json written at the start,
/// runs.jsonl appended (and fsynced) after every run. Opening a directory that already holds the same
/// plan resumes it; another plan or host is refused unless `restart` discards the old results.
public final class ResultStore: @unchecked Sendable {
    public let directory: URL
    public private(set) var plan: BenchPlan
    public private(set) var environment: BenchEnvironment
    /// Run IDs already in the log (resume skips them).
    public private(set) var completed: Set<String>
    /// Records already in the log when the store was opened.
    public let previousRecords: [BenchRunRecord]
    public let resumed: Bool
    private let lock = NSLock()

    var runLog: URL { directory.appendingPathComponent(BenchFiles.runLog) }

    /// Files a bench writes into its directory; `--restart` removes exactly these.
    static let ownFiles = [BenchFiles.environment, BenchFiles.plan, BenchFiles.runLog, BenchFiles.summary, BenchFiles.csv,
                           BenchFiles.markdown, BenchFiles.html, "runs.csv", "console"]

    public init(directory: URL, plan: BenchPlan, environment: BenchEnvironment, restart: Bool) throws {
        self.directory = directory
        let fileManager = FileManager.default
        var isDirectory: ObjCBool = false
        if fileManager.fileExists(atPath: directory.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw BenchError.badInput("\(directory.path) exists and is not a directory") }
            let contents = (try? fileManager.contentsOfDirectory(atPath: directory.path)) ?? []
            let hasPlan = contents.contains(BenchFiles.plan)
            if !hasPlan && !contents.isEmpty && !restart {
                throw BenchError.badInput("\(directory.path) exists and is not a cvm bench result directory; choose another --out")
            }
            if restart {
                for name in Self.ownFiles { try? fileManager.removeItem(at: directory.appendingPathComponent(name)) }
            }
        } else {
            do { try fileManager.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
                throw BenchError.io("cannot create \(directory.path): \(error.localizedDescription)")
            }
        }

        let planURL = directory.appendingPathComponent(BenchFiles.plan)
        let runLog = directory.appendingPathComponent(BenchFiles.runLog)
        if fileManager.fileExists(atPath: planURL.path) {
            let old = try Self.decode(BenchPlan.self, planURL)
            let oldEnvironment = try Self.decode(BenchEnvironment.self, directory.appendingPathComponent(BenchFiles.environment))
            if let difference = Self.difference(old, plan) {
                throw BenchError.resultMismatch("\(directory.path) holds results of another plan (\(difference)); rerun with --restart to discard them, or choose another --out")
            }
            if let difference = Self.difference(oldEnvironment, environment) {
                throw BenchError.resultMismatch("\(directory.path) holds results from another environment (\(difference)); rerun with --restart to discard them, or choose another --out")
            }
            self.plan = old
            self.environment = oldEnvironment
            previousRecords = try Self.readLog(runLog)
            completed = Set(previousRecords.map(\.runID))
            resumed = true
        } else {
            self.plan = plan
            self.environment = environment
            try Self.writeJSON(environment, to: directory.appendingPathComponent(BenchFiles.environment))
            try Self.writeJSON(plan, to: planURL)
            if !fileManager.fileExists(atPath: runLog.path) { _ = fileManager.createFile(atPath: runLog.path, contents: nil) }
            previousRecords = []
            completed = []
            resumed = false
        }
    }

    /// Appends one record as one line and syncs it to disk before returning.
    public func append(_ record: BenchRunRecord) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var line = try encoder.encode(record)
        line.append(0x0A)
        try lock.withLock {
            let descriptor = open(runLog.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else { throw BenchError.io("cannot open \(runLog.path): errno \(errno)") }
            defer { close(descriptor) }
            let written = line.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            guard written == line.count else { throw BenchError.io("cannot append to \(runLog.path): errno \(errno)") }
            guard fsync(descriptor) == 0 else { throw BenchError.io("cannot sync \(runLog.path): errno \(errno)") }
            completed.insert(record.runID)
        }
    }

    /// The records of the log; a torn last line (a bench killed while writing) is cut off the file so
    /// the next append starts on a fresh line.
    static func readLog(_ url: URL) throws -> [BenchRunRecord] {
        guard var data = FileManager.default.contents(atPath: url.path) else { return [] }
        if let last = data.last, last != 0x0A {
            let keep = (data.lastIndex(of: 0x0A).map { $0 + 1 }) ?? 0
            data = data.prefix(keep)
            guard truncate(url.path, off_t(keep)) == 0 else { throw BenchError.io("cannot cut the torn last line of \(url.path): errno \(errno)") }
        }
        do {
            return try ResultDirectory.parseRunLog(data, path: url.path).records
        } catch {
            throw BenchError.io("\(error)")
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, _ url: URL) throws -> T {
        guard let data = FileManager.default.contents(atPath: url.path) else { throw BenchError.io("cannot read \(url.path)") }
        do { return try JSONDecoder().decode(T.self, from: data) } catch {
            throw BenchError.resultMismatch("\(url.path) does not parse (\(ResultDirectory.oneLine(error))); rerun with --restart to discard it")
        }
    }

    static func writeJSON<T: Encodable>(_ value: T, to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            var data = try encoder.encode(value)
            data.append(0x0A)
            try data.write(to: url, options: .atomic)
        } catch {
            throw BenchError.io("cannot write \(url.path): \(error.localizedDescription)")
        }
    }

    /// The first field in which two plans differ, for the refusal message; nil when they agree.
    static func difference(_ old: BenchPlan, _ new: BenchPlan) -> String? {
        if old.guests.map(\.name) != new.guests.map(\.name) { return "guests \(old.guests.map(\.name)) → \(new.guests.map(\.name))" }
        for (a, b) in zip(old.guests, new.guests) where a != b { return "guest \(a.name) changed (digests or path)" }
        if old.modes != new.modes { return "modes \(old.modes.joined(separator: ",")) → \(new.modes.joined(separator: ","))" }
        if old.workloads != new.workloads { return "workloads \(old.workloads.joined(separator: ",")) → \(new.workloads.joined(separator: ","))" }
        if old.vcpus != new.vcpus { return "vCPUs \(old.vcpus) → \(new.vcpus)" }
        if old.memoryMiB != new.memoryMiB { return "memory \(old.memoryMiB) → \(new.memoryMiB)" }
        if old.repetitions != new.repetitions || old.guestRepetitions != new.guestRepetitions { return "repetitions changed" }
        if old.warmups != new.warmups { return "warm-ups \(old.warmups) → \(new.warmups)" }
        if old.timeoutSeconds != new.timeoutSeconds { return "timeout \(old.timeoutSeconds) → \(new.timeoutSeconds) s" }
        if old.workloadParameters != new.workloadParameters { return "workload parameters changed" }
        if old.firmware != new.firmware { return "firmware \(old.firmware ?? "auto") → \(new.firmware ?? "auto")" }
        if old.cells != new.cells || old.skipped.map(\.cell) != new.skipped.map(\.cell) { return "the cells this host can run changed" }
        return nil
    }

    /// Environment facts that must not change under a resumed run (not the command or start time).
    static func difference(_ old: BenchEnvironment, _ new: BenchEnvironment) -> String? {
        let pairs: [(String, String?, String?)] = [
            ("host", old.hostname, new.hostname), ("CPU", old.cpuModel, new.cpuModel), ("kernel", old.kernelRelease, new.kernelRelease),
            ("accelerator", old.accelerator, new.accelerator), ("QEMU", old.qemuVersion, new.qemuVersion),
            ("OVMF", old.ovmfSHA256, new.ovmfSHA256), ("cvm", old.cvmVersion, new.cvmVersion),
        ]
        for (name, a, b) in pairs where a != b { return "\(name) \(a ?? "none") → \(b ?? "none")" }
        return nil
    }
}
