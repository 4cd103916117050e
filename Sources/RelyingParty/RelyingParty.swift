import AttestationPolicy
import Attestation
import Certificates
import Crypto
import Foundation
import TDXAttestation
import DCAPQuote
import KDS
import SEVABI
import SNPReport

public enum RelyingPartyError: Error, Equatable, CustomStringConvertible {
    case configuration(String)
    public var description: String {
        switch self { case .configuration(let message): return message }
    }
}

/// Where nonces come from. Production draws 32 random bytes; a test may give fixed ones.
public protocol NonceSource: Sendable {
    func nonce() -> [UInt8]
}

public struct RandomNonces: NonceSource {
    public init() {}
    public func nonce() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }
}

/// The REPORT_DATA a guest must have bound for a nonce and its key. Production is SecretSealing's
/// SHA-512(nonce ‖ key); a test that replays a real AMD-signed report (whose REPORT_DATA is fixed)
/// supplies the mapping for that one report.
public protocol ReportDataBinding: Sendable {
    func expectedReportData(nonce: [UInt8], teePublicKey: [UInt8]) -> [UInt8]
}

public struct SHA512NonceKeyBinding: ReportDataBinding {
    public init() {}
    public func expectedReportData(nonce: [UInt8], teePublicKey: [UInt8]) -> [UInt8] {
        SecretSealing.reportData(nonce: nonce, teePublic: teePublicKey)
    }
}

/// One HTTP answer, independent of the server that sends it.
public struct Reply: Sendable {
    public var status: Int
    public var body: [UInt8]
    /// Set on a new session: the value of the `kbs-session-id` cookie.
    public var session: String?

    public init(status: Int, body: [UInt8], session: String? = nil) {
        self.status = status
        self.body = body
        self.session = session
    }

    static func json<T: Encodable>(_ status: Int, _ value: T, session: String? = nil) -> Reply {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Reply(status: status, body: Array((try? encoder.encode(value)) ?? Data("{}".utf8)), session: session)
    }

    public static func error(_ status: Int, _ type: String, _ detail: String) -> Reply {
        json(status, KBSProtocol.ErrorBody(type: type, detail: detail))
    }
}

/// One decision, logged as one JSON line.
public struct Decision: Codable, Sendable, Equatable {
    public var time: String
    public var event: String
    public var decision: String
    public var status: Int
    public var session: String?
    public var reason: String
    public var measurement: String?
    public var launch: String?
    public var failedChecks: [String]?
    public var resource: String?
    public var client: String?

    public var jsonLine: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }
}

/// The relying party: hands out single-use nonces in sessions, judges evidence (the SNP report and its
/// chain, REPORT_DATA bound to the nonce and the guest's key, the accepted measurements, the report
/// policy) and releases secrets sealed to an attested guest's key. It never trusts the host that
/// launched the guest: everything it accepts is signed by AMD or sealed by itself.
public final class RelyingParty: @unchecked Sendable {
    public let policy: RelyingPartyPolicy
    let secrets: [String: [UInt8]]
    let key: Curve25519.KeyAgreement.PrivateKey
    let nonces: any NonceSource
    let binding: any ReportDataBinding
    let clock: @Sendable () -> Date
    /// The TDX collateral of `policy.tdx`, read once.
    let tdxCollateral: QuoteCollateral?
    let log: @Sendable (Decision) -> Void
    let kds: KDSClient?
    /// Sessions past this count are refused until old ones expire (a flood of /auth cannot grow memory).
    public let maxSessions: Int

    private let lock = NSLock()
    private var sessions: [String: Session] = [:]
    private var chains: [String: (chain: VerifiedChain, checked: Date)] = [:]

    enum State {
        case challenged
        case attesting
        case attested(teePublic: [UInt8], launch: String)
        case refused
    }

    struct Session {
        var nonce: [UInt8]
        var created: Date
        var state: State
    }

    public static func validSecretName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 64 && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
            && name != "." && name != ".."
    }

    public init(policy: RelyingPartyPolicy, secrets: [String: [UInt8]], key: Curve25519.KeyAgreement.PrivateKey,
                nonces: any NonceSource = RandomNonces(), binding: any ReportDataBinding = SHA512NonceKeyBinding(),
                kds: KDSClient? = nil, maxSessions: Int = 10_000,
                clock: @escaping @Sendable () -> Date = { Date() }, log: @escaping @Sendable (Decision) -> Void = { _ in }) throws {
        for name in secrets.keys where !Self.validSecretName(name) {
            throw RelyingPartyError.configuration("secret name '\(name)': use 1-64 of A-Z a-z 0-9 . _ -")
        }
        self.policy = policy
        if let rules = policy.tdx {
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: rules.collateral)) } catch {
                throw RelyingPartyError.configuration("tdx.collateral \(rules.collateral): \(error.localizedDescription)")
            }
            do { tdxCollateral = try QuoteCollateral(json: Array(data)) } catch {
                throw RelyingPartyError.configuration("tdx.collateral \(rules.collateral): \(error)")
            }
        } else {
            tdxCollateral = nil
        }
        self.secrets = secrets
        self.key = key
        self.nonces = nonces
        self.binding = binding
        self.kds = kds
        self.maxSessions = maxSessions
        self.clock = clock
        self.log = log
    }

    public var publicKey: [UInt8] { Array(key.publicKey.rawRepresentation) }

    func record(_ event: String, _ status: Int, session: String?, reason: String, client: String?,
                measurement: String? = nil, launch: String? = nil, failed: [String]? = nil, resource: String? = nil) {
        log(Decision(time: Self.timestamp(clock()), event: event, decision: status == 200 ? "allow" : "deny", status: status,
                     session: session, reason: reason, measurement: measurement, launch: launch,
                     failedChecks: failed, resource: resource, client: client))
    }

    /// RFC 3339 in UTC to the second, without building a date formatter per decision.
    static func timestamp(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }

    static func decode<T: Decodable>(_ type: T.Type, _ body: [UInt8]) -> T? {
        guard body.count <= KBSProtocol.maxBodyBytes else { return nil }
        return try? JSONDecoder().decode(type, from: Data(body))
    }

    // MARK: the flow

    /// POST /kbs/v0/auth: a new session with a fresh nonce.
    public func auth(body: [UInt8], client: String? = nil) -> Reply {
        guard let request = Self.decode(KBSProtocol.AuthRequest.self, body) else {
            record("auth", 400, session: nil, reason: "malformed request body", client: client)
            return .error(400, "InvalidRequest", "the body is not an auth request ({\"version\":…,\"tee\":\"snp\"})")
        }
        guard request.tee == "snp" else {
            record("auth", 400, session: nil, reason: "unsupported tee '\(request.tee.prefix(32))'", client: client)
            return .error(400, "UnsupportedTee", "tee '\(request.tee.prefix(32))' is not supported; this relying party accepts snp")
        }
        let now = clock()
        let nonce = nonces.nonce()
        let id = UUID().uuidString.lowercased()
        let accepted: Bool = lock.withLock {
            if sessions.count >= maxSessions { purgeExpired(now: now) }
            guard sessions.count < maxSessions else { return false }
            sessions[id] = Session(nonce: nonce, created: now, state: .challenged)
            return true
        }
        guard accepted else {
            record("auth", 503, session: nil, reason: "too many open sessions (\(maxSessions))", client: client)
            return .error(503, "Busy", "too many open sessions; retry later")
        }
        record("auth", 200, session: id, reason: "challenge issued", client: client)
        return .json(200, KBSProtocol.Challenge(nonce: Data(nonce).base64EncodedString(), extraParams: ""), session: id)
    }

    private func purgeExpired(now: Date) {
        sessions = sessions.filter { now.timeIntervalSince($0.value.created) <= policy.sessionTimeout }
    }

    /// Takes the session's nonce for one attestation attempt: it can never be used again.
    private func takeNonce(_ id: String?) -> Result<[UInt8], Refusal> {
        guard let id else { return .failure(Refusal(401, "NoSession", "no kbs-session-id cookie: start with POST /kbs/v0/auth")) }
        let now = clock()
        return lock.withLock {
            guard var session = sessions[id] else {
                return .failure(Refusal(401, "NoSession", "unknown or expired session"))
            }
            guard now.timeIntervalSince(session.created) <= policy.sessionTimeout else {
                sessions[id] = nil
                return .failure(Refusal(401, "SessionExpired", "the session expired (\(Int(policy.sessionTimeout)) s); start again"))
            }
            guard case .challenged = session.state else {
                return .failure(Refusal(401, "NonceReused", "this session's nonce was already used: nonces are single use"))
            }
            session.state = .attesting
            sessions[id] = session
            return .success(session.nonce)
        }
    }

    private func finish(_ id: String, _ state: State) {
        lock.withLock { if sessions[id] != nil { sessions[id]?.state = state } }
    }

    struct Refusal: Error {
        var status: Int
        var type: String
        var detail: String
        var failed: [String]? = nil
        var measurement: String? = nil
        init(_ status: Int, _ type: String, _ detail: String, failed: [String]? = nil, measurement: String? = nil) {
            self.status = status
            self.type = type
            self.detail = detail
            self.failed = failed
            self.measurement = measurement
        }
    }

    /// POST /kbs/v0/attest: evidence for the session's nonce. Passes only with a genuine report, bound to
    /// this nonce and the guest's key, of an accepted launch, meeting the report policy.
    public func attest(body: [UInt8], session: String?, client: String? = nil) async -> Reply {
        guard let request = Self.decode(KBSProtocol.AttestRequest.self, body) else {
            record("attest", 400, session: session, reason: "malformed request body", client: client)
            return .error(400, "InvalidRequest", "the body is not an attestation request ({\"tee-pubkey\":…,\"tee-evidence\":…})")
        }
        let nonce: [UInt8]
        switch takeNonce(session) {
        case .failure(let refusal):
            record("attest", refusal.status, session: session, reason: refusal.detail, client: client)
            return .error(refusal.status, refusal.type, refusal.detail)
        case .success(let value): nonce = value
        }
        let id = session ?? ""
        do {
            let (teePublic, launch, measurement) = try await judge(request, nonce: nonce)
            finish(id, .attested(teePublic: teePublic, launch: launch.origin))
            let names = secrets.keys.sorted()
            record("attest", 200, session: id, reason: "attested", client: client, measurement: measurement, launch: launch.origin)
            return .json(200, KBSProtocol.AttestResponse(token: id, resources: names))
        } catch let refusal as Refusal {
            finish(id, .refused)
            record("attest", refusal.status, session: id, reason: refusal.detail, client: client,
                   measurement: refusal.measurement, failed: refusal.failed)
            return .error(refusal.status, refusal.type, refusal.detail)
        } catch {
            finish(id, .refused)
            record("attest", 401, session: id, reason: "\(error)", client: client)
            return .error(401, "AttestationFailed", "\(error)")
        }
    }

    func judge(_ request: KBSProtocol.AttestRequest, nonce: [UInt8]) async throws -> ([UInt8], AcceptedLaunch, String) {
        let pub = request.teePubkey
        guard pub.kty == "OKP", pub.crv == "X25519", let teePublic = Base64URL.decode(pub.x), teePublic.count == 32 else {
            throw Refusal(400, "InvalidRequest", "tee-pubkey must be an X25519 OKP key (32 bytes)")
        }
        let evidence = request.teeEvidence
        guard let reportText = evidence.report else {
            let why = evidence.error.map { String($0.prefix(200)) } ?? "the evidence holds no report"
            throw Refusal(401, "AttestationFailed", "no attestation report: \(why)")
        }
        guard let reportBytes = Base64URL.decode(reportText) else {
            throw Refusal(400, "InvalidRequest", "tee-evidence.report is not base64")
        }
        if DCAPQuote.looksLikeQuote(reportBytes) {
            return try judgeQuote(reportBytes, teePublic: teePublic, nonce: nonce)
        }
        let report: AttestationReport
        do { report = try AttestationReport(bytes: reportBytes) } catch {
            throw Refusal(401, "AttestationFailed", "the report is unreadable: \(error)")
        }
        let measurement = report.measurement.hexString
        var table: CertificateDirectory?
        if let certsText = evidence.certs, !certsText.isEmpty {
            guard let certs = Base64URL.decode(certsText) else {
                throw Refusal(400, "InvalidRequest", "tee-evidence.certs is not base64")
            }
            do { table = try CertificateTable(bytes: certs).certificates() } catch {
                throw Refusal(401, "AttestationFailed", "the certificate table is unreadable: \(error)", measurement: measurement)
            }
        }
        let chain = try await chain(for: report, table: table, measurement: measurement)
        var rules = policy.report
        rules.reportData = try Expected(binding.expectedReportData(nonce: nonce, teePublicKey: teePublic))
        let verdict = ReportVerifier.verify(report: report, chain: chain, policy: rules)
        guard verdict.passed else {
            let failures = verdict.failures
            throw Refusal(401, "AttestationFailed", failures.map { "\($0.name): \($0.detail)" }.joined(separator: "; "),
                          failed: failures.map(\.name), measurement: measurement)
        }
        guard !policy.launches.isEmpty else {
            throw Refusal(401, "AttestationFailed", "the policy accepts no measurement (give measurements: or --bundle)",
                          failed: ["measurement"], measurement: measurement)
        }
        guard let launch = policy.launches.first(where: { $0.measurement == report.measurement }) else {
            throw Refusal(401, "AttestationFailed",
                          "measurement \(measurement) is not one of the \(policy.launches.count) the policy accepts",
                          failed: ["measurement"], measurement: measurement)
        }
        if !launch.coversKernel && !policy.allowUncoveredKernel {
            throw Refusal(401, "AttestationFailed",
                          "kernel, initrd and cmdline not covered by the measurement (\(launch.origin): the firmware has no kernel-hashes table); the policy does not allow such guests (allowUncoveredKernel)",
                          failed: ["kernel-coverage"], measurement: measurement)
        }
        return (teePublic, launch, measurement)
    }

    /// A TD's evidence: an Intel DCAP quote, verified as `cvm attest verify QUOTE --collateral --policy` does
    /// (PCK chain to Intel's root, QE report, quote signature, TD attributes, the policy's quote rules, the
    /// collateral and the TCB level), REPORT_DATA the session's binding, MRTD one the policy accepts.
    func judgeQuote(_ bytes: [UInt8], teePublic: [UInt8], nonce: [UInt8]) throws -> ([UInt8], AcceptedLaunch, String) {
        guard let rules = policy.tdx, let collateral = tdxCollateral else {
            throw Refusal(401, "AttestationFailed", "the evidence is a DCAP quote, and this relying party accepts no TDX guests (no tdx: in its policy)")
        }
        let quote: DCAPQuote
        do { quote = try DCAPQuote(bytes: bytes) } catch {
            throw Refusal(401, "AttestationFailed", "the quote is unreadable: \(error)")
        }
        let mrtd: [UInt8]
        switch quote.body {
        case .td10(let report), .td15(let report): mrtd = report.mrTD
        case .sgx: throw Refusal(401, "AttestationFailed", "the quote is an SGX enclave's, not a TD's")
        }
        let measurement = mrtd.hexString
        var rulesForSession = rules.quote
        rulesForSession.reportData = binding.expectedReportData(nonce: nonce, teePublicKey: teePublic)
        let now = clock()
        let verdict = QuoteVerifier.verify(quote, at: now, policy: rulesForSession)
        let chain = (try? Certificate.parseBundle(quote.pckChainPEM)) ?? []
        var accepted: Set<TCBStatus> = [.upToDate]
        for name in rules.quote.acceptedTCBStatuses { if let status = TCBStatus(rawValue: name) { accepted.insert(status) } }
        let checks = verdict.checks + CollateralVerifier.checks(pckChain: chain, collateral: collateral, at: now)
            + [QuoteVerifier.tcbLevelCheck(quote, pck: chain.first.flatMap { try? PCKExtensions($0) }, collateral: collateral, accepted: accepted)]
        let failures = checks.filter { !$0.passed }
        guard failures.isEmpty else {
            throw Refusal(401, "AttestationFailed", failures.map { "\($0.name): \($0.detail)" }.joined(separator: "; "),
                          failed: failures.map(\.name), measurement: measurement)
        }
        guard rules.mrtds.contains(mrtd) else {
            throw Refusal(401, "AttestationFailed", "MRTD \(measurement) is not one of the \(rules.mrtds.count) the policy accepts (tdx.mrtds)",
                          failed: ["mrtd"], measurement: measurement)
        }
        if !rules.coversKernel && !policy.allowUncoveredKernel {
            throw Refusal(401, "AttestationFailed",
                          "kernel, initrd and cmdline are in RTMR1/RTMR2, which tdx.quote does not pin; the policy does not allow such guests (allowUncoveredKernel)",
                          failed: ["kernel-coverage"], measurement: measurement)
        }
        return (teePublic, AcceptedLaunch(measurement: mrtd, coversKernel: rules.coversKernel, origin: "tdx policy"), measurement)
    }

    /// The report's chain: from the guest's table or KDS as the policy says, checked once per endorsement
    /// key and reused for ten minutes.
    func chain(for report: AttestationReport, table: CertificateDirectory?, measurement: String) async throws -> VerifiedChain {
        let kind: SigningKey = report.signerInfo.signingKey == .vlek ? .vlek : .vcek
        var set: CertificateSet?
        if policy.chain != .kds { set = table?.certificateSet(for: kind) }
        if set == nil && policy.chain != .report {
            guard let kds, let product = report.product else {
                throw Refusal(401, "AttestationFailed",
                              kds == nil ? "no \(kind) in the guest's certificate table and KDS is not configured"
                                         : "no \(kind) in the guest's certificate table and the report does not name its product for KDS",
                              measurement: measurement)
            }
            do {
                let (vcek, _) = try await kds.vcek(for: report, product: product)
                set = CertificateSet(endorsementKey: vcek)
            } catch {
                throw Refusal(401, "AttestationFailed", "KDS: \(error)", measurement: measurement)
            }
        }
        guard let set else {
            throw Refusal(401, "AttestationFailed", "the guest's certificate table holds no \(kind) (chain: report)", measurement: measurement)
        }
        let now = clock()
        let cacheKey = set.endorsementKey.fingerprintSHA256
        if let cached = lock.withLock({ chains[cacheKey] }), now.timeIntervalSince(cached.checked) < 600, now >= cached.checked {
            return cached.chain
        }
        let product: SNPProduct
        do { product = try ReportVerifier.resolveProduct(report: report, certificate: set.endorsementKey, forced: nil) } catch {
            throw Refusal(401, "AttestationFailed", "\(error)", measurement: measurement)
        }
        let chain: VerifiedChain
        do { chain = try VerifiedChain(certificates: set, product: product, kind: kind, at: now) } catch {
            throw Refusal(401, "AttestationFailed", "chain: \(error)", measurement: measurement)
        }
        guard chain.passed else {
            let failures = chain.checks.filter { !$0.passed }
            throw Refusal(401, "AttestationFailed", failures.map { "\($0.name): \($0.detail)" }.joined(separator: "; "),
                          failed: failures.map(\.name), measurement: measurement)
        }
        lock.withLock { chains[cacheKey] = (chain, now) }
        return chain
    }

    /// GET /kbs/v0/resource/default/secret/NAME: the secret sealed to the attested guest's key.
    public func resource(name: String, session: String?, client: String? = nil) -> Reply {
        let now = clock()
        let state: Result<(State, [UInt8]), Refusal> = lock.withLock {
            guard let session, let current = sessions[session] else {
                return .failure(Refusal(401, "NoSession", "unknown or expired session: attest first"))
            }
            guard now.timeIntervalSince(current.created) <= policy.sessionTimeout else {
                sessions[session] = nil
                return .failure(Refusal(401, "SessionExpired", "the session expired (\(Int(policy.sessionTimeout)) s)"))
            }
            return .success((current.state, current.nonce))
        }
        switch state {
        case .failure(let refusal):
            record("resource", refusal.status, session: session, reason: refusal.detail, client: client, resource: String(name.prefix(64)))
            return .error(refusal.status, refusal.type, refusal.detail)
        case .success(let (current, nonce)):
            guard case .attested(let teePublic, let launch) = current else {
                record("resource", 401, session: session, reason: "the session has not attested", client: client, resource: String(name.prefix(64)))
                return .error(401, "Unauthorized", "this session has not passed attestation")
            }
            guard Self.validSecretName(name), let secret = secrets[name] else {
                record("resource", 404, session: session, reason: "no such secret", client: client, resource: String(name.prefix(64)))
                return .error(404, "NotFound", "no secret named '\(name.prefix(64))'")
            }
            do {
                let sealed = try SecretSealing.seal(secret, name: name, to: teePublic, nonce: nonce, by: key)
                let header = KBSProtocol.ProtectedHeader(alg: SecretSealing.algorithm, enc: SecretSealing.encryption, name: name)
                let headerJSON = Array((try? JSONEncoder().encode(header)) ?? Data())
                record("resource", 200, session: session, reason: "released", client: client, launch: launch, resource: name)
                return .json(200, KBSProtocol.SealedResource(protected: Base64URL.encode(headerJSON), iv: Base64URL.encode(sealed.iv),
                                                             ciphertext: Base64URL.encode(sealed.ciphertext), tag: Base64URL.encode(sealed.tag)))
            } catch {
                record("resource", 500, session: session, reason: "sealing failed: \(error)", client: client, resource: name)
                return .error(500, "Internal", "sealing failed")
            }
        }
    }

    /// GET /kbs/v0/public-key.
    public func publicKeyReply() -> Reply {
        .json(200, KBSProtocol.PublicKey(x25519: publicKey))
    }

    /// Open sessions (for tests and the status line).
    public var openSessions: Int { lock.withLock { sessions.count } }
}

extension RelyingParty {
    /// Logs a request the server refused before it reached the flow (its body was too large).
    public func refuseOversized(event: String, session: String?, client: String? = nil) {
        record(event, 413, session: session, reason: "request body larger than \(KBSProtocol.maxBodyBytes) bytes", client: client)
    }
}
