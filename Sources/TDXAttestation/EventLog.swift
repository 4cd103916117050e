import Crypto
import SEVABI

/// A TDX guest's event log (the ACPI CCEL area: TCG PC Client crypto-agile format) replayed into
/// RTMR0–3. The first event is the SHA-1 format Spec ID Event03 naming the digest algorithms; every
/// later TCG_PCR_EVENT2 carries one digest per algorithm. Its MR index 1–4 is RTMR0–3 (0 would be
/// MRTD, which the log does not extend); each RTMR = SHA-384(RTMR ‖ SHA-384 digest), from 48 zeros.
/// EV_NO_ACTION events are not extended. The log ends at the first unused (all-0xFF or all-zero) header.
public struct TDXEventLog: Sendable {
    public enum Failure: Error, Equatable, CustomStringConvertible, Sendable {
        case truncated(event: Int)
        case notSpecID
        case noSHA384
        case unknownAlgorithm(UInt16, event: Int)
        case badIndex(UInt32, event: Int)

        public var description: String {
            switch self {
            case .truncated(let n): return "event log truncated in event \(n)"
            case .notSpecID: return "the first event is not a TCG Spec ID Event03 (not a crypto-agile event log)"
            case .noSHA384: return "the event log carries no SHA-384 digests (TDX RTMRs are SHA-384)"
            case let .unknownAlgorithm(id, n): return "event \(n) has a digest of algorithm 0x\(String(id, radix: 16)) the Spec ID event does not declare"
            case let .badIndex(index, n): return "event \(n) extends MR index \(index); TDX logs use 1-4 (RTMR0-3)"
            }
        }
    }

    public struct Event: Sendable, Equatable {
        public var index: UInt32
        public var type: UInt32
        public var sha384: [UInt8]
        public var data: [UInt8]
        /// RTMR 0–3 it extends, nil for MR index 0 or EV_NO_ACTION.
        public var rtmr: Int? { type == TDXEventLog.noAction || index == 0 ? nil : Int(index) - 1 }
    }

    static let noAction: UInt32 = 3
    static let sha384ID: UInt16 = 0x000C

    public let events: [Event]
    public let rtmrs: [[UInt8]]

    public init(bytes: [UInt8]) throws {
        var r = ByteReader(bytes)
        func read<T>(_ event: Int, _ body: () throws -> T) throws -> T {
            do { return try body() } catch is ByteReader.Error { throw Failure.truncated(event: event) }
        }
        // TCG_PCClientPCREvent: index, type, SHA-1 digest, size, Spec ID Event03.
        _ = try read(0) { try r.readLE(UInt32.self) }
        let firstType = try read(0) { try r.readLE(UInt32.self) }
        try read(0) { try r.skip(20) }
        let specSize = Int(try read(0) { try r.readLE(UInt32.self) })
        var spec = ByteReader(try read(0) { try r.read(specSize) })
        let signature = try read(0) { try spec.read(16) }
        guard firstType == Self.noAction, signature == Array("Spec ID Event03\u{0}".utf8) else { throw Failure.notSpecID }
        try read(0) { try spec.skip(4 + 1 + 1 + 1 + 1) }   // platform class, spec version minor/major/errata, uintn size
        let count = Int(try read(0) { try spec.readLE(UInt32.self) })
        guard count <= 16 else { throw Failure.notSpecID }
        var sizes: [UInt16: Int] = [:]
        for _ in 0..<count {
            let id = try read(0) { try spec.readLE(UInt16.self) }
            sizes[id] = Int(try read(0) { try spec.readLE(UInt16.self) })
        }
        guard sizes[Self.sha384ID] == 48 else { throw Failure.noSHA384 }

        var events: [Event] = []
        var rtmrs = [[UInt8]](repeating: [UInt8](repeating: 0, count: 48), count: 4)
        while r.remaining >= 8 {
            let number = events.count + 1
            let header = try r.slice(at: r.offset, count: 8)
            if header.allSatisfy({ $0 == 0xFF }) || header.allSatisfy({ $0 == 0 }) { break }
            let index = try read(number) { try r.readLE(UInt32.self) }
            let type = try read(number) { try r.readLE(UInt32.self) }
            let digests = Int(try read(number) { try r.readLE(UInt32.self) })
            guard digests <= 16 else { throw Failure.truncated(event: number) }
            var sha384: [UInt8]?
            for _ in 0..<digests {
                let id = try read(number) { try r.readLE(UInt16.self) }
                guard let size = sizes[id] else { throw Failure.unknownAlgorithm(id, event: number) }
                let digest = try read(number) { try r.read(size) }
                if id == Self.sha384ID { sha384 = digest }
            }
            let size = Int(try read(number) { try r.readLE(UInt32.self) })
            let data = try read(number) { try r.read(size) }
            guard let sha384 else { throw Failure.noSHA384 }
            let event = Event(index: index, type: type, sha384: sha384, data: data)
            if type != Self.noAction {
                guard (0...4).contains(index) else { throw Failure.badIndex(index, event: number) }
                if let rtmr = event.rtmr { rtmrs[rtmr] = Array(SHA384.hash(data: rtmrs[rtmr] + sha384)) }
            }
            events.append(event)
        }
        self.events = events
        self.rtmrs = rtmrs
    }
}

extension TDXEventLog.Event {
    /// The TCG name of the event type (PC Client Platform Firmware Profile), or its number in hex.
    public var typeName: String {
        let names: [UInt32: String] = [
            0x1: "EV_POST_CODE", 0x3: "EV_NO_ACTION", 0x4: "EV_SEPARATOR", 0x5: "EV_ACTION", 0x6: "EV_EVENT_TAG",
            0x7: "EV_S_CRTM_CONTENTS", 0x8: "EV_S_CRTM_VERSION", 0xA: "EV_PLATFORM_CONFIG_FLAGS", 0xD: "EV_IPL",
            0x8000_0001: "EV_EFI_VARIABLE_DRIVER_CONFIG", 0x8000_0002: "EV_EFI_VARIABLE_BOOT",
            0x8000_0003: "EV_EFI_BOOT_SERVICES_APPLICATION", 0x8000_0004: "EV_EFI_BOOT_SERVICES_DRIVER",
            0x8000_0005: "EV_EFI_RUNTIME_SERVICES_DRIVER", 0x8000_0006: "EV_EFI_GPT_EVENT", 0x8000_0007: "EV_EFI_ACTION",
            0x8000_0008: "EV_EFI_PLATFORM_FIRMWARE_BLOB", 0x8000_0009: "EV_EFI_HANDOFF_TABLES",
            0x8000_000A: "EV_EFI_PLATFORM_FIRMWARE_BLOB2", 0x8000_000B: "EV_EFI_HANDOFF_TABLES2",
            0x8000_000C: "EV_EFI_VARIABLE_BOOT2", 0x8000_00E0: "EV_EFI_VARIABLE_AUTHORITY",
        ]
        return names[type] ?? "0x" + String(type, radix: 16)
    }

    /// The event data as a person reads it: text when it is printable (an EV_EVENT_TAG's description
    /// after its id and size, as Linux's EFI stub writes them), the bytes in hex when there are at most
    /// eight, otherwise its length.
    public var summary: String {
        var text = type == 0x6 && data.count > 8 ? Array(data[8...]) : data
        while text.last == 0 { text.removeLast() }
        if !text.isEmpty, text.allSatisfy({ (0x20...0x7E).contains($0) || $0 == 0x0A }) {
            let string = String(decoding: text, as: UTF8.self).replacingOccurrences(of: "\n", with: " ")
            return string.count > 80 ? String(string.prefix(77)) + "..." : string
        }
        if data.count <= 8 { return data.map { String(format: "%02x", $0) }.joined() }
        return "\(data.count) bytes"
    }
}
