import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import RelyingParty
import RelyingPartyServer

/// Runs `party` on a real HTTP server on loopback (an ephemeral port) for the duration of `body`.
func withServer<T: Sendable>(_ party: RelyingParty, idleTimeout: Duration = .seconds(5),
                             _ body: @Sendable (Int) async throws -> T) async throws -> T {
    let (ports, continuation) = AsyncStream<Int>.makeStream()
    let server = RelyingPartyServer(party: party, host: "127.0.0.1", port: 0, idleTimeout: idleTimeout)
    let task = Task { try await server.run { continuation.yield($0) } }
    var iterator = ports.makeAsyncIterator()
    guard let port = await iterator.next(), port > 0 else {
        task.cancel()
        throw RelyingPartyError.configuration("the server did not start")
    }
    do {
        let result = try await body(port)
        task.cancel()
        _ = try? await task.value
        return result
    } catch {
        task.cancel()
        throw error
    }
}

/// A plain HTTP client: no cookie jar (each simulated guest carries its own session), no caching.
struct Client: Sendable {
    let base: String
    let session: URLSession

    init(port: Int) {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpShouldSetCookies = false
        configuration.httpCookieAcceptPolicy = .never
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.timeoutIntervalForRequest = 30
        base = "http://127.0.0.1:\(port)"
        session = URLSession(configuration: configuration)
    }

    func send(_ method: String, _ path: String, body: [UInt8]? = nil, cookie: String? = nil) async throws -> (Int, [UInt8], String?) {
        var request = URLRequest(url: URL(string: base + path)!)
        request.httpMethod = method
        if let body { request.httpBody = Data(body) }
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let cookie { request.setValue("\(KBSProtocol.cookieName)=\(cookie)", forHTTPHeaderField: "Cookie") }
        let (data, response) = try await session.data(for: request)
        let http = response as! HTTPURLResponse
        let setCookie = (http.value(forHTTPHeaderField: "Set-Cookie") ?? "")
            .split(separator: ";").first.flatMap { part -> String? in
                let pair = part.split(separator: "=", maxSplits: 1)
                return pair.count == 2 && pair[0] == Substring(KBSProtocol.cookieName) ? String(pair[1]) : nil
            }
        return (http.statusCode, Array(data), setCookie)
    }
}

@Suite(.serialized) struct RelyingPartyHTTPTests {
    /// Twenty clients, each a thread with one keep-alive connection, fifty sessions each, against the
    /// relying party in its own process (`RelyingPartyBench serve`: the same RelyingParty and server,
    /// with the fixed nonce bound to the vector's REPORT_DATA). In this process the server's request
    /// tasks would share Swift's cooperative threads with the suite's tests that block on QEMU, and
    /// starve (the 1,000 sessions took over 3 minutes there; about 10 s alone).
    @Test(.timeLimit(.minutes(5)))
    func aThousandSessionsFromTwentyConcurrentClients() async throws {
        let h = try Harness()
        let server = try ServerProcess()
        defer { server.stop() }
        let port = try server.port()
        let keyClient = try #require(KeepAliveClient(port: port))
        let keyReply = try #require(keyClient.send("GET", KBSProtocol.publicKeyPath))
        let rpPublic = try #require(Base64URL.decode(try JSONDecoder().decode(KBSProtocol.PublicKey.self, from: Data(keyReply.body)).x))
        let attestBody = try h.attestBody()
        let nonce = [UInt8](repeating: 0x42, count: 32)
        let secret = Array("a secret of the benchmark".utf8)
        let teeKey = h.teeKey
        let outcome = await withCheckedContinuation { (done: CheckedContinuation<Int, Never>) in
            let counter = SessionCounter()
            let group = DispatchGroup()
            for _ in 0..<20 {
                group.enter()
                let thread = Thread {
                    defer { group.leave() }
                    guard let client = KeepAliveClient(port: port) else { return }
                    for _ in 0..<50 {
                        guard let auth = client.send("POST", KBSProtocol.authPath, body: Harness.authBody), auth.status == 200,
                              let cookie = auth.cookie,
                              let attested = client.send("POST", KBSProtocol.attestPath, body: attestBody, cookie: cookie), attested.status == 200,
                              let sealed = client.send("GET", KBSProtocol.resourcePrefix + "secret", cookie: cookie), sealed.status == 200,
                              let box = try? JSONDecoder().decode(KBSProtocol.SealedResource.self, from: Data(sealed.body)),
                              let iv = Base64URL.decode(box.iv), let ct = Base64URL.decode(box.ciphertext), let tag = Base64URL.decode(box.tag),
                              (try? SecretSealing.open(.init(iv: iv, ciphertext: ct, tag: tag), name: "secret", rpPublic: rpPublic,
                                                       nonce: nonce, with: teeKey)) == secret else { continue }
                        counter.add()
                    }
                }
                thread.start()
            }
            group.notify(queue: .global()) { done.resume(returning: counter.value) }
        }
        #expect(outcome == 1000)
        // Replaying the last session's evidence is refused by the same server.
        let replayClient = try #require(KeepAliveClient(port: port))
        let auth = try #require(replayClient.send("POST", KBSProtocol.authPath, body: Harness.authBody))
        #expect(replayClient.send("POST", KBSProtocol.attestPath, body: attestBody, cookie: auth.cookie)?.status == 200)
        #expect(replayClient.send("POST", KBSProtocol.attestPath, body: attestBody, cookie: auth.cookie)?.status == 401)
    }

    @Test(.timeLimit(.minutes(1)))
    func refusalsOverHTTPCarryTheRightStatusAndNoSecret() async throws {
        let h = try Harness(measurements: [[UInt8](repeating: 1, count: 48)])
        let attestBody = try h.attestBody()
        try await withServer(h.party) { port in
            let client = Client(port: port)
            func refusedWithoutSecret(_ result: (Int, [UInt8], String?), _ status: Int) {
                #expect(result.0 == status)
                let text = String(decoding: result.1, as: UTF8.self)
                #expect(!text.contains("ciphertext"))
                #expect(!text.contains("database password"))
            }
            refusedWithoutSecret(try await client.send("POST", KBSProtocol.authPath, body: Array("{not json".utf8)), 400)
            refusedWithoutSecret(try await client.send("POST", KBSProtocol.authPath, body: [UInt8](repeating: 0x20, count: 200_000)), 413)
            let (_, _, cookie) = try await client.send("POST", KBSProtocol.authPath, body: Harness.authBody)
            let session = try #require(cookie)
            refusedWithoutSecret(try await client.send("POST", KBSProtocol.attestPath, body: attestBody), 401)
            refusedWithoutSecret(try await client.send("POST", KBSProtocol.attestPath, body: attestBody, cookie: session), 401)   // wrong measurement
            refusedWithoutSecret(try await client.send("POST", KBSProtocol.attestPath, body: attestBody, cookie: session), 401)   // replay
            refusedWithoutSecret(try await client.send("GET", KBSProtocol.resourcePrefix + "db-password", cookie: session), 401)
            refusedWithoutSecret(try await client.send("GET", KBSProtocol.resourcePrefix + "..%2Fetc%2Fpasswd", cookie: session), 401)
            refusedWithoutSecret(try await client.send("GET", "/kbs/v0/elsewhere"), 404)
            let (status, body, _) = try await client.send("GET", KBSProtocol.publicKeyPath)
            #expect(status == 200)
            let key = try JSONDecoder().decode(KBSProtocol.PublicKey.self, from: Data(body))
            #expect(Base64URL.decode(key.x) == h.party.publicKey)
        }
        #expect(h.log.decisions.contains { $0.status == 413 })
        #expect(h.log.decisions.filter { $0.decision == "allow" && $0.event != "auth" }.isEmpty)
    }

    @Test(.timeLimit(.minutes(1)))
    func aStalledClientIsDisconnectedWhileOthersAreServed() async throws {
        let h = try Harness()
        try await withServer(h.party, idleTimeout: .milliseconds(500)) { port in
            let stalled = try #require(KeepAliveClient(port: port))
            let fd = stalled.fd
            let partial = "POST /kbs/v0/auth HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"ver"
            _ = partial.withCString { write(fd, $0, strlen($0)) }
            // While it stalls, another client is answered.
            let (status, _, _) = try await Client(port: port).send("POST", KBSProtocol.authPath, body: Harness.authBody)
            #expect(status == 200)
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let started = Date()
            var buffer = [UInt8](repeating: 0, count: 4096)
            var got = 0
            repeat { got = read(fd, &buffer, buffer.count) } while got > 0
            #expect(got == 0, "the server should close the stalled connection, read returned \(got) errno \(errno)")
            #expect(Date().timeIntervalSince(started) < 4.5)
        }
    }
}

final class SessionCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}

/// HTTP/1.1 over one blocking keep-alive socket: request with Content-Length, response read by its
/// Content-Length. Enough for the relying party's JSON answers.
final class KeepAliveClient {
    let fd: Int32

    init?(port: Int) {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { close(fd); return nil }
    }

    deinit { close(fd) }

    struct Response {
        var status: Int
        var body: [UInt8]
        var cookie: String?
    }

    func send(_ method: String, _ path: String, body: [UInt8] = [], cookie: String? = nil) -> Response? {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n"
        if let cookie { head += "Cookie: \(KBSProtocol.cookieName)=\(cookie)\r\n" }
        let request = Array((head + "\r\n").utf8) + body
        var sent = 0
        while sent < request.count {
            let n = request[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { return nil }
            sent += n
        }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        func readMore() -> Bool {
            let n = read(fd, &chunk, chunk.count)
            guard n > 0 else { return false }
            buffer += chunk[0..<n]
            return true
        }
        var headerEnd: Int?
        while headerEnd == nil {
            if let range = buffer.firstRange(of: Array("\r\n\r\n".utf8)) { headerEnd = range.upperBound; break }
            guard readMore() else { return nil }
        }
        guard let end = headerEnd else { return nil }
        let lines = String(decoding: buffer[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        guard let status = lines.first?.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return nil }
        var length = 0
        var session: String?
        for line in lines.dropFirst() {
            let lower = line.lowercased()
            if lower.hasPrefix("content-length:") { length = Int(line.dropFirst(15).trimmingCharacters(in: .whitespaces)) ?? 0 }
            if lower.hasPrefix("set-cookie:"), let value = line.components(separatedBy: "\(KBSProtocol.cookieName)=").last {
                session = value.split(separator: ";").first.map(String.init)
            }
        }
        while buffer.count < end + length { guard readMore() else { return nil } }
        return Response(status: status, body: Array(buffer[end..<(end + length)]), cookie: session)
    }
}

/// `RelyingPartyBench serve` (built beside the tests) in its own process, on an ephemeral port.
final class ServerProcess {
    let process = Process()
    let output = Pipe()

    static var binary: URL {
        for start in [Bundle.main.bundleURL, URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()] {
            var directory = start
            while directory.path != "/" {
                let candidate = directory.appendingPathComponent("RelyingPartyBench")
                if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
                directory.deleteLastPathComponent()
            }
        }
        return URL(fileURLWithPath: "/nonexistent/RelyingPartyBench")
    }

    init() throws {
        process.executableURL = Self.binary
        process.arguments = ["serve", Vector.url("snp/milan-v2/report.bin").path, Vector.url("snp/milan-v2/vcek.der").path, "0"]
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// Waits for its "listening PORT" line.
    func port() throws -> Int {
        var text = ""
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("listening ") }), let port = Int(line.dropFirst(10)) {
                return port
            }
        }
        throw RelyingPartyError.configuration("RelyingPartyBench serve did not start: \(text)")
    }

    func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }
}
