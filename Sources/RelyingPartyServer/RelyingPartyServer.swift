import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import RelyingParty

/// The relying party over HTTP/1.1 on Hummingbird. The routes only move bytes: every decision is the
/// RelyingParty's. Bodies are bounded (413 past KBSProtocol.maxBodyBytes), idle or stalled connections
/// are closed after `idleTimeout`, and at most `maxConnections` are open at once.
public struct RelyingPartyServer: Sendable {
    public let party: RelyingParty
    public var host: String
    public var port: Int
    public var idleTimeout: Duration
    public var maxConnections: Int

    public init(party: RelyingParty, host: String = "127.0.0.1", port: Int = 8080, idleTimeout: Duration = .seconds(10),
                maxConnections: Int = 512) {
        self.party = party
        self.host = host
        self.port = port
        self.idleTimeout = idleTimeout
        self.maxConnections = maxConnections
    }

    static func response(_ reply: Reply) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let session = reply.session {
            headers[.setCookie] = "\(KBSProtocol.cookieName)=\(session); Path=/kbs; HttpOnly; SameSite=Strict"
        }
        return Response(status: .init(code: reply.status), headers: headers,
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: reply.body)))
    }

    /// The body, or the 413 reply when it is larger than the protocol allows.
    static func body(of request: Request) async -> [UInt8]? {
        do {
            let buffer = try await request.body.collect(upTo: KBSProtocol.maxBodyBytes)
            return Array(buffer.readableBytesView)
        } catch {
            return nil
        }
    }

    static func tooLarge(_ party: RelyingParty, event: String, session: String?) -> Response {
        party.refuseOversized(event: event, session: session)
        return response(.error(413, "PayloadTooLarge", "request body larger than \(KBSProtocol.maxBodyBytes) bytes"))
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        let party = self.party
        router.post(RouterPath(KBSProtocol.authPath)) { request, _ -> Response in
            guard let body = await Self.body(of: request) else { return Self.tooLarge(party, event: "auth", session: nil) }
            return Self.response(party.auth(body: body))
        }
        router.post(RouterPath(KBSProtocol.attestPath)) { request, _ -> Response in
            let session = request.cookies[KBSProtocol.cookieName]?.value
            guard let body = await Self.body(of: request) else { return Self.tooLarge(party, event: "attest", session: session) }
            return Self.response(await party.attest(body: body, session: session))
        }
        router.get(RouterPath(KBSProtocol.resourcePrefix + ":name")) { request, context -> Response in
            let session = request.cookies[KBSProtocol.cookieName]?.value
            let name = context.parameters.get("name") ?? ""
            return Self.response(party.resource(name: name, session: session))
        }
        router.get(RouterPath(KBSProtocol.publicKeyPath)) { _, _ -> Response in
            Self.response(party.publicKeyReply())
        }
        return router
    }

    /// Serves until the task is cancelled; `onListening` gets the bound port (useful with port 0).
    public func run(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        var logger = Logger(label: "cvm.attest.serve")
        // Decisions are the relying party's own JSON lines; the server's log would only add the expected
        // CancellationError of a shutdown.
        logger.logLevel = .critical
        let app = Application(
            router: router(),
            server: .http1(configuration: .init(idleTimeout: TimeAmount(idleTimeout))),
            configuration: .init(address: .hostname(host, port: port), serverName: "cvm-attest",
                                 availableConnectionsDelegate: MaximumAvailableConnections(maxConnections)),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
            logger: logger
        )
        try await app.run()
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
