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

    /// Refusals over HTTP, each with its status and no secret in the answer (the decisions themselves,
    /// wrong measurement included, are RelyingPartyFlowTests').
    @Test(.timeLimit(.minutes(2)))
    func refusalsOverHTTPCarryTheRightStatusAndNoSecret() throws {
        let h = try Harness()
        let attestBody = try h.attestBody()
        let server = try ServerProcess()
        defer { server.stop() }
        let port = try server.port()
        func refusedWithoutSecret(_ response: KeepAliveClient.Response?, _ status: Int) {
            #expect(response?.status == status)
            let text = String(decoding: response?.body ?? [], as: UTF8.self)
            #expect(!text.contains("ciphertext") && !text.contains("secret of the benchmark"))
        }
        func fresh() throws -> KeepAliveClient { try #require(KeepAliveClient(port: port)) }
        refusedWithoutSecret(try fresh().send("POST", KBSProtocol.authPath, body: Array("{not json".utf8)), 400)
        refusedWithoutSecret(try fresh().send("POST", KBSProtocol.authPath, body: [UInt8](repeating: 0x20, count: 200_000)), 413)
        let client = try fresh()
        let session = try #require(client.send("POST", KBSProtocol.authPath, body: Harness.authBody)?.cookie)
        refusedWithoutSecret(client.send("GET", KBSProtocol.resourcePrefix + "secret", cookie: session), 401)   // before attesting
        refusedWithoutSecret(client.send("POST", KBSProtocol.attestPath, body: attestBody), 401)                // no cookie
        refusedWithoutSecret(client.send("POST", KBSProtocol.attestPath, body: Array("[]".utf8), cookie: session), 400)
        #expect(client.send("POST", KBSProtocol.attestPath, body: attestBody, cookie: session)?.status == 200)
        refusedWithoutSecret(client.send("POST", KBSProtocol.attestPath, body: attestBody, cookie: session), 401)   // replay
        refusedWithoutSecret(client.send("GET", KBSProtocol.resourcePrefix + "missing", cookie: session), 404)
        refusedWithoutSecret(client.send("GET", KBSProtocol.resourcePrefix + "..%2Fetc%2Fpasswd", cookie: session), 404)
        refusedWithoutSecret(client.send("GET", KBSProtocol.resourcePrefix + "secret", cookie: "no-such-session"), 401)
        refusedWithoutSecret(try fresh().send("GET", "/kbs/v0/elsewhere"), 404)
        let key = try #require(try fresh().send("GET", KBSProtocol.publicKeyPath))
        #expect(key.status == 200)
        #expect(Base64URL.decode(try JSONDecoder().decode(KBSProtocol.PublicKey.self, from: Data(key.body)).x)?.count == 32)
    }

    @Test(.timeLimit(.minutes(1)))
    func aStalledClientIsDisconnectedWhileOthersAreServed() throws {
        let server = try ServerProcess(idleSeconds: 0.5)
        defer { server.stop() }
        let port = try server.port()
        do {
            let stalled = try #require(KeepAliveClient(port: port))
            let fd = stalled.fd
            let partial = "POST /kbs/v0/auth HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"ver"
            _ = partial.withCString { write(fd, $0, strlen($0)) }
            // While it stalls, another client is answered.
            #expect(KeepAliveClient(port: port)?.send("POST", KBSProtocol.authPath, body: Harness.authBody)?.status == 200)
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

    init(idleSeconds: Double = 30) throws {
        process.executableURL = Self.binary
        process.arguments = ["serve", Vector.url("snp/milan-v2/report.bin").path, Vector.url("snp/milan-v2/vcek.der").path, "0", String(idleSeconds)]
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
