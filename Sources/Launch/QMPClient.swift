import Foundation

/// A QEMU Machine Protocol client over a Unix socket: greeting, `qmp_capabilities`, commands with
/// their replies, and the asynchronous events QEMU sends in between (kept with their arrival times).
public final class QMPClient: @unchecked Sendable {
    public struct Event: Sendable {
        public var name: String
        /// Seconds since the client connected.
        public var receivedAt: Double
        public var data: String
    }

    public enum Error: Swift.Error, CustomStringConvertible, Sendable {
        case connect(String)
        case io(String)
        case protocolError(String)
        case commandFailed(command: String, message: String)

        public var description: String {
            switch self {
            case .connect(let why): return "QMP connect failed: \(why)"
            case .io(let why): return "QMP I/O error: \(why)"
            case .protocolError(let why): return "QMP protocol error: \(why)"
            case let .commandFailed(command, message): return "QMP \(command) failed: \(message)"
            }
        }
    }

    private let fd: Int32
    private var buffer: [UInt8] = []
    private let connectedAt = Date()
    private let lock = NSLock()
    public private(set) var events: [Event] = []
    /// The QEMU version from the greeting, e.g. "7.2.22".
    public private(set) var qemuVersion: String = ""

    /// Connects, retrying until `timeout` while QEMU creates the socket, then negotiates capabilities.
    public init(socketPath: String, timeout: Double = 10) throws {
        let deadline = Date().addingTimeInterval(timeout)
        var lastError = "socket never appeared"
        var connected: Int32 = -1
        while Date() < deadline {
            switch UnixSocket.connect(socketPath) {
            case .success(let descriptor):
                connected = descriptor
            case .failure(.pathTooLong):
                throw Error.connect("socket path too long: \(socketPath)")
            case .failure(.failed(let code)):
                lastError = "errno \(code)"
            }
            if connected >= 0 { break }
            usleep(20_000)
        }
        guard connected >= 0 else { throw Error.connect("\(socketPath): \(lastError)") }
        fd = connected
        var receiveTimeout = timeval(tv_sec: Int(timeout.rounded(.up)), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &receiveTimeout, socklen_t(MemoryLayout<timeval>.size))
        let greeting = try readMessage()
        guard let qmp = greeting["QMP"] as? [String: Any] else { throw Error.protocolError("no QMP greeting") }
        if let version = (qmp["version"] as? [String: Any])?["qemu"] as? [String: Any] {
            qemuVersion = "\(version["major"] ?? 0).\(version["minor"] ?? 0).\(version["micro"] ?? 0)"
        }
        _ = try execute("qmp_capabilities")
    }

    deinit { close(fd) }

    /// Sends one command and returns its "return" value; events that arrive first are recorded.
    @discardableResult
    public func execute(_ command: String, arguments: [String: Any]? = nil) throws -> Any {
        var message: [String: Any] = ["execute": command]
        if let arguments { message["arguments"] = arguments }
        let data = try JSONSerialization.data(withJSONObject: message) + Data("\n".utf8)
        try data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = write(fd, raw.baseAddress! + offset, raw.count - offset)
                guard written > 0 else { throw Error.io("write: errno \(errno)") }
                offset += written
            }
        }
        while true {
            let reply = try readMessage()
            if let error = reply["error"] as? [String: Any] {
                throw Error.commandFailed(command: command, message: error["desc"] as? String ?? "\(error)")
            }
            if let value = reply["return"] { return value }
        }
    }

    /// Waits up to `timeout` for an event named `name` (or returns one already received).
    public func waitForEvent(_ name: String, timeout: Double) -> Event? {
        if let seen = lock.withLock({ events.first { $0.name == name } }) { return seen }
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            guard (try? readMessage()) != nil else { return lock.withLock { events.first { $0.name == name } } }
            if let seen = lock.withLock({ events.first { $0.name == name } }) { return seen }
        }
        return nil
    }

    /// Reads one JSON message; events are stored and reading continues until a non-event arrives,
    /// except that the event itself is returned when it is what was read.
    private func readMessage() throws -> [String: Any] {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(buffer[..<newline])
                buffer.removeSubrange(...newline)
                let trimmed = line.filter { $0 != UInt8(ascii: "\r") }
                if trimmed.isEmpty { continue }
                guard let object = try? JSONSerialization.jsonObject(with: Data(trimmed)) as? [String: Any] else {
                    throw Error.protocolError("not JSON: \(String(decoding: trimmed.prefix(80), as: UTF8.self))")
                }
                if let name = object["event"] as? String {
                    let payload = (object["data"]).flatMap { try? JSONSerialization.data(withJSONObject: $0) }.map { String(decoding: $0, as: UTF8.self) } ?? "{}"
                    let event = Event(name: name, receivedAt: Date().timeIntervalSince(connectedAt), data: payload)
                    lock.withLock { events.append(event) }
                    return object
                }
                return object
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let count = read(fd, &chunk, chunk.count)
            if count == 0 { throw Error.io("QEMU closed the QMP socket") }
            if count < 0 { throw Error.io(errno == EAGAIN || errno == EWOULDBLOCK ? "timed out" : "read: errno \(errno)") }
            buffer += chunk[..<count]
        }
    }
}
