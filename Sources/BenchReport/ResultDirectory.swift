import Foundation

/// Why a result directory could not be read; each description is one line naming the file.
public enum BenchReportError: Error, CustomStringConvertible, Equatable {
    case missingFile(String)
    case unreadable(path: String, reason: String)
    case malformed(path: String, reason: String)
    case malformedRunLine(path: String, line: Int, reason: String)
    case unknownSchema(path: String, found: String, expected: String)
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case .missingFile(let path): "\(path): no such file (not a cvm bench result directory?)"
        case .unreadable(let path, let reason): "\(path): cannot read: \(reason)"
        case .malformed(let path, let reason): "\(path): not valid JSON for this file: \(reason)"
        case .malformedRunLine(let path, let line, let reason): "\(path):\(line): not a run record: \(reason)"
        case .unknownSchema(let path, let found, let expected): "\(path): schema \"\(found)\" is not \"\(expected)\""
        case .cannotWrite(let path, let reason): "\(path): cannot write: \(reason)"
        }
    }
}

/// The inputs of a report, read from a result directory.
public struct ResultDirectory: Sendable {
    public var url: URL
    public var environment: BenchEnvironment
    public var plan: BenchPlan
    /// The run log, one record per run ID (a later record of the same run ID replaces an earlier one).
    public var records: [BenchRunRecord]
    /// What was tolerated while reading (a truncated last line, superseded records).
    public var warnings: [String]

    public init(url: URL, environment: BenchEnvironment, plan: BenchPlan, records: [BenchRunRecord], warnings: [String] = []) {
        self.url = url
        self.environment = environment
        self.plan = plan
        self.records = records
        self.warnings = warnings
    }

    /// Reads environment.json, plan.json and runs.jsonl. A malformed last line of runs.jsonl (a run
    /// interrupted mid-write) is skipped with a warning; any other malformed line is an error naming it.
    public static func load(_ url: URL) throws -> ResultDirectory {
        let environment: BenchEnvironment = try decodeFile(url.appendingPathComponent(BenchFiles.environment),
                                                           schema: BenchSchema.environment) { $0.schema }
        let plan: BenchPlan = try decodeFile(url.appendingPathComponent(BenchFiles.plan), schema: BenchSchema.plan) { $0.schema }
        let log = url.appendingPathComponent(BenchFiles.runLog)
        let (records, warnings) = try parseRunLog(try readFile(log), path: log.path)
        return ResultDirectory(url: url, environment: environment, plan: plan, records: records, warnings: warnings)
    }

    /// Parses the text of a run log (JSON Lines). Exposed for the engine's resume and for tests.
    public static func parseRunLog(_ data: Data, path: String) throws -> (records: [BenchRunRecord], warnings: [String]) {
        let decoder = JSONDecoder()
        var lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }
        let lastContentLine = lines.lastIndex { !isBlank($0) }
        var byID: [String: Int] = [:]
        var records: [BenchRunRecord] = []
        var warnings: [String] = []
        var superseded = 0
        for (index, line) in lines.enumerated() where !isBlank(line) {
            let record: BenchRunRecord
            do {
                record = try decoder.decode(BenchRunRecord.self, from: Data(line))
            } catch {
                if index == lastContentLine {
                    warnings.append("\(path):\(index + 1): skipped an incomplete last line (run interrupted while writing)")
                    continue
                }
                throw BenchReportError.malformedRunLine(path: path, line: index + 1, reason: oneLine(error))
            }
            guard record.schema == BenchSchema.run else {
                throw BenchReportError.malformedRunLine(path: path, line: index + 1,
                                                        reason: "schema \"\(record.schema)\" is not \"\(BenchSchema.run)\"")
            }
            if let earlier = byID[record.runID] {
                records[earlier] = record
                superseded += 1
            } else {
                byID[record.runID] = records.count
                records.append(record)
            }
        }
        if superseded > 0 {
            warnings.append("\(path): \(superseded) record(s) replaced by a later record of the same run ID")
        }
        return (records, warnings)
    }

    static func readFile(_ url: URL) throws -> Data {
        guard FileManager.default.fileExists(atPath: url.path) else { throw BenchReportError.missingFile(url.path) }
        do {
            return try Data(contentsOf: url)
        } catch {
            throw BenchReportError.unreadable(path: url.path, reason: oneLine(error))
        }
    }

    static func decodeFile<T: Decodable>(_ url: URL, schema: String, schemaOf: (T) -> String) throws -> T {
        let data = try readFile(url)
        let value: T
        do {
            value = try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw BenchReportError.malformed(path: url.path, reason: oneLine(error))
        }
        guard schemaOf(value) == schema else {
            throw BenchReportError.unknownSchema(path: url.path, found: schemaOf(value), expected: schema)
        }
        return value
    }

    private static func isBlank(_ line: Data.SubSequence) -> Bool {
        line.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0d }
    }

    /// A decoding error as one line: the coding path and what was wrong.
    public static func oneLine(_ error: Error) -> String {
        let text: String
        switch error {
        case DecodingError.dataCorrupted(let context):
            text = describe(context, "corrupted")
        case DecodingError.keyNotFound(let key, let context):
            // The decoder's own text here is "No value associated with key CodingKeys(stringValue: …)".
            text = describe(context, "missing field \"\(key.stringValue)\"", detail: false)
        case DecodingError.typeMismatch(let type, let context):
            text = describe(context, "expected \(typeName(type))", detail: false)
        case DecodingError.valueNotFound(let type, let context):
            text = describe(context, "expected \(typeName(type)), found null", detail: false)
        default:
            text = error.localizedDescription
        }
        return text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    /// A JSON word for a Swift type: what the file should have held.
    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "text"
        case is Bool.Type: return "true or false"
        case is Int.Type, is Int64.Type, is UInt64.Type, is Int32.Type, is UInt32.Type, is UInt8.Type: return "a whole number"
        case is Double.Type, is Float.Type: return "a number"
        default:
            let name = String(describing: type)
            if name.hasPrefix("Array") { return "a list" }
            if name.hasPrefix("Dictionary") { return "an object" }
            return "a \(name)"
        }
    }

    private static func describe(_ context: DecodingError.Context, _ what: String, detail showDetail: Bool = true) -> String {
        let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        let detail = showDetail ? context.debugDescription : ""
        if path.isEmpty { return detail.isEmpty ? what : "\(what): \(detail)" }
        return detail.isEmpty ? "\(path): \(what)" : "\(path): \(what) (\(detail))"
    }
}
