/// A workload the kernel (or the Linux workload binary) can run.
public enum Workload: UInt8, CaseIterable, Sendable {
    case noop, stream, chase, sha256, ep, exits, touch, fault, attest

    public var name: StaticString {
        switch self {
        case .noop: "noop"
        case .stream: "stream"
        case .chase: "chase"
        case .sha256: "sha256"
        case .ep: "ep"
        case .exits: "exits"
        case .touch: "touch"
        case .fault: "fault"
        case .attest: "attest"
        }
    }

    /// Every measuring workload, in the order `run=all` runs them (not `fault`, which ends the run, nor
    /// `attest`, which only SEV-SNP can serve).
    public static let all: [Workload] = [.stream, .chase, .sha256, .ep, .exits, .touch]
}

public enum CommandLineError: Error, Equatable, CustomStringConvertible {
    case unknownKey([UInt8])
    case badValue([UInt8])
    case unknownWorkload([UInt8])

    public var token: [UInt8] {
        switch self {
        case let .unknownKey(token), let .badValue(token), let .unknownWorkload(token): token
        }
    }

    public var description: String {
        let text = String(decoding: token, as: UTF8.self)
        switch self {
        case .unknownKey: return "unknown command-line option '\(text)'"
        case .badValue: return "bad value in '\(text)' (expected a number, optionally with K, M or G, within range)"
        case .unknownWorkload: return "unknown workload '\(text)' (expected noop, stream, chase, sha256, ep, exits, touch, fault, attest or all)"
        }
    }
}

/// The kernel command line: space-separated `key=value` words.
///
/// `run=stream,sha256` (or `all`) picks workloads; `stream.size=` bytes per STREAM array, `stream.reps=`,
/// `chase.size=` and `chase.steps=` for the pointer chase, `sha256.size=`, `ep.m=` (log2 of the number of
/// EP pairs), `exits.iters=`, `touch.pages=`. Sizes take K, M or G suffixes (powers of 1024).
/// `attest=1 attest.nonce=HEX` asks for an attestation report bound to the nonce and this command line
/// (AttestationBinding); `validate=eager|lazy` when an SNP guest validates its memory (PageValidation). Words a loader adds (`initrd=`, `console=`) are ignored.
public struct BootOptions: Equatable, Sendable {
    public var workloads: [Workload] = [.noop]
    public var streamBytes = 4 << 20
    public var streamRepetitions = 3
    public var chaseBytes = 8 << 20
    public var chaseSteps = 1 << 20
    public var sha256Bytes = 1 << 20
    public var epLog2Pairs = 16
    public var exitIterations = 10_000
    public var touchPages = 1024
    /// `attest=1`: ask the PSP for an attestation report (SEV-SNP) and print it.
    public var attest = false
    /// `attest.nonce=HEX`: up to 32 bytes the verifier chose, bound into REPORT_DATA (AttestationBinding).
    public var attestNonce: [UInt8] = []
    /// `attest.reps=`: guest requests the `attest` workload times.
    public var attestRepetitions = 10
    /// `validate=eager|lazy`: when an SNP guest validates its memory (PageValidation); eager by default.
    public var validation: PageValidation.Policy = .eager

    public init() {}

    public static func parse(_ line: [UInt8]) throws(CommandLineError) -> BootOptions {
        var options = BootOptions()
        for word in line.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 || $0 == 0x0a || $0 == 0 }) {
            let token = Array(word)
            guard let equals = word.firstIndex(of: 0x3d) else { throw .unknownKey(token) }
            let key = word[word.startIndex..<equals]
            let value = word[(equals + 1)...]
            if matches(key, "run") {
                options.workloads = try parseWorkloads(value, token: token)
            } else if matches(key, "stream.size") {
                options.streamBytes = try number(value, token: token, in: 64...(1 << 30))
            } else if matches(key, "stream.reps") {
                options.streamRepetitions = try number(value, token: token, in: 1...1000)
            } else if matches(key, "chase.size") {
                options.chaseBytes = try number(value, token: token, in: 128...(1 << 30))
            } else if matches(key, "chase.steps") {
                options.chaseSteps = try number(value, token: token, in: 1...(1 << 34))
            } else if matches(key, "sha256.size") {
                options.sha256Bytes = try number(value, token: token, in: 0...(1 << 30))
            } else if matches(key, "ep.m") {
                options.epLog2Pairs = try number(value, token: token, in: 1...36)
            } else if matches(key, "exits.iters") {
                options.exitIterations = try number(value, token: token, in: 1...(1 << 32))
            } else if matches(key, "touch.pages") {
                options.touchPages = try number(value, token: token, in: 1...(1 << 20))
            } else if matches(key, "attest") {
                options.attest = try number(value, token: token, in: 0...1) == 1
            } else if matches(key, "attest.nonce") {
                options.attestNonce = try hexBytes(value, token: token, limit: AttestationBinding.nonceSize)
            } else if matches(key, "attest.reps") {
                options.attestRepetitions = try number(value, token: token, in: 1...1000)
            } else if matches(key, "validate") {
                if matches(value, "eager") {
                    options.validation = .eager
                } else if matches(value, "lazy") {
                    options.validation = .lazy
                } else {
                    throw .badValue(token)
                }
            } else if matches(key, "initrd") || matches(key, "console") {
                continue
            } else {
                throw .unknownKey(token)
            }
        }
        return options
    }

    /// Lowercase or uppercase hex, an even number of digits, at most `limit` bytes.
    static func hexBytes(_ value: ArraySlice<UInt8>, token: [UInt8], limit: Int) throws(CommandLineError) -> [UInt8] {
        guard value.count % 2 == 0, value.count <= 2 * limit else { throw .badValue(token) }
        var bytes: [UInt8] = []
        var high: UInt8?
        for character in value {
            let digit: UInt8
            switch character {
            case 0x30...0x39: digit = character - 0x30
            case 0x61...0x66: digit = character - 0x61 + 10
            case 0x41...0x46: digit = character - 0x41 + 10
            default: throw .badValue(token)
            }
            if let first = high {
                bytes.append(first << 4 | digit)
                high = nil
            } else {
                high = digit
            }
        }
        return bytes
    }

    static func parseWorkloads(_ value: ArraySlice<UInt8>, token: [UInt8]) throws(CommandLineError) -> [Workload] {
        var result: [Workload] = []
        for name in value.split(separator: 0x2c, omittingEmptySubsequences: false) {
            if matches(name, "all") {
                result.append(contentsOf: Workload.all)
                continue
            }
            var found: Workload?
            for workload in Workload.allCases where matches(name, workload.name) { found = workload }
            guard let workload = found else { throw .unknownWorkload(Array(name)) }
            result.append(workload)
        }
        return result
    }

    static func number(_ text: ArraySlice<UInt8>, token: [UInt8], in range: ClosedRange<Int>) throws(CommandLineError) -> Int {
        var digits = text
        var scale = 1
        switch digits.last {
        case 0x4b, 0x6b: scale = 1 << 10
        case 0x4d, 0x6d: scale = 1 << 20
        case 0x47, 0x67: scale = 1 << 30
        default: break
        }
        if scale != 1 { digits = digits.dropLast() }
        guard !digits.isEmpty, digits.count <= 12 else { throw .badValue(token) }
        var value = 0
        for digit in digits {
            guard digit >= 0x30 && digit <= 0x39 else { throw .badValue(token) }
            value = value * 10 + Int(digit - 0x30)
        }
        let (scaled, overflow) = value.multipliedReportingOverflow(by: scale)
        guard !overflow, range.contains(scaled) else { throw .badValue(token) }
        return scaled
    }

    static func matches(_ bytes: ArraySlice<UInt8>, _ text: StaticString) -> Bool {
        text.withUTF8Buffer { expected in
            bytes.count == expected.count && zip(bytes, expected).allSatisfy { $0 == $1 }
        }
    }
}
