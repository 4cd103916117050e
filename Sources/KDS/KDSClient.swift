import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Certificates
import SNPReport

/// Fetches from KDS with an on-disk cache, retries with exponential backoff (honouring Retry-After on
/// 429 and 503), a per-request timeout and an offline mode that only reads the cache. KDS is
/// rate-limited and flaky; certificates and chains do not change, so a cache hit is final.
public struct KDSClient: Sendable {
    public var baseURL: String
    public var cacheDirectory: URL?
    public var offline: Bool
    public var maxAttempts: Int
    /// First backoff delay; doubles on every retry.
    public var initialBackoff: TimeInterval
    /// Upper bound of any single wait, including a server's Retry-After.
    public var maxBackoff: TimeInterval
    public var timeout: TimeInterval

    public init(baseURL: String = KDS.defaultBaseURL, cacheDirectory: URL? = KDSClient.defaultCacheDirectory,
                offline: Bool = false, maxAttempts: Int = 4, initialBackoff: TimeInterval = 1, maxBackoff: TimeInterval = 30,
                timeout: TimeInterval = 20) {
        self.baseURL = baseURL
        self.cacheDirectory = cacheDirectory
        self.offline = offline
        self.maxAttempts = maxAttempts
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.timeout = timeout
    }

    /// $XDG_CACHE_HOME/cvm/kds or ~/.cache/cvm/kds.
    public static var defaultCacheDirectory: URL? {
        let env = ProcessInfo.processInfo.environment
        if let xdg = env["XDG_CACHE_HOME"], !xdg.isEmpty {
            return URL(fileURLWithPath: xdg).appendingPathComponent("cvm/kds")
        }
        guard let home = env["HOME"], !home.isEmpty else { return nil }
        return URL(fileURLWithPath: home).appendingPathComponent(".cache/cvm/kds")
    }

    /// A fetched object and where it came from.
    public struct Response: Sendable {
        public let bytes: [UInt8]
        public let fromCache: Bool
        public let attempts: Int
    }

    /// The cache file of a KDS path: the path with its query, made safe for a file name.
    public func cacheFile(for path: String) -> URL? {
        guard let cacheDirectory else { return nil }
        let safe = String(path.map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" ? $0 : "_" })
        return cacheDirectory.appendingPathComponent(safe)
    }

    /// Fetches `path`; `validate` decides whether a body is usable (a corrupt body is retried and never cached).
    public func fetch(_ path: String, validate: @Sendable ([UInt8]) throws -> Void) async throws -> Response {
        if let file = cacheFile(for: path), let data = try? Data(contentsOf: file) {
            let bytes = Array(data)
            if (try? validate(bytes)) != nil { return Response(bytes: bytes, fromCache: true, attempts: 0) }
        }
        if offline { throw KDSError.offlineMiss(path: path) }
        let trimmedBase = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        guard let url = URL(string: trimmedBase + path), url.scheme == "http" || url.scheme == "https" else {
            throw KDSError.badBaseURL(baseURL)
        }
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.timeoutIntervalForResource = timeout
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        let session = URLSession(configuration: configuration)
        defer { session.finishTasksAndInvalidate() }
        var lastError: KDSError = .transport(url: url.absoluteString, reason: "no attempt made")
        let attempts = max(1, maxAttempts)
        for attempt in 1...attempts {
            var wait = min(maxBackoff, initialBackoff * pow(2, Double(attempt - 1)))
            do {
                var request = URLRequest(url: url)
                request.timeoutInterval = timeout
                let (data, response) = try await session.data(for: request)
                let status = (response as? HTTPURLResponse)?.statusCode ?? 0
                switch status {
                case 200:
                    let bytes = Array(data)
                    do {
                        try validate(bytes)
                    } catch {
                        lastError = .corruptBody(url: url.absoluteString, reason: "\(error)")
                        break
                    }
                    store(bytes, for: path)
                    return Response(bytes: bytes, fromCache: false, attempts: attempt)
                case 404:
                    throw KDSError.notFound(url: url.absoluteString)
                case 429, 500...599:
                    lastError = .httpStatus(url: url.absoluteString, status: status)
                    if let header = (response as? HTTPURLResponse)?.value(forHTTPHeaderField: "Retry-After"),
                       let seconds = Self.retryAfterSeconds(header) {
                        wait = min(maxBackoff, seconds)
                    }
                default:
                    throw KDSError.httpStatus(url: url.absoluteString, status: status)
                }
            } catch let error as KDSError {
                throw error
            } catch {
                lastError = .transport(url: url.absoluteString, reason: error.localizedDescription)
            }
            if attempt < attempts {
                try await Task.sleep(nanoseconds: UInt64(max(0, wait) * 1e9))
            }
        }
        throw KDSError.gaveUp(url: url.absoluteString, attempts: attempts, last: lastError.description)
    }

    /// Retry-After is either delta-seconds or an HTTP date (RFC 9110 section 10.2.3).
    static func retryAfterSeconds(_ header: String, now: Date = Date()) -> TimeInterval? {
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        if let seconds = Double(trimmed) { return max(0, seconds) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: trimmed) else { return nil }
        return max(0, date.timeIntervalSince(now))
    }

    private func store(_ bytes: [UInt8], for path: String) {
        guard let file = cacheFile(for: path) else { return }
        try? FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try? Data(bytes).write(to: file, options: .atomic)
    }

    // MARK: typed fetches

    public func vcek(for report: AttestationReport, product: SNPProduct) async throws -> (Certificate, Response) {
        let response = try await fetch(KDS.vcekPath(for: report, product: product)) { _ = try Certificate(bytes: $0) }
        return (try Certificate(bytes: response.bytes), response)
    }

    public func chain(product: SNPProduct, endorsement: KDS.Endorsement = .vcek) async throws -> ([Certificate], Response) {
        let response = try await fetch(KDS.chainPath(product: product, endorsement: endorsement)) { bytes in
            guard try Certificate.parseBundle(bytes).count == 2 else {
                throw CertificateError.notACertificate("a cert_chain holds two certificates")
            }
        }
        return (try Certificate.parseBundle(response.bytes), response)
    }

    public func crl(product: SNPProduct, endorsement: KDS.Endorsement = .vcek) async throws -> (RevocationList, Response) {
        let response = try await fetch(KDS.crlPath(product: product, endorsement: endorsement)) { _ = try RevocationList(bytes: $0) }
        return (try RevocationList(bytes: response.bytes), response)
    }
}
